//! `--wait`: did the mesh controller accept the route at the generation we wrote?
//!
//! Istio writes one `status.parents[]` entry per parentRef it handles, keyed by the parentRef (echoed verbatim,
//! port included) and its controller name — `istio.io/gateway-controller` for every parent kind, mesh Services
//! included (istio `pilot/pkg/config/kube/gateway/conditions.go`, `ControllerName:
//! k8s.GatewayController(features.ManagedGatewayController)`; the name is configurable with
//! `PILOT_GATEWAY_API_CONTROLLER_NAME`). Every condition carries `observedGeneration` = the route's generation it
//! judged (Gateway API `RouteParentStatus`: "Implementations MUST always update the observedGeneration field of
//! the Condition to the metadata.generation … at the time of update creation"). `Accepted` and `ResolvedRefs` are
//! always written; `ResolvedWaypoints` only with ambient mode on, and Istio keeps it `True` even when the waypoint
//! label is missing (only its message changes) — a `False` one still fails the wait, the message is left to
//! `doctor`.

use serde_json::Value;

use super::mesh_parent_service;

/// The controller name Istio writes into route status, for mesh parents too.
pub const MESH_CONTROLLER: &str = "istio.io/gateway-controller";
/// Istio's message when every waypoint resolved.
const WAYPOINTS_RESOLVED: &str = "All waypoints resolved";

/// What the route's status says about the generation written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not judged yet at this generation; why.
    Pending(String),
    /// Every entry for the Service parent has `Accepted` and `ResolvedRefs` True at the generation.
    Accepted {
        controller: String,
        generation: i64,
        /// Messages worth showing (a `ResolvedWaypoints` message other than success).
        notes: Vec<String>,
    },
    /// A condition is False at the generation.
    Rejected {
        controller: String,
        condition: String,
        reason: String,
        message: String,
        generation: i64,
    },
}

const REQUIRED: [&str; 2] = ["Accepted", "ResolvedRefs"];
const OPTIONAL: &str = "ResolvedWaypoints";

fn text<'a>(c: &'a Value, key: &str) -> &'a str {
    c.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Judge `route`'s status for parent Service `service` at `generation`: the entries of
/// [`MESH_CONTROLLER`] (or, when it wrote none, of the one other controller that did).
pub fn judge_route_status(route: &Value, service: &str, generation: i64) -> Verdict {
    let entries: Vec<&Value> = route
        .pointer("/status/parents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| {
            p.get("parentRef")
                .is_some_and(|pr| mesh_parent_service(pr, route) == Some(service))
        })
        .collect();
    let controller_of = |e: &Value| text(e, "controllerName").to_string();
    let mut ours: Vec<&Value> = entries
        .iter()
        .copied()
        .filter(|e| controller_of(e) == MESH_CONTROLLER)
        .collect();
    if ours.is_empty() {
        let mut names: Vec<String> = entries.iter().map(|e| controller_of(e)).collect();
        names.sort();
        names.dedup();
        match names.len() {
            0 => {
                return Verdict::Pending(format!(
                    "no status from {MESH_CONTROLLER} for parent Service {service} yet"
                ))
            }
            1 => ours = entries,
            _ => {
                return Verdict::Pending(format!(
                    "status from several controllers ({}) and none from {MESH_CONTROLLER}",
                    names.join(", ")
                ))
            }
        }
    }
    let controller = controller_of(ours[0]);
    let conditions = |e: &Value| -> Vec<Value> {
        e.get("conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let observed = |c: &Value| c.get("observedGeneration").and_then(Value::as_i64).unwrap_or(0);
    // A False condition at (or past) the generation is a rejection, whatever else is pending.
    for e in &ours {
        let conds = conditions(e);
        for ty in REQUIRED.iter().copied().chain([OPTIONAL]) {
            if let Some(c) = conds.iter().find(|c| text(c, "type") == ty) {
                if observed(c) >= generation && text(c, "status") == "False" {
                    return Verdict::Rejected {
                        controller: controller_of(e),
                        condition: ty.to_string(),
                        reason: text(c, "reason").to_string(),
                        message: text(c, "message").to_string(),
                        generation,
                    };
                }
            }
        }
    }
    let mut notes = Vec::new();
    for e in &ours {
        let conds = conditions(e);
        for ty in REQUIRED {
            let Some(c) = conds.iter().find(|c| text(c, "type") == ty) else {
                return Verdict::Pending(format!("{controller} has not written {ty} yet"));
            };
            let og = observed(c);
            if og < generation {
                return Verdict::Pending(format!(
                    "{controller} has observed generation {og}, not yet {generation}"
                ));
            }
            if text(c, "status") != "True" {
                return Verdict::Pending(format!("{ty} is {} ({})", text(c, "status"), text(c, "reason")));
            }
        }
        if let Some(c) = conds.iter().find(|c| text(c, "type") == OPTIONAL) {
            let message = text(c, "message");
            if observed(c) >= generation && !message.is_empty() && message != WAYPOINTS_RESOLVED {
                let note = format!("{controller}: {OPTIONAL}: {message}");
                if !notes.contains(&note) {
                    notes.push(note);
                }
            }
        }
    }
    Verdict::Accepted {
        controller,
        generation,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn cond(ty: &str, status: &str, reason: &str, message: &str, og: i64) -> Value {
        json!({"type": ty, "status": status, "reason": reason, "message": message, "observedGeneration": og,
               "lastTransitionTime": "2026-08-22T10:00:00Z"})
    }

    fn route(parents: Value) -> Value {
        json!({"metadata": {"name": "reviews", "namespace": "istio-demo", "generation": 5},
               "status": {"parents": parents}})
    }

    fn istio(parent_ref: Value, conditions: Vec<Value>) -> Value {
        json!({"parentRef": parent_ref, "controllerName": MESH_CONTROLLER, "conditions": conditions})
    }

    fn svc() -> Value {
        json!({"group": "", "kind": "Service", "name": "reviews", "port": 9080})
    }

    fn valid(og: i64) -> Vec<Value> {
        vec![
            cond("Accepted", "True", "Accepted", "Route was valid", og),
            cond("ResolvedRefs", "True", "ResolvedRefs", "All references resolved", og),
        ]
    }

    #[test]
    fn accepted_at_the_generation_written_or_later() {
        let r = route(json!([istio(svc(), valid(5))]));
        assert_eq!(
            judge_route_status(&r, "reviews", 5),
            Verdict::Accepted {
                controller: MESH_CONTROLLER.into(),
                generation: 5,
                notes: vec![]
            }
        );
        assert!(matches!(judge_route_status(&r, "reviews", 4), Verdict::Accepted { .. }));
        assert!(matches!(judge_route_status(&r, "reviews", 6), Verdict::Pending(_)));
    }

    #[test]
    fn a_stale_or_missing_observed_generation_never_counts() {
        let r = route(json!([istio(svc(), valid(4))]));
        assert!(matches!(judge_route_status(&r, "reviews", 5), Verdict::Pending(m) if m.contains("generation 4")));
        let mut no_og = valid(5);
        for c in &mut no_og {
            c.as_object_mut().unwrap().remove("observedGeneration");
        }
        let r = route(json!([istio(svc(), no_og)]));
        assert!(matches!(judge_route_status(&r, "reviews", 1), Verdict::Pending(_)));
        // A stale False is not a rejection of the new generation.
        let r = route(json!([istio(
            svc(),
            vec![
                cond("Accepted", "True", "Accepted", "Route was valid", 4),
                cond("ResolvedRefs", "False", "BackendNotFound", "backend(x) not found", 4)
            ]
        )]));
        assert!(matches!(judge_route_status(&r, "reviews", 5), Verdict::Pending(_)));
    }

    #[test]
    fn istios_failures_are_rejections_naming_condition_reason_and_message() {
        // conversion.go: a missing backend Service.
        let r = route(json!([istio(
            svc(),
            vec![
                cond("Accepted", "True", "Accepted", "Route was valid", 5),
                cond(
                    "ResolvedRefs",
                    "False",
                    "BackendNotFound",
                    "backend(reviews-v9.istio-demo.svc.cluster.local) not found",
                    5
                )
            ]
        )]));
        assert_eq!(
            judge_route_status(&r, "reviews", 5),
            Verdict::Rejected {
                controller: MESH_CONTROLLER.into(),
                condition: "ResolvedRefs".into(),
                reason: "BackendNotFound".into(),
                message: "backend(reviews-v9.istio-demo.svc.cluster.local) not found".into(),
                generation: 5
            }
        );
        // A missing parent Service.
        let r = route(json!([istio(
            svc(),
            vec![
                cond(
                    "Accepted",
                    "False",
                    "NoMatchingParent",
                    "parent service: \"reviews\" not found",
                    5
                ),
                cond("ResolvedRefs", "True", "ResolvedRefs", "All references resolved", 5)
            ]
        )]));
        assert!(matches!(judge_route_status(&r, "reviews", 5),
            Verdict::Rejected { condition, reason, .. } if condition == "Accepted" && reason == "NoMatchingParent"));
    }

    #[test]
    fn resolved_waypoints_false_fails_its_message_alone_does_not() {
        let mut conds = valid(5);
        conds.push(cond(
            "ResolvedWaypoints",
            "True",
            "ResolvedWaypoints",
            "istio.io/use-waypoint label missing from parent and parent namespace; in ambient mode, route will not be respected",
            5,
        ));
        let r = route(json!([istio(svc(), conds.clone())]));
        match judge_route_status(&r, "reviews", 5) {
            Verdict::Accepted { notes, .. } => assert!(notes[0].contains("label missing"), "{notes:?}"),
            other => panic!("{other:?}"),
        }
        conds[2] = cond(
            "ResolvedWaypoints",
            "False",
            "MissingUseWaypointLabel",
            "no waypoint",
            5,
        );
        let r = route(json!([istio(svc(), conds)]));
        assert!(matches!(judge_route_status(&r, "reviews", 5),
            Verdict::Rejected { condition, .. } if condition == "ResolvedWaypoints"));
        let mut ok = valid(5);
        ok.push(cond(
            "ResolvedWaypoints",
            "True",
            "ResolvedWaypoints",
            "All waypoints resolved",
            5,
        ));
        let r = route(json!([istio(svc(), ok)]));
        assert!(matches!(judge_route_status(&r, "reviews", 5), Verdict::Accepted { notes, .. } if notes.is_empty()));
    }

    #[test]
    fn other_controllers_and_other_parents_are_ignored() {
        let linkerd = json!({"parentRef": svc(), "controllerName": "linkerd.io/policy-controller",
            "conditions": [cond("Accepted", "False", "NoMatchingParent", "x", 5)]});
        let other_parent = istio(
            json!({"group": "", "kind": "Service", "name": "ratings"}),
            vec![cond("Accepted", "False", "NoMatchingParent", "x", 5)],
        );
        let r = route(json!([linkerd, other_parent, istio(svc(), valid(5))]));
        assert!(matches!(judge_route_status(&r, "reviews", 5), Verdict::Accepted { .. }));
        // No entry of ours: the only other controller's counts (istiod renamed).
        let renamed = json!({"parentRef": svc(), "controllerName": "example.com/mesh", "conditions": valid(5)});
        let r = route(json!([renamed]));
        assert!(matches!(judge_route_status(&r, "reviews", 5),
            Verdict::Accepted { controller, .. } if controller == "example.com/mesh"));
        let r = route(json!([]));
        assert!(matches!(judge_route_status(&r, "reviews", 5), Verdict::Pending(_)));
    }

    #[test]
    fn every_entry_of_ours_must_accept() {
        // One entry per parentRef port.
        let other_port = json!({"group": "", "kind": "Service", "name": "reviews", "port": 9081});
        let r = route(json!([istio(svc(), valid(5)), istio(other_port, valid(4))]));
        assert!(matches!(judge_route_status(&r, "reviews", 5), Verdict::Pending(_)));
    }
}
