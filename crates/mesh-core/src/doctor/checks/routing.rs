//! Routing checks: HTTPRoutes that attach to nothing, send requests to Services that do not
//! exist or have no ready endpoints, were rejected by the controller, or weigh every backend
//! at zero; and STRICT mTLS that sidecar-less callers cannot speak (503 "connection
//! termination").
//!
//! HTTPRoute fields are read with the API server's defaults applied (weight 1, backend kind
//! Service, parent kind Gateway), see `model.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{group_by_owner, name_list, need, plural, pod_refs};
use crate::doctor::finding::{Category, Finding, ResourceRef};
use crate::doctor::model::{
    BackendRef, Condition, HttpRoute, ParentRef, PeerAuthentication, Pod, RouteParentStatus, Rule, Service, Snapshot,
};
use crate::doctor::raw::{Kind, Unavailable};

const CAT: Category = Category::Routing;

pub(super) fn route_ref(r: &HttpRoute) -> ResourceRef {
    ResourceRef::new("HTTPRoute", &r.namespace, &r.name)
}

pub(super) fn rule_label(rule: &Rule, index: usize) -> String {
    match &rule.name {
        Some(name) => format!("rule {name:?}"),
        None => format!("rules[{index}]"),
    }
}

/// `weight` of `total` as a percentage: "10%", "33.3%".
pub(super) fn percent(weight: i64, total: i64) -> String {
    if total <= 0 {
        return "0%".to_string();
    }
    let tenths = (weight * 1000 + total / 2) / total;
    if tenths % 10 == 0 {
        format!("{}%", tenths / 10)
    } else {
        format!("{}.{}%", tenths / 10, tenths % 10)
    }
}

/// Routes, or the finding that says why they cannot be checked.
macro_rules! routes {
    ($s:expr, $id:expr) => {{
        if matches!($s.http_routes, Err(Unavailable::NotServed)) {
            return vec![Finding::skipped(
                $id,
                CAT,
                "HTTPRoute is not served (Gateway API CRDs not installed)",
            )];
        }
        need!(&$s.http_routes, Kind::HttpRoute, $id, CAT)
    }};
}
pub(super) use routes;

pub(super) fn service_index(services: &[Service]) -> HashMap<(&str, &str), &Service> {
    services
        .iter()
        .map(|s| ((s.namespace.as_str(), s.name.as_str()), s))
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// One cause, one error: route conditions Istio wrote that confirm another check's finding are folded into it.

/// A condition written for the route as it is now: `(confirmed by Istio: TYPE=False REASON)`.
fn confirmation(c: &Condition) -> String {
    format!(
        " (confirmed by Istio: {}={} {})",
        c.type_,
        c.status,
        c.reason.as_deref().unwrap_or("")
    )
    .replace(" )", ")")
}

/// Whether `c` is Istio's `Accepted=False NoMatchingParent` "parent service: "NAME" not found" for a missing
/// parent Service (`conversion.go:588-601`) and describes the route as it is now.
fn says_parent_missing(route: &HttpRoute, parent: &ParentRef, c: &Condition) -> bool {
    c.type_ == "Accepted"
        && c.status == "False"
        && c.reason.as_deref() == Some("NoMatchingParent")
        && c.message.as_deref() == Some(format!("parent service: {:?} not found", parent.name).as_str())
        && route.current(c)
}

fn parent_missing_condition<'a>(route: &'a HttpRoute, parent: &'a ParentRef) -> Option<&'a Condition> {
    route
        .istio_status_of(parent)
        .flat_map(|st| st.conditions.iter())
        .find(|c| says_parent_missing(route, parent, c))
}

/// Whether `c` is Istio's `ResolvedRefs=False BackendNotFound` "backend(NAME.NS.svc.DOMAIN) not found" for
/// backend `b` (`conversion.go:1114`) and describes the route as it is now.
fn says_backend_missing(route: &HttpRoute, b: &BackendRef, c: &Condition) -> bool {
    c.type_ == "ResolvedRefs"
        && c.status == "False"
        && c.reason.as_deref() == Some("BackendNotFound")
        && c.message
            .as_deref()
            .is_some_and(|m| m.starts_with(&format!("backend({}.{}.svc.", b.name, b.namespace)))
        && route.current(c)
}

fn backend_missing_condition<'a>(route: &'a HttpRoute, b: &BackendRef) -> Option<&'a Condition> {
    route
        .status
        .iter()
        .filter(|st| st.by_istio())
        .flat_map(|st| st.conditions.iter())
        .find(|c| says_backend_missing(route, b, c))
}

/// The weighted Service backends of a route that do not exist.
fn missing_backends<'a>(
    route: &'a HttpRoute,
    index: &HashMap<(&str, &str), &Service>,
) -> Vec<(usize, &'a Rule, &'a BackendRef)> {
    route
        .rules
        .iter()
        .enumerate()
        .flat_map(|(i, rule)| rule.backends.iter().map(move |b| (i, rule, b)))
        .filter(|(_, _, b)| b.is_service() && b.weight > 0)
        .filter(|(_, _, b)| !index.contains_key(&(b.namespace.as_str(), b.name.as_str())))
        .collect()
}

/// Whether another check reports what condition `c` of Istio's status entry `st` says, and confirms it there: a
/// missing backend (route-backend-missing), a missing parent Service (route-parent-invalid).
fn explained_elsewhere(
    route: &HttpRoute,
    st: &RouteParentStatus,
    c: &Condition,
    index: &HashMap<(&str, &str), &Service>,
) -> bool {
    if !st.by_istio() {
        return false;
    }
    missing_backends(route, index)
        .iter()
        .any(|(_, _, b)| says_backend_missing(route, b, c))
        || route
            .mesh_parents()
            .filter(|p| p.same_as(&st.parent_ref))
            .filter(|p| !index.contains_key(&(p.namespace.as_str(), p.name.as_str())))
            .any(|p| says_parent_missing(route, p, c))
}

pub(super) fn route_parent_invalid(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "route-parent-invalid";
    let routes = routes!(s, ID);
    let services = need!(&s.services, Kind::Service, ID, CAT);
    let index = service_index(services);
    let mut out = Vec::new();
    let mut unverified: Vec<String> = Vec::new();
    for route in routes {
        for parent in &route.parents {
            if parent.is_service() {
                match index.get(&(parent.namespace.as_str(), parent.name.as_str())) {
                    None if !s.proves_absent() => {
                        unverified.push(format!("Service {}/{}", parent.namespace, parent.name))
                    }
                    None => out.push(
                        Finding::error(
                            ID,
                            CAT,
                            format!(
                                "HTTPRoute {}/{}: parent Service {}/{} does not exist, so the route applies to nothing{}",
                                route.namespace,
                                route.name,
                                parent.namespace,
                                parent.name,
                                parent_missing_condition(route, parent)
                                    .map(confirmation)
                                    .unwrap_or_default()
                            ),
                        )
                        .with_hint(format!(
                            "fix spec.parentRefs or create the Service: kubectl -n {} get svc",
                            parent.namespace
                        ))
                        .with_resources(vec![route_ref(route)]),
                    ),
                    Some(svc) => {
                        if let Some(port) = parent.port {
                            if !svc.ports.iter().any(|p| i64::from(p.port) == port) {
                                let ports: Vec<String> = svc.ports.iter().map(|p| p.port.to_string()).collect();
                                out.push(
                                    Finding::error(
                                        ID,
                                        CAT,
                                        format!(
                                            "HTTPRoute {}/{}: parent Service {}/{} has no port {port} (ports: {})",
                                            route.namespace,
                                            route.name,
                                            svc.namespace,
                                            svc.name,
                                            ports.join(", ")
                                        ),
                                    )
                                    .with_hint(
                                        "set parentRefs[].port to a port of the Service, or drop it to match all ports",
                                    )
                                    .with_resources(vec![
                                        route_ref(route),
                                        ResourceRef::new("Service", &svc.namespace, &svc.name),
                                    ]),
                                );
                            }
                        }
                    }
                }
            } else if parent.kind == "Gateway" && parent.group == "gateway.networking.k8s.io" {
                if let Ok(gateways) = &s.gateways {
                    let exists = gateways
                        .iter()
                        .any(|g| g.namespace == parent.namespace && g.name == parent.name);
                    if !exists && !s.proves_absent() {
                        unverified.push(format!("Gateway {}/{}", parent.namespace, parent.name));
                    } else if !exists {
                        out.push(
                            Finding::error(
                                ID,
                                CAT,
                                format!(
                                    "HTTPRoute {}/{}: parent Gateway {}/{} does not exist",
                                    route.namespace, route.name, parent.namespace, parent.name
                                ),
                            )
                            .with_hint(format!("kubectl -n {} get gateways", parent.namespace))
                            .with_resources(vec![route_ref(route)]),
                        );
                    }
                }
            }
        }
    }
    if out.is_empty() && unverified.is_empty() {
        out.push(Finding::ok(
            ID,
            CAT,
            format!(
                "every HTTPRoute attaches to an existing parent ({} checked)",
                routes.len()
            ),
        ));
    }
    out.extend(not_in_files(ID, "parent", unverified));
    out
}

/// The one skipped line of a check run on files alone (`doctor -f --offline`) for the references it could not
/// resolve: the objects may exist in a cluster, so they are unverified, never errors (istioctl analyze reports
/// such references as errors: istio/istio#26222, #22698).
pub(super) fn not_in_files(id: &'static str, what: &str, mut refs: Vec<String>) -> Option<Finding> {
    if refs.is_empty() {
        return None;
    }
    refs.sort();
    refs.dedup();
    Some(
        Finding::skipped(
            id,
            CAT,
            format!(
                "{} not in the files, unverified offline: {}",
                plural(refs.len(), what),
                name_list(&refs, 5)
            ),
        )
        .with_hint("run without --offline to check them against the cluster"),
    )
}

pub(super) fn route_not_accepted(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "route-not-accepted";
    let routes = routes!(s, ID);
    // Without Services, no condition can be attributed to another check: all are reported here.
    let index = s.services.as_deref().map(service_index).unwrap_or_default();
    let mut out = Vec::new();
    for route in routes {
        for parent in &route.status {
            for c in &parent.conditions {
                if !((c.type_ == "Accepted" || c.type_ == "ResolvedRefs") && c.status == "False") {
                    continue;
                }
                if s.services.is_ok() && explained_elsewhere(route, parent, c, &index) {
                    continue;
                }
                let stale = match (route.generation, c.observed_generation) {
                    (Some(g), Some(o)) if g != o => {
                        format!(" (status from generation {o}; the route is at generation {g})")
                    }
                    _ => String::new(),
                };
                out.push(
                    Finding::error(
                        ID,
                        CAT,
                        format!(
                            "HTTPRoute {}/{} on parent {}: {} is False: {}{}{stale}",
                            route.namespace,
                            route.name,
                            parent.parent_ref.name,
                            c.type_,
                            c.reason.as_deref().unwrap_or("no reason"),
                            c.message
                                .as_deref()
                                .filter(|m| !m.is_empty())
                                .map(|m| format!(": {m}"))
                                .unwrap_or_default()
                        ),
                    )
                    .with_hint(format!(
                        "kubectl -n {} get httproute {} -o yaml (see status.parents)",
                        route.namespace, route.name
                    ))
                    .with_resources(vec![route_ref(route)]),
                );
            }
        }
    }
    if out.is_empty() {
        out.push(Finding::ok(
            ID,
            CAT,
            format!("no HTTPRoute rejected ({} checked)", routes.len()),
        ));
    }
    out
}

pub(super) fn route_backend_missing(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "route-backend-missing";
    let routes = routes!(s, ID);
    let services = need!(&s.services, Kind::Service, ID, CAT);
    let index = service_index(services);
    let mut out = Vec::new();
    let mut unverified: Vec<String> = Vec::new();
    // Backends in namespaces doctor did not read (`-n A` with a route of A sending to a Service of B): their
    // absence from the snapshot proves nothing.
    let mut unread: BTreeSet<(&str, &str)> = BTreeSet::new();
    for route in routes {
        for (i, rule, b) in missing_backends(route, &index) {
            let total: i64 = rule.backends.iter().map(|b| b.weight.max(0)).sum();
            if !s.read_in(Kind::Service, &b.namespace) {
                unread.insert((b.namespace.as_str(), b.name.as_str()));
                continue;
            }
            if !s.proves_absent() {
                unverified.push(format!("Service {}/{}", b.namespace, b.name));
                continue;
            }
            out.push(
                Finding::error(
                    ID,
                    CAT,
                    format!(
                        "HTTPRoute {}/{} {}: backend Service {}/{} does not exist: its {} of requests get HTTP 500{}",
                        route.namespace,
                        route.name,
                        rule_label(rule, i),
                        b.namespace,
                        b.name,
                        percent(b.weight, total),
                        backend_missing_condition(route, b)
                            .map(confirmation)
                            .unwrap_or_default()
                    ),
                )
                .with_hint(format!(
                    "create the Service {} or move its weight to an existing backend (kubectl mesh shift …)",
                    b.name
                ))
                .with_resources(vec![route_ref(route)]),
            );
        }
    }
    if out.is_empty() && unverified.is_empty() && unread.is_empty() {
        out.push(Finding::ok(ID, CAT, "every weighted backend Service exists"));
    }
    out.extend(not_in_files(ID, "backend", unverified));
    if !unread.is_empty() {
        let namespaces: BTreeSet<&str> = unread.iter().map(|(ns, _)| *ns).collect();
        let unread: Vec<String> = unread.iter().map(|(ns, name)| format!("Service {ns}/{name}")).collect();
        out.push(
            Finding::skipped(
                ID,
                CAT,
                format!(
                    "{} in namespaces not read, not verified: {}",
                    plural(unread.len(), "backend"),
                    name_list(&unread, 5)
                ),
            )
            .with_hint(format!(
                "check them with -A, or with kubectl mesh doctor -n NAMESPACE for {}",
                namespaces.into_iter().collect::<Vec<_>>().join(", ")
            )),
        );
    }
    out
}

pub(super) fn route_backend_unready(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "route-backend-unready";
    let routes = routes!(s, ID);
    let services = need!(&s.services, Kind::Service, ID, CAT);
    let slices = need!(&s.endpoint_slices, Kind::EndpointSlice, ID, CAT);
    let index = service_index(services);
    let mut ready: HashMap<(&str, &str), usize> = HashMap::new();
    for slice in slices {
        *ready
            .entry((slice.namespace.as_str(), slice.service.as_str()))
            .or_default() += slice.ready;
    }
    let mut out = Vec::new();
    for route in routes {
        for (i, rule) in route.rules.iter().enumerate() {
            let total: i64 = rule.backends.iter().map(|b| b.weight.max(0)).sum();
            for b in rule.backends.iter().filter(|b| b.is_service() && b.weight > 0) {
                let key = (b.namespace.as_str(), b.name.as_str());
                let Some(svc) = index.get(&key) else { continue };
                if svc.type_ == "ExternalName" || ready.get(&key).copied().unwrap_or(0) > 0 {
                    continue;
                }
                let selector: Vec<String> = svc.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.push(
                    Finding::error(
                        ID,
                        CAT,
                        format!(
                            "HTTPRoute {}/{} {}: backend Service {}/{} has no ready endpoints: its {} of requests get 503 no healthy upstream",
                            route.namespace,
                            route.name,
                            rule_label(rule, i),
                            b.namespace,
                            b.name,
                            percent(b.weight, total)
                        ),
                    )
                    .with_hint(if selector.is_empty() {
                        format!("the Service has no selector; kubectl -n {} get endpointslices -l kubernetes.io/service-name={}", b.namespace, b.name)
                    } else {
                        format!("kubectl -n {} get pods -l {}", b.namespace, selector.join(","))
                    })
                    .with_resources(vec![
                        route_ref(route),
                        ResourceRef::new("Service", &b.namespace, &b.name),
                    ]),
                );
            }
        }
    }
    if out.is_empty() {
        out.push(Finding::ok(
            ID,
            CAT,
            "every weighted backend Service has ready endpoints",
        ));
    }
    out
}

pub(super) fn route_weights_zero(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "route-weights-zero";
    let routes = routes!(s, ID);
    let mut out = Vec::new();
    for route in routes {
        for (i, rule) in route.rules.iter().enumerate() {
            if !rule.backends.is_empty() && rule.backends.iter().all(|b| b.weight <= 0) {
                let names: Vec<&str> = rule.backends.iter().map(|b| b.name.as_str()).collect();
                out.push(
                    Finding::error(
                        ID,
                        CAT,
                        format!(
                            "HTTPRoute {}/{} {}: every backend ({}) has weight 0, so every request it matches gets an error",
                            route.namespace,
                            route.name,
                            rule_label(rule, i),
                            names.join(", ")
                        ),
                    )
                    .with_hint("give at least one backend a weight above 0: kubectl mesh shift SERVICE VERSION=100")
                    .with_resources(vec![route_ref(route)]),
                );
            }
        }
    }
    if out.is_empty() {
        out.push(Finding::ok(ID, CAT, "no rule has all backends at weight 0"));
    }
    out
}

/// Where STRICT mTLS applies.
pub(super) struct StrictTarget<'a> {
    pub pa: &'a PeerAuthentication,
    pub scope: String,
}

pub(super) fn strict_targets(pas: &[PeerAuthentication]) -> Vec<StrictTarget<'_>> {
    let root = "istio-system";
    let mut out = Vec::new();
    for pa in pas {
        if pa.mode != "STRICT" {
            continue;
        }
        let scope = match (&pa.selector, pa.namespace.as_str()) {
            (None, ns) if ns == root => "mesh-wide".to_string(),
            (None, ns) => format!("namespace {ns}"),
            (Some(sel), ns) => {
                let labels: Vec<String> = sel.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("workloads {} in {ns}", labels.join(","))
            }
        };
        out.push(StrictTarget { pa, scope });
    }
    out
}

pub(super) fn mtls_plaintext_callers(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "mtls-plaintext-callers";
    if s.source == crate::doctor::SnapshotSource::Files {
        return super::templates::mtls_plaintext_templates(s);
    }
    let pas: &[PeerAuthentication] = match &s.peer_authentications {
        Err(Unavailable::NotServed) => &[],
        _ => need!(&s.peer_authentications, Kind::PeerAuthentication, ID, CAT),
    };
    let targets = strict_targets(pas);
    if targets.is_empty() {
        return vec![Finding::ok(
            ID,
            CAT,
            "no STRICT PeerAuthentication: plaintext callers are accepted",
        )];
    }
    let namespaces = need!(&s.namespaces, Kind::Namespace, ID, CAT);
    let pods = need!(&s.pods, Kind::Pod, ID, CAT);
    let injected: BTreeSet<&str> = namespaces
        .iter()
        .filter(|n| n.injection_enabled())
        .map(|n| n.name.as_str())
        .collect();
    let ambient_ns: BTreeSet<&str> = namespaces
        .iter()
        .filter(|n| n.labels.get(crate::ambient::DATAPLANE_MODE).map(String::as_str) == Some("ambient"))
        .map(|n| n.name.as_str())
        .collect();
    let mut watched: BTreeSet<&str> = injected.clone();
    watched.extend(ambient_ns.iter().copied());
    for t in &targets {
        if t.pa.namespace != "istio-system" {
            watched.insert(t.pa.namespace.as_str());
        }
    }
    // ztunnel gives ambient pods mTLS: they are no plaintext callers.
    let callers: Vec<&Pod> = pods
        .iter()
        .filter(|p| {
            watched.contains(p.namespace.as_str())
                && p.sidecar.is_none()
                && !p.mode.is_ambient()
                && !p.completed()
                && !p.host_network
        })
        .collect();
    let strict_names: Vec<String> = targets
        .iter()
        .map(|t| format!("{} (PeerAuthentication {}/{})", t.scope, t.pa.namespace, t.pa.name))
        .collect();
    let strict_refs: Vec<ResourceRef> = targets
        .iter()
        .map(|t| ResourceRef::new("PeerAuthentication", &t.pa.namespace, &t.pa.name))
        .collect();
    if callers.is_empty() {
        return vec![Finding::ok(
            ID,
            CAT,
            format!(
                "STRICT mTLS {}; every pod in {} has a sidecar or is in ambient mode",
                name_list(&strict_names, 3),
                plural(watched.len(), "mesh namespace")
            ),
        )];
    }
    let groups: BTreeMap<_, Vec<&Pod>> = group_by_owner(s, callers);
    groups
        .iter()
        .map(|(key, pods)| {
            let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
            let mut resources = pod_refs(pods);
            resources.extend(strict_refs.iter().cloned());
            let fixable = injected.contains(key.namespace.as_str())
                && pods.iter().all(|p| !p.injection_opted_out());
            // Pods that opted out of their namespace's ambient mode (`istio.io/dataplane-mode=none`).
            let opted_out_of_ambient = ambient_ns.contains(key.namespace.as_str())
                && pods.iter().all(|p| {
                    p.labels.get(crate::ambient::DATAPLANE_MODE).map(String::as_str) == Some("none")
                });
            let finding = Finding::error(
                ID,
                CAT,
                format!(
                    "{}: {} without sidecar ({}) send plaintext, but STRICT mTLS {} accepts only mTLS: their requests fail with 503 connection termination",
                    key.describe(),
                    plural(pods.len(), "pod"),
                    name_list(&names, 5),
                    name_list(&strict_names, 3)
                ),
            )
            .with_resources(resources);
            if opted_out_of_ambient {
                let names = pods.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(" ");
                finding.with_hint(format!(
                    "enroll them in ambient mode (namespace {ns} is): remove the label {label}=none from their pod template, or at once from the running pods with kubectl -n {ns} label pod {names} {label}- (the CNI captures them without a restart)",
                    ns = key.namespace,
                    label = crate::ambient::DATAPLANE_MODE
                ))
            } else if fixable {
                finding
                    .with_hint(format!(
                        "restart so they get a sidecar: kubectl mesh recover (or {})",
                        key.manual_command()
                    ))
                    .with_fix(key.fix(pods, "sidecar-less pod calls STRICT mTLS workloads"))
            } else {
                finding.with_hint(format!(
                    "inject a sidecar (kubectl label namespace {} istio-injection=enabled, then restart) or set the PeerAuthentication mode to PERMISSIVE for what it calls",
                    key.namespace
                ))
            }
        })
        .collect()
}
