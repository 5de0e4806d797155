//! Ambient-mode checks: ztunnel, pods labelled for both data planes, and the waypoints mesh routes need.
//!
//! The rules (data plane of a pod, waypoint binding, traffic type, attachment) are [`crate::ambient`]'s, shared
//! with the route planners, which refuse to write a route these checks would report.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::routing::service_index;
use super::{group_by_owner, image_tag, name_list, need, plural, pod_refs};
use crate::ambient::{self, AmbientLabel, Attach, Binding, DataPlane, GatewayView, TrafficSource, WaypointRef};
use crate::doctor::finding::{Category, Finding, ResourceRef};
use crate::doctor::model::{Gateway, HttpRoute, ParentRef, Pod, Service, Snapshot, Workload};
use crate::doctor::raw::{Kind, Unavailable};

const ROUTING: Category = Category::Routing;

// ---------------------------------------------------------------------------------------------------------
// Shared views of the snapshot.

/// Namespace name → labels (empty when namespaces could not be read).
pub(super) fn namespace_labels(s: &Snapshot) -> HashMap<&str, &ambient::Labels> {
    s.namespaces
        .as_ref()
        .map(|nss| nss.iter().map(|n| (n.name.as_str(), &n.labels)).collect())
        .unwrap_or_default()
}

/// Why a Service is in ambient mode, if it is: its namespace is (as Istio's analyzers say), or it selects pods
/// that are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AmbientService {
    Namespace,
    Pods,
}

/// The ambient pods of each namespace (built once: a cluster holds many pods and few of them are ambient).
pub(super) fn ambient_pods(s: &Snapshot) -> HashMap<&str, Vec<&Pod>> {
    let mut out: HashMap<&str, Vec<&Pod>> = HashMap::new();
    for p in s
        .pods
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter(|p| p.mode.is_ambient())
    {
        out.entry(p.namespace.as_str()).or_default().push(p);
    }
    out
}

pub(super) fn service_ambient(
    ambient_pods: &HashMap<&str, Vec<&Pod>>,
    svc: &Service,
    ns_labels: Option<&ambient::Labels>,
) -> Option<AmbientService> {
    if ns_labels.is_some_and(ambient::namespace_in_ambient) {
        return Some(AmbientService::Namespace);
    }
    if svc.selector.is_empty() {
        return None;
    }
    ambient_pods
        .get(svc.namespace.as_str())?
        .iter()
        .any(|p| svc.selector.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
        .then_some(AmbientService::Pods)
}

/// The GatewayClass of a Gateway, when classes were read.
fn class_of<'a>(s: &'a Snapshot, gw: &Gateway) -> Option<&'a crate::doctor::model::GatewayClass> {
    s.gateway_classes.as_ref().ok()?.iter().find(|c| c.name == gw.class)
}

/// Whether a Gateway is a waypoint (its class is one).
pub(super) fn is_waypoint_gateway(s: &Snapshot, gw: &Gateway) -> bool {
    ambient::is_waypoint_class(&gw.class, class_of(s, gw).map(|c| c.controller.as_str()))
}

/// Who uses a waypoint: Services bound to it and namespaces whose label names it.
#[derive(Debug, Default)]
pub(super) struct WaypointUsers<'a> {
    pub services: Vec<&'a Service>,
    pub namespaces: Vec<String>,
}

impl WaypointUsers<'_> {
    /// "Service a/b (and 2 more) and namespace x".
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(first) = self.services.first() {
            let more = if self.services.len() > 1 {
                format!(" (and {} more)", self.services.len() - 1)
            } else {
                String::new()
            };
            parts.push(format!("Service {}/{}{more}", first.namespace, first.name));
        }
        if !self.namespaces.is_empty() {
            parts.push(format!(
                "{} {}",
                if self.namespaces.len() == 1 {
                    "namespace"
                } else {
                    "namespaces"
                },
                name_list(&self.namespaces, 3)
            ));
        }
        parts.join(" and ")
    }

    /// "uses" for one user, "use" for several.
    fn verb(&self) -> &'static str {
        if self.services.len() + self.namespaces.len() == 1 {
            "uses"
        } else {
            "use"
        }
    }

    fn resources(&self) -> Vec<ResourceRef> {
        let mut out: Vec<ResourceRef> = self
            .services
            .iter()
            .map(|s| ResourceRef::new("Service", &s.namespace, &s.name))
            .collect();
        out.extend(self.namespaces.iter().map(|n| ResourceRef::cluster("Namespace", n)));
        out
    }

    /// The first `False` WaypointBound condition of the Services, as a confirmation suffix.
    fn confirmation(&self, reasons: &[&str]) -> String {
        self.services
            .iter()
            .find(|svc| {
                ambient::waypoint_bound(&svc.istio_conditions)
                    .is_some_and(|c| c.status == "False" && reasons.contains(&c.reason.as_deref().unwrap_or("")))
            })
            .map(|svc| ambient::waypoint_bound_confirmation(&svc.istio_conditions, &svc.namespace, &svc.name))
            .unwrap_or_default()
    }
}

/// Every waypoint in use, by (namespace, name): the Services bound to it (their label, else their namespace's)
/// and the namespaces in scope whose label names it. Istio's own gateways (waypoints, east-west) have no
/// waypoint.
pub(super) fn waypoints_in_use(s: &Snapshot) -> BTreeMap<(String, String), WaypointUsers<'_>> {
    let mut out: BTreeMap<(String, String), WaypointUsers<'_>> = BTreeMap::new();
    let labels = namespace_labels(s);
    if let Ok(services) = &s.services {
        for svc in services
            .iter()
            .filter(|s| !ambient::service_is_istio_gateway(&s.labels))
        {
            if let Binding::Waypoint(w) =
                ambient::service_binding(&svc.labels, &svc.namespace, labels.get(svc.namespace.as_str()).copied())
            {
                out.entry((w.namespace, w.name)).or_default().services.push(svc);
            }
        }
    }
    if let Ok(namespaces) = &s.namespaces {
        // Namespaces are read cluster-wide; only those in scope are doctor's business here (`-n X` is about X).
        for ns in namespaces.iter().filter(|n| s.scope.contains(&n.name)) {
            if let Some(name) = ns.labels.get(ambient::USE_WAYPOINT).filter(|n| *n != "none") {
                let wns = ns
                    .labels
                    .get(ambient::USE_WAYPOINT_NAMESPACE)
                    .cloned()
                    .unwrap_or_else(|| ns.name.clone());
                out.entry((wns, name.clone()))
                    .or_default()
                    .namespaces
                    .push(ns.name.clone());
            }
        }
    }
    out
}

/// The first problem of the waypoint `ns/name` ([`ambient::waypoint_problem`]) with what doctor read: its
/// Gateway, GatewayClass and Deployment. `None` also when it is fine.
pub(super) fn waypoint_problem<'a>(
    s: &'a Snapshot,
    ns: &str,
    name: &str,
) -> Option<(ambient::WaypointProblem, Option<&'a Gateway>)> {
    let gateways = s.gateways.as_ref().ok()?;
    let gw = gateways.iter().find(|g| g.namespace == ns && g.name == name);
    let deployment = gw.and_then(|g| {
        let deployments = s.deployments.as_ref().ok()?;
        if !s.read_in(Kind::Deployment, ns) {
            return None;
        }
        let dname = g.waypoint_deployment();
        Some(
            match deployments.iter().find(|d| d.namespace == ns && d.name == dname) {
                Some(d) => (dname, d.available_replicas, d.replicas.unwrap_or(1)),
                None => (dname, -1, 0),
            },
        )
    });
    let view = gw.map(|g| GatewayView {
        class: &g.class,
        class_controller: class_of(s, g).map(|c| c.controller.as_str()),
        conditions: &g.conditions,
        has_addresses: g.has_addresses,
    });
    ambient::waypoint_problem(view, deployment).map(|p| (p, gw))
}

/// Gateways that [`waypoint_not_ready`] reports (so the Gateway checks do not report them twice).
pub(super) fn reported_waypoints(s: &Snapshot) -> BTreeSet<(String, String)> {
    waypoints_in_use(s)
        .into_keys()
        .filter(|(ns, name)| s.read_in(Kind::Gateway, ns) && waypoint_problem(s, ns, name).is_some())
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// ztunnel-ready

/// The ztunnel DaemonSet: `ztunnel` in istio-system, else in kube-system (GKE), else any DaemonSet labelled
/// `app.kubernetes.io/name: ztunnel` (the chart's `resourceName` renames it).
fn find_ztunnel(daemon_sets: &[Workload]) -> Option<&Workload> {
    ["istio-system", "kube-system"]
        .iter()
        .find_map(|ns| daemon_sets.iter().find(|d| d.namespace == *ns && d.name == "ztunnel"))
        .or_else(|| {
            daemon_sets
                .iter()
                .find(|d| d.labels.get("app.kubernetes.io/name").map(String::as_str) == Some("ztunnel"))
        })
}

pub(super) fn ztunnel_ready(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "ztunnel-ready";
    let cat = Category::Prerequisites;
    let namespaces = need!(&s.namespaces, Kind::Namespace, ID, cat);
    let ambient_ns: Vec<&str> = namespaces
        .iter()
        .filter(|n| n.labels.get(ambient::DATAPLANE_MODE).map(String::as_str) == Some("ambient"))
        .map(|n| n.name.as_str())
        .collect();
    let pods: &[Pod] = s.pods.as_deref().unwrap_or_default();
    let ambient_pods = pods.iter().filter(|p| p.mode.is_ambient()).count();
    let labelled_pods = pods
        .iter()
        .filter(|p| {
            p.labels.get(ambient::DATAPLANE_MODE).map(String::as_str) == Some("ambient") || p.ambient_redirected
        })
        .count();
    if ambient_ns.is_empty() && labelled_pods == 0 {
        return vec![Finding::ok(ID, cat, "no namespace or pod uses ambient mode")];
    }
    let daemon_sets = need!(&s.daemon_sets, Kind::DaemonSet, ID, cat);
    let in_use = match ambient_ns.as_slice() {
        [] => format!(
            "{} labelled istio.io/dataplane-mode=ambient",
            plural(labelled_pods, "pod")
        ),
        [one] => format!("namespace {one}; {}", plural(ambient_pods, "ambient pod")),
        [one, rest @ ..] => format!(
            "namespace {one} and {} more; {}",
            rest.len(),
            plural(ambient_pods, "ambient pod")
        ),
    };
    let ns_refs: Vec<ResourceRef> = ambient_ns
        .iter()
        .map(|n| ResourceRef::cluster("Namespace", n))
        .collect();
    let Some(ds) = find_ztunnel(daemon_sets) else {
        return vec![Finding::error(
            ID,
            cat,
            format!(
                "ambient mode is in use ({in_use}) but no ztunnel DaemonSet exists in istio-system or kube-system: ambient pods have no data plane, so their connections fail"
            ),
        )
        .with_hint("install it: helm install ztunnel istio/ztunnel -n istio-system --wait (istioctl install --set profile=ambient installs it too)")
        .with_resources(ns_refs)];
    };
    let id = format!("{}/{}", ds.namespace, ds.name);
    let version = ds
        .images
        .iter()
        .find_map(|(_, img)| image_tag(img))
        .map(|v| format!(" (version {v})"))
        .unwrap_or_default();
    let ds_ref = ResourceRef::new("DaemonSet", &ds.namespace, &ds.name);
    let look = format!(
        "kubectl -n {0} describe daemonset {1}; kubectl -n {0} logs daemonset/{1}",
        ds.namespace, ds.name
    );
    if ds.desired_scheduled == 0 {
        return vec![Finding::error(
            ID,
            cat,
            format!(
                "ztunnel {id} schedules no pod (desiredNumberScheduled 0): ambient pods have no data plane ({in_use})"
            ),
        )
        .with_hint(format!(
            "check its nodeSelector and tolerations: kubectl -n {} describe daemonset {}",
            ds.namespace, ds.name
        ))
        .with_resources(vec![ds_ref])];
    }
    if ds.number_ready == 0 {
        return vec![Finding::error(
            ID,
            cat,
            format!(
                "ztunnel {id} has 0 of {} pods ready: ambient pods on every node lose their traffic ({in_use})",
                ds.desired_scheduled
            ),
        )
        .with_hint(look)
        .with_resources(vec![ds_ref])];
    }
    if ds.number_ready < ds.desired_scheduled {
        let not_ready: Vec<&Pod> = pods
            .iter()
            .filter(|p| p.namespace == ds.namespace && !p.ready && !p.completed())
            .filter(|p| {
                p.owner
                    .as_ref()
                    .is_some_and(|o| o.kind == "DaemonSet" && o.name == ds.name)
            })
            .collect();
        let names: Vec<&str> = not_ready.iter().map(|p| p.name.as_str()).collect();
        let which = if names.is_empty() {
            String::new()
        } else {
            format!(" (not ready: {})", name_list(&names, 5))
        };
        let mut resources = vec![ds_ref];
        resources.extend(pod_refs(&not_ready));
        return vec![Finding::warning(
            ID,
            cat,
            format!(
                "ztunnel {id} has {} of {} pods ready{which}: ambient pods on those nodes lose their traffic",
                ds.number_ready, ds.desired_scheduled
            ),
        )
        .with_hint(look)
        .with_resources(resources)];
    }
    let on = match ds.desired_scheduled {
        1 => "its node".to_string(),
        n => format!("all {n} nodes"),
    };
    vec![Finding::ok(
        ID,
        cat,
        format!("ztunnel {id} ready on {on}{version}; ambient mode in use ({in_use})"),
    )]
}

// ---------------------------------------------------------------------------------------------------------
// ambient-and-sidecar

pub(super) fn ambient_and_sidecar(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "ambient-and-sidecar";
    let cat = Category::DataPlane;
    let pods = need!(&s.pods, Kind::Pod, ID, cat);
    let labels = namespace_labels(s);
    let both = pods
        .iter()
        .filter(|p| p.mode == DataPlane::AmbientIgnored && !p.completed());
    let groups = group_by_owner(s, both);
    if groups.is_empty() {
        return vec![Finding::ok(
            ID,
            cat,
            "no pod is labelled for ambient mode while running a sidecar",
        )];
    }
    groups
        .iter()
        .map(|(key, pods)| {
            let ns_labels = labels.get(key.namespace.as_str()).copied();
            let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
            let source = ambient::ambient_label(&pods[0].labels, ns_labels);
            let why = match source {
                Some(AmbientLabel::Namespace) => format!(
                    "namespace {} has {}=ambient",
                    key.namespace,
                    ambient::DATAPLANE_MODE
                ),
                _ => format!("pod label {}=ambient", ambient::DATAPLANE_MODE),
            };
            let injected_ns = ns_labels.is_some_and(|l| {
                l.get("istio-injection").map(String::as_str) == Some("enabled")
                    || l.get("istio.io/rev").is_some_and(|r| !r.is_empty())
            });
            let hint = if source == Some(AmbientLabel::Namespace) && injected_ns {
                let inj = if ns_labels.is_some_and(|l| l.contains_key("istio-injection")) {
                    "istio-injection"
                } else {
                    "istio.io/rev"
                };
                format!(
                    "pick one mode for namespace {ns}: ambient — kubectl label namespace {ns} {inj}- then {restart} (new pods come up without a sidecar); sidecars — kubectl label namespace {ns} {mode}-",
                    ns = key.namespace,
                    restart = key.manual_command(),
                    mode = ambient::DATAPLANE_MODE
                )
            } else {
                format!(
                    "remove one: the label {}=ambient, or sidecar injection (sidecar.istio.io/inject, or the namespace's injection label)",
                    ambient::DATAPLANE_MODE
                )
            };
            Finding::warning(
                ID,
                cat,
                format!(
                    "{}: {} labelled for ambient mode ({why}) run an istio-proxy sidecar: Istio leaves them in sidecar mode (ztunnel does not capture a pod that has a sidecar) ({})",
                    key.describe(),
                    plural(pods.len(), "pod"),
                    name_list(&names, 5)
                ),
            )
            .with_hint(hint)
            .with_resources(pod_refs(pods))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// route-waypoint-missing

fn route_ref(r: &HttpRoute) -> ResourceRef {
    ResourceRef::new("HTTPRoute", &r.namespace, &r.name)
}

/// Routes, or the finding that says why they cannot be checked.
macro_rules! routes {
    ($s:expr, $id:expr) => {{
        if matches!($s.http_routes, Err(Unavailable::NotServed)) {
            return vec![Finding::skipped(
                $id,
                ROUTING,
                "HTTPRoute is not served (Gateway API CRDs not installed)",
            )];
        }
        need!(&$s.http_routes, Kind::HttpRoute, $id, ROUTING)
    }};
}

/// A waypoint Gateway that exists in `ns` (to enroll a Service in).
fn waypoint_in(s: &Snapshot, ns: &str) -> Option<String> {
    let gateways = s.gateways.as_ref().ok()?;
    let mut found: Vec<&Gateway> = gateways
        .iter()
        .filter(|g| g.namespace == ns && is_waypoint_gateway(s, g))
        .collect();
    found.sort_by_key(|g| (g.name != "waypoint", g.name.clone()));
    found.first().map(|g| g.name.clone())
}

/// Istio's `ResolvedWaypoints` on the route's status entry for `parent`, when it says no waypoint applies the
/// route and describes the route as it is now.
fn missing_waypoint_confirmation(route: &HttpRoute, parent: &ParentRef) -> Option<String> {
    route
        .istio_status_of(parent)
        .flat_map(|st| st.conditions.iter())
        .find(|c| ambient::resolved_waypoints_missing(c) && route.current(c))
        .map(|c| {
            format!(
                " (confirmed by Istio: {} {})",
                ambient::RESOLVED_WAYPOINTS,
                match c.message.as_deref() {
                    Some(m) if !m.is_empty() => format!("{m:?}"),
                    _ => format!("status {}", c.status),
                }
            )
        })
}

pub(super) fn route_waypoint_missing(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "route-waypoint-missing";
    let routes = routes!(s, ID);
    let services = need!(&s.services, Kind::Service, ID, ROUTING);
    need!(&s.namespaces, Kind::Namespace, ID, ROUTING);
    let index = service_index(services);
    let labels = namespace_labels(s);
    let ambient = ambient_pods(s);
    let mut out = Vec::new();
    let mut checked = 0usize;
    for route in routes {
        for parent in route.mesh_parents() {
            let Some(svc) = index.get(&(parent.namespace.as_str(), parent.name.as_str())) else {
                continue;
            };
            if ambient::service_is_istio_gateway(&svc.labels) {
                continue;
            }
            let ns_labels = labels.get(svc.namespace.as_str()).copied();
            let Some(why_ambient) = service_ambient(&ambient, svc, ns_labels) else {
                continue;
            };
            checked += 1;
            let binding = ambient::service_binding(&svc.labels, &svc.namespace, ns_labels);
            let lacking = match binding {
                Binding::Waypoint(_) => continue,
                Binding::None => format!(
                    "neither the Service nor namespace {} has {}",
                    svc.namespace,
                    ambient::USE_WAYPOINT
                ),
                Binding::OptedOut => format!(
                    "the Service opts out of its namespace's waypoint ({}=none)",
                    ambient::USE_WAYPOINT
                ),
            };
            let ambient_why = match why_ambient {
                AmbientService::Namespace => {
                    format!("namespace {} has {}=ambient", svc.namespace, ambient::DATAPLANE_MODE)
                }
                AmbientService::Pods => "its pods are in ambient mode".to_string(),
            };
            let confirmed = missing_waypoint_confirmation(route, parent).unwrap_or_default();
            let hint = match (&binding, waypoint_in(s, &svc.namespace)) {
                (Binding::OptedOut, _) => format!(
                    "remove the opt-out: kubectl label service {} -n {} {}-",
                    svc.name,
                    svc.namespace,
                    ambient::USE_WAYPOINT
                ),
                (_, Some(w)) => format!(
                    "enroll the Service in waypoint {ns}/{w}: kubectl label service {svc} -n {ns} {label}={w} (or the whole namespace: kubectl label namespace {ns} {label}={w})",
                    ns = svc.namespace,
                    svc = svc.name,
                    label = ambient::USE_WAYPOINT
                ),
                (_, None) => format!(
                    "deploy a waypoint and enroll the namespace: istioctl waypoint apply -n {} --enroll-namespace --wait",
                    svc.namespace
                ),
            };
            out.push(
                Finding::error(
                    ID,
                    ROUTING,
                    format!(
                        "HTTPRoute {}/{} is ignored in ambient mode: parent Service {}/{} is in ambient mode ({ambient_why}) and {lacking}, so no waypoint applies its rules (ztunnel does not apply HTTP routes; sidecar clients still do){confirmed}",
                        route.namespace, route.name, svc.namespace, svc.name
                    ),
                )
                .with_hint(hint)
                .with_resources(vec![
                    route_ref(route),
                    ResourceRef::new("Service", &svc.namespace, &svc.name),
                    ResourceRef::cluster("Namespace", &svc.namespace),
                ]),
            );
        }
    }
    if out.is_empty() {
        out.push(Finding::ok(
            ID,
            ROUTING,
            if checked == 0 {
                "no mesh route has an ambient parent Service".to_string()
            } else {
                format!(
                    "every mesh route of an ambient Service has a waypoint ({} checked)",
                    checked
                )
            },
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------------------------
// waypoint-not-ready

/// `istio.io/use-waypoint=NAME`, as the users of a waypoint say it.
fn label_text(w: &(String, String), users: &WaypointUsers<'_>) -> String {
    let object_ns = users
        .services
        .first()
        .map(|s| s.namespace.clone())
        .or_else(|| users.namespaces.first().cloned())
        .unwrap_or_default();
    WaypointRef {
        namespace: w.0.clone(),
        name: w.1.clone(),
        via: ambient::WaypointVia::ServiceLabel,
    }
    .label_text(&object_ns)
}

pub(super) fn waypoint_not_ready(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "waypoint-not-ready";
    let in_use = waypoints_in_use(s);
    if in_use.is_empty() {
        return vec![Finding::ok(ID, ROUTING, "no Service or namespace uses a waypoint")];
    }
    if !matches!(s.gateways, Err(Unavailable::NotServed)) {
        need!(&s.gateways, Kind::Gateway, ID, ROUTING);
    }
    let mut out = Vec::new();
    let mut ready = 0usize;
    for (w, users) in &in_use {
        let (ns, name) = (w.0.as_str(), w.1.as_str());
        if !s.read_in(Kind::Gateway, ns) {
            out.push(Finding::skipped(
                ID,
                ROUTING,
                format!("waypoint {ns}/{name} is in namespace {ns}, which doctor did not read; run with -A or -n {ns}"),
            ));
            continue;
        }
        let problem = match &s.gateways {
            Err(Unavailable::NotServed) => Some((ambient::WaypointProblem::Missing, None)),
            _ => waypoint_problem(s, ns, name),
        };
        let Some((problem, gw)) = problem else {
            ready += 1;
            continue;
        };
        let confirmed = users.confirmation(&["WaypointIsNotReady"]);
        let hint = if problem == ambient::WaypointProblem::Missing {
            format!("create it: istioctl waypoint apply -n {ns} --name {name} --wait")
        } else {
            let dep = gw.map(Gateway::waypoint_deployment).unwrap_or(name);
            format!(
                "look at it: kubectl -n {ns} describe gateway {name}; kubectl -n {ns} get deployment {dep}; istioctl waypoint status -n {ns} --name {name}"
            )
        };
        let mut resources = vec![ResourceRef::new("Gateway", ns, name)];
        if let Some(g) = gw {
            resources.push(ResourceRef::new("Deployment", ns, g.waypoint_deployment()));
        }
        resources.extend(users.resources());
        out.push(
            Finding::error(
                ID,
                ROUTING,
                format!(
                    "waypoint {ns}/{name} {}: {} {} it ({}), so their HTTPRoutes are ignored for ambient clients{confirmed}",
                    problem.phrase(ns),
                    users.describe(),
                    users.verb(),
                    label_text(w, users)
                ),
            )
            .with_hint(hint)
            .with_resources(resources),
        );
    }
    if out.is_empty() {
        out.push(Finding::ok(
            ID,
            ROUTING,
            format!("every waypoint in use is ready ({} checked)", ready),
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------------------------
// waypoint-scope

pub(super) fn waypoint_scope(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "waypoint-scope";
    let in_use = waypoints_in_use(s);
    if in_use.values().all(|u| u.services.is_empty()) {
        return vec![Finding::ok(ID, ROUTING, "no Service uses a waypoint")];
    }
    if matches!(s.gateways, Err(Unavailable::NotServed)) {
        return vec![Finding::skipped(ID, ROUTING, "Gateway API is not installed")];
    }
    let gateways = need!(&s.gateways, Kind::Gateway, ID, ROUTING);
    let labels = namespace_labels(s);
    let mut out = Vec::new();
    let mut checked = 0usize;
    for ((ns, name), users) in &in_use {
        if users.services.is_empty() {
            continue;
        }
        let Some(gw) = gateways.iter().find(|g| &g.namespace == ns && &g.name == name) else {
            // Missing (or not read): waypoint-not-ready says so.
            continue;
        };
        checked += 1;
        // (a) The traffic it takes.
        let class = class_of(s, gw);
        let (traffic, source) = ambient::traffic_type(
            gw.waypoint_for.as_deref(),
            class.and_then(|c| c.waypoint_for.as_deref()),
        );
        if !ambient::takes_service_traffic(traffic) {
            let on = match source {
                TrafficSource::GatewayClass => format!("on GatewayClass {}", gw.class),
                _ => "on the Gateway".to_string(),
            };
            let value = if ambient::TRAFFIC_TYPES.contains(&traffic) {
                format!("{}={traffic} {on}", ambient::WAYPOINT_FOR)
            } else {
                format!(
                    "{}={traffic:?} {on} is not one of {}",
                    ambient::WAYPOINT_FOR,
                    ambient::TRAFFIC_TYPES.join(", ")
                )
            };
            let mut resources = vec![ResourceRef::new("Gateway", ns, name)];
            if source == TrafficSource::GatewayClass {
                resources.push(ResourceRef::cluster("GatewayClass", &gw.class));
            }
            resources.extend(users.resources());
            out.push(
                Finding::error(
                    ID,
                    ROUTING,
                    format!(
                        "waypoint {ns}/{name} does not take service traffic ({value}), but {} {} it: Istio does not bind the Service (UnsupportedTrafficType), so its HTTPRoutes are ignored for ambient clients{}",
                        users.describe(),
                        users.verb(),
                        users.confirmation(&["UnsupportedTrafficType"])
                    ),
                )
                .with_hint(format!(
                    "let it take service traffic: kubectl label gateway {name} -n {ns} {}=all --overwrite (or =service if no pod uses it)",
                    ambient::WAYPOINT_FOR
                ))
                .with_resources(resources),
            );
            continue;
        }
        // (b) The namespaces it admits.
        let denied: Vec<&&Service> = users
            .services
            .iter()
            .filter(|svc| {
                matches!(
                    ambient::allows_namespace(
                        ns,
                        &gw.listeners,
                        &svc.namespace,
                        labels.get(svc.namespace.as_str()).copied()
                    ),
                    Attach::Denied { .. }
                )
            })
            .collect();
        if let Some(first) = denied.first() {
            let Attach::Denied { listener, from } = ambient::allows_namespace(
                ns,
                &gw.listeners,
                &first.namespace,
                labels.get(first.namespace.as_str()).copied(),
            ) else {
                continue;
            };
            let how = match &listener {
                Some(l) => format!("listener {l}: allowedRoutes.namespaces.from {from}"),
                None => "no HBONE listener on port 15008, so only its own namespace".to_string(),
            };
            let accepts = if from == "Selector" {
                "only namespaces matching its selector".to_string()
            } else {
                format!("only namespace {ns}")
            };
            let names: Vec<String> = denied.iter().map(|s| format!("{}/{}", s.namespace, s.name)).collect();
            let mut resources = vec![ResourceRef::new("Gateway", ns, name)];
            resources.extend(
                denied
                    .iter()
                    .map(|s| ResourceRef::new("Service", &s.namespace, &s.name)),
            );
            out.push(
                Finding::error(
                    ID,
                    ROUTING,
                    format!(
                        "waypoint {ns}/{name} accepts {accepts} ({how}), but Service {} uses it: Istio refuses the binding (AttachmentDenied), so its HTTPRoutes are ignored for ambient clients{}",
                        name_list(&names, 3),
                        users.confirmation(&["AttachmentDenied"])
                    ),
                )
                .with_hint(format!(
                    "allow namespace {}: set allowedRoutes.namespaces.from to All, or to a Selector matching its labels, on the HBONE listener (port 15008) of Gateway {ns}/{name} (kubectl -n {ns} edit gateway {name})",
                    first.namespace
                ))
                .with_resources(resources),
            );
        }
    }
    if out.is_empty() {
        out.push(Finding::ok(
            ID,
            ROUTING,
            format!(
                "every waypoint a Service uses takes service traffic and admits its namespace ({} checked)",
                checked
            ),
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------------------------
// ingress-bypasses-waypoint

/// Whether a Gateway is an ingress Gateway of Istio (not a waypoint or east-west gateway): its class's
/// controller is `istio.io/gateway-controller` (class `istio` when classes could not be read).
fn istio_ingress(s: &Snapshot, gw: &Gateway) -> bool {
    if is_waypoint_gateway(s, gw) {
        return false;
    }
    match &s.gateway_classes {
        Ok(classes) => classes
            .iter()
            .find(|c| c.name == gw.class)
            .is_some_and(|c| c.controller == ambient::GATEWAY_CONTROLLER),
        Err(_) => gw.class == "istio",
    }
}

pub(super) fn ingress_bypasses_waypoint(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "ingress-bypasses-waypoint";
    let routes = routes!(s, ID);
    let services = need!(&s.services, Kind::Service, ID, ROUTING);
    if matches!(s.gateways, Err(Unavailable::NotServed)) {
        return vec![Finding::skipped(ID, ROUTING, "Gateway API is not installed")];
    }
    let gateways = need!(&s.gateways, Kind::Gateway, ID, ROUTING);
    let labels = namespace_labels(s);
    // Services that are the parent of a mesh route.
    let mesh_parents: BTreeMap<(&str, &str), &HttpRoute> = routes
        .iter()
        .flat_map(|r| {
            r.mesh_parents()
                .map(move |p| ((p.namespace.as_str(), p.name.as_str()), r))
        })
        .collect();
    let mut out = Vec::new();
    for svc in services {
        let Some(mesh_route) = mesh_parents.get(&(svc.namespace.as_str(), svc.name.as_str())) else {
            continue;
        };
        let ns_labels = labels.get(svc.namespace.as_str()).copied();
        let Binding::Waypoint(w) = ambient::service_binding(&svc.labels, &svc.namespace, ns_labels) else {
            continue;
        };
        if ambient::ingress_uses_waypoint(&svc.labels, ns_labels) {
            continue;
        }
        // Only a waypoint Istio uses: bound, ready, taking service traffic (else other checks report it).
        if !s.read_in(Kind::Gateway, &w.namespace) || waypoint_problem(s, &w.namespace, &w.name).is_some() {
            continue;
        }
        let Some(wgw) = gateways.iter().find(|g| g.namespace == w.namespace && g.name == w.name) else {
            continue;
        };
        let class_tt = class_of(s, wgw).and_then(|c| c.waypoint_for.as_deref());
        if !ambient::takes_service_traffic(ambient::traffic_type(wgw.waypoint_for.as_deref(), class_tt).0) {
            continue;
        }
        // A north-south route (on an Istio ingress Gateway) sending to this Service.
        let ingress = routes.iter().find_map(|r| {
            let sends = r.rules.iter().any(|rule| {
                rule.backends
                    .iter()
                    .any(|b| b.is_service() && b.namespace == svc.namespace && b.name == svc.name)
            });
            if !sends {
                return None;
            }
            r.parents
                .iter()
                .filter(|p| p.kind == "Gateway" && p.group == "gateway.networking.k8s.io")
                .find_map(|p| {
                    gateways
                        .iter()
                        .find(|g| g.namespace == p.namespace && g.name == p.name && istio_ingress(s, g))
                })
                .map(|g| (r, g))
        });
        let Some((route, gw)) = ingress else { continue };
        let said = ambient::waypoint_bound(&svc.istio_conditions)
            .map(|c| {
                format!(
                    " (Istio: {}={}: {})",
                    ambient::WAYPOINT_BOUND,
                    c.status,
                    c.message.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default();
        out.push(
            Finding::warning(
                ID,
                ROUTING,
                format!(
                    "Service {}/{} uses waypoint {}/{} and is a backend of HTTPRoute {}/{} on Gateway {}/{}, but ingress traffic does not go through the waypoint (no {}=true): the weights of mesh HTTPRoute {}/{} do not apply to requests from the gateway{said}",
                    svc.namespace,
                    svc.name,
                    w.namespace,
                    w.name,
                    route.namespace,
                    route.name,
                    gw.namespace,
                    gw.name,
                    ambient::INGRESS_USE_WAYPOINT,
                    mesh_route.namespace,
                    mesh_route.name
                ),
            )
            .with_hint(format!(
                "send ingress through the waypoint: kubectl label service {} -n {} {}=true",
                svc.name,
                svc.namespace,
                ambient::INGRESS_USE_WAYPOINT
            ))
            .with_resources(vec![
                ResourceRef::new("Service", &svc.namespace, &svc.name),
                ResourceRef::new("HTTPRoute", &mesh_route.namespace, &mesh_route.name),
                ResourceRef::new("HTTPRoute", &route.namespace, &route.name),
                ResourceRef::new("Gateway", &gw.namespace, &gw.name),
            ]),
        );
    }
    if out.is_empty() {
        out.push(Finding::ok(
            ID,
            ROUTING,
            "no ingress route bypasses the waypoint of a Service with a mesh route",
        ));
    }
    out
}
