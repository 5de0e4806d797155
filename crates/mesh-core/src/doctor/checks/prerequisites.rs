//! Prerequisite checks: what must be installed and working before routes and sidecars can:
//! Gateway API CRDs, a ready istiod, programmed Gateways with an address, and no k3s traefik
//! holding the ports an Istio gateway needs (see the k3d guide in the project docs).

use super::data_plane::is_istiod;
use super::{image_tag, need};
use crate::doctor::finding::{Category, Finding, ResourceRef};
use crate::doctor::model::{Gateway, Service, Snapshot};
use crate::doctor::raw::{Kind, Unavailable};

const CAT: Category = Category::Prerequisites;
const INSTALL_HINT: &str = "install them: kubectl apply -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.0.0/standard-install.yaml";

pub(super) fn gateway_api_crds(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "gateway-api-crds";
    let wanted = [
        "httproutes.gateway.networking.k8s.io",
        "gateways.gateway.networking.k8s.io",
    ];
    match &s.crds {
        Ok(crds) => {
            let missing: Vec<&str> = wanted
                .iter()
                .copied()
                .filter(|w| !crds.iter().any(|c| c.name == *w && !c.served_versions.is_empty()))
                .collect();
            if !missing.is_empty() {
                return vec![
                    Finding::error(ID, CAT, format!("Gateway API CRDs missing: {}", missing.join(", ")))
                        .with_hint(INSTALL_HINT),
                ];
            }
            let route = crds.iter().find(|c| c.name == wanted[0]);
            let version = route
                .and_then(|c| c.bundle_version.clone())
                .unwrap_or_else(|| "unknown version".to_string());
            let channel = route
                .and_then(|c| c.channel.clone())
                .map(|c| format!(" ({c} channel)"))
                .unwrap_or_default();
            let served = route.map(|c| c.served_versions.join(", ")).unwrap_or_default();
            vec![Finding::ok(
                ID,
                CAT,
                format!("Gateway API CRDs {version}{channel} installed (HTTPRoute {served})"),
            )]
        }
        Err(crd_err) => match &s.http_routes {
            Err(Unavailable::NotServed) => vec![Finding::error(
                ID,
                CAT,
                "Gateway API is not served: httproutes.gateway.networking.k8s.io not found",
            )
            .with_hint(INSTALL_HINT)],
            Ok(_) => vec![Finding::ok(
                ID,
                CAT,
                format!(
                    "HTTPRoute API is served (bundle version unknown: {})",
                    super::unavailable_reason(Kind::CustomResourceDefinition, crd_err)
                ),
            )],
            Err(_) => vec![Finding::skipped(
                ID,
                CAT,
                super::unavailable_reason(Kind::CustomResourceDefinition, crd_err),
            )],
        },
    }
}

pub(super) fn istiod_ready(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "istiod-ready";
    let deps = need!(&s.deployments, Kind::Deployment, ID, CAT);
    let istiods: Vec<_> = deps
        .iter()
        .filter(|d| d.namespace == "istio-system" && is_istiod(&d.name, &d.labels))
        .collect();
    if istiods.is_empty() {
        return vec![Finding::error(ID, CAT, "no istiod Deployment in istio-system")
            .with_hint("install the control plane: helm install istiod istio/istiod -n istio-system --wait")];
    }
    istiods
        .iter()
        .map(|d| {
            let version = d
                .images
                .iter()
                .find(|(n, _)| n == "discovery")
                .or(d.images.first())
                .and_then(|(_, i)| image_tag(i))
                .unwrap_or("unknown");
            let available = d
                .conditions
                .get("Available")
                .is_none_or(|(status, _)| status == "True");
            let r = ResourceRef::new("Deployment", &d.namespace, &d.name);
            if d.available_replicas > 0 && available {
                Finding::ok(
                    ID,
                    CAT,
                    format!(
                        "{} ready ({} available, version {version})",
                        d.name, d.available_replicas
                    ),
                )
            } else {
                Finding::error(
                    ID,
                    CAT,
                    format!(
                        "istiod {} has no available replica (version {version}): sidecars get no config or certificates and injection fails",
                        d.name
                    ),
                )
                .with_hint(format!(
                    "look at it: kubectl -n istio-system describe deployment/{0}; kubectl -n istio-system logs deployment/{0}",
                    d.name
                ))
                .with_resources(vec![r])
            }
        })
        .collect()
}

pub(super) fn gateway_not_programmed(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "gateway-not-programmed";
    if matches!(s.gateways, Err(Unavailable::NotServed)) {
        return vec![Finding::skipped(ID, CAT, "Gateway API is not installed")];
    }
    let gateways = need!(&s.gateways, Kind::Gateway, ID, CAT);
    // Waypoints in use that are not ready are waypoint-not-ready's (one cause, one error).
    let waypoints = super::ambient::reported_waypoints(s);
    let mut out = Vec::new();
    for gw in gateways {
        if waypoints.contains(&(gw.namespace.clone(), gw.name.clone())) {
            continue;
        }
        let r = ResourceRef::new("Gateway", &gw.namespace, &gw.name);
        let programmed = gw.conditions.iter().find(|c| c.type_ == "Programmed");
        match programmed {
            Some(c) if c.status == "True" => {}
            Some(c) => out.push(
                Finding::error(
                    ID,
                    CAT,
                    format!(
                        "Gateway {}/{} is not programmed: {}{}",
                        gw.namespace,
                        gw.name,
                        c.reason.as_deref().unwrap_or("no reason"),
                        c.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
                    ),
                )
                .with_hint(format!("kubectl -n {} describe gateway {}", gw.namespace, gw.name))
                .with_resources(vec![r]),
            ),
            None => out.push(
                Finding::error(
                    ID,
                    CAT,
                    format!(
                        "Gateway {}/{} has no Programmed condition: no controller handles gatewayClassName {:?}",
                        gw.namespace, gw.name, gw.class
                    ),
                )
                .with_hint("Istio's class is \"istio\": check kubectl get gatewayclass")
                .with_resources(vec![r]),
            ),
        }
    }
    if out.is_empty() {
        out.push(Finding::ok(
            ID,
            CAT,
            format!("every Gateway is programmed ({} checked)", gateways.len()),
        ));
    }
    out
}

/// The Service a Gateway controller generated for it: labelled with the gateway name, or
/// named `{gateway}-{class}`.
fn gateway_service<'a>(gw: &Gateway, services: &'a [Service]) -> Option<&'a Service> {
    let generated = format!("{}-{}", gw.name, gw.class);
    services
        .iter()
        .filter(|s| s.namespace == gw.namespace)
        .find(|s| {
            s.labels.get("gateway.networking.k8s.io/gateway-name") == Some(&gw.name)
                || s.labels.get("istio.io/gateway-name") == Some(&gw.name)
        })
        .or_else(|| {
            services
                .iter()
                .find(|s| s.namespace == gw.namespace && s.name == generated)
        })
}

pub(super) fn gateway_no_address(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "gateway-no-address";
    if matches!(s.gateways, Err(Unavailable::NotServed)) {
        return vec![Finding::skipped(ID, CAT, "Gateway API is not installed")];
    }
    let gateways = need!(&s.gateways, Kind::Gateway, ID, CAT);
    let services = need!(&s.services, Kind::Service, ID, CAT);
    let waypoints = super::ambient::reported_waypoints(s);
    let mut out = Vec::new();
    for gw in gateways {
        if waypoints.contains(&(gw.namespace.clone(), gw.name.clone())) {
            continue;
        }
        let Some(svc) = gateway_service(gw, services) else {
            if !gw.has_addresses {
                out.push(
                    Finding::warning(
                        ID,
                        CAT,
                        format!(
                            "Gateway {}/{} has no address and no Service {}-{} exists",
                            gw.namespace, gw.name, gw.name, gw.class
                        ),
                    )
                    .with_hint(format!("kubectl -n {} describe gateway {}", gw.namespace, gw.name))
                    .with_resources(vec![ResourceRef::new("Gateway", &gw.namespace, &gw.name)]),
                );
            }
            continue;
        };
        if svc.type_ == "LoadBalancer" && !svc.lb_ingress {
            out.push(
                Finding::warning(
                    ID,
                    CAT,
                    format!(
                        "Gateway {}/{} has no external address: LoadBalancer Service {} has no status.loadBalancer.ingress",
                        gw.namespace, gw.name, svc.name
                    ),
                )
                .with_hint(format!(
                    "on k3d/kind install MetalLB with an IPAddressPool and L2Advertisement, or reach it with kubectl port-forward -n {} svc/{} 8080:80",
                    svc.namespace, svc.name
                ))
                .with_resources(vec![
                    ResourceRef::new("Gateway", &gw.namespace, &gw.name),
                    ResourceRef::new("Service", &svc.namespace, &svc.name),
                ]),
            );
        }
    }
    if out.is_empty() {
        out.push(Finding::ok(
            ID,
            CAT,
            format!("every Gateway has an address ({} checked)", gateways.len()),
        ));
    }
    out
}

pub(super) fn traefik_present(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "traefik-present";
    let services = need!(&s.services, Kind::Service, ID, CAT);
    let deps = need!(&s.deployments, Kind::Deployment, ID, CAT);
    let traefik_svc = services.iter().find(|svc| {
        svc.namespace == "kube-system"
            && svc.name == "traefik"
            && svc.ports.iter().any(|p| p.port == 80 || p.port == 443)
    });
    let traefik_dep = deps
        .iter()
        .find(|d| d.namespace == "kube-system" && d.name == "traefik");
    if traefik_svc.is_none() && traefik_dep.is_none() {
        return vec![Finding::ok(ID, CAT, "no k3s traefik ingress in kube-system")];
    }
    let istio_gateways: Vec<&Service> = services
        .iter()
        .filter(|svc| {
            svc.labels.contains_key("gateway.networking.k8s.io/gateway-name")
                || svc.labels.get("istio").map(String::as_str) == Some("ingressgateway")
        })
        .filter(|svc| svc.ports.iter().any(|p| p.port == 80 || p.port == 443))
        .collect();
    if istio_gateways.is_empty() {
        return vec![Finding::ok(
            ID,
            CAT,
            "k3s traefik is installed but no Istio gateway competes for :80/:443",
        )];
    }
    let mut resources = Vec::new();
    if let Some(svc) = traefik_svc {
        resources.push(ResourceRef::new("Service", &svc.namespace, &svc.name));
    }
    if let Some(d) = traefik_dep {
        resources.push(ResourceRef::new("Deployment", &d.namespace, &d.name));
    }
    let names: Vec<String> = istio_gateways
        .iter()
        .map(|g| format!("{}/{}", g.namespace, g.name))
        .collect();
    resources.extend(
        istio_gateways
            .iter()
            .map(|g| ResourceRef::new("Service", &g.namespace, &g.name)),
    );
    vec![Finding::warning(
        ID,
        CAT,
        format!(
            "k3s traefik serves :80/:443 alongside Istio gateway {}: the cluster load balancer gives the ports to one of them",
            super::name_list(&names, 3)
        ),
    )
    .with_hint("create the k3d cluster with --k3s-arg=--disable=traefik@server:0, or remove it: kubectl -n kube-system delete helmchart traefik")
    .with_resources(resources)]
}
