//! `kubectl mesh route-user`: send one user's requests (header `end-user: USER`, Exact) to a
//! chosen version, before the default rule, without touching anyone else's traffic.
//!
//! A route that does not exist yet is created with the user rule plus a default rule whose
//! backend is the parent Service itself (`{name: SERVICE, port}`): everyone else keeps going
//! exactly where they went before (all of the Service's pods).

use serde::Serialize;
use serde_json::{json, Value};

use super::shift::same_split;
use super::{
    backend_key, check_gitops, default_rule_index, lint, new_mesh_route, parent_service, parent_service_linted,
    resolve_backend, route_name, select_route, PlanError, RouteEdit, RouteKind, RouteSnapshot, RouteUserRequest,
    MAX_RULES,
};

/// What `route-user` will write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteUserPlan {
    /// What to write.
    #[serde(flatten)]
    pub edit: RouteEdit,
    /// The backend Service the user is sent to (`None` when removing).
    pub backend: Option<String>,
    /// One line saying what happens, e.g. `end-user: jason → reviews-v2 (added)`.
    pub message: String,
}

impl AsRef<RouteEdit> for RouteUserPlan {
    fn as_ref(&self) -> &RouteEdit {
        &self.edit
    }
}

impl AsMut<RouteEdit> for RouteUserPlan {
    fn as_mut(&mut self) -> &mut RouteEdit {
        &mut self.edit
    }
}

/// Whether an HTTPRoute rule is the user rule for `header: value`: one match whose only condition is
/// that header (Exact), besides the defaulted PathPrefix "/" path. ([`RouteKind::is_user_rule`] for gRPC.)
pub fn is_user_rule(rule: &Value, header: &str, value: &str) -> bool {
    RouteKind::Http.is_user_rule(rule, header, value)
}

/// Plan `kubectl mesh route-user SERVICE USER VERSION` (or `--remove`).
///
/// Whatever it does, the route it leaves has a rule that matches every request: a mesh route without one
/// rejects every request none of its rules match (Gateway API mesh docs), so route-user appends one sending
/// everyone else to the Service itself when the route has none.
pub fn plan_route_user(snap: &RouteSnapshot, req: &RouteUserRequest) -> Result<RouteUserPlan, PlanError> {
    let state = &snap.state;
    let removing = req.remove || req.version.is_none();
    let mut warnings = Vec::new();
    // Removing a rule is always safe: only the choice of the route can refuse it.
    let (parent, _) = if removing {
        parent_service(snap, RouteKind::Http)?
    } else {
        parent_service_linted(snap, RouteKind::Http, req.force, &mut warnings)?
    };
    let (kind, existing) = select_route(snap, req.kind, req.route_name.as_deref(), req.force, &mut warnings)?;
    let (_, port) = parent_service(snap, kind)?;
    let name = existing
        .map(|r| route_name(r).to_string())
        .unwrap_or_else(|| snap.service.clone());
    let who = format!("{}: {}", req.header, req.user);
    let rules: Vec<Value> = existing
        .and_then(|r| r.pointer("/spec/rules"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let matching: Vec<usize> = rules
        .iter()
        .enumerate()
        .filter(|(_, r)| kind.is_user_rule(r, &req.header, &req.user))
        .map(|(i, _)| i)
        .collect();

    // Every outcome goes through here: the route keeps a rule that matches every request, and a GitOps-managed
    // route is refused (unless --force) before anything is written.
    let plan = |route: Value,
                backend: Option<String>,
                services: Vec<Value>,
                noop: bool,
                message: String,
                mut warnings: Vec<String>|
     -> Result<RouteUserPlan, PlanError> {
        let (route, noop, message) = ensure_catch_all(kind, route, noop, message, &snap.service, port, &name)?;
        if !noop {
            warnings.extend(check_gitops(existing, kind, req.force, req.gitops_ok)?);
        }
        Ok(RouteUserPlan {
            edit: RouteEdit {
                namespace: state.namespace.clone(),
                kind,
                route_name: name.clone(),
                create: existing.is_none() && !noop,
                route,
                services_to_create: if noop { Vec::new() } else { services },
                noop,
                warnings,
            },
            backend,
            message,
        })
    };

    let version = match (&req.version, removing) {
        (Some(v), false) => v,
        _ => {
            let Some(route) = existing.filter(|_| !matching.is_empty()) else {
                return plan(
                    existing.cloned().unwrap_or(Value::Null),
                    None,
                    Vec::new(),
                    true,
                    format!("no rule for {who} in {kind} {name}; nothing to remove"),
                    warnings,
                );
            };
            let mut route = route.clone();
            let kept: Vec<Value> = rules
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !matching.contains(i))
                .map(|(_, r)| r)
                .collect();
            let message = format!("removed the rule for {who} from {kind} {name}");
            route["spec"]["rules"] = Value::Array(kept);
            return plan(route, None, Vec::new(), false, message, warnings);
        }
    };

    let (backend, create) = resolve_backend(snap, parent, version, req.force, req.create_backends)?;
    let lint = lint::waypoint(snap, parent, &mut warnings);
    lint::forced(lint, req.force, &mut warnings)?;
    let target = json!({"name": backend, "port": port, "weight": 100});
    let services: Vec<Value> = create.into_iter().collect();

    let Some(existing_route) = existing else {
        let default = json!({"backendRefs": [{"name": snap.service, "port": port}]});
        let route = new_mesh_route(
            snap,
            kind,
            port,
            vec![kind.user_rule(&req.header, &req.user, target), default],
        );
        return plan(
            route,
            Some(backend.clone()),
            services,
            false,
            format!(
                "{who} → {backend} (new {kind} {name}; everyone else → {})",
                snap.service
            ),
            warnings,
        );
    };

    let mut route = existing_route.clone();
    if let Some(&first) = matching.first() {
        let current: Vec<Value> = rules[first]
            .get("backendRefs")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let pointed = current.len() == 1 && backend_key(&current[0], &state.namespace) == backend;
        if matching.len() == 1 && pointed && same_split(&current, std::slice::from_ref(&target), &state.namespace) {
            return plan(
                route,
                Some(backend.clone()),
                Vec::new(),
                true,
                format!("{who} already goes to {backend}"),
                warnings,
            );
        }
        let mut new_rules: Vec<Value> = Vec::new();
        for (i, mut r) in rules.into_iter().enumerate() {
            if i == first {
                // Keep an existing ref to the same Service (with its filters); else replace.
                r["backendRefs"] = if pointed { json!([current[0]]) } else { json!([target]) };
                new_rules.push(r);
            } else if !matching.contains(&i) {
                new_rules.push(r);
            }
        }
        route["spec"]["rules"] = Value::Array(new_rules);
        return plan(
            route,
            Some(backend.clone()),
            services,
            false,
            format!("{who} → {backend} (rule updated in {kind} {name})"),
            warnings,
        );
    }

    if rules.len() >= MAX_RULES {
        return Err(PlanError::RouteFull {
            kind,
            route: name,
            reason: format!("it already has {MAX_RULES} rules"),
        });
    }
    let at = default_rule_index(existing_route).unwrap_or(rules.len());
    let mut new_rules = rules;
    new_rules.insert(at, kind.user_rule(&req.header, &req.user, target));
    route["spec"]["rules"] = Value::Array(new_rules);
    plan(
        route,
        Some(backend.clone()),
        services,
        false,
        format!("{who} → {backend} (rule added to {kind} {name})"),
        warnings,
    )
}

/// Append a rule sending everyone to the Service itself when no rule of the route matches every request (an
/// empty rule list included: `rules: []` is invalid from Gateway API v1.1 on, `minItems: 1`).
fn ensure_catch_all(
    kind: RouteKind,
    mut route: Value,
    noop: bool,
    mut message: String,
    service: &str,
    port: i32,
    name: &str,
) -> Result<(Value, bool, String), PlanError> {
    let Some(rules) = route.pointer_mut("/spec/rules").and_then(Value::as_array_mut) else {
        return Ok((route, noop, message));
    };
    if rules.iter().any(|r| kind.matches_every_request(r)) {
        return Ok((route, noop, message));
    }
    if rules.len() >= MAX_RULES {
        return Err(PlanError::RouteFull {
            kind,
            route: name.to_string(),
            reason: format!("it has {MAX_RULES} rules and none matches every request, so no default rule can be added"),
        });
    }
    let was_empty = rules.is_empty();
    rules.push(json!({"backendRefs": [{"name": service, "port": port}]}));
    if was_empty {
        message.push_str(&format!("; no rule was left, so everyone goes to {service}"));
    } else {
        message.push_str(&format!(
            "; added a default rule sending everyone else to {service} (the route had none, so their requests were rejected)"
        ));
    }
    Ok((route, false, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::testutil::*;

    fn req(user: &str, version: Option<&str>) -> RouteUserRequest {
        RouteUserRequest::new("reviews", user, version, None, version.is_none()).unwrap()
    }

    fn rule_backend(rule: &Value) -> String {
        backend_key(&rule["backendRefs"][0], "bookinfo")
    }

    #[test]
    fn route_user_adds_rule_before_default() {
        let snap = bookinfo(vec![route_v1()], true);
        let plan = plan_route_user(&snap, &req("vijay", Some("v2"))).unwrap();
        assert!(!plan.edit.noop && !plan.edit.create);
        let rules = plan.edit.route["spec"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(
            rules[0]["matches"],
            json!([{"headers": [{"type": "Exact", "name": "end-user", "value": "vijay"}]}])
        );
        assert_eq!(rule_backend(&rules[0]), "reviews-v2");
        assert_eq!(rules[1], route_v1()["spec"]["rules"][0]);
        assert_eq!(default_rule_index(&plan.edit.route), Some(1));
        assert_valid_everywhere(&plan.edit.route);
    }

    #[test]
    fn route_user_is_idempotent_after_api_server_defaulting() {
        let snap = bookinfo(vec![route_v1()], true);
        let plan = plan_route_user(&snap, &req("vijay", Some("v2"))).unwrap();
        let mut stored = plan.edit.route.clone();
        if let Some(s) = v1_0_0_opt() {
            s.default(&mut stored);
        }
        let snap2 = bookinfo(vec![stored.clone()], true);
        let again = plan_route_user(&snap2, &req("vijay", Some("v2"))).unwrap();
        assert!(again.edit.noop, "{}", again.message);
        assert_eq!(again.edit.route, stored);
    }

    #[test]
    fn route_user_repoints_only_that_users_backend() {
        let route = route_with_user_rule();
        let snap = bookinfo(vec![route.clone()], true);
        let plan = plan_route_user(&snap, &req("jason", Some("v3"))).unwrap();
        let rules = plan.edit.route["spec"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rule_backend(&rules[0]), "reviews-v3");
        // Filters and matches of the user rule survive; the default rule is untouched.
        assert_eq!(rules[0]["filters"], route["spec"]["rules"][0]["filters"]);
        assert_eq!(rules[0]["matches"], route["spec"]["rules"][0]["matches"]);
        assert_eq!(rules[1], route["spec"]["rules"][1]);
        assert_valid_everywhere(&plan.edit.route);
    }

    #[test]
    fn route_user_keeps_each_users_rule() {
        let snap = bookinfo(vec![route_with_user_rule()], true);
        let plan = plan_route_user(&snap, &req("vijay", Some("v3"))).unwrap();
        let rules = plan.edit.route["spec"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 3);
        assert!(is_user_rule(&rules[0], "end-user", "jason"));
        assert!(is_user_rule(&rules[1], "end-user", "vijay"));
        assert!(crate::route::is_default_rule(&rules[2]));
        assert_valid_everywhere(&plan.edit.route);
    }

    #[test]
    fn route_user_header_name_matches_case_insensitively() {
        let snap = bookinfo(vec![route_with_user_rule()], true);
        let r = RouteUserRequest::new("reviews", "jason", Some("v2"), Some("End-User"), false).unwrap();
        let plan = plan_route_user(&snap, &r).unwrap();
        assert!(plan.edit.noop);
    }

    #[test]
    fn route_user_remove_drops_only_that_rule() {
        let mut route = route_with_user_rule();
        let vijay = json!({"matches": [{"headers": [{"type": "Exact", "name": "end-user", "value": "vijay"}]}],
                           "backendRefs": [{"name": "reviews-v3", "port": 9080}]});
        route["spec"]["rules"].as_array_mut().unwrap().insert(1, vijay.clone());
        let snap = bookinfo(vec![route.clone()], true);
        let plan = plan_route_user(&snap, &req("jason", None)).unwrap();
        assert!(!plan.edit.noop);
        let rules = plan.edit.route["spec"]["rules"].as_array().unwrap();
        assert_eq!(rules, &vec![vijay, route["spec"]["rules"][2].clone()]);
        let again = plan_route_user(&bookinfo(vec![plan.edit.route.clone()], true), &req("jason", None)).unwrap();
        assert!(again.edit.noop);
        assert!(again.message.contains("nothing to remove"));
    }

    #[test]
    fn route_user_remove_of_the_only_rule_sends_everyone_to_the_service() {
        // Found by the plan_shift fuzz target: the plan wrote `rules: []`, which Gateway API
        // v1.1+ rejects (spec.rules minItems 1).
        let mut route = route_with_user_rule();
        route["spec"]["rules"].as_array_mut().unwrap().truncate(1);
        let snap = bookinfo(vec![route], true);
        let plan = plan_route_user(&snap, &req("jason", None)).unwrap();
        assert!(!plan.edit.noop && !plan.edit.create);
        assert_eq!(
            plan.edit.route["spec"]["rules"],
            json!([{"backendRefs": [{"name": "reviews", "port": 9080}]}])
        );
        assert!(plan.message.contains("everyone goes to reviews"), "{}", plan.message);
        assert_valid_everywhere(&plan.edit.route);
    }

    #[test]
    fn route_user_remove_without_route_is_noop() {
        let snap = bookinfo(vec![], true);
        let plan = plan_route_user(&snap, &req("jason", None)).unwrap();
        assert!(plan.edit.noop && !plan.edit.create);
        assert!(plan.message.contains("nothing to remove"));
    }

    #[test]
    fn route_user_new_route_keeps_everyone_else_on_the_service() {
        let snap = bookinfo(vec![], false);
        let plan = plan_route_user(&snap, &req("jason", Some("v2"))).unwrap();
        assert!(plan.edit.create);
        assert_eq!(
            plan.edit.route["spec"]["parentRefs"],
            json!([{"group": "", "kind": "Service", "name": "reviews"}])
        );
        let rules = plan.edit.route["spec"]["rules"].as_array().unwrap();
        assert_eq!(rule_backend(&rules[0]), "reviews-v2");
        assert_eq!(rules[1], json!({"backendRefs": [{"name": "reviews", "port": 9080}]}));
        assert_valid_everywhere(&plan.edit.route);
    }

    #[test]
    fn route_user_does_not_confuse_other_matches() {
        let mut route = route_v1();
        let other = json!({"matches": [{"headers": [{"type": "Exact", "name": "end-user", "value": "jason"},
                                                    {"name": "x-debug", "value": "1"}]}],
                           "backendRefs": [{"name": "reviews-v3", "port": 9080}]});
        route["spec"]["rules"].as_array_mut().unwrap().insert(0, other.clone());
        let snap = bookinfo(vec![route], true);
        let plan = plan_route_user(&snap, &req("jason", Some("v2"))).unwrap();
        let rules = plan.edit.route["spec"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0], other);
        assert!(is_user_rule(&rules[1], "end-user", "jason"));
    }

    #[test]
    fn route_user_refuses_when_route_is_full() {
        let mut route = route_v1();
        let rules = route["spec"]["rules"].as_array_mut().unwrap();
        for i in 0..15 {
            rules.insert(
                0,
                json!({"matches": [{"path": {"type": "PathPrefix", "value": format!("/p{i}")}}],
                                   "backendRefs": [{"name": "reviews-v1", "port": 9080}]}),
            );
        }
        let snap = bookinfo(vec![route], true);
        let err = plan_route_user(&snap, &req("jason", Some("v2"))).unwrap_err();
        assert!(matches!(err, PlanError::RouteFull { .. }));
        assert!(err.hint().is_some());
    }

    #[test]
    fn route_user_checks_backends_like_shift() {
        let mut snap = bookinfo(vec![route_v1()], true);
        let err = plan_route_user(&snap, &req("jason", Some("v7"))).unwrap_err();
        assert!(matches!(err, PlanError::BackendMissing { .. }));
        snap.state.ready_endpoints.insert("reviews-v2".into(), 0);
        let err = plan_route_user(&snap, &req("jason", Some("v2"))).unwrap_err();
        assert!(matches!(err, PlanError::BackendUnready { .. }));
        let mut r = req("jason", Some("v2"));
        r.force = true;
        assert!(plan_route_user(&snap, &r).is_ok());
    }
}
