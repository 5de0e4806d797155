//! What doctor reads, and why a read may be missing: the [`Kind`]s (each an entry of the one resource table),
//! the LISTs a [`Scope`] needs ([`Kind::list_requests`]), and [`Unavailable`] for a LIST that failed.
//! [`RawLists`] holds whole JSON lists per kind for tests and fixtures; the IO layer decodes page by page
//! instead (`SnapshotDecoder`). Nothing here does IO.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::resource::{self, Res};
pub use crate::scope::Scope;

use serde_json::Value;

/// The kinds doctor reads. Order is the order of [`Kind::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Namespace,
    Pod,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    Service,
    EndpointSlice,
    /// Only ConfigMaps named `istio-ca-root-cert` (see [`Kind::field_selector`]).
    ConfigMap,
    PeerAuthentication,
    Gateway,
    HttpRoute,
    CustomResourceDefinition,
    MutatingWebhookConfiguration,
    PodDisruptionBudget,
    /// Cluster-scoped: a waypoint's traffic type may come from its class (`istio.io/waypoint-for`).
    GatewayClass,
    /// Istio's own routing API, which must not route a host a mesh HTTPRoute routes.
    VirtualService,
}

/// Why a list is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// The API server answered 403.
    Forbidden {
        verb: String,
        resource: String,
        group: String,
        namespace: Option<String>,
    },
    /// The API server does not serve this resource (404: e.g. Gateway API CRDs absent).
    NotServed,
    /// The LIST was never made (a kind missing from [`RawLists`] or from a decoder).
    NotListed,
    /// Any other failure, as the IO layer's error said it.
    Failed(ListFailure),
}

/// Why a LIST failed: the IO layer's own error, kept whole (its message and source chain) rather than flattened
/// to a string, since this crate cannot name that error's type.
#[derive(Debug, Clone)]
pub struct ListFailure(Arc<dyn std::error::Error + Send + Sync>);

impl ListFailure {
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ListFailure(Arc::new(e))
    }

    /// The error itself.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Display for ListFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Two failures are the same when they say the same (the errors themselves cannot be compared).
impl PartialEq for ListFailure {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for ListFailure {}

impl Unavailable {
    /// A `list` 403 for `kind` (namespace `None` = cluster-wide).
    pub fn forbidden_list(kind: Kind, namespace: Option<&str>) -> Self {
        Unavailable::Forbidden {
            verb: "list".to_string(),
            resource: kind.plural().to_string(),
            group: kind.group().to_string(),
            namespace: namespace.map(str::to_string),
        }
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::Forbidden {
                verb,
                resource,
                group,
                namespace,
            } => {
                let res = if group.is_empty() {
                    resource.clone()
                } else {
                    format!("{resource}.{group}")
                };
                match namespace {
                    Some(ns) => write!(f, "needs {verb} {res} in {ns}"),
                    None => write!(f, "needs {verb} {res} cluster-wide"),
                }
            }
            Unavailable::NotServed => write!(f, "not served by the API server"),
            Unavailable::NotListed => write!(f, "could not be read: not listed"),
            Unavailable::Failed(why) => write!(f, "could not be read: {why}"),
        }
    }
}

/// One LIST the IO layer has to perform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub kind: Kind,
    /// `None` = cluster-wide (cluster-scoped kinds, or [`Scope::All`]).
    pub namespace: Option<String>,
    /// Path without pagination parameters, including `?fieldSelector=…` when the kind has one.
    pub path: String,
}

/// Namespaces doctor always reads for a kind, even with a namespace scope:
/// istiod and the mesh-wide policy live in istio-system, k3s' traefik in kube-system.
fn always_needed(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Deployment | Kind::Service => &["istio-system", "kube-system"],
        Kind::ConfigMap | Kind::PeerAuthentication | Kind::Pod => &["istio-system"],
        // ztunnel runs in istio-system, or in kube-system on GKE (Istio's platform prerequisites).
        Kind::DaemonSet => &["istio-system", "kube-system"],
        _ => &[],
    }
}

impl Kind {
    /// Every kind doctor reads.
    pub const ALL: [Kind; 17] = [
        Kind::Namespace,
        Kind::Pod,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Service,
        Kind::EndpointSlice,
        Kind::ConfigMap,
        Kind::PeerAuthentication,
        Kind::Gateway,
        Kind::HttpRoute,
        Kind::CustomResourceDefinition,
        Kind::MutatingWebhookConfiguration,
        Kind::PodDisruptionBudget,
        Kind::GatewayClass,
        Kind::VirtualService,
    ];

    /// Its entry in the one resource table ([`crate::resource`]).
    pub fn res(self) -> &'static Res {
        match self {
            Kind::Namespace => &resource::NAMESPACES,
            Kind::Pod => &resource::PODS,
            Kind::Deployment => &resource::DEPLOYMENTS,
            Kind::ReplicaSet => &resource::REPLICASETS,
            Kind::StatefulSet => &resource::STATEFULSETS,
            Kind::DaemonSet => &resource::DAEMONSETS,
            Kind::Service => &resource::SERVICES,
            Kind::EndpointSlice => &resource::ENDPOINTSLICES,
            Kind::ConfigMap => &resource::CONFIGMAPS,
            Kind::PeerAuthentication => &resource::PEER_AUTHENTICATIONS,
            Kind::Gateway => &resource::GATEWAYS,
            Kind::HttpRoute => &resource::HTTPROUTES,
            Kind::CustomResourceDefinition => &resource::CRDS,
            Kind::MutatingWebhookConfiguration => &resource::MUTATING_WEBHOOKS,
            Kind::PodDisruptionBudget => &resource::PDBS,
            Kind::GatewayClass => &resource::GATEWAY_CLASSES,
            Kind::VirtualService => &resource::VIRTUAL_SERVICES,
        }
    }

    /// API group (`""` for core).
    pub fn group(self) -> &'static str {
        self.res().group
    }

    /// API version within the group.
    pub fn version(self) -> &'static str {
        self.res().version
    }

    /// `group/version`, or `v1` for core.
    pub fn api_version(self) -> String {
        self.res().api_version()
    }

    /// Resource plural as used in URLs and RBAC.
    pub fn plural(self) -> &'static str {
        self.res().plural
    }

    /// The `kind` field of the objects.
    pub fn kind_name(self) -> &'static str {
        self.res().kind
    }

    /// The kind for an object's `kind` field (ignores the group).
    pub fn from_kind_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.kind_name() == name)
    }

    /// Whether objects of this kind live in namespaces.
    pub fn namespaced(self) -> bool {
        self.res().namespaced
    }

    /// A field selector the LIST must carry, if any.
    pub fn field_selector(self) -> Option<&'static str> {
        match self {
            Kind::ConfigMap => Some("metadata.name=istio-ca-root-cert"),
            _ => None,
        }
    }

    /// The LIST path (no pagination parameters) for a namespace, or cluster-wide with `None`.
    /// Cluster-scoped kinds ignore `namespace`.
    pub fn list_path(self, namespace: Option<&str>) -> String {
        let selector = self.field_selector().unwrap_or("");
        format!(
            "{}{}",
            self.res().collection(namespace),
            resource::query(&[("fieldSelector", selector)])
        )
    }

    /// Whether doctor reads this kind in `namespace` whatever the scope (istio-system for istiod, …).
    pub fn always_read_in(self, namespace: &str) -> bool {
        always_needed(self).contains(&namespace)
    }

    /// The LISTs needed for this kind under `scope`. Items from all of them go into one list.
    pub fn list_requests(self, scope: &Scope) -> Vec<ListRequest> {
        let namespaces: Vec<Option<String>> = match scope {
            _ if !self.namespaced() => vec![None],
            Scope::All => vec![None],
            Scope::Namespaces(list) => {
                let mut all: Vec<String> = list.clone();
                for extra in always_needed(self) {
                    if !all.iter().any(|n| n == extra) {
                        all.push((*extra).to_string());
                    }
                }
                all.into_iter().map(Some).collect()
            }
        };
        namespaces
            .into_iter()
            .map(|namespace| ListRequest {
                kind: self,
                path: self.list_path(namespace.as_deref()),
                namespace,
            })
            .collect()
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind_name())
    }
}

/// Raw list items per kind. A kind never inserted counts as [`Unavailable::NotListed`].
#[derive(Debug, Clone, Default)]
pub struct RawLists {
    lists: BTreeMap<Kind, Result<Vec<Value>, Unavailable>>,
}

impl RawLists {
    /// No lists yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every kind present with an empty list: a convenient start for tests and demos.
    pub fn empty_cluster() -> Self {
        let mut raw = Self::new();
        for kind in Kind::ALL {
            raw.lists.insert(kind, Ok(Vec::new()));
        }
        raw
    }

    /// Set the result of one kind (replaces what was there).
    pub fn insert(&mut self, kind: Kind, result: Result<Vec<Value>, Unavailable>) {
        self.lists.insert(kind, result);
    }

    /// Merge one more LIST result for `kind`: items append; the first failure wins.
    pub fn merge(&mut self, kind: Kind, result: Result<Vec<Value>, Unavailable>) {
        match (self.lists.get_mut(&kind), result) {
            (None, r) => {
                self.lists.insert(kind, r);
            }
            (Some(Ok(items)), Ok(more)) => items.extend(more),
            (Some(slot @ Ok(_)), Err(e)) => *slot = Err(e),
            (Some(Err(_)), _) => {}
        }
    }

    /// Add objects (any kinds) by their `kind` field; kinds doctor does not read are ignored.
    /// Returns how many were ignored.
    pub fn push_objects(&mut self, objects: impl IntoIterator<Item = Value>) -> usize {
        let mut ignored = 0;
        for obj in objects {
            let kind = obj.get("kind").and_then(Value::as_str).and_then(Kind::from_kind_name);
            match kind {
                Some(kind) => self.merge(kind, Ok(vec![obj])),
                None => ignored += 1,
            }
        }
        ignored
    }

    /// The result for one kind.
    pub fn get(&self, kind: Kind) -> Result<&[Value], Unavailable> {
        match self.lists.get(&kind) {
            Some(Ok(items)) => Ok(items),
            Some(Err(e)) => Err(e.clone()),
            None => Err(Unavailable::NotListed),
        }
    }
}
