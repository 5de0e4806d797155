//! One error type for the whole plugin.
//!
//! Every failure a user can meet is a variant that names it, carries a `hint()` telling them what to do next, and
//! maps to one of the documented exit codes (README "Exit codes"): 1 the operation failed or was refused, 2 usage,
//! 3 the cluster is unreachable or refused our credentials. `main` prints it once as `error: …` + `hint: …`.

use std::time::Duration;

/// Exit codes, documented in README.md.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const UNREACHABLE: u8 = 3;
}

#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// Bad input that clap could not catch (values checked after parsing).
    #[error("{message}")]
    Usage { message: String, hint: Option<String> },

    /// No usable kubeconfig, context, cluster or user.
    #[error("{message}")]
    Kubeconfig { message: String, hint: String },

    /// The API server could not be reached at all (refused, DNS, TLS).
    #[error("cannot reach the Kubernetes API server at {server}: {reason}")]
    Unreachable { server: String, reason: String },

    /// The request did not complete within `--request-timeout`.
    #[error("the Kubernetes API server at {server} did not answer within {}", humantime(*.timeout))]
    Timeout { server: String, timeout: Duration },

    /// 401: the server rejected our credentials.
    #[error("authentication failed against {server}: {message}")]
    Unauthorized { server: String, message: String },

    /// 403 for a request we needed.
    #[error("forbidden: cannot {verb} {resource}{}", in_namespace(namespace))]
    Forbidden {
        verb: String,
        resource: String,
        namespace: Option<String>,
        message: String,
    },

    /// 404 for an object the user named.
    #[error("{kind} \"{name}\" not found{}", in_namespace(namespace))]
    NotFound {
        kind: String,
        name: String,
        namespace: Option<String>,
    },

    /// A resource type the cluster does not serve (e.g. Gateway API CRDs not installed).
    #[error("the cluster does not serve {resource}")]
    NotServed { resource: String, hint: String },

    /// Optimistic concurrency lost too many times in a row.
    #[error(
        "{kind} \"{name}\" kept changing while we wrote it ({attempts} conflicts in a row); nothing more was written"
    )]
    ConflictStorm { kind: String, name: String, attempts: u32 },

    /// Any other API error answer.
    #[error("the API server answered {code} {reason}: {message}")]
    Api { code: u16, reason: String, message: String },

    /// A planner refused the request (nothing was written).
    #[error("{message}")]
    Refused { message: String, hint: Option<String> },

    /// A subcommand whose cargo feature this binary was built without (`demo`).
    #[error("`kubectl mesh {command}` is not built into this binary (it was built without the `{feature}` feature)")]
    NotBuiltIn {
        command: &'static str,
        feature: &'static str,
    },

    /// A result could not be rendered as `-o json|yaml`.
    #[error(transparent)]
    Render(#[from] mesh_core::render::RenderError),

    /// Local IO (files, terminal).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn in_namespace(ns: &Option<String>) -> String {
    match ns {
        Some(ns) => format!(" in namespace \"{ns}\""),
        None => String::new(),
    }
}

/// kubectl-like duration text: `30s`, `1m30s`, `250ms`.
pub fn humantime(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
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

    pub fn exit_code(&self) -> u8 {
        match self {
            MeshError::Usage { .. } => exit::USAGE,
            MeshError::Kubeconfig { .. }
            | MeshError::Unreachable { .. }
            | MeshError::Timeout { .. }
            | MeshError::Unauthorized { .. } => exit::UNREACHABLE,
            _ => exit::FAILED,
        }
    }

    /// What the user should do next. Every variant answers something useful or nothing at all.
    pub fn hint(&self) -> Option<String> {
        match self {
            MeshError::Usage { hint, .. } => {
                Some(hint.clone().unwrap_or_else(|| "see `kubectl mesh --help`".into()))
            }
            MeshError::Kubeconfig { hint, .. } => Some(hint.clone()),
            MeshError::Unreachable { reason, .. } if reason.contains("certificate") => Some(
                "the server's TLS certificate is not trusted by the kubeconfig's certificate-authority; check --context/--kubeconfig"
                    .into(),
            ),
            MeshError::Unreachable { .. } => Some(
                "check that the cluster is running and that --kubeconfig/--context point at it (kubectl cluster-info)".into(),
            ),
            MeshError::Timeout { .. } => Some(
                "raise --request-timeout, or check the cluster's health (kubectl get --raw /readyz)".into(),
            ),
            MeshError::Unauthorized { .. } => Some(
                "your credentials were rejected: refresh them (e.g. re-run your cloud login) or pick another --user/--context"
                    .into(),
            ),
            MeshError::Forbidden { verb, resource, namespace, .. } => Some(format!(
                "ask your cluster admin for `{verb}` on {resource}{} (check with: kubectl auth can-i {verb} {resource}{})",
                in_namespace(namespace),
                namespace.as_ref().map(|n| format!(" -n {n}")).unwrap_or_default()
            )),
            MeshError::NotFound { namespace, .. } => Some(match namespace {
                Some(ns) => format!("check the name and the namespace (-n {ns} was used)"),
                None => "check the name".into(),
            }),
            MeshError::NotServed { hint, .. } => Some(hint.clone()),
            MeshError::ConflictStorm { .. } => Some(
                "another controller keeps rewriting this object (check its managedFields); run the command again or pause that controller"
                    .into(),
            ),
            MeshError::Api { code, .. } if *code >= 500 => {
                Some("the API server failed; retry in a moment (add -v 6 to see the requests)".into())
            }
            MeshError::Api { .. } => Some("add -v 6 to see the requests made".into()),
            MeshError::Refused { hint, .. } => hint.clone(),
            MeshError::NotBuiltIn { .. } => {
                Some("install a build with the default features: cargo install --locked --path .".into())
            }
            MeshError::Render(_) | MeshError::Io { .. } => None,
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
        let e = MeshError::Unreachable {
            server: "https://127.0.0.1:1".into(),
            reason: "refused".into(),
        };
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("https://127.0.0.1:1"));
        let e = MeshError::Unauthorized {
            server: "s".into(),
            message: "m".into(),
        };
        assert_eq!(e.exit_code(), 3);
        let e = MeshError::Forbidden {
            verb: "list".into(),
            resource: "pods".into(),
            namespace: Some("istio-demo".into()),
            message: String::new(),
        };
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "forbidden: cannot list pods in namespace \"istio-demo\"");
        assert!(e.hint().unwrap().contains("kubectl auth can-i list pods -n istio-demo"));
    }

    #[test]
    fn humantime_reads_like_kubectl() {
        assert_eq!(humantime(Duration::from_secs(90)), "1m30s");
        assert_eq!(humantime(Duration::from_millis(250)), "250ms");
        assert_eq!(humantime(Duration::from_secs(3600)), "1h");
        assert_eq!(humantime(Duration::ZERO), "0s");
    }
}
