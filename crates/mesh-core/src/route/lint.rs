//! What makes Istio ignore a mesh route, checked before the planners write one: a parent Service without a
//! cluster IP, and, in ambient mode, a parent without a usable waypoint (the rules are [`crate::ambient`]'s,
//! shared with doctor). Each refusal is a [`PlanError`] that `--force` turns into a warning.

use super::{PlanError, RouteSnapshot, ServiceInfo, WaypointName};
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
pub(crate) fn waypoint(
    snap: &RouteSnapshot,
    parent: &ServiceInfo,
    warnings: &mut Vec<String>,
) -> Result<(), PlanError> {
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
    let name = || {
        Box::new(WaypointName {
            namespace: waypoint.namespace.clone(),
            name: waypoint.name.clone(),
        })
    };
    let not_ready = |cause: String, missing: bool| PlanError::WaypointNotReady {
        service: parent.name.clone(),
        namespace: ns.clone(),
        waypoint: name(),
        cause,
        missing,
    };
    let scope = |cause: String, attachment_denied: bool| PlanError::WaypointScope {
        service: parent.name.clone(),
        namespace: ns.clone(),
        waypoint: name(),
        cause,
        attachment_denied,
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
            "AttachmentDenied" => scope(format!("does not accept it ({said})"), true),
            "UnsupportedTrafficType" => scope(format!("does not accept it ({said})"), false),
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
        return Err(scope(
            format!("does not take service traffic ({}={traffic})", ambient::WAYPOINT_FOR),
            false,
        ));
    }
    // The Gateway looks usable; a refusal Istio reported on the binding still stands (AttachmentDenied for a
    // listener we did not judge). A stale WaypointIsNotReady is not: the Gateway says otherwise.
    if let Some(c) =
        bound.filter(|c| matches!(c.reason.as_deref(), Some("AttachmentDenied" | "UnsupportedTrafficType")))
    {
        return Err(by_istio(c));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{json, Value};

    use crate::doctor::model::gateway_from_value;
    use crate::route::testutil::*;
    use crate::route::{
        is_user_rule, matches_every_request, plan_route_user, plan_shift, PlanError, RouteSnapshot, RouteUserRequest,
        ShiftRequest, MAX_RULES,
    };

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn waypoint_gateway(name: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "bookinfo"},
            "spec": {"gatewayClassName": "istio-waypoint", "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]},
            "status": {"addresses": [{"type": "IPAddress", "value": "10.43.0.50"}],
                "conditions": [{"type": "Programmed", "status": "True", "reason": "Programmed"}]}})
    }

    /// Bookinfo with namespace `bookinfo` in ambient mode and a waypoint `waypoint` nobody uses yet.
    fn ambient(routes: Vec<Value>) -> RouteSnapshot {
        let mut snap = bookinfo(routes, true);
        snap.namespace_labels = Some(labels(&[("istio.io/dataplane-mode", "ambient")]));
        snap.gateways = Some(vec![gateway_from_value(&waypoint_gateway("waypoint")).unwrap()]);
        snap
    }

    fn enroll(snap: &mut RouteSnapshot, waypoint: &str) {
        let reviews = snap.state.services.iter_mut().find(|s| s.name == "reviews").unwrap();
        reviews.labels.insert("istio.io/use-waypoint".into(), waypoint.into());
    }

    fn shift(weights: &[&str]) -> ShiftRequest {
        let args: Vec<String> = weights.iter().map(|w| w.to_string()).collect();
        ShiftRequest::new("reviews", &args).unwrap()
    }

    fn user(u: &str, version: Option<&str>) -> RouteUserRequest {
        RouteUserRequest::new("reviews", u, version, None, version.is_none()).unwrap()
    }

    /// `error: …` and `hint: …` as the command prints them.
    fn text(e: &PlanError) -> String {
        format!("error: {e}\nhint: {}", e.hint().unwrap_or_default())
    }

    #[test]
    fn refusals_name_the_cause_and_the_fix() {
        let mut out = Vec::new();
        // No waypoint label; a waypoint exists to enroll in.
        let e = plan_shift(&ambient(vec![route_v1()]), &shift(&["v2=100"])).unwrap_err();
        assert!(matches!(e, PlanError::AmbientNoWaypoint { .. }));
        out.push(text(&e));
        // No waypoint at all.
        let mut snap = ambient(vec![route_v1()]);
        snap.gateways = Some(Vec::new());
        out.push(text(&plan_shift(&snap, &shift(&["v2=100"])).unwrap_err()));
        // Opted out of the namespace's waypoint.
        let mut snap = ambient(vec![route_v1()]);
        snap.namespace_labels = Some(labels(&[
            ("istio.io/dataplane-mode", "ambient"),
            ("istio.io/use-waypoint", "waypoint"),
        ]));
        enroll(&mut snap, "none");
        out.push(text(&plan_shift(&snap, &shift(&["v2=100"])).unwrap_err()));
        // Enrolled in a waypoint that does not exist, or is not programmed.
        let mut snap = ambient(vec![route_v1()]);
        enroll(&mut snap, "gone");
        out.push(text(&plan_shift(&snap, &shift(&["v2=100"])).unwrap_err()));
        let mut snap = ambient(vec![route_v1()]);
        enroll(&mut snap, "waypoint");
        let mut gw = waypoint_gateway("waypoint");
        gw["status"] = json!({"conditions": [{"type": "Programmed", "status": "False", "reason": "Pending", "message": "waiting for deployment"}]});
        snap.gateways = Some(vec![gateway_from_value(&gw).unwrap()]);
        out.push(text(&plan_shift(&snap, &shift(&["v2=100"])).unwrap_err()));
        // A waypoint for workloads only.
        let mut snap = ambient(vec![route_v1()]);
        enroll(&mut snap, "waypoint");
        let mut gw = waypoint_gateway("waypoint");
        gw["metadata"]["labels"] = json!({"istio.io/waypoint-for": "workload"});
        snap.gateways = Some(vec![gateway_from_value(&gw).unwrap()]);
        out.push(text(&plan_shift(&snap, &shift(&["v2=100"])).unwrap_err()));
        // A waypoint elsewhere that Istio refused to bind.
        let mut snap = ambient(vec![route_v1()]);
        let reviews = snap.state.services.iter_mut().find(|s| s.name == "reviews").unwrap();
        reviews.labels.insert("istio.io/use-waypoint".into(), "shared".into());
        reviews
            .labels
            .insert("istio.io/use-waypoint-namespace".into(), "mesh-gw".into());
        reviews.istio_conditions = vec![crate::ambient::Condition {
            type_: "istio.io/WaypointBound".into(),
            status: "False".into(),
            reason: Some("AttachmentDenied".into()),
            message: Some("we cannot attach to waypoint \"mesh-gw/shared\"".into()),
            observed_generation: None,
        }];
        out.push(text(&plan_shift(&snap, &shift(&["v2=100"])).unwrap_err()));
        // A parentRef whose group Istio ignores.
        let mut core = route_v1();
        core["spec"]["parentRefs"][0]["group"] = json!("core");
        out.push(text(
            &plan_shift(&bookinfo(vec![core], true), &shift(&["v2=100"])).unwrap_err(),
        ));
        let mut omitted = route_v1();
        omitted["spec"]["parentRefs"][0]["group"] = json!("gateway.networking.k8s.io");
        out.push(text(
            &plan_shift(&bookinfo(vec![omitted], true), &shift(&["v2=100"])).unwrap_err(),
        ));
        // A headless parent.
        let mut snap = bookinfo(vec![route_v1()], true);
        snap.state.services[0].cluster_ip = Some("None".into());
        out.push(text(&plan_shift(&snap, &shift(&["v2=100"])).unwrap_err()));
        insta::assert_snapshot!(out.join("\n\n"));
    }

    #[test]
    fn an_enrolled_ready_waypoint_lets_shift_and_route_user_write() {
        let mut snap = ambient(vec![route_v1()]);
        enroll(&mut snap, "waypoint");
        let plan = plan_shift(&snap, &shift(&["v2=100"])).unwrap();
        assert!(plan.edit.warnings.is_empty(), "{:?}", plan.edit.warnings);
        assert!(plan_route_user(&snap, &user("jason", Some("v2"))).is_ok());
        // Enrolled through the namespace label.
        let mut snap = ambient(vec![route_v1()]);
        snap.namespace_labels = Some(labels(&[
            ("istio.io/dataplane-mode", "ambient"),
            ("istio.io/use-waypoint", "waypoint"),
        ]));
        assert!(plan_shift(&snap, &shift(&["v2=100"])).is_ok());
        // Not in ambient mode at all: nothing to check.
        assert!(plan_shift(&bookinfo(vec![route_v1()], true), &shift(&["v2=100"])).is_ok());
    }

    #[test]
    fn ambient_pods_make_the_service_ambient_in_a_plain_namespace() {
        let mut snap = bookinfo(vec![route_v1()], true);
        for p in &mut snap.state.pods {
            p.labels.insert("istio.io/dataplane-mode".into(), "ambient".into());
        }
        // The parent selects app=reviews: its pods are ambient.
        assert!(matches!(
            plan_shift(&snap, &shift(&["v2=100"])).unwrap_err(),
            PlanError::AmbientNoWaypoint { waypoint: None, .. }
        ));
        // With sidecars, the pods stay in sidecar mode.
        for p in &mut snap.state.pods {
            p.facts.proxy = Some(false);
            p.facts.sidecar_status = true;
        }
        assert!(plan_shift(&snap, &shift(&["v2=100"])).is_ok());
    }

    #[test]
    fn force_writes_the_route_and_says_it_is_ignored_until_fixed() {
        let mut req = shift(&["v2=100"]);
        req.force = true;
        let plan = plan_shift(&ambient(vec![route_v1()]), &req).unwrap();
        assert!(!plan.edit.noop);
        assert_eq!(plan.edit.warnings.len(), 1, "{:?}", plan.edit.warnings);
        let w = &plan.edit.warnings[0];
        assert!(
            w.starts_with("service \"reviews\" in namespace \"bookinfo\" is in ambient mode and has no waypoint"),
            "{w}"
        );
        assert!(w.contains("(written anyway: --force; the route has no effect until this is fixed; to fix it: enroll the Service in waypoint bookinfo/waypoint: kubectl label service reviews -n bookinfo istio.io/use-waypoint=waypoint)"), "{w}");
        // A route whose group Istio ignores: --force edits that route, it does not make a second one.
        let mut core = route_v1();
        core["spec"]["parentRefs"][0]["group"] = json!("core");
        let plan = plan_shift(&bookinfo(vec![core.clone()], true), &req).unwrap();
        assert!(!plan.edit.create);
        assert_eq!(plan.edit.route["spec"]["parentRefs"], core["spec"]["parentRefs"]);
        assert!(
            plan.edit.warnings[0].contains("parentRefs[0].group \"core\""),
            "{:?}",
            plan.edit.warnings
        );
    }

    #[test]
    fn a_core_group_route_is_refused_not_duplicated_and_route_flag_says_the_same() {
        let mut core = route_v1();
        core["spec"]["parentRefs"][0]["group"] = json!("core");
        let snap = bookinfo(vec![core], true);
        let e = plan_shift(&snap, &shift(&["v2=100"])).unwrap_err();
        assert!(matches!(e, PlanError::ParentGroupInvalid { index: 0, .. }), "{e:?}");
        let mut req = shift(&["v2=100"]);
        req.route_name = Some("reviews".into());
        assert!(matches!(
            plan_shift(&snap, &req).unwrap_err(),
            PlanError::ParentGroupInvalid { .. }
        ));
        // route-user --remove still refuses: it would edit a route Istio ignores.
        assert!(matches!(
            plan_route_user(&snap, &user("jason", None)).unwrap_err(),
            PlanError::ParentGroupInvalid { .. }
        ));
    }

    #[test]
    fn remove_is_never_refused_for_the_waypoint() {
        let snap = ambient(vec![route_with_user_rule()]);
        let plan = plan_route_user(&snap, &user("jason", None)).unwrap();
        assert!(!plan.edit.noop);
        assert!(plan.edit.warnings.is_empty());
        // But adding is.
        assert!(matches!(
            plan_route_user(&snap, &user("vijay", Some("v2"))).unwrap_err(),
            PlanError::AmbientNoWaypoint { .. }
        ));
    }

    #[test]
    fn without_the_namespace_or_gateways_the_plan_proceeds_and_says_what_was_not_checked() {
        let mut snap = ambient(vec![route_v1()]);
        snap.namespace_labels = None;
        let plan = plan_shift(&snap, &shift(&["v2=100"])).unwrap();
        assert_eq!(
            plan.edit.warnings,
            vec!["cannot read namespace bookinfo (needs get namespaces): ambient mode not checked".to_string()]
        );
        let mut snap = ambient(vec![route_v1()]);
        enroll(&mut snap, "waypoint");
        snap.gateways = None;
        let plan = plan_shift(&snap, &shift(&["v2=100"])).unwrap();
        assert_eq!(plan.edit.warnings.len(), 1);
        assert!(plan.edit.warnings[0].starts_with("cannot list gateways in bookinfo (needs list gateways.gateway.networking.k8s.io): waypoint bookinfo/waypoint readiness not checked"), "{:?}", plan.edit.warnings);
        // ...and then Istio's own word on the binding decides.
        let reviews = snap.state.services.iter_mut().find(|s| s.name == "reviews").unwrap();
        reviews.istio_conditions = vec![crate::ambient::Condition {
            type_: "istio.io/WaypointBound".into(),
            status: "False".into(),
            reason: Some("WaypointIsNotReady".into()),
            message: Some("waypoint \"bookinfo/waypoint\" is not ready".into()),
            observed_generation: None,
        }];
        assert!(matches!(
            plan_shift(&snap, &shift(&["v2=100"])).unwrap_err(),
            PlanError::WaypointNotReady { .. }
        ));
        // A waypoint in another namespace is not read: a warning names it.
        let mut snap = ambient(vec![route_v1()]);
        let reviews = snap.state.services.iter_mut().find(|s| s.name == "reviews").unwrap();
        reviews.labels.insert("istio.io/use-waypoint".into(), "shared".into());
        reviews
            .labels
            .insert("istio.io/use-waypoint-namespace".into(), "mesh-gw".into());
        let plan = plan_shift(&snap, &shift(&["v2=100"])).unwrap();
        assert_eq!(
            plan.edit.warnings,
            vec!["waypoint mesh-gw/shared is in another namespace and was not checked; see kubectl mesh doctor -n mesh-gw".to_string()]
        );
    }

    #[test]
    fn route_user_never_leaves_a_route_without_a_catch_all_rule() {
        // A route with only a header rule (requests without the header are rejected).
        let mut route = route_with_user_rule();
        route["spec"]["rules"].as_array_mut().unwrap().truncate(1);
        for (req, noop_before) in [(user("vijay", Some("v3")), false), (user("jason", Some("v2")), true)] {
            let plan = plan_route_user(&bookinfo(vec![route.clone()], true), &req).unwrap();
            assert!(!plan.edit.noop, "noop before: {noop_before}");
            let rules = plan.edit.route["spec"]["rules"].as_array().unwrap();
            assert!(rules.iter().any(matches_every_request), "{rules:?}");
            assert_eq!(
                rules.last().unwrap(),
                &json!({"backendRefs": [{"name": "reviews", "port": 9080}]})
            );
            assert!(
                plan.message
                    .contains("added a default rule sending everyone else to reviews"),
                "{}",
                plan.message
            );
            assert_valid_everywhere(&plan.edit.route);
        }
        // --remove of one of two header rules.
        let mut two = route.clone();
        let vijay = json!({"matches": [{"headers": [{"type": "Exact", "name": "end-user", "value": "vijay"}]}],
            "backendRefs": [{"name": "reviews-v3", "port": 9080}]});
        two["spec"]["rules"].as_array_mut().unwrap().push(vijay);
        let plan = plan_route_user(&bookinfo(vec![two], true), &user("jason", None)).unwrap();
        let rules = plan.edit.route["spec"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert!(is_user_rule(&rules[0], "end-user", "vijay"));
        assert!(matches_every_request(&rules[1]));
        // Full: no room for the default rule.
        let mut full = route.clone();
        for i in 1..MAX_RULES {
            full["spec"]["rules"].as_array_mut().unwrap().push(json!({
                "matches": [{"path": {"type": "PathPrefix", "value": format!("/p{i}")}}],
                "backendRefs": [{"name": "reviews-v1", "port": 9080}]}));
        }
        assert!(matches!(
            plan_route_user(&bookinfo(vec![full], true), &user("jason", Some("v3"))).unwrap_err(),
            PlanError::RouteFull { .. }
        ));
    }
}
