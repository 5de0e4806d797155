//! The API resources kubectl-mesh reads and writes, and how their URLs are built.

use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Res {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
}

impl Res {
    const fn new(
        group: &'static str,
        version: &'static str,
        plural: &'static str,
        kind: &'static str,
        namespaced: bool,
    ) -> Res {
        Res {
            group,
            version,
            plural,
            kind,
            namespaced,
        }
    }

    fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// `/api/v1/namespaces/NS/pods`, or the cluster-wide collection when `ns` is None.
    pub fn collection(&self, ns: Option<&str>) -> String {
        match ns {
            Some(ns) if self.namespaced => {
                format!("{}/namespaces/{}/{}", self.prefix(), ns, self.plural)
            }
            _ => format!("{}/{}", self.prefix(), self.plural),
        }
    }

    pub fn item(&self, ns: Option<&str>, name: &str) -> String {
        format!("{}/{}", self.collection(ns), name)
    }

    /// `pods`, `httproutes.gateway.networking.k8s.io` — as kubectl and RBAC messages name resources.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

pub const NAMESPACES: Res = Res::new("", "v1", "namespaces", "Namespace", false);
pub const PODS: Res = Res::new("", "v1", "pods", "Pod", true);
pub const SERVICES: Res = Res::new("", "v1", "services", "Service", true);
pub const CONFIGMAPS: Res = Res::new("", "v1", "configmaps", "ConfigMap", true);
pub const DEPLOYMENTS: Res = Res::new("apps", "v1", "deployments", "Deployment", true);
pub const REPLICASETS: Res = Res::new("apps", "v1", "replicasets", "ReplicaSet", true);
pub const STATEFULSETS: Res = Res::new("apps", "v1", "statefulsets", "StatefulSet", true);
pub const DAEMONSETS: Res = Res::new("apps", "v1", "daemonsets", "DaemonSet", true);
pub const ENDPOINTSLICES: Res = Res::new("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true);
pub const PDBS: Res = Res::new("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true);
pub const CRDS: Res = Res::new(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    false,
);
pub const MUTATING_WEBHOOKS: Res = Res::new(
    "admissionregistration.k8s.io",
    "v1",
    "mutatingwebhookconfigurations",
    "MutatingWebhookConfiguration",
    false,
);
pub const HTTPROUTES: Res = Res::new("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", true);
/// Read at v1, the version Istio reads (standard channel from Gateway API v1.1.0).
pub const GRPCROUTES: Res = Res::new("gateway.networking.k8s.io", "v1", "grpcroutes", "GRPCRoute", true);
pub const GATEWAYS: Res = Res::new("gateway.networking.k8s.io", "v1", "gateways", "Gateway", true);
pub const GATEWAY_CLASSES: Res = Res::new(
    "gateway.networking.k8s.io",
    "v1",
    "gatewayclasses",
    "GatewayClass",
    false,
);
/// Read at v1beta1, which Istio serves from 1.6 through 1.30 (v1 only from Istio 1.22).
pub const VIRTUAL_SERVICES: Res = Res::new(
    "networking.istio.io",
    "v1beta1",
    "virtualservices",
    "VirtualService",
    true,
);
/// Read at v1beta1, which every Istio release with PeerAuthentication serves (v1 only from Istio 1.22).
pub const PEER_AUTHENTICATIONS: Res = Res::new(
    "security.istio.io",
    "v1beta1",
    "peerauthentications",
    "PeerAuthentication",
    true,
);
pub const SSAR: Res = Res::new(
    "authorization.k8s.io",
    "v1",
    "selfsubjectaccessreviews",
    "SelfSubjectAccessReview",
    false,
);

/// Percent-encode a query value (RFC 3986 unreserved characters stay).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Build `?a=b&c=d` from pairs, skipping empty values.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_match_the_kubernetes_api_layout() {
        assert_eq!(
            PODS.collection(Some("istio-demo")),
            "/api/v1/namespaces/istio-demo/pods"
        );
        assert_eq!(PODS.collection(None), "/api/v1/pods");
        assert_eq!(
            HTTPROUTES.item(Some("istio-demo"), "reviews"),
            "/apis/gateway.networking.k8s.io/v1/namespaces/istio-demo/httproutes/reviews"
        );
        assert_eq!(
            CRDS.collection(Some("ignored")),
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        );
        assert_eq!(HTTPROUTES.qualified(), "httproutes.gateway.networking.k8s.io");
        assert_eq!(
            query(&[("labelSelector", "app in (a,b)"), ("limit", "500"), ("continue", "")]),
            "?labelSelector=app%20in%20%28a%2Cb%29&limit=500"
        );
    }
}
