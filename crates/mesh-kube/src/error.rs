//! What can go wrong talking to the API server, typed: each variant names the failure (the server, verb,
//! resource and namespace where they matter) and carries its [`KubeError::hint`]. The binary wraps it
//! (`MeshError::Kube(#[from] KubeError)`) and decides the exit code: [`KubeError::is_unreachable`] is 3, the rest 1.

use std::time::Duration;

use mesh_core::duration::format_duration;

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// No usable kubeconfig, context, cluster or user; `source` is kube's own error when it found the problem.
    #[error("{message}")]
    Kubeconfig {
        message: String,
        hint: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// The API server could not be reached at all (refused, DNS, TLS, a connection that broke). `reason` says it
    /// the way kubectl does (the root cause, x509 wording); the client's own error stays the source.
    #[error("cannot reach the Kubernetes API server at {server}: {reason}")]
    Unreachable {
        server: String,
        reason: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// The request did not complete within `--request-timeout`.
    #[error("the Kubernetes API server at {server} did not answer within {}", format_duration(*.timeout))]
    Timeout { server: String, timeout: Duration },

    /// 401: the server rejected our credentials.
    #[error("authentication failed against {server}: {message}")]
    Unauthorized { server: String, message: String },

    /// 403 for a request we needed (or a permission a SelfSubjectAccessReview denied before any write).
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
        "{kind} \"{name}\" kept changing while we wrote it ({attempts} writes refused as conflicts); nothing more was written"
    )]
    ConflictStorm { kind: String, name: String, attempts: u32 },

    /// Any other API error answer (409 Conflict and AlreadyExists among them).
    #[error("the API server answered {code} {reason}: {message}")]
    Api { code: u16, reason: String, message: String },

    /// A success answer whose body is not the JSON it should be.
    #[error("the API server answered 200 UndecodableBody: the answer to {path} is not JSON: {source}")]
    Undecodable {
        path: String,
        #[source]
        source: serde_json::Error,
    },

    /// A watch event that is not JSON.
    #[error("the API server answered 200 UndecodableWatchEvent: {0}")]
    UndecodableEvent(#[source] serde_json::Error),

    /// A request could not be built (a bug: paths and headers are ours).
    #[error("cannot build a request for {url}: {source}")]
    Request {
        url: String,
        #[source]
        source: http::Error,
    },

    /// A request body could not be encoded.
    #[error("encoding a request: {0}")]
    Encode(#[source] serde_json::Error),

    /// A task of ours (a list's page decoder, a concurrent read) stopped.
    #[error("{context}: {source}")]
    Task {
        context: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },

    /// A list's page decoder stopped without saying why.
    #[error("decoding a list: the decoding task stopped")]
    DecoderStopped,

    /// A signal asked us to stop; nothing more was sent.
    #[error("interrupted by {} before the next write; nothing more was written", signal_name(*signal))]
    Interrupted { signal: i32 },
}

/// `SIGINT`, `SIGTERM`, `signal 9`.
pub fn signal_name(signal: i32) -> String {
    match signal {
        2 => "SIGINT".into(),
        15 => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}

fn in_namespace(ns: &Option<String>) -> String {
    match ns {
        Some(ns) => format!(" in namespace \"{ns}\""),
        None => String::new(),
    }
}

impl KubeError {
    /// The cluster cannot be used at all: no kubeconfig, unreachable, too slow, or our credentials rejected.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            KubeError::Kubeconfig { .. }
                | KubeError::Unreachable { .. }
                | KubeError::Timeout { .. }
                | KubeError::Unauthorized { .. }
        )
    }

    /// 409 Conflict: the resourceVersion we sent is stale.
    pub fn is_conflict(&self) -> bool {
        matches!(self, KubeError::Api { code: 409, reason, .. } if reason == "Conflict")
    }

    /// 409 AlreadyExists: someone created the object first.
    pub fn is_already_exists(&self) -> bool {
        matches!(self, KubeError::Api { code: 409, reason, .. } if reason == "AlreadyExists")
    }

    /// What the user should do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            KubeError::Kubeconfig { hint, .. } => Some(hint.clone()),
            KubeError::Unreachable { reason, .. } if reason.contains("certificate") => Some(
                "the server's TLS certificate is not trusted by the kubeconfig's certificate-authority; check --context/--kubeconfig"
                    .into(),
            ),
            KubeError::Unreachable { .. } => Some(
                "check that the cluster is running and that --kubeconfig/--context point at it (kubectl cluster-info)".into(),
            ),
            KubeError::Timeout { .. } => Some(
                "raise --request-timeout, or check the cluster's health (kubectl get --raw /readyz)".into(),
            ),
            KubeError::Unauthorized { .. } => Some(
                "your credentials were rejected: refresh them (e.g. re-run your cloud login) or pick another --user/--context"
                    .into(),
            ),
            KubeError::Forbidden { verb, resource, namespace, .. } => Some(format!(
                "ask your cluster admin for `{verb}` on {resource}{} (check with: kubectl auth can-i {verb} {resource}{})",
                in_namespace(namespace),
                namespace.as_ref().map(|n| format!(" -n {n}")).unwrap_or_default()
            )),
            KubeError::NotFound { namespace, .. } => Some(match namespace {
                Some(ns) => format!("check the name and the namespace (-n {ns} was used)"),
                None => "check the name".into(),
            }),
            KubeError::NotServed { hint, .. } => Some(hint.clone()),
            KubeError::ConflictStorm { .. } => Some(
                "another controller keeps rewriting this object (check its managedFields); run the command again or pause that controller"
                    .into(),
            ),
            KubeError::Api { code, .. } if *code >= 500 => {
                Some("the API server failed; retry in a moment (add -v 6 to see the requests)".into())
            }
            KubeError::Api { .. } | KubeError::Undecodable { .. } | KubeError::UndecodableEvent(_) => {
                Some("add -v 6 to see the requests made".into())
            }
            KubeError::Request { .. }
            | KubeError::Encode(_)
            | KubeError::Task { .. }
            | KubeError::DecoderStopped
            | KubeError::Interrupted { .. } => None,
        }
    }
}

pub type Result<T, E = KubeError> = std::result::Result<T, E>;

/// Whether `e`'s source chain holds an IO timeout (the HTTP client's connect or read timeout).
pub(crate) fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// The words of the last error in `e`'s source chain: it names refused connections and x509 failures, which the
/// outer errors of the HTTP stack only wrap.
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_server_the_verb_and_the_namespace() {
        let e = KubeError::Unreachable {
            server: "https://127.0.0.1:1".into(),
            reason: "refused".into(),
            source: None,
        };
        assert!(e.is_unreachable());
        assert!(e.to_string().contains("https://127.0.0.1:1"));
        let e = KubeError::Forbidden {
            verb: "list".into(),
            resource: "pods".into(),
            namespace: Some("istio-demo".into()),
            message: String::new(),
        };
        assert!(!e.is_unreachable());
        assert_eq!(e.to_string(), "forbidden: cannot list pods in namespace \"istio-demo\"");
        assert!(e.hint().unwrap().contains("kubectl auth can-i list pods -n istio-demo"));
    }
}
