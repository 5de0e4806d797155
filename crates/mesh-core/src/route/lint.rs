//! What makes Istio ignore a mesh route, checked before the planners write one: a parent Service without a
//! cluster IP, and, in ambient mode, a parent without a usable waypoint (the rules are [`crate::ambient`]'s,
//! shared with doctor). Each refusal is a [`PlanError`] that `--force` turns into a warning.

use super::{PlanError, RouteSnapshot, ServiceInfo};
use crate::ambient::{self, Binding, DataPlane, GatewayView};

/// `Err(e)` stays an error unless `force` and `e` is forceable: then it becomes a warning and `Ok`.
pub(crate) fn forced(result: Result<(), PlanError>, force: bool, warnings: &mut Vec<String>) -> Result<(), PlanError> {
    match result {
        Err(e) if force && e.forceable() => {
            let fix = e.fix().map(|f| format!("; to fix it: {f}")).unwrap_or_default();
            warnings.push(format!(
                "{e} (written anyway: --force; the route has no effect until this is fixed{fix})"
            ));
            Ok(())
        }
        other => other,
    }
}

/// A parent Service without a cluster IP (headless or ExternalName): a mesh route needs one (GEP-1294 and the
/// Gateway API's `ParentReference` docs: "ClusterIP Services only").
pub(crate) fn headless(snap: &RouteSnapshot, parent: &ServiceInfo) -> Result<(), PlanError> {
    let external = parent.type_.as_deref() == Some("ExternalName");
    if external || parent.cluster_ip.as_deref() == Some("None") {
        return Err(PlanError::ParentHeadless {
            service: parent.name.clone(),
            namespace: snap.state.namespace.clone(),
            external_name: external,
        });
    }
    Ok(())
}

/// Whether the parent Service is in ambient mode: its namespace is (as Istio's analyzers say), or one of the
/// pods it selects is.
fn service_in_ambient(snap: &RouteSnapshot, parent: &ServiceInfo, ns_labels: &ambient::Labels) -> bool {
    if ambient::namespace_in_ambient(ns_labels) {
        return true;
    }
    if parent.selector.is_empty() {
        return false;
    }
    snap.state
        .pods
        .iter()
        .filter(|p| parent.selector.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
        .any(|p| DataPlane::of(&p.labels, &p.facts, Some(ns_labels)).is_ambient())
}

/// Whether a Gateway of the namespace looks like a waypoint. The planners do not read GatewayClasses (they are
/// cluster-scoped and the traffic Role is namespaced): class `istio-waypoint`, or an HBONE listener on 15008.
fn looks_like_waypoint(gw: &crate::doctor::model::Gateway) -> bool {
    gw.class == ambient::WAYPOINT_CLASS || gw.listeners.iter().any(|l| l.protocol == "HBONE" && l.port == 15008)
}

/// The waypoint verdict for a route of `parent`: `Ok` when Istio will apply it (or it cannot be told, with a
/// warning saying what was not checked), else the refusal.
pub(crate) fn waypoint(snap: &RouteSnapshot, parent: &ServiceInfo, warnings: &mut Vec<String>) -> Result<(), PlanError> {
    let ns = &snap.state.namespace;
    let Some(ns_labels) = snap.namespace_labels.as_ref() else {
        warnings.push(format!(
            "cannot read namespace {ns} (needs get namespaces): ambient mode not checked"
        ));
        return Ok(());
    };
    if ambient::service_is_istio_gateway(&parent.labels) || !service_in_ambient(snap, parent, ns_labels) {
        return Ok(());
    }
    let waypoint = match ambient::service_binding(&parent.labels, ns, Some(ns_labels)) {
        Binding::None => {
            let existing = snap
                .gateways
                .iter()
                .flatten()
                .find(|g| looks_like_waypoint(g))
                .map(|g| g.name.clone());
            return Err(PlanError::AmbientNoWaypoint {
                service: parent.name.clone(),
                namespace: ns.clone(),
                waypoint: existing,
            });
        }
        Binding::OptedOut => {
            return Err(PlanError::AmbientOptedOut {
                service: parent.name.clone(),
                namespace: ns.clone(),
            })
        }
        Binding::Waypoint(w) => w,
    };
    let not_ready = |cause: String, missing: bool| PlanError::WaypointNotReady {
        service: parent.name.clone(),
        namespace: ns.clone(),
        waypoint_namespace: waypoint.namespace.clone(),
        waypoint: waypoint.name.clone(),
        cause,
        missing,
    };
    let scope = |cause: String| PlanError::WaypointScope {
        service: parent.name.clone(),
        namespace: ns.clone(),
        waypoint_namespace: waypoint.namespace.clone(),
        waypoint: waypoint.name.clone(),
        cause,
    };
    // What Istio said about the binding, for what we cannot read ourselves.
    let bound = ambient::waypoint_bound(&parent.istio_conditions).filter(|c| c.status == "False");
    let by_istio = |c: &ambient::Condition| {
        let reason = c.reason.clone().unwrap_or_default();
        let said = format!(
            "Istio reports {}=False {reason}{}",
            ambient::WAYPOINT_BOUND,
            c.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
        );
        match reason.as_str() {
            "AttachmentDenied" | "UnsupportedTrafficType" => scope(format!("does not accept it ({said})")),
            _ => not_ready(format!("is not ready ({said})"), false),
        }
    };
    let gateways = match (&snap.gateways, waypoint.namespace == *ns) {
        (Some(g), true) => g,
        (_, same_ns) => {
            if let Some(c) = bound {
                return Err(by_istio(c));
            }
            warnings.push(if same_ns {
                format!(
                    "cannot list gateways in {ns} (needs list gateways.gateway.networking.k8s.io): waypoint {}/{} readiness not checked (relying on the Service's {} condition)",
                    waypoint.namespace,
                    waypoint.name,
                    ambient::WAYPOINT_BOUND
                )
            } else {
                format!(
                    "waypoint {0}/{1} is in another namespace and was not checked; see kubectl mesh doctor -n {0}",
                    waypoint.namespace, waypoint.name
                )
            });
            return Ok(());
        }
    };
    let gw = gateways.iter().find(|g| g.name == waypoint.name);
    let view = gw.map(|g| GatewayView {
        class: &g.class,
        class_controller: looks_like_waypoint(g).then_some(ambient::MESH_CONTROLLER),
        conditions: &g.conditions,
        has_addresses: g.has_addresses,
    });
    if let Some(problem) = ambient::waypoint_problem(view, None) {
        let missing = problem == ambient::WaypointProblem::Missing;
        return Err(not_ready(problem.phrase(&waypoint.namespace), missing));
    }
    let (traffic, _) = ambient::traffic_type(gw.and_then(|g| g.waypoint_for.as_deref()), None);
    if !ambient::takes_service_traffic(traffic) {
        return Err(scope(format!(
            "does not take service traffic ({}={traffic})",
            ambient::WAYPOINT_FOR
        )));
    }
    // The Gateway looks usable; a refusal Istio reported on the binding still stands (AttachmentDenied for a
    // listener we did not judge). A stale WaypointIsNotReady is not: the Gateway says otherwise.
    if let Some(c) = bound.filter(|c| matches!(c.reason.as_deref(), Some("AttachmentDenied" | "UnsupportedTrafficType"))) {
        return Err(by_istio(c));
    }
    Ok(())
}
