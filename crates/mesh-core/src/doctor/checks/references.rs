//! What a route's backends point at: a Service port that exists (`route-backend-port`), and a selector some
//! workload's pods will carry (`backend-selector-unmatched`). Both read specs and labels only, so they run on
//! manifests too (`doctor -f --offline`).

use std::collections::{BTreeMap, BTreeSet};

use super::routing::{not_in_files, percent, route_ref, routes, rule_label, service_index};
use super::{name_list, need, plural};
use crate::doctor::finding::{Category, Finding, ResourceRef};
use crate::doctor::model::{PodOwner, Snapshot, Workload};
use crate::doctor::raw::{Kind, Unavailable};

const CAT: Category = Category::Routing;

/// `route-backend-port`: the HTTPRoute CRD says "Port is required when the referent is a Kubernetes Service. In
/// this case, the port number is the service port number, not the target port." (CEL rule "Must have port for
/// Service reference" on newer versions); a port the Service does not have sends the share nowhere.
pub(super) fn route_backend_port(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "route-backend-port";
    let routes = routes!(s, ID);
    let services = need!(&s.services, Kind::Service, ID, CAT);
    let index = service_index(services);
    let mut out = Vec::new();
    let mut checked = 0usize;
    for route in routes {
        for (i, rule) in route.rules.iter().enumerate() {
            for b in rule.backends.iter().filter(|b| b.is_service()) {
                let Some(port) = b.port else {
                    checked += 1;
                    out.push(
                        Finding::error(
                            ID,
                            CAT,
                            format!(
                                "HTTPRoute {}/{} {}: backendRef Service {}/{} has no port: Gateway API requires the Service port for a Service backend, and the API server or the mesh rejects the reference",
                                route.namespace,
                                route.name,
                                rule_label(rule, i),
                                b.namespace,
                                b.name
                            ),
                        )
                        .with_hint(match index.get(&(b.namespace.as_str(), b.name.as_str())) {
                            Some(svc) if !svc.ports.is_empty() => format!(
                                "add port: {} (the Service's port{})",
                                svc.ports[0].port,
                                if svc.ports.len() > 1 { "s: ".to_string() + &ports_of(&svc.ports) } else { String::new() }
                            ),
                            _ => "add the Service port to the backendRef (port: N)".to_string(),
                        })
                        .with_resources(vec![route_ref(route)]),
                    );
                    continue;
                };
                let Some(svc) = index.get(&(b.namespace.as_str(), b.name.as_str())) else {
                    // A missing Service is route-backend-missing's finding.
                    continue;
                };
                if svc.type_ == "ExternalName" && svc.ports.is_empty() {
                    continue;
                }
                checked += 1;
                if svc.ports.iter().any(|p| i64::from(p.port) == port) {
                    continue;
                }
                let target_of = svc
                    .target_ports
                    .iter()
                    .find(|(_, t)| *t == port.to_string())
                    .map(|(p, _)| *p);
                let share = if b.weight > 0 {
                    let total: i64 = rule.backends.iter().map(|b| b.weight.max(0)).sum();
                    format!(": its {} of requests fail", percent(b.weight, total))
                } else {
                    " (weight 0 now: it fails as soon as it gets a share)".to_string()
                };
                out.push(
                    Finding::error(
                        ID,
                        CAT,
                        format!(
                            "HTTPRoute {}/{} {}: backendRef Service {}/{} port {port} is not a port of the Service (ports: {}){share}",
                            route.namespace,
                            route.name,
                            rule_label(rule, i),
                            b.namespace,
                            b.name,
                            ports_of(&svc.ports)
                        ),
                    )
                    .with_hint(match target_of {
                        Some(service_port) => format!(
                            "{port} is the targetPort of the Service's port {service_port}: backendRefs name the Service port, so set port: {service_port}"
                        ),
                        None => "set the backendRef's port to a port of the Service".to_string(),
                    })
                    .with_resources(vec![
                        route_ref(route),
                        ResourceRef::new("Service", &svc.namespace, &svc.name),
                    ]),
                );
            }
        }
    }
    if out.is_empty() {
        out.push(Finding::ok(
            ID,
            CAT,
            format!(
                "every Service backendRef names a port of its Service ({} checked)",
                checked
            ),
        ));
    }
    out
}

fn ports_of(ports: &[crate::doctor::model::ServicePort]) -> String {
    if ports.is_empty() {
        return "none".to_string();
    }
    ports.iter().map(|p| p.port.to_string()).collect::<Vec<_>>().join(", ")
}

fn selector_text(sel: &BTreeMap<String, String>) -> String {
    sel.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn selects(sel: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// `backend-selector-unmatched`: a weighted backend Service whose selector no workload template (Deployment,
/// StatefulSet, DaemonSet) and no pod without such an owner carries: it will have no endpoints, and its share
/// of requests gets 503 no healthy upstream — the "version Service against Deployment labels" mistake.
pub(super) fn backend_selector_unmatched(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "backend-selector-unmatched";
    let routes = routes!(s, ID);
    let services = need!(&s.services, Kind::Service, ID, CAT);
    let mut templates: Vec<(&'static str, &Workload)> = Vec::new();
    for (kind, list) in [
        (Kind::Deployment, &s.deployments),
        (Kind::StatefulSet, &s.stateful_sets),
        (Kind::DaemonSet, &s.daemon_sets),
    ] {
        let items = need!(list, kind, ID, CAT);
        templates.extend(items.iter().map(|w| (kind.kind_name(), w)));
    }
    // A workload's pods are judged by its template (what they carry after the next rollout; `doctor -f` may change
    // it). Every other running pod counts as it is: bare pods, Jobs, ReplicaSets of their own, Argo Rollouts, and
    // the pods of a workload whose object is not in the snapshot (their labels are what the EndpointSlice
    // controller matches).
    let has_template: BTreeSet<(&str, &str, &str)> = templates
        .iter()
        .map(|(kind, w)| (*kind, w.namespace.as_str(), w.name.as_str()))
        .collect();
    let loose: Vec<&crate::doctor::model::Pod> = match &s.pods {
        Ok(pods) => pods
            .iter()
            .filter(|p| !p.completed())
            .filter(|p| match s.owner_of(p) {
                PodOwner::Workload { kind, name } => {
                    !has_template.contains(&(kind.as_str(), p.namespace.as_str(), name.as_str()))
                }
                _ => true,
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let index = service_index(services);
    // Service → the (route, rule, share) that send to it, so each Service is reported once.
    let mut users: BTreeMap<(&str, &str), Vec<(ResourceRef, String)>> = BTreeMap::new();
    for route in routes {
        for (i, rule) in route.rules.iter().enumerate() {
            let total: i64 = rule.backends.iter().map(|b| b.weight.max(0)).sum();
            for b in rule.backends.iter().filter(|b| b.is_service() && b.weight > 0) {
                users.entry((b.namespace.as_str(), b.name.as_str())).or_default().push((
                    route_ref(route),
                    format!(
                        "HTTPRoute {}/{} {} ({})",
                        route.namespace,
                        route.name,
                        rule_label(rule, i),
                        percent(b.weight, total)
                    ),
                ));
            }
        }
    }
    let mut out = Vec::new();
    let mut unverified = Vec::new();
    let mut checked = 0usize;
    for ((ns, name), used_by) in &users {
        let Some(svc) = index.get(&(*ns, *name)) else { continue };
        if svc.type_ == "ExternalName" || svc.selector.is_empty() {
            continue;
        }
        checked += 1;
        let matched = templates
            .iter()
            .any(|(_, w)| w.namespace == *ns && selects(&svc.selector, &w.template_labels))
            || loose
                .iter()
                .any(|p| p.namespace == *ns && selects(&svc.selector, &p.labels));
        if matched {
            continue;
        }
        // Workloads that carry some of the selector's labels: most likely the ones meant.
        let related: Vec<String> = templates
            .iter()
            .filter(|(_, w)| {
                w.namespace == *ns && svc.selector.iter().any(|(k, v)| w.template_labels.get(k) == Some(v))
            })
            .map(|(kind, w)| {
                let shown: BTreeMap<String, String> = svc
                    .selector
                    .keys()
                    .filter_map(|k| w.template_labels.get(k).map(|v| (k.clone(), v.clone())))
                    .collect();
                format!("{} {} ({})", kind.to_ascii_lowercase(), w.name, selector_text(&shown))
            })
            .collect();
        let sel = selector_text(&svc.selector);
        if !s.proves_absent() && related.is_empty() {
            unverified.push(format!("pods of Service {ns}/{name} ({sel})"));
            continue;
        }
        let users_text: Vec<&str> = used_by.iter().map(|(_, t)| t.as_str()).collect();
        let mut resources: Vec<ResourceRef> = vec![ResourceRef::new("Service", ns, name)];
        let routes_named: BTreeSet<ResourceRef> = used_by.iter().map(|(r, _)| r.clone()).collect();
        resources.extend(routes_named);
        let hint = if related.is_empty() {
            format!("kubectl -n {ns} get deployments,statefulsets,daemonsets,pods --show-labels; fix the Service selector or the pod template labels")
        } else {
            format!(
                "workloads with some of these labels: {}; fix the Service selector or the pod template labels",
                name_list(&related, 5)
            )
        };
        let message = format!(
            "Service {ns}/{name} selects {sel}, but no Deployment, StatefulSet or DaemonSet template{} carries those labels: it gets no endpoints, and the share of {} gets 503 no healthy upstream",
            if s.proves_absent() { " and no bare pod" } else { " in the files" },
            name_list(&users_text, 3)
        );
        out.push(
            if s.proves_absent() {
                Finding::error(ID, CAT, message)
            } else {
                // From files alone a matching workload may still exist in the cluster.
                Finding::warning(ID, CAT, message)
            }
            .with_hint(hint)
            .with_resources(resources),
        );
    }
    if out.is_empty() && unverified.is_empty() {
        out.push(Finding::ok(
            ID,
            CAT,
            format!(
                "every weighted backend Service selects some workload's pods ({} checked)",
                plural(checked, "Service")
            ),
        ));
    }
    out.extend(not_in_files(ID, "workload", unverified));
    out
}
