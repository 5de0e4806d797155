//! `kubectl mesh doctor`: find why requests in an Istio + Gateway API mesh fail.
//!
//! Pure: `mesh_kube::read::doctor` lists each [`Kind`] once per namespace in scope and feeds every page to a
//! [`SnapshotDecoder`], which keeps only what the checks read (tests build the same [`Snapshot`] from
//! [`RawLists`] with [`Snapshot::from_raw`]); [`run_checks`] turns the snapshot into [`Finding`]s, which
//! [`render_table`] / [`render_json`] render and `recover` acts on.

pub mod certs;
mod checks;
pub mod deep;
pub mod finding;
pub mod model;
pub mod raw;
mod render;

pub use finding::{Category, Finding, Fix, OwnerKind, ResourceRef, Status};
pub use model::{Input, PodOwner, Snapshot, SnapshotDecoder};
pub use raw::{Kind, ListFailure, ListRequest, RawLists, Scope, Unavailable};
pub use render::{render_check_list, render_json, render_table, report, success};

use jiff::Timestamp;

/// One documented check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckInfo {
    pub id: &'static str,
    pub category: Category,
    pub description: &'static str,
}

/// Every check id doctor can emit, in report order. Ids are stable (scripts match on them).
pub const CHECKS: &[CheckInfo] = &[
    CheckInfo {
        id: "api-access",
        category: Category::KubernetesApi,
        description: "every resource doctor reads could be listed (otherwise dependent checks are skipped)",
    },
    CheckInfo {
        id: "gateway-api-crds",
        category: Category::Prerequisites,
        description: "Gateway API CRDs (HTTPRoute, Gateway) are installed; reports the bundle version",
    },
    CheckInfo {
        id: "istiod-ready",
        category: Category::Prerequisites,
        description: "istiod in istio-system has an available replica; reports its version",
    },
    CheckInfo {
        id: "gateway-not-programmed",
        category: Category::Prerequisites,
        description: "every Gateway has condition Programmed=True",
    },
    CheckInfo {
        id: "gateway-no-address",
        category: Category::Prerequisites,
        description: "every Gateway's LoadBalancer Service got an external address (MetalLB on k3d)",
    },
    CheckInfo {
        id: "traefik-present",
        category: Category::Prerequisites,
        description: "k3s traefik does not compete with an Istio gateway for :80/:443",
    },
    CheckInfo {
        id: "injection-label-conflict",
        category: Category::DataPlane,
        description: "no namespace has both istio-injection and istio.io/rev labels",
    },
    CheckInfo {
        id: "sidecar-missing",
        category: Category::DataPlane,
        description: "every pod in an injected namespace has an istio-proxy sidecar (classic or native)",
    },
    CheckInfo {
        id: "stale-sidecar-cert",
        category: Category::DataPlane,
        description: "no istio-proxy started before the current Istio root certificate (CERTIFICATE_VERIFY_FAILED)",
    },
    CheckInfo {
        id: "stale-sidecar-cert-deep",
        category: Category::DataPlane,
        description:
            "with --deep: each sidecar's Envoy admin /certs trusts the current root's serial (via port-forward)",
    },
    CheckInfo {
        id: "root-cert-mismatch",
        category: Category::DataPlane,
        description: "every namespace's istio-ca-root-cert and the injector caBundle match istio-system's root",
    },
    CheckInfo {
        id: "proxy-version-skew",
        category: Category::DataPlane,
        description: "sidecar proxy versions match istiod's",
    },
    CheckInfo {
        id: "pods-not-ready",
        category: Category::DataPlane,
        description: "every pod in an injected namespace is ready",
    },
    CheckInfo {
        id: "route-parent-invalid",
        category: Category::Routing,
        description: "every HTTPRoute parent (mesh Service and port, or Gateway) exists",
    },
    CheckInfo {
        id: "route-not-accepted",
        category: Category::Routing,
        description: "no HTTPRoute parent status has Accepted or ResolvedRefs False",
    },
    CheckInfo {
        id: "route-backend-missing",
        category: Category::Routing,
        description: "every weighted backend Service exists (otherwise its share gets HTTP 500)",
    },
    CheckInfo {
        id: "route-backend-unready",
        category: Category::Routing,
        description: "every weighted backend Service has ready endpoints (otherwise 503 no healthy upstream)",
    },
    CheckInfo {
        id: "route-weights-zero",
        category: Category::Routing,
        description: "no rule has every backend at weight 0",
    },
    CheckInfo {
        id: "mtls-plaintext-callers",
        category: Category::Routing,
        description: "no sidecar-less pod in the mesh calls under STRICT mTLS (503 connection termination)",
    },
];

/// Checks [`run_checks`] does not run: they need a flag and their own IO (`stale-sidecar-cert-deep`: `--deep`).
pub const OPT_IN_CHECKS: &[&str] = &[deep::ID];

/// Run every check on `snapshot`. `now` only feeds ages in messages, keeping output deterministic.
pub fn run_checks(snapshot: &Snapshot, now: Timestamp) -> Vec<Finding> {
    checks::run(snapshot, now)
}
