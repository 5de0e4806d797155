//! `kubectl mesh doctor`: find why requests in an Istio + Gateway API mesh fail.
//!
//! Pure: `mesh_kube::read::doctor` lists each [`Kind`] once per namespace in scope and feeds every page to a
//! [`SnapshotDecoder`], which keeps only what the checks read (tests build the same [`Snapshot`] from
//! [`RawLists`] with [`Snapshot::from_raw`]); [`run_checks`] turns the snapshot into [`Finding`]s, which
//! [`render_table`] / [`render_json`] render and `recover` acts on.

pub mod certs;
mod checks;
pub mod cross;
pub mod deep;
pub mod files;
pub mod finding;
pub mod model;
pub mod raw;
mod render;

pub use finding::{Category, Change, Finding, Fix, OwnerKind, ResourceRef, Status};
pub use model::{Input, PodOwner, Snapshot, SnapshotDecoder, SnapshotSource};
pub use raw::{Kind, ListFailure, ListRequest, RawLists, Scope, Unavailable};
pub use render::{render_check_list, render_json, render_table, report, success};

use jiff::Timestamp;

/// One documented check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckInfo {
    pub id: &'static str,
    pub category: Category,
    pub description: &'static str,
    /// Whether the check can run on manifests alone (`doctor -f --offline`).
    pub offline: Offline,
}

/// What a check needs, for `doctor -f --offline`: checks declare it, so the offline run needs no list of ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offline {
    /// Reads only what manifests hold (specs, labels): runs on files.
    Runs,
    /// Reads live state (status, pods, endpoints, certificates, what is installed): listed as skipped offline.
    NeedsCluster,
    /// Only about the files themselves (`doctor -f`).
    FilesOnly,
    /// Only across clusters (`doctor --context A --context B`).
    MultiClusterOnly,
}

impl Offline {
    pub fn as_str(self) -> &'static str {
        match self {
            Offline::Runs => "runs",
            Offline::NeedsCluster => "needs a cluster",
            Offline::FilesOnly => "files only",
            Offline::MultiClusterOnly => "multi-cluster only",
        }
    }
}

/// "1 object", "3 objects".
pub(crate) fn checks_plural(n: usize, word: &str) -> String {
    checks::plural(n, word)
}

/// The entry of check `id`.
pub fn check_info(id: &str) -> Option<&'static CheckInfo> {
    CHECKS.iter().find(|c| c.id == id)
}

/// Every check id doctor can emit, in report order. Ids are stable (scripts match on them).
pub const CHECKS: &[CheckInfo] = &[
    CheckInfo {
        id: "api-access",
        category: Category::KubernetesApi,
        description: "every resource doctor reads could be listed (otherwise dependent checks are skipped)",
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        id: "gateway-api-crds",
        category: Category::Prerequisites,
        description: "Gateway API CRDs (HTTPRoute, Gateway) are installed; reports the bundle version",
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        id: "istiod-ready",
        category: Category::Prerequisites,
        description: "istiod in istio-system has an available replica; reports its version",
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        id: "gateway-not-programmed",
        category: Category::Prerequisites,
        description: "every Gateway has condition Programmed=True",
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        id: "gateway-no-address",
        category: Category::Prerequisites,
        description: "every Gateway's LoadBalancer Service got an external address (MetalLB on k3d)",
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        id: "traefik-present",
        category: Category::Prerequisites,
        description: "k3s traefik does not compete with an Istio gateway for :80/:443",
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        id: "injection-label-conflict",
        category: Category::DataPlane,
        description: "no namespace has both istio-injection and istio.io/rev labels",
        offline: Offline::Runs,
    },
    CheckInfo {
        id: "sidecar-missing",
        category: Category::DataPlane,
        description: "every pod in an injected namespace has an istio-proxy sidecar (classic or native)",
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        id: "stale-sidecar-cert",
        category: Category::DataPlane,
        description: "no istio-proxy started before the current Istio root certificate (CERTIFICATE_VERIFY_FAILED)",
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        id: "stale-sidecar-cert-deep",
        category: Category::DataPlane,
        description:
            "with --deep: each sidecar's Envoy admin /certs trusts the current root's serial (via port-forward)",
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        id: "root-cert-mismatch",
        category: Category::DataPlane,
        description: "every namespace's istio-ca-root-cert and the injector caBundle match istio-system's root",
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        id: "proxy-version-skew",
        category: Category::DataPlane,
        description: "sidecar proxy versions match istiod's",
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        id: "pods-not-ready",
        category: Category::DataPlane,
        description: "every pod in an injected namespace is ready",
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        id: "route-parent-invalid",
        category: Category::Routing,
        description: "every HTTPRoute parent (mesh Service and port, or Gateway) exists",
        offline: Offline::Runs,
    },
    CheckInfo {
        id: "route-not-accepted",
        category: Category::Routing,
        description: "no HTTPRoute parent status has Accepted or ResolvedRefs False",
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        id: "route-backend-missing",
        category: Category::Routing,
        description: "every weighted backend Service exists (otherwise its share gets HTTP 500)",
        offline: Offline::Runs,
    },
    CheckInfo {
        id: "route-backend-port",
        category: Category::Routing,
        description: "every Service backendRef names a port of that Service (the Service port, not the targetPort)",
        offline: Offline::Runs,
    },
    CheckInfo {
        id: "route-backend-unready",
        category: Category::Routing,
        description: "every weighted backend Service has ready endpoints (otherwise 503 no healthy upstream)",
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        id: "backend-selector-unmatched",
        category: Category::Routing,
        description: "every weighted backend Service selects the labels of some workload template or bare pod",
        offline: Offline::Runs,
    },
    CheckInfo {
        id: "route-weights-zero",
        category: Category::Routing,
        description: "no rule has every backend at weight 0",
        offline: Offline::Runs,
    },
    CheckInfo {
        id: "route-rule-shadowed",
        category: Category::Routing,
        description: "no rule is hidden by an earlier rule with the same matches (it would never get a request)",
        offline: Offline::Runs,
    },
    CheckInfo {
        id: "mtls-plaintext-callers",
        category: Category::Routing,
        description: "no sidecar-less pod in the mesh calls under STRICT mTLS (503 connection termination)",
        offline: Offline::Runs,
    },
    CheckInfo {
        id: "files-duplicate-object",
        category: Category::Manifests,
        description: "with -f: no object is given twice in the files (the later one would win)",
        offline: Offline::FilesOnly,
    },
    CheckInfo {
        id: "multicluster-root-mismatch",
        category: Category::Multicluster,
        description: "with several contexts: the clusters' Istio root certificates (istio-system) share a root",
        offline: Offline::MultiClusterOnly,
    },
    CheckInfo {
        id: "multicluster-version-skew",
        category: Category::Multicluster,
        description: "with several contexts: istiod versions are at most one minor apart",
        offline: Offline::MultiClusterOnly,
    },
];

/// Checks [`run_checks`] does not run: they need a flag and their own IO (`stale-sidecar-cert-deep`: `--deep`),
/// or another input than one cluster's snapshot (`-f`, several contexts).
pub const OPT_IN_CHECKS: &[&str] = &[
    deep::ID,
    crate::manifest::DUPLICATE_ID,
    cross::ROOT_MISMATCH_ID,
    cross::VERSION_SKEW_ID,
];

/// Run every check on `snapshot`. `now` only feeds ages in messages, keeping output deterministic.
pub fn run_checks(snapshot: &Snapshot, now: Timestamp) -> Vec<Finding> {
    checks::run(snapshot, now)
}
