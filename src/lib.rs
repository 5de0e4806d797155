//! kubectl-mesh: traffic shifting, per-user routing, diagnosis and targeted recovery for Istio meshes that use the
//! Kubernetes Gateway API.
//!
//! This is the binary's own library: what was typed ([`cli`]), the root parser and the dispatcher with one module
//! per subcommand ([`cmd`]), the terminal ([`output`]) and the one error type with its exit codes ([`error`]).
//! Each command validates its arguments, reads through `mesh_kube` (the only crate that talks to the API
//! server), plans with `mesh_core` (pure), writes through `mesh_kube::apply`, and prints what `mesh_core`
//! renders.

#![forbid(unsafe_code)]

pub mod cli;
pub mod cmd;
pub mod error;
pub mod output;
pub mod signals;
