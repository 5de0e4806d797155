//! kubectl-mesh: traffic shifting, per-user routing, diagnosis and targeted recovery for Istio meshes that use the
//! Kubernetes Gateway API.
//!
//! Layout: `cli` (what was typed) → `cmd::*` (one module per subcommand: validate, read a snapshot through
//! `cluster`, plan with pure functions, apply, render) — `cluster` is the only module that does network IO.

#![forbid(unsafe_code)]

pub mod cli;
pub mod cmd;
pub mod error;
pub mod output;
