//! `kubectl mesh undo`: put back a revision's traffic (the default rule's backends and the user rules, whole)
//! through the same safety checks as shift, leaving everything else of the route as it is now.
//!
//! As `kubectl rollout undo`: the default target is the revision before the current one, `--to-revision N` picks
//! one, a target equal to the current state is skipped (exit 0), and the restore is itself a new revision, so undo
//! twice goes back and forth.

use serde::Serialize;
use serde_json::{json, Value};

use super::history::{history_view, IndexedRule, Revision};
use super::shift::shares;
use super::{
    check_backend_refs, check_gitops, lint, parent_service_linted, route_name, select_route, traffic_state,
    BackendShare, PlanError, RestoreRequest, RouteEdit, RouteKind, RouteSnapshot,
};

/// What undo will write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestorePlan {
    #[serde(flatten)]
    pub edit: RouteEdit,
    /// The revision restored.
    pub to_revision: u64,
    /// The current revision (the one left).
    pub from_revision: u64,
    /// Default-rule backends before and after.
    pub before: Vec<BackendShare>,
    pub after: Vec<BackendShare>,
    /// What happens to user rules: `end-user: jason → reviews-v2 (restored)`, `end-user: vijay (removed)`.
    pub user_changes: Vec<String>,
}

impl AsRef<RouteEdit> for RestorePlan {
    fn as_ref(&self) -> &RouteEdit {
        &self.edit
    }
}

impl AsMut<RouteEdit> for RestorePlan {
    fn as_mut(&mut self) -> &mut RouteEdit {
        &mut self.edit
    }
}

fn refs_of(rule: &Value) -> Vec<Value> {
    rule.get("backendRefs")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter(|r| r.is_object()).cloned().collect())
        .unwrap_or_default()
}

/// `header: value → service` of each user rule, for the summary lines.
fn user_summary(kind: RouteKind, ns: &str, rules: &[IndexedRule]) -> Vec<(String, String)> {
    rules
        .iter()
        .filter_map(|u| {
            let (h, v) = kind.user_rule_of(&u.rule)?;
            let to = refs_of(&u.rule)
                .first()
                .map(|b| super::backend_key(b, ns))
                .unwrap_or_else(|| "-".into());
            Some((format!("{h}: {v}"), to))
        })
        .collect()
}

/// Rebuild `spec.rules` from the live ones with the target's traffic: live user rules out, the default rule's
/// backendRefs (or the whole default rule, when the live route has none) from the target, the target's user rules
/// back at their positions.
fn restored_rules(kind: RouteKind, live: &[Value], target: &Revision) -> Vec<Value> {
    let mut rules: Vec<Value> = live
        .iter()
        .filter(|r| kind.user_rule_of(r).is_none())
        .cloned()
        .collect();
    let probe = |rules: &[Value]| kind.default_rule_index(&json!({"spec": {"rules": rules}}));
    match (&target.state.default_rule, probe(&rules)) {
        (Some(t), Some(d)) => match t.rule.get("backendRefs") {
            Some(refs) => rules[d]["backendRefs"] = refs.clone(),
            None => {
                if let Some(o) = rules[d].as_object_mut() {
                    o.shift_remove("backendRefs");
                }
            }
        },
        (Some(t), None) => {
            let before = target.state.user_rules.iter().filter(|u| u.index < t.index).count();
            let at = t.index.saturating_sub(before).min(rules.len());
            rules.insert(at, t.rule.clone());
        }
        (None, Some(d)) => {
            rules.remove(d);
        }
        (None, None) => {}
    }
    let mut users = target.state.user_rules.clone();
    users.sort_by_key(|u| u.index);
    for u in users {
        let at = u.index.min(rules.len());
        rules.insert(at, u.rule);
    }
    rules
}

/// Plan `kubectl mesh undo SERVICE [--to-revision N]`.
pub fn plan_restore(snap: &RouteSnapshot, req: &RestoreRequest) -> Result<RestorePlan, PlanError> {
    let state = &snap.state;
    // The same refusals as shift: a route Istio would ignore (ambient mode without a usable waypoint, a parentRef
    // group it ignores, a headless parent) is not restored without --force.
    let mut warnings = Vec::new();
    let (parent, _) = parent_service_linted(snap, RouteKind::Http, req.force, &mut warnings)?;
    let (kind, existing) = select_route(snap, req.kind, req.route_name.as_deref(), req.force, &mut warnings)?;
    let lint = lint::waypoint(snap, parent, &mut warnings);
    lint::forced(lint, req.force, &mut warnings)?;
    let Some(live) = existing else {
        return Err(PlanError::NoRoute {
            service: snap.service.clone(),
            namespace: state.namespace.clone(),
        });
    };
    let name = route_name(live).to_string();
    let (view, _) = history_view(live, req.force)?;
    let current = view.last().cloned().ok_or_else(|| PlanError::NothingToUndo {
        kind,
        route: name.clone(),
        namespace: state.namespace.clone(),
        created: false,
    })?;
    let target = match req.to_revision {
        Some(n) => view
            .iter()
            .find(|r| r.revision == n)
            .cloned()
            .ok_or_else(|| PlanError::RevisionNotFound {
                kind,
                route: name.clone(),
                revision: n,
                known: view.iter().map(|r| r.revision).collect(),
            })?,
        None if view.len() < 2 => {
            return Err(PlanError::NothingToUndo {
                kind,
                route: name.clone(),
                namespace: state.namespace.clone(),
                created: view.first().is_some_and(|r| r.created),
            })
        }
        None => view[view.len() - 2].clone(),
    };
    let live_state = traffic_state(live);
    let before = shares(state, &snap.service, &live_state.default_refs());
    let edit = |route: Value, noop: bool, warnings: Vec<String>| RouteEdit {
        namespace: state.namespace.clone(),
        kind,
        route_name: name.clone(),
        create: false,
        route,
        services_to_create: Vec::new(),
        noop,
        warnings,
    };
    if target.state.equivalent(&live_state, kind) {
        return Ok(RestorePlan {
            edit: edit(live.clone(), true, Vec::new()),
            to_revision: target.revision,
            from_revision: current.revision,
            after: before.clone(),
            before,
            user_changes: Vec::new(),
        });
    }
    let live_rules = live
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let rules = restored_rules(kind, &live_rules, &target);
    if rules.is_empty() {
        return Err(PlanError::RouteFull {
            kind,
            route: name,
            reason: "the restored route would have no rules".into(),
        });
    }
    let receiving = target
        .state
        .default_refs()
        .into_iter()
        .chain(target.state.user_rules.iter().flat_map(|u| refs_of(&u.rule)));
    let receiving: Vec<Value> = receiving.collect();
    check_backend_refs(snap, &receiving, req.force || req.skip_ready)?;
    warnings.extend(check_gitops(Some(live), kind, req.force, req.gitops_ok)?);

    let mut route = live.clone();
    route["spec"]["rules"] = Value::Array(rules);
    let after = shares(state, &snap.service, &target.state.default_refs());
    let was = user_summary(kind, &state.namespace, &live_state.user_rules);
    let will = user_summary(kind, &state.namespace, &target.state.user_rules);
    let mut user_changes = Vec::new();
    for (who, to) in &will {
        match was.iter().find(|(w, _)| w == who) {
            Some((_, old)) if old == to => {}
            _ => user_changes.push(format!("{who} → {to} (restored)")),
        }
    }
    for (who, _) in &was {
        if !will.iter().any(|(w, _)| w == who) {
            user_changes.push(format!("{who} (removed)"));
        }
    }
    Ok(RestorePlan {
        edit: edit(route, false, warnings),
        to_revision: target.revision,
        from_revision: current.revision,
        before,
        after,
        user_changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::testutil::*;
    use crate::route::{plan_route_user, plan_shift, record_history, RouteUserRequest, ShiftRequest, WriteMeta};

    fn meta(c: &str) -> WriteMeta {
        WriteMeta {
            time: "2026-08-22T10:00:00Z".into(),
            manager: "kubectl-mesh".into(),
            command: c.into(),
            force: false,
        }
    }

    /// Apply a plan the way the command does: record history, then "store" it.
    fn write(route: &Value, mut planned: Value, c: &str) -> Value {
        record_history(Some(route), &mut planned, &meta(c)).unwrap();
        planned
    }

    fn shift(route: &Value, w: &[&str]) -> Value {
        let snap = bookinfo(vec![route.clone()], true);
        let args: Vec<String> = w.iter().map(|s| s.to_string()).collect();
        let plan = plan_shift(&snap, &ShiftRequest::new("reviews", &args).unwrap()).unwrap();
        write(route, plan.edit.route, "shift")
    }

    fn user(route: &Value, who: &str, v: &str) -> Value {
        let snap = bookinfo(vec![route.clone()], true);
        let req = RouteUserRequest::new("reviews", who, Some(v), None, false).unwrap();
        let plan = plan_route_user(&snap, &req).unwrap();
        write(route, plan.edit.route, "route-user")
    }

    fn undo(route: &Value, to: Option<u64>) -> Result<RestorePlan, PlanError> {
        let snap = bookinfo(vec![route.clone()], true);
        plan_restore(&snap, &RestoreRequest::new("reviews", to).unwrap())
    }

    #[test]
    fn undo_restores_the_rules_of_the_revision_exactly() {
        let start = route_with_user_rule();
        let r1 = shift(&start, &["v3=100"]);
        let r2 = user(&r1, "vijay", "v2");
        let r3 = user(&r2, "jason", "v3");
        let plan = undo(&r3, Some(1)).unwrap();
        assert_eq!(plan.to_revision, 1);
        assert_eq!(
            serde_json::to_string(&plan.edit.route["spec"]["rules"]).unwrap(),
            serde_json::to_string(&start["spec"]["rules"]).unwrap()
        );
        assert!(
            plan.user_changes.contains(&"end-user: vijay (removed)".to_string()),
            "{:?}",
            plan.user_changes
        );
        assert!(plan
            .user_changes
            .contains(&"end-user: jason → reviews-v2 (restored)".to_string()));
        assert_valid_everywhere(&plan.edit.route);
    }

    #[test]
    fn undo_twice_goes_back_and_forth() {
        let start = route_v1();
        let a = shift(&start, &["v1=50", "v3=50"]);
        let plan = undo(&a, None).unwrap();
        assert_eq!(plan.to_revision, 1);
        let b = write(&a, plan.edit.route, "undo");
        assert_eq!(traffic_state(&b).default_refs(), traffic_state(&start).default_refs());
        let plan = undo(&b, None).unwrap();
        assert_eq!(plan.to_revision, 2, "back to the state just left");
        let c = write(&b, plan.edit.route, "undo");
        assert_eq!(traffic_state(&c).default_refs(), traffic_state(&a).default_refs());
    }

    #[test]
    fn nothing_to_undo_and_unknown_revisions_are_refused() {
        let err = undo(&route_v1(), None).unwrap_err();
        assert!(
            matches!(err, PlanError::NothingToUndo { created: false, .. }),
            "{err:?}"
        );
        let mut created = route_v1();
        record_history(None, &mut created, &meta("shift")).unwrap();
        let err = undo(&created, None).unwrap_err();
        assert!(matches!(err, PlanError::NothingToUndo { created: true, .. }), "{err:?}");
        assert!(err
            .hint()
            .unwrap()
            .contains("kubectl delete httproute reviews -n bookinfo"));
        let a = shift(&route_v1(), &["v3=100"]);
        let err = undo(&a, Some(99)).unwrap_err();
        assert!(
            matches!(err, PlanError::RevisionNotFound { ref known, .. } if known == &vec![1, 2]),
            "{err:?}"
        );
        // The current revision itself: nothing to change.
        let plan = undo(&a, Some(2)).unwrap();
        assert!(plan.edit.noop);
    }

    #[test]
    fn undo_checks_backends_like_shift() {
        let a = shift(&route_v1(), &["v3=100"]);
        let mut snap = bookinfo(vec![a.clone()], true);
        snap.state.ready_endpoints.insert("reviews-v1".into(), 0);
        let req = RestoreRequest::new("reviews", None).unwrap();
        assert!(matches!(
            plan_restore(&snap, &req),
            Err(PlanError::BackendUnready { .. })
        ));
        let mut forced = req.clone();
        forced.force = true;
        assert!(plan_restore(&snap, &forced).is_ok());
        snap.state.services.retain(|s| s.name != "reviews-v1");
        assert!(matches!(
            plan_restore(&snap, &forced),
            Err(PlanError::BackendMissing { .. })
        ));
    }

    #[test]
    fn a_path_rule_added_later_stays_where_it_is() {
        let start = route_with_user_rule();
        let mut r1 = user(&start, "vijay", "v3");
        // Someone adds a path rule between the user rules and the default rule.
        let path = json!({"matches": [{"path": {"type": "PathPrefix", "value": "/v2"}}],
            "backendRefs": [{"name": "reviews-v2", "port": 9080}]});
        r1["spec"]["rules"].as_array_mut().unwrap().insert(2, path.clone());
        let plan = undo(&r1, Some(1)).unwrap();
        let rules = plan.edit.route["spec"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 3);
        assert!(RouteKind::Http.is_user_rule(&rules[0], "end-user", "jason"));
        assert_eq!(rules[1], path);
        assert!(RouteKind::Http.is_default_rule(&rules[2]));
    }
}
