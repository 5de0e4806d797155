//! One error type for the whole plugin.
//!
//! Every failure a user can meet is a variant that names it, carries a `hint()` telling them what to do next, and
//! maps to one of the documented exit codes (README "Exit codes"): 1 the operation failed or was refused, 2 usage,
//! 3 the cluster is unreachable or refused our credentials. `main` prints it once as `error: …` + `hint: …`.

use mesh_core::manifest::ManifestErrors;
use mesh_core::names::NameError;
use mesh_core::render::RenderError;
use mesh_core::route::{PlanError, UsageError};
use mesh_kube::KubeError;

/// Exit codes, documented in README.md.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const UNREACHABLE: u8 = 3;

    /// 128 + the signal, as shells report it: 130 for SIGINT, 143 for SIGTERM.
    pub fn interrupted(signal: i32) -> u8 {
        u8::try_from(128 + signal.clamp(1, 127)).unwrap_or(FAILED)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// Bad input that clap could not catch (values checked after parsing).
    #[error("{message}")]
    Usage { message: String, hint: Option<String> },

    /// A name given on the command line that Kubernetes would reject (`-n`, `--route`, a Service).
    #[error("invalid {what} {name:?}: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        #[source]
        reason: NameError,
        hint: Option<&'static str>,
    },

    /// A shift or route-user request that is malformed (weights, names, headers): a usage error.
    #[error(transparent)]
    Request(#[from] UsageError),

    /// A planner refused the request because of what is in the cluster; nothing was written.
    #[error(transparent)]
    Plan(#[from] PlanError),

    /// Talking to the API server failed (unreachable, forbidden, not found, …).
    #[error(transparent)]
    Kube(#[from] KubeError),

    /// The command refused to go on (no terminal to confirm on, a demo step that went wrong, …).
    #[error("{message}")]
    Refused { message: String, hint: Option<String> },

    /// A subcommand whose cargo feature this binary was built without (`demo`).
    #[error("`kubectl mesh {command}` is not built into this binary (it was built without the `{feature}` feature)")]
    NotBuiltIn {
        command: &'static str,
        feature: &'static str,
    },

    /// The demo's sandbox API server could not be set up.
    #[cfg(feature = "demo")]
    #[error("{context}: {source}")]
    Sandbox {
        context: &'static str,
        #[source]
        source: Box<mesh_sandbox::SandboxError>,
    },

    /// A result could not be rendered as `-o json|yaml`.
    #[error(transparent)]
    Render(#[from] RenderError),

    /// Local IO (files, terminal).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// Manifests given with `-f` that cannot be read as Kubernetes objects (exit 2, like kubectl).
    #[error(transparent)]
    Manifest(#[from] ManifestErrors),

    /// An error with one more hint the command knows (e.g. `doctor -f` on an unreachable cluster: `--offline`).
    #[error("{source}")]
    Hinted {
        #[source]
        source: Box<MeshError>,
        hint: String,
    },

    /// The mesh controller rejected a change we wrote (`--wait`), or did not confirm it in time; `message` says
    /// which and what was done about it.
    #[error("{message}")]
    NotAccepted { message: String, hint: String },

    /// A progressive shift stopped at a step.
    #[error("{message}")]
    StepsStopped { message: String, hint: String },

    /// A signal stopped a command between writes; `signal` makes the exit code (130 for SIGINT, 143 for SIGTERM).
    #[error("interrupted by {}: {detail}", mesh_kube::error::signal_name(*signal))]
    Interrupted {
        signal: i32,
        detail: String,
        hint: Option<String>,
    },
}

impl MeshError {
    pub fn usage(message: impl Into<String>) -> Self {
        MeshError::Usage {
            message: message.into(),
            hint: None,
        }
    }

    pub fn usage_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        MeshError::Usage {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    pub fn refused(message: impl Into<String>, hint: Option<String>) -> Self {
        MeshError::Refused {
            message: message.into(),
            hint,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        MeshError::Io {
            context: context.into(),
            source,
        }
    }

    /// This error with `hint` added after its own.
    pub fn with_hint(self, hint: impl Into<String>) -> Self {
        MeshError::Hinted {
            source: Box::new(self),
            hint: hint.into(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            MeshError::Usage { .. }
            | MeshError::InvalidName { .. }
            | MeshError::Request(_)
            | MeshError::Manifest(_) => exit::USAGE,
            MeshError::Hinted { source, .. } => source.exit_code(),
            MeshError::Kube(e) if e.is_unreachable() => exit::UNREACHABLE,
            MeshError::Interrupted { signal, .. } | MeshError::Kube(KubeError::Interrupted { signal }) => {
                exit::interrupted(*signal)
            }
            _ => exit::FAILED,
        }
    }

    /// What the user should do next. Every variant answers something useful or nothing at all.
    pub fn hint(&self) -> Option<String> {
        match self {
            MeshError::Usage { hint, .. } => Some(hint.clone().unwrap_or_else(|| "see `kubectl mesh --help`".into())),
            MeshError::InvalidName { hint, .. } => Some(hint.unwrap_or("see `kubectl mesh --help`").to_string()),
            MeshError::Request(e) => Some(e.hint().unwrap_or_else(|| "see `kubectl mesh --help`".into())),
            MeshError::Plan(e) => e.hint(),
            MeshError::Kube(e) => e.hint(),
            MeshError::Refused { hint, .. } => hint.clone(),
            MeshError::NotBuiltIn { .. } => {
                Some("install a build with the default features: cargo install --locked --path .".into())
            }
            MeshError::NotAccepted { hint, .. } | MeshError::StepsStopped { hint, .. } => Some(hint.clone()),
            MeshError::Interrupted { hint, .. } => hint.clone(),
            MeshError::Render(_) | MeshError::Io { .. } => None,
            MeshError::Manifest(_) => Some("fix the files: kubectl apply -f would refuse them too".into()),
            MeshError::Hinted { source, hint } => Some(match source.hint() {
                Some(first) => format!("{first}\nhint: {hint}"),
                None => hint.clone(),
            }),
            #[cfg(feature = "demo")]
            MeshError::Sandbox { .. } => None,
        }
    }
}

pub type Result<T, E = MeshError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_readme() {
        assert_eq!(MeshError::usage("x").exit_code(), 2);
        assert_eq!(MeshError::from(UsageError::NoWeights).exit_code(), 2);
        let e = MeshError::from(KubeError::Unreachable {
            server: "https://127.0.0.1:1".into(),
            reason: "refused".into(),
            source: None,
        });
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("https://127.0.0.1:1"));
        let e = MeshError::from(KubeError::Unauthorized {
            server: "s".into(),
            message: "m".into(),
        });
        assert_eq!(e.exit_code(), 3);
        let e = MeshError::from(PlanError::BackendUnready {
            service: "reviews-v3".into(),
        });
        assert_eq!(e.exit_code(), 1);
        assert!(e.hint().unwrap().contains("--force"));
        let e = MeshError::from(KubeError::Forbidden {
            verb: "list".into(),
            resource: "pods".into(),
            namespace: Some("istio-demo".into()),
            message: String::new(),
        });
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "forbidden: cannot list pods in namespace \"istio-demo\"");
        assert!(e.hint().unwrap().contains("kubectl auth can-i list pods -n istio-demo"));
    }
}
