//! `kubectl mesh shift`: plan a weighted split on the default rule of a Service's mesh route.
//!
//! Only the default (catch-all) rule changes; user rules, filters, timeouts and unknown
//! fields stay byte-identical. Weights written are percents summing to 100. When the request
//! sums to less than 100, the rest is spread over the rule's other current backends in
//! proportion to their current weights (largest-remainder rounding).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use super::{
    backend_key, backend_ref, backend_weight, check_gitops, default_rule_index, lint, new_mesh_route, parent_service,
    parent_service_linted, resolve_backend, route_name, select_route, version_of, NamespaceState, PlanError, RouteEdit,
    RouteKind, RouteSnapshot, ShiftRequest, MAX_BACKEND_REFS, MAX_RULES,
};

/// One backend of a rule with its relative weight and the share of traffic that means.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackendShare {
    pub service: String,
    pub version: Option<String>,
    pub weight: u32,
    /// Percent of the rule's traffic (weights are relative: 1/1 is 50/50).
    pub percent: f64,
}

/// What `shift` will write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShiftPlan {
    /// What to write (`noop`: the split is already in place).
    #[serde(flatten)]
    pub edit: RouteEdit,
    /// Backends of the default rule before and after.
    pub before: Vec<BackendShare>,
    pub after: Vec<BackendShare>,
}

impl AsRef<RouteEdit> for ShiftPlan {
    fn as_ref(&self) -> &RouteEdit {
        &self.edit
    }
}

impl AsMut<RouteEdit> for ShiftPlan {
    fn as_mut(&mut self) -> &mut RouteEdit {
        &mut self.edit
    }
}

/// Shares of a list of backendRefs.
pub(crate) fn shares(state: &NamespaceState, parent: &str, refs: &[Value]) -> Vec<BackendShare> {
    let total: u64 = refs.iter().map(backend_weight).sum();
    refs.iter()
        .map(|r| {
            let service = backend_key(r, &state.namespace);
            let w = backend_weight(r);
            BackendShare {
                version: version_of(state, parent, &service),
                service,
                weight: u32::try_from(w).unwrap_or(u32::MAX),
                percent: if total == 0 {
                    0.0
                } else {
                    w as f64 * 100.0 / total as f64
                },
            }
        })
        .collect()
}

/// Split `total` over `weights` proportionally; integers summing to `total` (largest
/// remainder, ties to the earlier entry). All-zero weights give all zeros.
pub(crate) fn largest_remainder(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u64 = weights.iter().sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut out: Vec<u64> = weights.iter().map(|w| total * w / sum).collect();
    let mut rems: Vec<(u64, usize)> = weights.iter().enumerate().map(|(i, w)| (total * w % sum, i)).collect();
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let given: u64 = out.iter().sum();
    for (_, i) in rems.iter().take((total - given) as usize) {
        out[*i] += 1;
    }
    out
}

/// Whether two backend lists send the same shares to the same backends.
pub(crate) fn same_split(a: &[Value], b: &[Value], ns: &str) -> bool {
    let map = |refs: &[Value]| {
        let mut m: BTreeMap<String, u64> = BTreeMap::new();
        for r in refs {
            *m.entry(backend_key(r, ns)).or_insert(0) += backend_weight(r);
        }
        m.retain(|_, w| *w > 0);
        m
    };
    let (ma, mb) = (map(a), map(b));
    let (sa, sb): (u64, u64) = (ma.values().sum(), mb.values().sum());
    if sa == 0 || sb == 0 {
        return sa == sb && a.len() == b.len();
    }
    ma.len() == mb.len()
        && ma.iter().all(|(k, wa)| {
            // u128: the cross products of many maximal weights do not fit in u64.
            mb.get(k)
                .is_some_and(|wb| u128::from(*wa) * u128::from(sb) == u128::from(*wb) * u128::from(sa))
        })
}

/// Plan `kubectl mesh shift SERVICE VERSION=PERCENT…`.
pub fn plan_shift(snap: &RouteSnapshot, req: &ShiftRequest) -> Result<ShiftPlan, PlanError> {
    let state = &snap.state;
    let mut warnings = Vec::new();
    let (parent, _) = parent_service_linted(snap, RouteKind::Http, req.force, &mut warnings)?;
    let (kind, existing) = select_route(snap, req.kind, req.route_name.as_deref(), req.force, &mut warnings)?;
    let (_, port) = parent_service(snap, kind)?;

    // Resolve versions to Services; only backends that will receive traffic are checked.
    let mut requested: Vec<(String, u64)> = Vec::new();
    let mut services_to_create = Vec::new();
    for (version, pct) in &req.weights {
        let name = if *pct > 0 {
            let (name, create) = resolve_backend(snap, parent, version, req.force, req.create_backends)?;
            services_to_create.extend(create);
            name
        } else if state.service(version).is_some() {
            version.clone()
        } else {
            format!("{}-{}", snap.service, version)
        };
        match requested.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 += u64::from(*pct),
            None => requested.push((name, u64::from(*pct))),
        }
    }
    let sum: u64 = requested.iter().map(|(_, w)| w).sum();
    // A route Istio would ignore (ambient mode without a usable waypoint) is refused, even when nothing changes:
    // the user asked for traffic to move, and it would not.
    let lint = lint::waypoint(snap, parent, &mut warnings);
    lint::forced(lint, req.force, &mut warnings)?;

    let default_idx = existing.and_then(default_rule_index);
    // Only objects are backendRefs; anything else in the list is dropped when rewriting it.
    let current: Vec<Value> = match (existing, default_idx) {
        (Some(r), Some(i)) => r
            .pointer(&format!("/spec/rules/{i}/backendRefs"))
            .and_then(Value::as_array)
            .map(|refs| refs.iter().filter(|r| r.is_object()).cloned().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };

    // The rest (100 - sum) goes to the current backends that were not named.
    let others: Vec<(String, u64)> = current
        .iter()
        .map(|r| (backend_key(r, &state.namespace), backend_weight(r)))
        .filter(|(k, _)| !requested.iter().any(|(n, _)| n == k))
        .collect();
    let mut new_weight: BTreeMap<String, u64> = requested.iter().cloned().collect();
    if sum < 100 {
        let other_weights: Vec<u64> = others.iter().map(|(_, w)| *w).collect();
        if other_weights.iter().sum::<u64>() == 0 {
            return Err(PlanError::NoOtherBackends {
                service: snap.service.clone(),
                sum: u32::try_from(sum).unwrap_or(100),
            });
        }
        let spread = largest_remainder(100 - sum, &other_weights);
        for ((k, _), w) in others.iter().zip(spread) {
            *new_weight.entry(k.clone()).or_insert(0) += w;
        }
    }

    // Keep current refs (and their extra fields) in order; append new backends after them.
    let mut refs: Vec<Value> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for r in &current {
        let k = backend_key(r, &state.namespace);
        if seen.contains(&k) {
            continue;
        }
        seen.push(k.clone());
        let w = new_weight.get(&k).copied().unwrap_or(0);
        if w > 0 {
            let mut r = r.clone();
            r["weight"] = json!(w);
            refs.push(r);
        }
    }
    for (name, w) in &requested {
        if *w > 0 && !seen.contains(name) {
            refs.push(backend_ref(name, port, u32::try_from(*w).unwrap_or(100)));
        }
    }

    let name = existing
        .map(|r| route_name(r).to_string())
        .unwrap_or_else(|| snap.service.clone());
    if refs.len() > MAX_BACKEND_REFS {
        return Err(PlanError::RouteFull {
            kind,
            route: name,
            reason: format!("a rule holds at most {MAX_BACKEND_REFS} backends"),
        });
    }

    let before = shares(state, &snap.service, &current);
    let noop = default_idx.is_some() && same_split(&current, &refs, &state.namespace);
    let route = match existing {
        Some(r) if noop => r.clone(),
        Some(r) => {
            let mut route = r.clone();
            if !route.pointer("/spec/rules").is_some_and(Value::is_array) {
                route["spec"]["rules"] = json!([]);
            }
            match default_idx {
                Some(i) => route["spec"]["rules"][i]["backendRefs"] = Value::Array(refs.clone()),
                None => {
                    let n = route["spec"]["rules"].as_array().map_or(0, Vec::len);
                    if n >= MAX_RULES {
                        return Err(PlanError::RouteFull {
                            kind,
                            route: name,
                            reason: format!("it has {MAX_RULES} rules and no default rule to change"),
                        });
                    }
                    if let Some(a) = route["spec"]["rules"].as_array_mut() {
                        a.push(json!({"backendRefs": refs.clone()}));
                    }
                }
            }
            route
        }
        None => new_mesh_route(snap, kind, port, vec![json!({"backendRefs": refs.clone()})]),
    };
    if !noop {
        warnings.extend(check_gitops(existing, kind, req.force, req.gitops_ok)?);
    }
    let after = if noop {
        before.clone()
    } else {
        shares(state, &snap.service, &refs)
    };
    Ok(ShiftPlan {
        edit: RouteEdit {
            namespace: state.namespace.clone(),
            kind,
            route_name: name,
            create: existing.is_none(),
            route,
            services_to_create: if noop { Vec::new() } else { services_to_create },
            noop,
            warnings,
        },
        before,
        after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::testutil::*;

    fn req(weights: &[(&str, u32)]) -> ShiftRequest {
        ShiftRequest {
            service: "reviews".into(),
            weights: weights.iter().map(|(v, w)| (v.to_string(), *w)).collect(),
            route_name: None,
            force: false,
            create_backends: false,
            kind: None,
            gitops_ok: false,
        }
    }

    fn default_backends(route: &Value) -> Vec<(String, u64)> {
        let i = default_rule_index(route).unwrap();
        route["spec"]["rules"][i]["backendRefs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (backend_key(r, "bookinfo"), backend_weight(r)))
            .collect()
    }

    fn pairs(p: &[(&str, u64)]) -> Vec<(String, u64)> {
        p.iter().map(|(k, w)| (k.to_string(), *w)).collect()
    }

    #[test]
    fn largest_remainder_sums_exactly() {
        assert_eq!(largest_remainder(80, &[50, 50]), vec![40, 40]);
        assert_eq!(largest_remainder(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(largest_remainder(90, &[1]), vec![90]);
        assert_eq!(largest_remainder(10, &[1, 2, 3, 4]).iter().sum::<u64>(), 10);
        assert_eq!(largest_remainder(7, &[0, 0]), vec![0, 0]);
    }

    #[test]
    fn shift_from_single_version_with_partial_weights_gives_rest_to_it() {
        let snap = bookinfo(vec![route_v1()], true);
        let plan = plan_shift(&snap, &req(&[("v3", 10)])).unwrap();
        assert!(!plan.edit.create && !plan.edit.noop);
        assert_eq!(
            default_backends(&plan.edit.route),
            pairs(&[("reviews-v1", 90), ("reviews-v3", 10)])
        );
        assert_valid_everywhere(&plan.edit.route);
    }

    #[test]
    fn shift_below_100_spreads_rest_proportionally() {
        let snap = bookinfo(vec![route_split(&[("reviews-v1", 50), ("reviews-v2", 50)])], true);
        let plan = plan_shift(&snap, &req(&[("v3", 20)])).unwrap();
        assert_eq!(
            default_backends(&plan.edit.route),
            pairs(&[("reviews-v1", 40), ("reviews-v2", 40), ("reviews-v3", 20)])
        );
        let after: Vec<f64> = plan.after.iter().map(|s| s.percent).collect();
        assert_eq!(after, vec![40.0, 40.0, 20.0]);
        assert_eq!(plan.before.len(), 2);
        assert_eq!(plan.before[0].percent, 50.0);
        assert_eq!(plan.after[2].version.as_deref(), Some("v3"));
        assert_valid_everywhere(&plan.edit.route);
    }

    #[test]
    fn shift_with_uneven_rest_rounds_to_exactly_100() {
        let snap = bookinfo(
            vec![route_split(&[("reviews-v1", 1), ("reviews-v2", 1), ("reviews-v3", 1)])],
            true,
        );
        let plan = plan_shift(&snap, &req(&[("v1", 0)])).unwrap();
        assert_eq!(
            default_backends(&plan.edit.route),
            pairs(&[("reviews-v2", 50), ("reviews-v3", 50)])
        );
        let snap = bookinfo(vec![route_split(&[("reviews-v1", 1), ("reviews-v2", 2)])], true);
        let plan = plan_shift(&snap, &req(&[("v3", 1)])).unwrap();
        let got = default_backends(&plan.edit.route);
        assert_eq!(got, pairs(&[("reviews-v1", 33), ("reviews-v2", 66), ("reviews-v3", 1)]));
        assert_eq!(got.iter().map(|(_, w)| w).sum::<u64>(), 100);
    }

    #[test]
    fn shift_to_100_removes_backends_ending_at_zero() {
        let snap = bookinfo(vec![route_split(&[("reviews-v1", 90), ("reviews-v2", 10)])], true);
        let plan = plan_shift(&snap, &req(&[("v3", 100)])).unwrap();
        assert_eq!(default_backends(&plan.edit.route), pairs(&[("reviews-v3", 100)]));
        assert_valid_everywhere(&plan.edit.route);
    }

    #[test]
    fn shift_three_versions_exact() {
        let snap = bookinfo(vec![route_v1()], true);
        let plan = plan_shift(&snap, &req(&[("v1", 34), ("v2", 33), ("v3", 33)])).unwrap();
        assert_eq!(
            default_backends(&plan.edit.route),
            pairs(&[("reviews-v1", 34), ("reviews-v2", 33), ("reviews-v3", 33)])
        );
    }

    #[test]
    fn shift_keeps_user_rules() {
        let route = route_with_user_rule();
        let user_rule_before = serde_json::to_string(&route["spec"]["rules"][0]).unwrap();
        let snap = bookinfo(vec![route.clone()], true);
        let plan = plan_shift(&snap, &req(&[("v1", 50), ("v3", 50)])).unwrap();
        let rules = plan.edit.route["spec"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(serde_json::to_string(&rules[0]).unwrap(), user_rule_before);
        assert_eq!(
            default_backends(&plan.edit.route),
            pairs(&[("reviews-v1", 50), ("reviews-v3", 50)])
        );
        assert_valid_everywhere(&plan.edit.route);
    }

    #[test]
    fn shift_preserves_unknown_fields_filters_and_annotations() {
        let mut route = route_v1();
        route["metadata"]["annotations"] = json!({"team": "books"});
        route["metadata"]["resourceVersion"] = json!("42");
        route["spec"]["futureField"] = json!({"x": 1});
        route["spec"]["rules"][0]["filters"] = json!([{"type": "RequestHeaderModifier",
            "requestHeaderModifier": {"add": [{"name": "x-a", "value": "b"}]}}]);
        route["spec"]["rules"][0]["backendRefs"][0]["filters"] = json!([{"type": "ResponseHeaderModifier",
            "responseHeaderModifier": {"remove": ["x-b"]}}]);
        let snap = bookinfo(vec![route.clone()], true);
        let plan = plan_shift(&snap, &req(&[("v1", 90), ("v2", 10)])).unwrap();
        let out = &plan.edit.route;
        assert_eq!(out["metadata"], route["metadata"]);
        assert_eq!(out["spec"]["futureField"], json!({"x": 1}));
        assert_eq!(out["spec"]["parentRefs"], route["spec"]["parentRefs"]);
        assert_eq!(out["spec"]["rules"][0]["filters"], route["spec"]["rules"][0]["filters"]);
        assert_eq!(
            out["spec"]["rules"][0]["backendRefs"][0]["filters"],
            route["spec"]["rules"][0]["backendRefs"][0]["filters"]
        );
        assert_eq!(out["spec"]["rules"][0]["backendRefs"][0]["weight"], json!(90));
    }

    #[test]
    fn shift_creates_route_when_none_exists() {
        let snap = bookinfo(vec![], true);
        let plan = plan_shift(&snap, &req(&[("v1", 90), ("v3", 10)])).unwrap();
        assert!(plan.edit.create);
        assert_eq!(plan.edit.route_name, "reviews");
        assert_eq!(
            plan.edit.route["spec"]["parentRefs"],
            json!([{"group": "", "kind": "Service", "name": "reviews", "port": 9080}])
        );
        assert_eq!(
            plan.edit.route["spec"]["rules"],
            json!([{"backendRefs": [
                {"name": "reviews-v1", "port": 9080, "weight": 90},
                {"name": "reviews-v3", "port": 9080, "weight": 10}]}])
        );
        assert_valid_everywhere(&plan.edit.route);
    }

    #[test]
    fn shift_new_route_omits_parent_port_on_v1_0_0() {
        let snap = bookinfo(vec![], false);
        let plan = plan_shift(&snap, &req(&[("v1", 100)])).unwrap();
        assert_eq!(
            plan.edit.route["spec"]["parentRefs"],
            json!([{"group": "", "kind": "Service", "name": "reviews"}])
        );
        assert!(v1_0_0().unknown_fields(&plan.edit.route).is_empty());
    }

    #[test]
    fn shift_new_route_needs_weights_summing_to_100() {
        let snap = bookinfo(vec![], true);
        let err = plan_shift(&snap, &req(&[("v3", 10)])).unwrap_err();
        assert!(matches!(err, PlanError::NoOtherBackends { sum: 10, .. }));
        assert!(err.hint().unwrap().contains("kubectl mesh shift reviews"));
    }

    #[test]
    fn shift_appends_default_rule_when_route_has_none() {
        let mut route = route_with_user_rule();
        route["spec"]["rules"].as_array_mut().unwrap().pop();
        let snap = bookinfo(vec![route.clone()], true);
        let plan = plan_shift(&snap, &req(&[("v1", 100)])).unwrap();
        let rules = plan.edit.route["spec"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0], route["spec"]["rules"][0]);
        assert_eq!(default_rule_index(&plan.edit.route), Some(1));
        assert_valid_everywhere(&plan.edit.route);
    }

    #[test]
    fn shift_uses_rule_with_catch_all_among_matches_as_default() {
        let mut route = route_v1();
        route["spec"]["rules"][0]["matches"] = json!([
            {"path": {"type": "PathPrefix", "value": "/"}},
            {"headers": [{"name": "version", "value": "one"}], "path": {"type": "PathPrefix", "value": "/"}}]);
        let snap = bookinfo(vec![route.clone()], true);
        let plan = plan_shift(&snap, &req(&[("v2", 100)])).unwrap();
        let rules = plan.edit.route["spec"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0]["matches"], route["spec"]["rules"][0]["matches"]);
        assert_eq!(default_backends(&plan.edit.route), pairs(&[("reviews-v2", 100)]));
    }

    #[test]
    fn shift_treats_same_namespace_backend_refs_as_local() {
        let mut route = route_v1();
        route["spec"]["rules"][0]["backendRefs"][0]["namespace"] = json!("bookinfo");
        let snap = bookinfo(vec![route], true);
        let plan = plan_shift(&snap, &req(&[("v1", 90), ("v2", 10)])).unwrap();
        assert_eq!(
            default_backends(&plan.edit.route),
            pairs(&[("reviews-v1", 90), ("reviews-v2", 10)])
        );
        assert_eq!(
            plan.edit.route["spec"]["rules"][0]["backendRefs"][0]["namespace"],
            "bookinfo"
        );
    }

    #[test]
    fn shift_same_split_is_noop() {
        let snap = bookinfo(vec![route_split(&[("reviews-v1", 9), ("reviews-v2", 1)])], true);
        let plan = plan_shift(&snap, &req(&[("v1", 90), ("v2", 10)])).unwrap();
        assert!(plan.edit.noop);
        assert_eq!(plan.edit.route, snap.state.routes[0]);
        let plan = plan_shift(&snap, &req(&[("v1", 80), ("v2", 20)])).unwrap();
        assert!(!plan.edit.noop);
    }

    #[test]
    fn shift_refuses_missing_backend_and_lists_existing_versions() {
        let snap = bookinfo(vec![route_v1()], true);
        let err = plan_shift(&snap, &req(&[("v4", 100)])).unwrap_err();
        match &err {
            PlanError::BackendMissing {
                service,
                existing_versions,
                ..
            } => {
                assert_eq!(service, "reviews-v4");
                assert_eq!(existing_versions, &vec!["v1", "v2", "v3"]);
            }
            other => panic!("unexpected {other:?}"),
        }
        // No pod runs v4: deploying it comes first.
        assert!(err
            .hint()
            .unwrap()
            .contains("deploy pods labelled app=reviews,version=v4"));
        // Pods of v3 exist but its Service does not: --create-backends fixes it.
        let mut snap = bookinfo(vec![route_v1()], true);
        snap.state.services.retain(|s| s.name != "reviews-v3");
        let err = plan_shift(&snap, &req(&[("v3", 100)])).unwrap_err();
        assert!(
            err.hint()
                .unwrap()
                .contains("kubectl mesh shift reviews v3=100 --create-backends"),
            "{err:?}"
        );
    }

    #[test]
    fn shift_create_backends_builds_service_from_pod_labels() {
        let mut snap = bookinfo(vec![route_v1()], true);
        snap.state.pods.push(pod("reviews-v4-abc", "reviews", "v4", true));
        let mut r = req(&[("v4", 10)]);
        r.create_backends = true;
        let plan = plan_shift(&snap, &r).unwrap();
        assert_eq!(plan.edit.services_to_create.len(), 1);
        let svc = &plan.edit.services_to_create[0];
        assert_eq!(svc["metadata"]["name"], "reviews-v4");
        assert_eq!(svc["spec"]["selector"], json!({"app": "reviews", "version": "v4"}));
        assert_eq!(svc["spec"]["ports"], json!([{"port": 9080, "name": "http"}]));
        assert_eq!(svc["metadata"]["labels"]["version"], "v4");
        assert_eq!(
            default_backends(&plan.edit.route),
            pairs(&[("reviews-v1", 90), ("reviews-v4", 10)])
        );
        // No pods of that version: nothing to select.
        let mut r = req(&[("v9", 10)]);
        r.create_backends = true;
        assert!(matches!(
            plan_shift(&snap, &r).unwrap_err(),
            PlanError::NoPodsForVersion { .. }
        ));
    }

    #[test]
    fn shift_refuses_backend_without_ready_endpoints_unless_forced() {
        let mut snap = bookinfo(vec![route_v1()], true);
        snap.state.ready_endpoints.insert("reviews-v3".into(), 0);
        let err = plan_shift(&snap, &req(&[("v3", 10)])).unwrap_err();
        assert_eq!(
            err,
            PlanError::BackendUnready {
                service: "reviews-v3".into()
            }
        );
        assert!(err.hint().unwrap().contains("--force"));
        let mut r = req(&[("v3", 10)]);
        r.force = true;
        assert!(plan_shift(&snap, &r).is_ok());
        // Removing an unready backend is always allowed.
        let snap2 = {
            let mut s = bookinfo(vec![route_split(&[("reviews-v1", 50), ("reviews-v3", 50)])], true);
            s.state.ready_endpoints.insert("reviews-v3".into(), 0);
            s
        };
        assert!(plan_shift(&snap2, &req(&[("v3", 0)])).is_ok());
    }

    #[test]
    fn shift_refuses_controller_owned_routes_unless_forced() {
        let mut route = route_v1();
        route["metadata"]["annotations"] = json!({"flagger.app/config-tracking": "enabled"});
        let snap = bookinfo(vec![route], true);
        let err = plan_shift(&snap, &req(&[("v1", 100)])).unwrap_err();
        match &err {
            PlanError::OwnedByController { owner, .. } => assert!(owner.contains("Flagger")),
            other => panic!("unexpected {other:?}"),
        }
        let mut r = req(&[("v1", 100)]);
        r.force = true;
        assert!(plan_shift(&snap, &r).is_ok());
    }

    #[test]
    fn shift_with_several_mesh_routes_asks_for_route_flag() {
        let mut a = route_v1();
        a["metadata"]["name"] = json!("reviews-a");
        let mut b = route_v1();
        b["metadata"]["name"] = json!("reviews-b");
        let snap = bookinfo(vec![a, b], true);
        let err = plan_shift(&snap, &req(&[("v1", 100)])).unwrap_err();
        assert_eq!(
            err,
            PlanError::RouteAmbiguous {
                kind: RouteKind::Http,
                service: "reviews".into(),
                routes: vec!["reviews-a".into(), "reviews-b".into()]
            }
        );
        assert!(err.hint().unwrap().contains("--route reviews-a"));
        let mut r = req(&[("v2", 100)]);
        r.route_name = Some("reviews-b".into());
        let plan = plan_shift(&snap, &r).unwrap();
        assert_eq!(plan.edit.route_name, "reviews-b");
        r.route_name = Some("nope".into());
        assert!(matches!(
            plan_shift(&snap, &r).unwrap_err(),
            PlanError::RouteNotFound { .. }
        ));
    }

    #[test]
    fn shift_route_flag_must_name_a_mesh_route_of_the_service() {
        let mut other = route_v1();
        other["metadata"]["name"] = json!("ratings");
        other["spec"]["parentRefs"][0]["name"] = json!("ratings");
        let snap = bookinfo(vec![other], true);
        let mut r = req(&[("v1", 100)]);
        r.route_name = Some("ratings".into());
        assert!(matches!(
            plan_shift(&snap, &r).unwrap_err(),
            PlanError::NotMeshRoute { .. }
        ));
    }

    #[test]
    fn shift_unknown_service_is_an_error() {
        let snap = bookinfo(vec![], true);
        let mut r = req(&[("v1", 100)]);
        r.service = "nope".into();
        let mut snap = snap;
        snap.service = "nope".into();
        assert!(matches!(
            plan_shift(&snap, &r).unwrap_err(),
            PlanError::ServiceNotFound { .. }
        ));
    }

    #[test]
    fn shift_version_naming_an_existing_service_is_used_as_is() {
        let mut snap = bookinfo(vec![route_v1()], true);
        snap.state
            .services
            .push(svc("reviews-canary", "reviews", Some("canary")));
        snap.state.ready_endpoints.insert("reviews-canary".into(), 1);
        let plan = plan_shift(&snap, &req(&[("reviews-canary", 5)])).unwrap();
        assert_eq!(
            default_backends(&plan.edit.route),
            pairs(&[("reviews-v1", 95), ("reviews-canary", 5)])
        );
    }

    #[test]
    fn shift_survives_weights_past_the_api_limit() {
        // Found by the plan_shift fuzz target: summing such weights overflowed.
        let snap = bookinfo(
            vec![route_split(&[("reviews-v1", u64::MAX), ("reviews-v2", u64::MAX)])],
            true,
        );
        let plan = plan_shift(&snap, &req(&[("v3", 20)])).unwrap();
        assert_eq!(
            default_backends(&plan.edit.route),
            pairs(&[("reviews-v1", 40), ("reviews-v2", 40), ("reviews-v3", 20)])
        );
        assert_eq!(plan.before[0].percent, 50.0);
    }

    #[test]
    fn same_split_compares_many_maximal_weights() {
        let refs = |n: usize| -> Vec<Value> {
            (0..n)
                .map(|i| json!({"name": format!("reviews-v{}", i % 2), "weight": 1_000_000}))
                .collect()
        };
        let (a, mut b) = (refs(10_000), refs(10_000));
        assert!(same_split(&a, &b, "bookinfo"));
        b.push(json!({"name": "reviews-v0", "weight": 1_000_000}));
        assert!(!same_split(&a, &b, "bookinfo"));
    }

    #[test]
    fn shift_leaves_values_that_are_not_rules_alone() {
        // Found by the plan_shift fuzz target: a string in spec.rules was taken for the
        // default rule and indexing into it panicked.
        let mut route = route_v1();
        route["spec"]["rules"] = json!(["x"]);
        let snap = bookinfo(vec![route], true);
        let plan = plan_shift(&snap, &req(&[("v1", 100)])).unwrap();
        assert_eq!(plan.edit.route["spec"]["rules"][0], json!("x"));
        assert_eq!(default_backends(&plan.edit.route), pairs(&[("reviews-v1", 100)]));
    }

    #[test]
    fn shift_drops_backend_refs_that_are_not_objects() {
        // Found by the plan_shift fuzz target: setting the weight of an array "backendRef"
        // panicked.
        let mut route = route_v1();
        route["spec"]["rules"][0]["backendRefs"] = json!([[], {"name": "reviews-v1", "port": 9080}, 7]);
        let snap = bookinfo(vec![route], true);
        let plan = plan_shift(&snap, &req(&[("v3", 10)])).unwrap();
        assert_eq!(
            plan.edit.route["spec"]["rules"][0]["backendRefs"],
            json!([{"name": "reviews-v1", "port": 9080, "weight": 90},
                   {"name": "reviews-v3", "port": 9080, "weight": 10}])
        );
        assert_eq!(plan.before.len(), 1);
    }
}
