//! kubectl-mesh's pure core: everything that decides, and nothing that does IO.
//!
//! Route planners ([`route`]), doctor's model and checks ([`doctor`]), the recover plan and rollout rules
//! ([`recover`]), Kubernetes names, durations and resources ([`names`], [`duration`], [`resource`]), the wire
//! shapes of list answers ([`wire`]), output-format choices ([`opts`]) and renderers that return text
//! ([`render`]). Inputs are plain data read by `mesh-kube`; outputs are plans, findings and strings the binary
//! prints. The crate's manifest cannot reach tokio, kube, hyper/http or clap, so the compiler keeps it that way.

#![forbid(unsafe_code)]

pub mod ambient;
pub mod doctor;
pub mod duration;
pub mod manifest;
pub mod names;
pub mod opts;
pub mod recover;
pub mod render;
pub mod resource;
pub mod route;
pub mod scope;
pub mod wire;
