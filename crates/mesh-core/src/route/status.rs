//! Where mesh traffic goes now: the model behind `kubectl mesh status` (and `-o json`).
//!
//! One [`RouteStatus`] per (mesh route, parent Service) pair, with each rule's matches and
//! backends (relative weights turned into percents, ready endpoints per backend) and the
//! conditions the mesh controller reported for that Service parent in `status.parents[]`.

use serde::Serialize;
use serde_json::Value;

use super::{
    backend_key, backend_weight, mesh_parent_service, parent_ref_is_service, route_name, version_of, NamespaceState,
    RouteKind,
};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteStatus {
    pub namespace: String,
    pub service: String,
    pub route: String,
    /// `HTTPRoute` or `GRPCRoute`.
    pub kind: RouteKind,
    pub rules: Vec<RuleStatus>,
    pub conditions: Vec<ConditionStatus>,
    /// Istio's `ResolvedWaypoints` condition read by its effect (Istio always writes status `True`; the message
    /// says whether a waypoint applies the route in ambient mode); `null` when Istio wrote none.
    pub resolved_waypoints: Option<ResolvedWaypoints>,
}

/// Whether a waypoint applies the route (ambient mode), as Istio's `ResolvedWaypoints` condition says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedWaypoints {
    pub resolved: bool,
    /// `ResolvedWaypoints`, or, when not resolved, Istio's internal reason `MissingUseWaypointLabel` or
    /// `NoMatchingParent`.
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleStatus {
    /// Empty for a catch-all rule (no matches, or PathPrefix "/" only).
    pub matches: Vec<MatchStatus>,
    pub backends: Vec<BackendStatus>,
}

/// One HTTPRouteMatch. `header`/`value` hold its first header condition (the shape
/// `route-user` writes); any further conditions are spelled out in `other`
/// (`header x-debug=1`, `path Exact /v1`, `method GET`, `query a=b`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchStatus {
    pub header: Option<String>,
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendStatus {
    pub service: String,
    pub version: Option<String>,
    pub weight: u32,
    pub percent: f64,
    pub ready_endpoints: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionStatus {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

impl ConditionStatus {
    fn condition(&self) -> crate::ambient::Condition {
        crate::ambient::Condition {
            type_: self.type_.clone(),
            status: self.status.clone(),
            reason: Some(self.reason.clone()),
            message: Some(self.message.clone()),
            observed_generation: None,
        }
    }

    fn resolved_waypoints(&self) -> ResolvedWaypoints {
        let (resolved, reason) = crate::ambient::resolved_waypoints_effect(&self.condition());
        ResolvedWaypoints {
            resolved,
            reason,
            message: self.message.clone(),
        }
    }

    /// `Accepted=True`, as written (the table shows `ResolvedWaypoints` by its effect instead, from
    /// [`RouteStatus::resolved_waypoints`]).
    pub fn cell(&self) -> String {
        format!("{}={}", self.type_, self.status)
    }
}

/// Read `ResolvedWaypoints` knowing which namespaces are in ambient mode. An istiod with ambient enabled writes
/// "istio.io/use-waypoint label missing …; in ambient mode, route will not be respected" on every mesh route
/// without a waypoint, sidecar namespaces included; there the sidecars apply the route, so it is resolved
/// (reason `NotAmbient`). `ambient` answers for a namespace; `None` (namespaces could not be read) keeps the
/// condition's own reading.
pub fn apply_dataplane_modes(routes: &mut [RouteStatus], ambient: impl Fn(&str) -> Option<bool>) {
    for r in routes {
        let Some(rw) = r.resolved_waypoints.as_mut() else {
            continue;
        };
        if !rw.resolved && rw.reason == "MissingUseWaypointLabel" && ambient(&r.namespace) == Some(false) {
            rw.resolved = true;
            rw.reason = "NotAmbient".to_string();
        }
    }
}

/// Routes of the namespaces with a `kind: Service` parentRef whose group is not `""`: Istio ignores such a
/// parent, so [`route_status`] does not list them. (namespace, route, Service, group as stored).
pub fn ignored_service_parents(namespaces: &[NamespaceState]) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for state in namespaces {
        for route in &state.routes {
            for (_, svc, group) in super::bad_group_service_parents(route) {
                out.push((
                    state.namespace.clone(),
                    route_name(route).to_string(),
                    svc.to_string(),
                    group.to_string(),
                ));
            }
        }
    }
    out.sort();
    out
}

fn s(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or("").to_string()
}

/// One match as `status` shows it: `end-user=jason`, `path Exact /v2 method GET`.
pub fn describe_match(m: &Value) -> String {
    match_text(&match_status(m))
}

/// The MATCH cell of one match.
pub(crate) fn match_text(m: &MatchStatus) -> String {
    let mut parts = Vec::new();
    if let (Some(h), Some(v)) = (&m.header, &m.value) {
        parts.push(format!("{h}={v}"));
    }
    parts.extend(m.other.iter().cloned());
    parts.join(" ")
}

fn match_status(m: &Value) -> MatchStatus {
    let mut out = MatchStatus {
        header: None,
        value: None,
        other: Vec::new(),
    };
    let headers = m.get("headers").and_then(Value::as_array).cloned().unwrap_or_default();
    for (i, h) in headers.iter().enumerate() {
        let ty = h.get("type").and_then(Value::as_str).unwrap_or("Exact");
        let (name, value) = (s(h.get("name")), s(h.get("value")));
        if i == 0 && ty == "Exact" {
            out.header = Some(name);
            out.value = Some(value);
        } else if ty == "Exact" {
            out.other.push(format!("header {name}={value}"));
        } else {
            out.other.push(format!("header {name}~{value}"));
        }
    }
    if let Some(p) = m.get("path") {
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("PathPrefix");
        let val = p.get("value").and_then(Value::as_str).unwrap_or("/");
        if !(ty == "PathPrefix" && val == "/") {
            out.other.push(format!("path {ty} {val}"));
        }
    }
    match m.get("method") {
        Some(Value::String(method)) => out.other.push(format!("method {method}")),
        // GRPCRoute: {type, service, method}; `service/*` when only the service is matched.
        Some(Value::Object(method)) => {
            let part = |k: &str| method.get(k).and_then(Value::as_str).unwrap_or("*");
            let ty = method.get("type").and_then(Value::as_str).unwrap_or("Exact");
            let sigil = if ty == "Exact" { "" } else { "~" };
            out.other
                .push(format!("method {sigil}{}/{}", part("service"), part("method")));
        }
        _ => {}
    }
    for q in m.get("queryParams").and_then(Value::as_array).into_iter().flatten() {
        out.other
            .push(format!("query {}={}", s(q.get("name")), s(q.get("value"))));
    }
    out
}

fn rule_status(state: &NamespaceState, kind: RouteKind, parent: &str, rule: &Value) -> RuleStatus {
    let matches = match rule.get("matches").and_then(Value::as_array) {
        Some(ms) if !ms.iter().any(|m| kind.is_catch_all_match(m)) => ms.iter().map(match_status).collect(),
        _ => Vec::new(),
    };
    let refs = rule
        .get("backendRefs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total: u64 = refs.iter().map(backend_weight).sum();
    let backends = refs
        .iter()
        .map(|r| {
            let service = backend_key(r, &state.namespace);
            let w = backend_weight(r);
            BackendStatus {
                version: version_of(state, parent, &service),
                ready_endpoints: state.ready(&service),
                service,
                weight: u32::try_from(w).unwrap_or(u32::MAX),
                percent: if total == 0 {
                    0.0
                } else {
                    w as f64 * 100.0 / total as f64
                },
            }
        })
        .collect();
    RuleStatus { matches, backends }
}

/// Status of every mesh route (HTTPRoutes and GRPCRoutes) in the given namespaces, sorted by namespace, service,
/// route and kind.
pub fn route_status(namespaces: &[NamespaceState]) -> Vec<RouteStatus> {
    let mut out = Vec::new();
    for state in namespaces {
        let routes = state
            .routes
            .iter()
            .map(|r| (RouteKind::Http, r))
            .chain(state.grpc_routes.iter().map(|r| (RouteKind::Grpc, r)));
        for (kind, route) in routes {
            let mut parents: Vec<&str> = route
                .pointer("/spec/parentRefs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| mesh_parent_service(p, route))
                .collect();
            parents.dedup();
            for service in parents {
                let rules = route
                    .pointer("/spec/rules")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|r| rule_status(state, kind, service, r))
                    .collect();
                let conditions = route
                    .pointer("/status/parents")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|p| {
                        p.get("parentRef")
                            .is_some_and(|pr| parent_ref_is_service(pr, route, service))
                    })
                    .flat_map(|p| {
                        p.get("conditions")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default()
                    })
                    .map(|c| ConditionStatus {
                        type_: s(c.get("type")),
                        status: s(c.get("status")),
                        reason: s(c.get("reason")),
                        message: s(c.get("message")),
                    })
                    .collect::<Vec<_>>();
                let resolved_waypoints = conditions
                    .iter()
                    .find(|c| c.type_ == crate::ambient::RESOLVED_WAYPOINTS)
                    .map(ConditionStatus::resolved_waypoints);
                out.push(RouteStatus {
                    namespace: state.namespace.clone(),
                    service: service.to_string(),
                    route: route_name(route).to_string(),
                    kind,
                    rules,
                    conditions,
                    resolved_waypoints,
                });
            }
        }
    }
    out.sort_by(|a, b| {
        (&a.namespace, &a.service, &a.route, a.kind.kind()).cmp(&(&b.namespace, &b.service, &b.route, b.kind.kind()))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::testutil::*;
    use serde_json::json;

    #[test]
    fn status_json_has_the_documented_shape() {
        let mut route = route_with_user_rule();
        route["spec"]["rules"][1]["backendRefs"] = json!([
            {"name": "reviews-v1", "port": 9080, "weight": 90},
            {"name": "reviews-v3", "port": 9080, "weight": 10}]);
        route["status"] = json!({"parents": [
            {"parentRef": {"group": "", "kind": "Service", "name": "reviews"},
             "controllerName": "istio.io/gateway-controller",
             "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Route was valid",
                             "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
            {"parentRef": {"group": "", "kind": "Service", "name": "ratings"},
             "conditions": [{"type": "Accepted", "status": "False", "reason": "X", "message": "other"}]}]});
        let mut snap = bookinfo(vec![route], true);
        snap.state.ready_endpoints.insert("reviews-v3".into(), 0);
        let got = serde_json::to_value(route_status(&[snap.state])).unwrap();
        assert_eq!(
            got,
            json!([{
                "namespace": "bookinfo", "service": "reviews", "route": "reviews", "kind": "HTTPRoute",
                "rules": [
                    {"matches": [{"header": "end-user", "value": "jason"}],
                     "backends": [{"service": "reviews-v2", "version": "v2", "weight": 1, "percent": 100.0, "readyEndpoints": 1}]},
                    {"matches": [],
                     "backends": [
                        {"service": "reviews-v1", "version": "v1", "weight": 90, "percent": 90.0, "readyEndpoints": 1},
                        {"service": "reviews-v3", "version": "v3", "weight": 10, "percent": 10.0, "readyEndpoints": 0}]}],
                "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Route was valid"}],
                "resolvedWaypoints": null
            }])
        );
    }

    #[test]
    fn status_spells_out_non_header_matches_and_skips_gateway_routes() {
        let mesh = json!({"metadata": {"name": "mesh-split", "namespace": "gw"},
            "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "echo"}],
                     "rules": [{"matches": [{"path": {"type": "Exact", "value": "/v1"}, "method": "GET"}],
                                "backendRefs": [{"name": "echo-v1", "port": 80}]}]}});
        let gateway = json!({"metadata": {"name": "ingress", "namespace": "gw"},
            "spec": {"parentRefs": [{"name": "gateway"}], "rules": [{}]}});
        let state = NamespaceState {
            namespace: "gw".into(),
            routes: vec![gateway, mesh],
            ..Default::default()
        };
        let st = route_status(&[state]);
        assert_eq!(st.len(), 1);
        assert_eq!(st[0].route, "mesh-split");
        let m = &st[0].rules[0].matches[0];
        assert_eq!(m.header, None);
        assert_eq!(m.other, vec!["path Exact /v1", "method GET"]);
        assert_eq!(st[0].rules[0].backends[0].weight, 1);
        assert_eq!(st[0].rules[0].backends[0].percent, 100.0);
        assert_eq!(st[0].rules[0].backends[0].version.as_deref(), Some("v1"));
    }

    #[test]
    fn status_sorts_by_namespace_service_route() {
        let mk = |ns: &str, name: &str, svc: &str| NamespaceState {
            namespace: ns.into(),
            routes: vec![json!({"metadata": {"name": name, "namespace": ns},
                "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": svc}]}})],
            ..Default::default()
        };
        let st = route_status(&[mk("b", "r1", "s"), mk("a", "r2", "z"), mk("a", "r3", "y")]);
        let order: Vec<&str> = st.iter().map(|s| s.route.as_str()).collect();
        assert_eq!(order, vec!["r3", "r2", "r1"]);
    }

    #[test]
    fn status_survives_weights_past_the_api_limit() {
        // Found by the plan_shift fuzz target: summing such weights overflowed.
        let route = route_split(&[("reviews-v1", u64::MAX), ("reviews-v2", u64::MAX)]);
        let st = route_status(&[bookinfo(vec![route], true).state]);
        let percents: Vec<f64> = st[0].rules[0].backends.iter().map(|b| b.percent).collect();
        assert_eq!(percents, vec![50.0, 50.0]);
    }
}
