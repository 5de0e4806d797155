//! kubectl-mesh's only door to the Kubernetes API server.
//!
//! [`Cluster`] loads the kubeconfig the way kubectl does ([`config`]), bounds every call by
//! `--request-timeout`, retries idempotent reads on 5xx/429 (honouring Retry-After, bounded) and never replays a
//! write, follows list pagination and watches, and turns answers into a typed [`KubeError`] naming the server,
//! verb, resource and namespace. [`read`] builds what each command reads (routes, doctor's snapshot, sidecar
//! certificates) into `mesh-core`'s plain data; [`apply`] holds every write. Logs go to the [`Log`] sink the
//! binary passes in; nothing here prints.

#![forbid(unsafe_code)]

pub mod apply;
mod cluster;
pub mod config;
pub mod error;
pub mod log;
pub mod read;
pub mod stop;
pub mod wait;

pub use cluster::{Cluster, Intent, ListParams, ListResult, PageSink, PatchType, WatchStream, WriteOpts, PAGE_SIZE};
pub use config::ConnectOptions;
pub use error::{KubeError, Result};
pub use log::Log;
pub use stop::Stop;
