//! The checks: pure functions from a [`Snapshot`] (and `now`) to [`Finding`]s.
//!
//! Every check emits at least one finding: `ok` when it passed, `skipped` (naming the missing
//! permission) when its data could not be read — never a false `ok` — and one finding per
//! affected owner otherwise, so `recover` can act on each one.

mod ambient;
mod crd_version;
mod data_plane;
mod gamma;
mod prerequisites;
mod references;
mod routing;
mod shadowed;
mod templates;

pub(crate) use data_plane::istiod_versions;

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::finding::{Category, Finding, Fix, ResourceRef};
use super::model::{Avail, Pod, PodOwner, Snapshot};
use super::raw::{Kind, Unavailable};
use super::registry::{CheckInfo, Offline, Run};

/// Every check doctor has, in report (and run) order: the one registry (see [`super::registry`]). A check's
/// function names its id and category again in each finding it builds; [`run_selected`] asserts (in debug
/// builds, so in every test) that they agree with its row.
pub const CHECKS: &[CheckInfo] = &[
    CheckInfo {
        code: "KM0010",
        id: "api-access",
        category: Category::KubernetesApi,
        description: "every resource doctor reads could be listed (otherwise dependent checks are skipped)",
        run: Run::Pure(api_access),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM1010",
        id: "gateway-api-crds",
        category: Category::Prerequisites,
        description: "Gateway API CRDs (HTTPRoute, Gateway) are installed; reports the bundle version",
        run: Run::Pure(prerequisites::gateway_api_crds),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM1020",
        id: "gateway-api-crd-version",
        category: Category::Prerequisites,
        description:
            "Gateway API CRDs carry a bundle version istiod accepts (Istio ignores older ones) and are not owned by k3s's Traefik chart",
        run: Run::Pure(crd_version::gateway_api_crd_version),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM1030",
        id: "istiod-ready",
        category: Category::Prerequisites,
        description: "istiod in istio-system has an available replica; reports its version",
        run: Run::Pure(prerequisites::istiod_ready),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM2510",
        id: "ztunnel-ready",
        category: Category::Prerequisites,
        description: "when ambient mode is used, the ztunnel DaemonSet exists and every scheduled pod is ready",
        run: Run::Pure(ambient::ztunnel_ready),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM1040",
        id: "gateway-not-programmed",
        category: Category::Prerequisites,
        description: "every Gateway has condition Programmed=True",
        run: Run::Pure(prerequisites::gateway_not_programmed),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM1050",
        id: "gateway-no-address",
        category: Category::Prerequisites,
        description: "every Gateway's LoadBalancer Service got an external address (MetalLB on k3d)",
        run: Run::Pure(prerequisites::gateway_no_address),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM1060",
        id: "traefik-present",
        category: Category::Prerequisites,
        description: "k3s traefik does not compete with an Istio gateway for :80/:443",
        run: Run::Pure(prerequisites::traefik_present),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM2010",
        id: "injection-label-conflict",
        category: Category::DataPlane,
        description:
            "no namespace mixes istio-injection, istio.io/rev and istio.io/dataplane-mode labels (as Istio's IST0123)",
        run: Run::Pure(data_plane::injection_label_conflict),
        offline: Offline::Runs,
    },
    CheckInfo {
        code: "KM2020",
        id: "sidecar-missing",
        category: Category::DataPlane,
        description:
            "every pod in an injected namespace has an istio-proxy sidecar (classic or native); ambient pods are covered by ztunnel",
        run: Run::Pure(data_plane::sidecar_missing),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM2520",
        id: "ambient-and-sidecar",
        category: Category::DataPlane,
        description: "no pod is labelled for ambient mode while running a sidecar (Istio keeps it in sidecar mode)",
        run: Run::Pure(ambient::ambient_and_sidecar),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM2030",
        id: "stale-sidecar-cert",
        category: Category::DataPlane,
        description: "no istio-proxy started before the current Istio root certificate (CERTIFICATE_VERIFY_FAILED)",
        run: Run::Timed(data_plane::stale_sidecar_cert),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM2031",
        id: "stale-sidecar-cert-deep",
        category: Category::DataPlane,
        description:
            "with --deep: each sidecar's Envoy admin /certs trusts the current root's serial (via port-forward)",
        run: Run::Deep,
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM2040",
        id: "root-cert-mismatch",
        category: Category::DataPlane,
        description: "every namespace's istio-ca-root-cert and the injector caBundle match istio-system's root",
        run: Run::Pure(data_plane::root_cert_mismatch),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM2050",
        id: "proxy-version-skew",
        category: Category::DataPlane,
        description: "sidecar proxy versions match istiod's (image variants such as -distroless are the same version)",
        run: Run::Pure(data_plane::proxy_version_skew),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM2060",
        id: "pods-not-ready",
        category: Category::DataPlane,
        description: "every pod in an injected or ambient namespace is ready",
        run: Run::Pure(data_plane::pods_not_ready),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM3010",
        id: "route-parent-invalid",
        category: Category::Routing,
        description: "every HTTPRoute parent (mesh Service and port, or Gateway) exists",
        run: Run::Pure(routing::route_parent_invalid),
        offline: Offline::Runs,
    },
    CheckInfo {
        code: "KM3510",
        id: "gamma-parent-group",
        category: Category::Routing,
        description:
            "every Service parentRef has group \"\" (omitted means gateway.networking.k8s.io; Istio ignores core)",
        run: Run::Pure(gamma::gamma_parent_group),
        offline: Offline::Runs,
    },
    CheckInfo {
        code: "KM3520",
        id: "gamma-parent-headless",
        category: Category::Routing,
        description: "every mesh route's parent Service has a cluster IP (not headless or ExternalName)",
        run: Run::Pure(gamma::gamma_parent_headless),
        offline: Offline::Runs,
    },
    CheckInfo {
        code: "KM3020",
        id: "route-not-accepted",
        category: Category::Routing,
        description:
            "no HTTPRoute parent status has Accepted or ResolvedRefs False (conditions another check explains are folded into it)",
        run: Run::Pure(routing::route_not_accepted),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM3610",
        id: "route-waypoint-missing",
        category: Category::Routing,
        description:
            "no mesh route of an ambient Service lacks a waypoint (istio.io/use-waypoint); otherwise Istio ignores it",
        run: Run::Pure(ambient::route_waypoint_missing),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM3620",
        id: "waypoint-not-ready",
        category: Category::Routing,
        description:
            "every waypoint named by istio.io/use-waypoint exists, is programmed, has an address and an available replica",
        run: Run::Pure(ambient::waypoint_not_ready),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM3630",
        id: "waypoint-scope",
        category: Category::Routing,
        description:
            "every waypoint a Service uses takes service traffic (istio.io/waypoint-for) and admits the Service's namespace",
        run: Run::Pure(ambient::waypoint_scope),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM3640",
        id: "ingress-bypasses-waypoint",
        category: Category::Routing,
        description:
            "a Service with a waypoint and a mesh route that ingress routes to sets istio.io/ingress-use-waypoint=true",
        run: Run::Pure(ambient::ingress_bypasses_waypoint),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM3030",
        id: "route-backend-missing",
        category: Category::Routing,
        description: "every weighted backend Service exists (otherwise its share gets HTTP 500)",
        run: Run::Pure(routing::route_backend_missing),
        offline: Offline::Runs,
    },
    CheckInfo {
        code: "KM3031",
        id: "route-backend-port",
        category: Category::Routing,
        description: "every Service backendRef names a port of that Service (the Service port, not the targetPort)",
        run: Run::Pure(references::route_backend_port),
        offline: Offline::Runs,
    },
    CheckInfo {
        code: "KM3040",
        id: "route-backend-unready",
        category: Category::Routing,
        description: "every weighted backend Service has ready endpoints (otherwise 503 no healthy upstream)",
        run: Run::Pure(routing::route_backend_unready),
        offline: Offline::NeedsCluster,
    },
    CheckInfo {
        code: "KM3041",
        id: "backend-selector-unmatched",
        category: Category::Routing,
        description: "every weighted backend Service selects the labels of some workload template or bare pod",
        run: Run::Pure(references::backend_selector_unmatched),
        offline: Offline::Runs,
    },
    CheckInfo {
        code: "KM3050",
        id: "route-weights-zero",
        category: Category::Routing,
        description: "no rule has every backend at weight 0",
        run: Run::Pure(routing::route_weights_zero),
        offline: Offline::Runs,
    },
    CheckInfo {
        code: "KM3530",
        id: "route-no-catch-all",
        category: Category::Routing,
        description: "every mesh route has a rule matching every request (unmatched requests are rejected)",
        run: Run::Pure(gamma::route_no_catch_all),
        offline: Offline::Runs,
    },
    CheckInfo {
        code: "KM3060",
        id: "route-rule-shadowed",
        category: Category::Routing,
        description: "no rule is hidden by an earlier rule with the same matches (it would never get a request)",
        run: Run::Pure(shadowed::route_rule_shadowed),
        offline: Offline::Runs,
    },
    CheckInfo {
        code: "KM3080",
        id: "virtualservice-conflict",
        category: Category::Routing,
        description: "no VirtualService routes a host that a mesh HTTPRoute also routes",
        run: Run::Pure(gamma::virtualservice_conflict),
        offline: Offline::Runs,
    },
    CheckInfo {
        code: "KM3070",
        id: "mtls-plaintext-callers",
        category: Category::Routing,
        description:
            "no sidecar-less pod in the mesh calls under STRICT mTLS (503 connection termination); ambient pods are covered by ztunnel",
        run: Run::Pure(routing::mtls_plaintext_callers),
        offline: Offline::Runs,
    },
    CheckInfo {
        code: "KM7010",
        id: "files-duplicate-object",
        category: Category::Manifests,
        description: "with -f: no object is given twice in the files (the later one would win)",
        run: Run::Files,
        offline: Offline::FilesOnly,
    },
    CheckInfo {
        code: "KM8010",
        id: "multicluster-root-mismatch",
        category: Category::Multicluster,
        description: "with several contexts: the clusters' Istio root certificates (istio-system) share a root",
        run: Run::Cross,
        offline: Offline::MultiClusterOnly,
    },
    CheckInfo {
        code: "KM8020",
        id: "multicluster-version-skew",
        category: Category::Multicluster,
        description: "with several contexts: istiod versions are at most one minor apart",
        run: Run::Cross,
        offline: Offline::MultiClusterOnly,
    },
];

/// Run every check of [`CHECKS`] that `wanted` selects and that runs on the snapshot alone (not `--deep`), in
/// table order.
pub fn run_selected(snapshot: &Snapshot, now: Timestamp, wanted: impl Fn(&CheckInfo) -> bool) -> Vec<Finding> {
    let mut out = Vec::new();
    for check in CHECKS.iter().filter(|c| wanted(c)) {
        let findings = match check.run {
            Run::Pure(f) => f(snapshot),
            Run::Timed(f) => f(snapshot, now),
            Run::Deep | Run::Files | Run::Cross => continue,
        };
        for f in &findings {
            debug_assert!(
                f.id == check.id && f.category == check.category,
                "check {} emitted a finding {} in {} (its row says {})",
                check.id,
                f.id,
                f.category,
                check.category
            );
        }
        out.extend(findings);
    }
    out
}

/// Why a list is missing, phrased for a skipped finding.
pub(crate) fn unavailable_reason(kind: Kind, u: &Unavailable) -> String {
    match u {
        Unavailable::Forbidden { .. } => u.to_string(),
        Unavailable::NotServed => {
            let group = kind.group();
            if group.is_empty() {
                format!("{} not served by the API server", kind.plural())
            } else {
                format!("{}.{group} not served by the API server", kind.plural())
            }
        }
        Unavailable::NotListed => format!("could not list {}: not listed", kind.plural()),
        Unavailable::Failed(why) => format!("could not list {}: {why}", kind.plural()),
    }
}

/// The items of a list, or why they are missing (for a skipped finding).
pub(crate) fn need_list<T>(list: &Avail<T>, kind: Kind) -> Result<&[T], String> {
    match list {
        Ok(items) => Ok(items),
        Err(u) => Err(unavailable_reason(kind, u)),
    }
}

/// The items of a list; otherwise the check returns one skipped finding naming the reason
/// (e.g. "needs list pods in istio-demo").
macro_rules! need {
    ($list:expr, $kind:expr, $id:expr, $cat:expr) => {
        match $crate::doctor::checks::need_list($list, $kind) {
            Ok(items) => items,
            Err(reason) => return vec![$crate::doctor::finding::Finding::skipped($id, $cat, reason)],
        }
    };
}
pub(crate) use need;

fn api_access(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "api-access";
    let cat = Category::KubernetesApi;
    let kinds: [(Kind, Option<&Unavailable>); 17] = [
        (Kind::Namespace, s.namespaces.as_ref().err()),
        (Kind::Pod, s.pods.as_ref().err()),
        (Kind::Deployment, s.deployments.as_ref().err()),
        (Kind::ReplicaSet, s.replica_sets.as_ref().err()),
        (Kind::StatefulSet, s.stateful_sets.as_ref().err()),
        (Kind::DaemonSet, s.daemon_sets.as_ref().err()),
        (Kind::Service, s.services.as_ref().err()),
        (Kind::EndpointSlice, s.endpoint_slices.as_ref().err()),
        (Kind::ConfigMap, s.root_certs.as_ref().err()),
        (Kind::PeerAuthentication, s.peer_authentications.as_ref().err()),
        (Kind::Gateway, s.gateways.as_ref().err()),
        (Kind::HttpRoute, s.http_routes.as_ref().err()),
        (Kind::CustomResourceDefinition, s.crds.as_ref().err()),
        (Kind::MutatingWebhookConfiguration, s.mutating_webhooks.as_ref().err()),
        (Kind::PodDisruptionBudget, s.pdbs.as_ref().err()),
        (Kind::GatewayClass, s.gateway_classes.as_ref().err()),
        (Kind::VirtualService, s.virtual_services.as_ref().err()),
    ];
    let reasons = |want_failed: bool| -> Vec<String> {
        kinds
            .iter()
            .filter_map(|(k, e)| match e {
                Some(u @ Unavailable::Forbidden { .. }) if !want_failed => Some(unavailable_reason(*k, u)),
                Some(u @ (Unavailable::Failed(_) | Unavailable::NotListed)) if want_failed => {
                    Some(unavailable_reason(*k, u))
                }
                _ => None,
            })
            .collect()
    };
    let (forbidden, failed) = (reasons(false), reasons(true));
    let mut out = Vec::new();
    if forbidden.is_empty() && failed.is_empty() {
        out.push(Finding::ok(ID, cat, "can read every resource doctor needs"));
    }
    if !forbidden.is_empty() {
        // Missing permissions are the user's choice: the checks say "skipped", the exit code is unaffected.
        out.push(
            Finding::warning(
                ID,
                cat,
                format!(
                    "{} of {} resource lists may not be read; checks that need them are skipped: {}",
                    forbidden.len(),
                    kinds.len(),
                    forbidden.join("; ")
                ),
            )
            .with_hint("ask for read access (get/list) to these resources, or narrow with -n NAMESPACE"),
        );
    }
    if !failed.is_empty() {
        // The API server failed us: nothing proves the cluster healthy, so this is an error, not a silent ok.
        out.push(
            Finding::error(
                ID,
                cat,
                format!(
                    "{} of {} resource lists failed to load; checks that need them could not run: {}",
                    failed.len(),
                    kinds.len(),
                    failed.join("; ")
                ),
            )
            .with_hint("the API server answered with errors: retry, or add -v 6 to see the requests"),
        );
    }
    if !s.decode_errors.is_empty() {
        let shown: Vec<&str> = s.decode_errors.iter().take(5).map(String::as_str).collect();
        out.push(Finding::warning(
            ID,
            cat,
            format!(
                "{} objects could not be decoded and were ignored: {}",
                s.decode_errors.len(),
                shown.join("; ")
            ),
        ));
    }
    out
}

/// Pods grouped by what controls them. Bare pods and pods with an unsupported owner are one
/// group per pod (each gets its own eviction fix).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct OwnerGroupKey {
    pub namespace: String,
    pub owner: PodOwner,
    /// Set for bare / other-owned pods.
    pub pod: Option<String>,
}

pub(crate) fn group_by_owner<'a>(
    s: &Snapshot,
    pods: impl IntoIterator<Item = &'a Pod>,
) -> BTreeMap<OwnerGroupKey, Vec<&'a Pod>> {
    let mut groups: BTreeMap<OwnerGroupKey, Vec<&'a Pod>> = BTreeMap::new();
    for pod in pods {
        let owner = s.owner_of(pod);
        let per_pod = !matches!(owner, PodOwner::Workload { .. });
        groups
            .entry(OwnerGroupKey {
                namespace: pod.namespace.clone(),
                owner,
                pod: per_pod.then(|| pod.name.clone()),
            })
            .or_default()
            .push(pod);
    }
    for list in groups.values_mut() {
        list.sort_by(|a, b| a.name.cmp(&b.name));
    }
    groups
}

impl OwnerGroupKey {
    /// "deployment istio-demo/reviews-v1", "pod istio-demo/debug" or "pod istio-demo/x (owned by Job y)".
    pub fn describe(&self) -> String {
        match (&self.owner, &self.pod) {
            (PodOwner::Workload { kind, name }, _) => {
                format!("{} {}/{}", kind.as_str().to_ascii_lowercase(), self.namespace, name)
            }
            (PodOwner::Other { kind, name }, Some(pod)) => {
                format!("pod {}/{pod} (owned by {kind} {name})", self.namespace)
            }
            (_, pod) => format!("pod {}/{}", self.namespace, pod.as_deref().unwrap_or_default()),
        }
    }

    /// The fix recover would apply for these pods.
    pub fn fix(&self, pods: &[&Pod], reason: &str) -> Fix {
        match &self.owner {
            PodOwner::Workload { kind, name } => Fix::RestartOwner {
                kind: *kind,
                namespace: self.namespace.clone(),
                name: name.clone(),
                pods: pods.iter().map(|p| p.name.clone()).collect(),
                reason: reason.to_string(),
            },
            _ => Fix::EvictPod {
                namespace: self.namespace.clone(),
                name: self
                    .pod
                    .clone()
                    .or_else(|| pods.first().map(|p| p.name.clone()))
                    .unwrap_or_default(),
                reason: reason.to_string(),
            },
        }
    }

    /// The kubectl command a user would run by hand.
    pub fn manual_command(&self) -> String {
        match (&self.owner, &self.pod) {
            (PodOwner::Workload { kind, name }, _) => format!(
                "kubectl -n {} rollout restart {}/{}",
                self.namespace,
                kind.as_str().to_ascii_lowercase(),
                name
            ),
            (_, pod) => format!(
                "kubectl -n {} delete pod {}",
                self.namespace,
                pod.as_deref().unwrap_or_default()
            ),
        }
    }
}

pub(crate) fn pod_refs(pods: &[&Pod]) -> Vec<ResourceRef> {
    pods.iter()
        .map(|p| ResourceRef::new("Pod", &p.namespace, &p.name))
        .collect()
}

/// "a, b, c and 4 more".
pub(crate) fn name_list<S: AsRef<str>>(names: &[S], max: usize) -> String {
    let shown: Vec<&str> = names.iter().take(max).map(AsRef::as_ref).collect();
    if names.len() > max {
        format!("{} and {} more", shown.join(", "), names.len() - max)
    } else {
        shown.join(", ")
    }
}

/// "3 pods" / "1 pod".
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// "5d", "3h", "12m" between two times (never negative).
pub(crate) fn age(from: Timestamp, to: Timestamp) -> String {
    let secs = (to.as_second() - from.as_second()).max(0);
    if secs >= 2 * 86_400 {
        format!("{}d", secs / 86_400)
    } else if secs >= 3_600 {
        format!("{}h", secs / 3_600)
    } else if secs >= 60 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// Image tag (`proxyv2:1.26.2` → `1.26.2`); `None` for digests or untagged images.
pub(crate) fn image_tag(image: &str) -> Option<&str> {
    if image.contains('@') {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, tag)| tag).filter(|t| !t.is_empty())
}
