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
        id: "gateway-api-crd-version",
        category: Category::Prerequisites,
        description: "Gateway API CRDs carry a bundle version istiod accepts (Istio ignores older ones) and are not owned by k3s's Traefik chart",
    },
    CheckInfo {
        id: "istiod-ready",
        category: Category::Prerequisites,
        description: "istiod in istio-system has an available replica; reports its version",
    },
    CheckInfo {
        id: "ztunnel-ready",
        category: Category::Prerequisites,
        description: "when ambient mode is used, the ztunnel DaemonSet exists and every scheduled pod is ready",
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
        description: "no namespace mixes istio-injection, istio.io/rev and istio.io/dataplane-mode labels (as Istio's IST0123)",
    },
    CheckInfo {
        id: "sidecar-missing",
        category: Category::DataPlane,
        description: "every pod in an injected namespace has an istio-proxy sidecar (classic or native); ambient pods are covered by ztunnel",
    },
    CheckInfo {
        id: "ambient-and-sidecar",
        category: Category::DataPlane,
        description: "no pod is labelled for ambient mode while running a sidecar (Istio keeps it in sidecar mode)",
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
        description: "sidecar proxy versions match istiod's (image variants such as -distroless are the same version)",
    },
    CheckInfo {
        id: "pods-not-ready",
        category: Category::DataPlane,
        description: "every pod in an injected or ambient namespace is ready",
    },
    CheckInfo {
        id: "route-parent-invalid",
        category: Category::Routing,
        description: "every HTTPRoute parent (mesh Service and port, or Gateway) exists",
    },
    CheckInfo {
        id: "gamma-parent-group",
        category: Category::Routing,
        description: "every Service parentRef has group \"\" (omitted means gateway.networking.k8s.io; Istio ignores core)",
    },
    CheckInfo {
        id: "gamma-parent-headless",
        category: Category::Routing,
        description: "every mesh route's parent Service has a cluster IP (not headless or ExternalName)",
    },
    CheckInfo {
        id: "route-not-accepted",
        category: Category::Routing,
        description: "no HTTPRoute parent status has Accepted or ResolvedRefs False (conditions another check explains are folded into it)",
    },
    CheckInfo {
        id: "route-waypoint-missing",
        category: Category::Routing,
        description: "no mesh route of an ambient Service lacks a waypoint (istio.io/use-waypoint); otherwise Istio ignores it",
    },
    CheckInfo {
        id: "waypoint-not-ready",
        category: Category::Routing,
        description: "every waypoint named by istio.io/use-waypoint exists, is programmed, has an address and an available replica",
    },
    CheckInfo {
        id: "waypoint-scope",
        category: Category::Routing,
        description: "every waypoint a Service uses takes service traffic (istio.io/waypoint-for) and admits the Service's namespace",
    },
    CheckInfo {
        id: "ingress-bypasses-waypoint",
        category: Category::Routing,
        description: "a Service with a waypoint and a mesh route that ingress routes to sets istio.io/ingress-use-waypoint=true",
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
        id: "route-no-catch-all",
        category: Category::Routing,
        description: "every mesh route has a rule matching every request (unmatched requests are rejected)",
    },
    CheckInfo {
        id: "virtualservice-conflict",
        category: Category::Routing,
        description: "no VirtualService routes a host that a mesh HTTPRoute also routes",
    },
    CheckInfo {
        id: "mtls-plaintext-callers",
        category: Category::Routing,
        description: "no sidecar-less pod in the mesh calls under STRICT mTLS (503 connection termination); ambient pods are covered by ztunnel",
    },
];

/// Checks [`run_checks`] does not run: they need a flag and their own IO (`stale-sidecar-cert-deep`: `--deep`).
pub const OPT_IN_CHECKS: &[&str] = &[deep::ID];

/// Run every check on `snapshot`. `now` only feeds ages in messages, keeping output deterministic.
pub fn run_checks(snapshot: &Snapshot, now: Timestamp) -> Vec<Finding> {
    checks::run(snapshot, now)
}
