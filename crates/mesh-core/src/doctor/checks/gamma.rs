//! GAMMA attachment lint: mesh routes Istio ignores or that reject requests, from the Gateway API's mesh rules
//! and Istio's handling of them.
//!
//! - A Service parentRef must say `group: ""`: an omitted group is `gateway.networking.k8s.io` (the API server
//!   defaults it; gateway-api `ParentReference`: "To set the core API group (such as for a "Service" kind
//!   referent), Group must be explicitly set to """), and Istio does not take `core` for the core group
//!   (istio/istio `conversion.go` `toInternalParentReference`; kubernetes-sigs/gateway-api#2309, istio/istio#46559).
//! - The parent Service needs a cluster IP (GEP-1294: headless and ExternalName Services are not parents).
//! - Once a route is attached, requests that match none of its rules are rejected (Gateway API mesh overview).
//! - A VirtualService and an HTTPRoute for the same Service are not combined (istio.io, "migrate policies").

use std::collections::HashMap;

use super::routing::service_index;
use super::{name_list, need};
use crate::doctor::finding::{Category, Finding, ResourceRef};
use crate::doctor::model::{HttpRoute, Service, Snapshot};
use crate::doctor::raw::{Kind, Unavailable};
use crate::route::group_fix_command;

const CAT: Category = Category::Routing;

fn route_ref(r: &HttpRoute) -> ResourceRef {
    ResourceRef::new("HTTPRoute", &r.namespace, &r.name)
}

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

pub(super) fn gamma_parent_group(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "gamma-parent-group";
    let routes = routes!(s, ID);
    let index: HashMap<(&str, &str), &Service> = s.services.as_deref().map(service_index).unwrap_or_default();
    let mut out = Vec::new();
    for route in routes {
        for p in route.parents.iter().filter(|p| p.is_service_with_bad_group()) {
            let what = if p.group == "core" {
                "has group \"core\": Istio accepts only group \"\" for a Service parent and ignores this parentRef (it writes no status for it)".to_string()
            } else if p.group == "gateway.networking.k8s.io" {
                format!(
                    "has group \"gateway.networking.k8s.io\", {}: that group has no Service, so no mesh applies the route",
                    if p.group_omitted { "because group is omitted" } else { "the default for an omitted group" }
                )
            } else {
                format!(
                    "has group {:?}, which has no Service: no mesh applies the route",
                    p.group
                )
            };
            let mut resources = vec![route_ref(route)];
            if index.contains_key(&(p.namespace.as_str(), p.name.as_str())) {
                resources.push(ResourceRef::new("Service", &p.namespace, &p.name));
            }
            out.push(
                Finding::error(
                    ID,
                    CAT,
                    format!(
                        "HTTPRoute {}/{} parentRefs[{}] {{kind: Service, name: {}}} {what}",
                        route.namespace, route.name, p.index, p.name
                    ),
                )
                .with_hint(format!(
                    "set group \"\": {}",
                    group_fix_command(&route.namespace, &route.name, p.index)
                ))
                .with_resources(resources),
            );
        }
    }
    if out.is_empty() {
        out.push(Finding::ok(
            ID,
            CAT,
            "every Service parentRef has group \"\" (the core group)",
        ));
    }
    out
}

pub(super) fn gamma_parent_headless(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "gamma-parent-headless";
    let routes = routes!(s, ID);
    let services = need!(&s.services, Kind::Service, ID, CAT);
    let index = service_index(services);
    let mut out = Vec::new();
    for route in routes {
        for p in route.mesh_parents() {
            let Some(svc) = index.get(&(p.namespace.as_str(), p.name.as_str())) else {
                continue;
            };
            if !svc.without_cluster_ip() {
                continue;
            }
            let what = if svc.type_ == "ExternalName" {
                "is of type ExternalName, which has no cluster IP"
            } else {
                "is headless (clusterIP: None)"
            };
            out.push(
                Finding::error(
                    ID,
                    CAT,
                    format!(
                        "HTTPRoute {}/{}: parent Service {}/{} {what}: a mesh route needs the Service's cluster IP to catch its traffic, so it applies to nothing",
                        route.namespace, route.name, svc.namespace, svc.name
                    ),
                )
                .with_hint(format!(
                    "attach the route to a ClusterIP Service that selects the same pods (kubectl -n {} expose deployment/NAME --name NAME --port PORT), and set parentRefs to it",
                    svc.namespace
                ))
                .with_resources(vec![
                    route_ref(route),
                    ResourceRef::new("Service", &svc.namespace, &svc.name),
                ]),
            );
        }
    }
    if out.is_empty() {
        out.push(Finding::ok(
            ID,
            CAT,
            "every mesh route's parent Service has a cluster IP",
        ));
    }
    out
}

pub(super) fn route_no_catch_all(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "route-no-catch-all";
    let routes = routes!(s, ID);
    let mut out = Vec::new();
    for route in routes {
        let Some(parent) = route.mesh_parents().next() else {
            continue;
        };
        if route.rules.iter().any(|r| r.catch_all) {
            continue;
        }
        let rules: Vec<String> = route
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let label = r.name.clone().map_or(format!("rules[{i}]"), |n| format!("rule {n:?}"));
                format!("{label}: {}", r.match_summary.join(" | "))
            })
            .collect();
        let which = if rules.is_empty() {
            "it has no rules".to_string()
        } else {
            name_list(&rules, 4).replace(", ", "; ")
        };
        out.push(
            Finding::warning(
                ID,
                CAT,
                format!(
                    "HTTPRoute {}/{} (mesh route of Service {}/{}): no rule matches every request ({which}): once a route is attached, requests that match no rule are rejected",
                    route.namespace, route.name, parent.namespace, parent.name
                ),
            )
            .with_hint(format!(
                "add a default rule: kubectl mesh shift {} VERSION=100 -n {} appends one (or add a rule without matches)",
                parent.name, route.namespace
            ))
            .with_resources(vec![route_ref(route)]),
        );
    }
    if out.is_empty() {
        out.push(Finding::ok(
            ID,
            CAT,
            "every mesh route has a rule matching every request",
        ));
    }
    out
}

/// Whether a VirtualService host names Service `name` in `ns`, the way Istio reads hosts
/// (`pilot/pkg/model/config.go` `ResolveShortnameToFQDN`): a name without a dot is short for
/// `name.<the VirtualService's namespace>.svc.<domain>`; a name with a dot is taken as it is, so
/// `reviews.istio-demo` names no Service; `*` and `*.suffix` are wildcards. The cluster domain is not known to
/// doctor: `svc.ns.svc.<any domain>` matches, and wildcards are matched against `cluster.local`.
pub(crate) fn host_names_service(host: &str, vs_namespace: &str, name: &str, ns: &str) -> bool {
    if !host.contains('.') {
        return (host == name && vs_namespace == ns) || host == "*";
    }
    let prefix = format!("{name}.{ns}.svc.");
    if host
        .strip_prefix(&prefix)
        .is_some_and(|domain| !domain.is_empty() && !domain.contains('*'))
    {
        return true;
    }
    if let Some(suffix) = host.strip_prefix("*.") {
        let fqdn = format!("{name}.{ns}.svc.cluster.local");
        return fqdn.ends_with(&format!(".{suffix}"));
    }
    false
}

pub(super) fn virtualservice_conflict(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "virtualservice-conflict";
    let vss = match &s.virtual_services {
        Err(Unavailable::NotServed) => {
            return vec![Finding::ok(
                ID,
                CAT,
                "VirtualService is not served (no Istio networking CRDs)",
            )]
        }
        _ => need!(&s.virtual_services, Kind::VirtualService, ID, CAT),
    };
    let routes = routes!(s, ID);
    let mut out = Vec::new();
    for vs in vss {
        // Only VirtualServices for sidecars and waypoints (`mesh`, the default when gateways is empty).
        if !vs.gateways.is_empty() && !vs.gateways.iter().any(|g| g == "mesh") {
            continue;
        }
        for route in routes {
            for p in route.mesh_parents() {
                let Some(host) = vs
                    .hosts
                    .iter()
                    .find(|h| host_names_service(h, &vs.namespace, &p.name, &p.namespace))
                else {
                    continue;
                };
                out.push(
                    Finding::warning(
                        ID,
                        CAT,
                        format!(
                            "VirtualService {}/{} (hosts {host}) and mesh HTTPRoute {}/{} both route Service {}/{}: Istio does not combine them, and mixing them for one workload is unsupported (routing is undefined)",
                            vs.namespace, vs.name, route.namespace, route.name, p.namespace, p.name
                        ),
                    )
                    .with_hint(format!(
                        "keep one: port the VirtualService's rules to the HTTPRoute and delete it (kubectl -n {} delete virtualservice {}), or delete the HTTPRoute",
                        vs.namespace, vs.name
                    ))
                    .with_resources(vec![
                        ResourceRef::new("VirtualService", &vs.namespace, &vs.name),
                        route_ref(route),
                        ResourceRef::new("Service", &p.namespace, &p.name),
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
                "no VirtualService routes a Service a mesh HTTPRoute routes ({} VirtualServices checked)",
                vss.len()
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::host_names_service;

    #[test]
    fn virtualservice_hosts_as_istio_resolves_them() {
        let yes = [
            ("reviews", "istio-demo"),
            ("reviews.istio-demo.svc.cluster.local", "team-b"),
            ("reviews.istio-demo.svc.corp.internal", "team-b"),
            ("*.istio-demo.svc.cluster.local", "team-b"),
            ("*.svc.cluster.local", "team-b"),
            ("*", "team-b"),
        ];
        for (host, vs_ns) in yes {
            assert!(
                host_names_service(host, vs_ns, "reviews", "istio-demo"),
                "{host} from {vs_ns}"
            );
        }
        let no = [
            ("reviews", "team-b"),
            // Taken as an FQDN by Istio: names no Service.
            ("reviews.istio-demo", "team-b"),
            ("reviews.istio-demo.svc", "istio-demo"),
            ("ratings.istio-demo.svc.cluster.local", "istio-demo"),
            ("*.other.svc.cluster.local", "istio-demo"),
            ("reviews.example.com", "istio-demo"),
        ];
        for (host, vs_ns) in no {
            assert!(
                !host_names_service(host, vs_ns, "reviews", "istio-demo"),
                "{host} from {vs_ns}"
            );
        }
    }
}
