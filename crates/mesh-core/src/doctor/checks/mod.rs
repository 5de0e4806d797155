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
mod routing;

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::finding::{Category, Finding, Fix, ResourceRef};
use super::model::{Avail, Pod, PodOwner, Snapshot};
use super::raw::{Kind, Unavailable};

/// Run every check, in [`super::CHECKS`] order.
pub fn run(snapshot: &Snapshot, now: Timestamp) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(api_access(snapshot));
    out.extend(prerequisites::gateway_api_crds(snapshot));
    out.extend(crd_version::gateway_api_crd_version(snapshot));
    out.extend(prerequisites::istiod_ready(snapshot));
    out.extend(ambient::ztunnel_ready(snapshot));
    out.extend(prerequisites::gateway_not_programmed(snapshot));
    out.extend(prerequisites::gateway_no_address(snapshot));
    out.extend(prerequisites::traefik_present(snapshot));
    out.extend(data_plane::injection_label_conflict(snapshot));
    out.extend(data_plane::sidecar_missing(snapshot));
    out.extend(ambient::ambient_and_sidecar(snapshot));
    out.extend(data_plane::stale_sidecar_cert(snapshot, now));
    out.extend(data_plane::root_cert_mismatch(snapshot));
    out.extend(data_plane::proxy_version_skew(snapshot));
    out.extend(data_plane::pods_not_ready(snapshot));
    out.extend(routing::route_parent_invalid(snapshot));
    out.extend(gamma::gamma_parent_group(snapshot));
    out.extend(gamma::gamma_parent_headless(snapshot));
    out.extend(routing::route_not_accepted(snapshot));
    out.extend(ambient::route_waypoint_missing(snapshot));
    out.extend(ambient::waypoint_not_ready(snapshot));
    out.extend(ambient::waypoint_scope(snapshot));
    out.extend(ambient::ingress_bypasses_waypoint(snapshot));
    out.extend(routing::route_backend_missing(snapshot));
    out.extend(routing::route_backend_unready(snapshot));
    out.extend(routing::route_weights_zero(snapshot));
    out.extend(gamma::route_no_catch_all(snapshot));
    out.extend(gamma::virtualservice_conflict(snapshot));
    out.extend(routing::mtls_plaintext_callers(snapshot));
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
