//! The two kinds of mesh route kubectl-mesh edits: HTTPRoute and GRPCRoute (GAMMA routes whose parentRef is a
//! Service). They share parentRefs, rules, backendRefs and weights; they differ in what a match is and in the API
//! server's defaulting, which decides what the "default rule" and a "user rule" look like once stored:
//!
//! - HTTPRoute: a rule's `matches` defaults to `[{path: {type: PathPrefix, value: "/"}}]` and every match's path to
//!   the same, so a stored catch-all rule carries that one match (Gateway API `httproutes.yaml`, `matches: default`).
//! - GRPCRoute: nothing is defaulted (`grpcroutes.yaml` v1.6.1 has no default on `matches`): "If no matches are
//!   specified, the implementation MUST match every gRPC request". A catch-all rule has no matches, `[]`, or one
//!   match with neither `method` nor `headers`.
//!
//! GRPCRoute is read at `gateway.networking.k8s.io/v1`, the version Istio reads (standard from Gateway API v1.1.0;
//! v1.0.0 had only an experimental v1alpha2).

use std::fmt;

use serde::Serialize;
use serde_json::{json, Value};

use crate::resource::{Res, GRPCROUTES, HTTPROUTES};

/// Which route kind a mesh route is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub enum RouteKind {
    #[default]
    #[serde(rename = "HTTPRoute")]
    Http,
    #[serde(rename = "GRPCRoute")]
    Grpc,
}

impl fmt::Display for RouteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

impl RouteKind {
    /// The kind of a route object (its `kind`; HTTPRoute when absent).
    pub fn of(route: &Value) -> RouteKind {
        match route.get("kind").and_then(Value::as_str) {
            Some("GRPCRoute") => RouteKind::Grpc,
            _ => RouteKind::Http,
        }
    }

    /// `HTTPRoute`, `GRPCRoute`.
    pub fn kind(self) -> &'static str {
        match self {
            RouteKind::Http => "HTTPRoute",
            RouteKind::Grpc => "GRPCRoute",
        }
    }

    /// `httproute`, `grpcroute` (kubectl's singular, as in `kubectl get httproute reviews`).
    pub fn singular(self) -> &'static str {
        match self {
            RouteKind::Http => "httproute",
            RouteKind::Grpc => "grpcroute",
        }
    }

    /// `httproutes`, `grpcroutes`.
    pub fn plural(self) -> &'static str {
        self.res().plural
    }

    /// kubectl's qualified name for the result lines: `httproute.gateway.networking.k8s.io`.
    pub fn qualified(self) -> &'static str {
        match self {
            RouteKind::Http => "httproute.gateway.networking.k8s.io",
            RouteKind::Grpc => "grpcroute.gateway.networking.k8s.io",
        }
    }

    /// The API resource.
    pub fn res(self) -> &'static Res {
        match self {
            RouteKind::Http => &HTTPROUTES,
            RouteKind::Grpc => &GRPCROUTES,
        }
    }

    /// `--kind http|grpc`.
    pub fn flag(self) -> &'static str {
        match self {
            RouteKind::Http => "http",
            RouteKind::Grpc => "grpc",
        }
    }

    /// Whether a match is a catch-all: HTTP's defaulted `path: PathPrefix "/"` (or no path) with no headers, query
    /// params or method; gRPC's match with neither method nor headers.
    pub fn is_catch_all_match(self, m: &Value) -> bool {
        let Some(obj) = m.as_object() else {
            return false;
        };
        for (k, v) in obj {
            match (self, k.as_str()) {
                (RouteKind::Http, "path") => {
                    let ty = v.get("type").and_then(Value::as_str).unwrap_or("PathPrefix");
                    let val = v.get("value").and_then(Value::as_str).unwrap_or("/");
                    if ty != "PathPrefix" || val != "/" {
                        return false;
                    }
                }
                (RouteKind::Http, "headers" | "queryParams") | (RouteKind::Grpc, "headers") => {
                    if v.as_array().is_some_and(|a| !a.is_empty()) {
                        return false;
                    }
                }
                (_, "method") => {
                    if !v.is_null() {
                        return false;
                    }
                }
                _ => return false,
            }
        }
        true
    }

    /// A default (catch-all) rule: no `matches`, empty `matches`, or one catch-all match.
    pub fn is_default_rule(self, rule: &Value) -> bool {
        // Only an object is a rule at all (`get` answers `None` for anything else).
        if !rule.is_object() {
            return false;
        }
        match rule.get("matches") {
            None | Some(Value::Null) => true,
            Some(Value::Array(ms)) => ms.is_empty() || (ms.len() == 1 && self.is_catch_all_match(&ms[0])),
            Some(_) => false,
        }
    }

    /// Whether any of a rule's matches is the catch-all.
    pub fn has_catch_all_match(self, rule: &Value) -> bool {
        rule.get("matches")
            .and_then(Value::as_array)
            .is_some_and(|ms| ms.iter().any(|m| self.is_catch_all_match(m)))
    }

    /// Whether a rule matches every request: a default rule, or one of its matches is the catch-all (see
    /// [`super::matches_every_request`]).
    pub fn matches_every_request(self, rule: &Value) -> bool {
        self.is_default_rule(rule) || self.has_catch_all_match(rule)
    }

    /// Index of the rule that carries default traffic (see [`super::default_rule_index`]).
    pub fn default_rule_index(self, route: &Value) -> Option<usize> {
        let rules = route.pointer("/spec/rules").and_then(Value::as_array)?;
        rules
            .iter()
            .position(|r| self.is_default_rule(r))
            .or_else(|| rules.iter().position(|r| self.has_catch_all_match(r)))
    }

    /// The `(header, value)` of a user rule: one match whose only condition is one Exact header (besides HTTP's
    /// defaulted PathPrefix "/"), the shape `route-user` writes. `None` for any other rule.
    pub fn user_rule_of(self, rule: &Value) -> Option<(&str, &str)> {
        let [m] = rule.get("matches").and_then(Value::as_array).map(Vec::as_slice)? else {
            return None;
        };
        let [h] = m.get("headers").and_then(Value::as_array).map(Vec::as_slice)? else {
            return None;
        };
        if h.get("type").and_then(Value::as_str).unwrap_or("Exact") != "Exact" {
            return None;
        }
        let name = h.get("name").and_then(Value::as_str)?;
        let value = h.get("value").and_then(Value::as_str)?;
        let mut rest = m.clone();
        rest.as_object_mut()?.shift_remove("headers");
        self.is_catch_all_match(&rest).then_some((name, value))
    }

    /// Whether a rule is the user rule for `header: value` (header names compare case-insensitively, as HTTP's).
    pub fn is_user_rule(self, rule: &Value, header: &str, value: &str) -> bool {
        self.user_rule_of(rule)
            .is_some_and(|(h, v)| h.eq_ignore_ascii_case(header) && v == value)
    }

    /// The rule `route-user` writes: one Exact header match, one backend.
    pub fn user_rule(self, header: &str, user: &str, backend: Value) -> Value {
        json!({
            "matches": [{"headers": [{"type": "Exact", "name": header, "value": user}]}],
            "backendRefs": [backend],
        })
    }

    /// A rule with the API server's defaults filled in (the ones kubectl-mesh's own writes leave out), so that a
    /// rule as planned and the same rule as stored compare equal: HTTP matches and paths, header and query-param
    /// match types, gRPC method match types, backendRef group/kind/weight.
    pub fn canonical_rule(self, rule: &Value) -> Value {
        let mut r = rule.clone();
        let Some(obj) = r.as_object_mut() else {
            return r;
        };
        if self == RouteKind::Http && matches!(obj.get("matches"), None | Some(Value::Null)) {
            obj.insert(
                "matches".into(),
                json!([{"path": {"type": "PathPrefix", "value": "/"}}]),
            );
        }
        if matches!(obj.get("matches"), Some(Value::Null)) {
            obj.shift_remove("matches");
        }
        if let Some(ms) = obj.get_mut("matches").and_then(Value::as_array_mut) {
            for m in ms.iter_mut().filter_map(Value::as_object_mut) {
                if self == RouteKind::Http {
                    let path = m
                        .entry("path")
                        .or_insert_with(|| json!({"type": "PathPrefix", "value": "/"}));
                    if let Some(p) = path.as_object_mut() {
                        p.entry("type").or_insert_with(|| json!("PathPrefix"));
                        p.entry("value").or_insert_with(|| json!("/"));
                    }
                }
                for key in ["headers", "queryParams"] {
                    for h in m
                        .get_mut(key)
                        .and_then(Value::as_array_mut)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_object_mut)
                    {
                        h.entry("type").or_insert_with(|| json!("Exact"));
                    }
                }
                if self == RouteKind::Grpc {
                    if let Some(method) = m.get_mut("method").and_then(Value::as_object_mut) {
                        method.entry("type").or_insert_with(|| json!("Exact"));
                    }
                }
            }
        }
        if let Some(refs) = obj.get_mut("backendRefs").and_then(Value::as_array_mut) {
            for b in refs.iter_mut().filter_map(Value::as_object_mut) {
                b.entry("group").or_insert_with(|| json!(""));
                b.entry("kind").or_insert_with(|| json!("Service"));
                b.entry("weight").or_insert_with(|| json!(1));
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_default_rules_are_not_defaulted_by_the_server() {
        let g = RouteKind::Grpc;
        assert!(g.is_default_rule(&json!({"backendRefs": []})));
        assert!(g.is_default_rule(&json!({"matches": []})));
        assert!(g.is_default_rule(&json!({"matches": [{}]})));
        assert!(g.is_default_rule(&json!({"matches": [{"headers": []}]})));
        assert!(!g.is_default_rule(&json!({"matches": [{"method": {"service": "echo.Echo", "method": "Say"}}]})));
        assert!(!g.is_default_rule(&json!({"matches": [{"headers": [{"name": "end-user", "value": "jason"}]}]})));
        // An HTTP path match means nothing to a GRPCRoute: not a catch-all there.
        assert!(!g.is_default_rule(&json!({"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]})));
        assert!(RouteKind::Http.is_default_rule(&json!({"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]})));
    }

    #[test]
    fn user_rules_are_one_exact_header_and_nothing_else() {
        let g = RouteKind::Grpc;
        let h = RouteKind::Http;
        let rule = json!({"matches": [{"headers": [{"type": "Exact", "name": "end-user", "value": "jason"}]}]});
        assert_eq!(g.user_rule_of(&rule), Some(("end-user", "jason")));
        assert_eq!(h.user_rule_of(&rule), Some(("end-user", "jason")));
        let defaulted = json!({"matches": [{"path": {"type": "PathPrefix", "value": "/"},
            "headers": [{"type": "Exact", "name": "end-user", "value": "jason"}]}]});
        assert_eq!(h.user_rule_of(&defaulted), Some(("end-user", "jason")));
        assert_eq!(g.user_rule_of(&defaulted), None, "a path is not a gRPC match");
        let with_method = json!({"matches": [{"method": {"service": "s"},
            "headers": [{"name": "end-user", "value": "jason"}]}]});
        assert_eq!(g.user_rule_of(&with_method), None);
        let regex =
            json!({"matches": [{"headers": [{"type": "RegularExpression", "name": "end-user", "value": "j.*"}]}]});
        assert_eq!(h.user_rule_of(&regex), None);
        assert!(h.is_user_rule(&rule, "End-User", "jason"));
        assert!(!h.is_user_rule(&rule, "end-user", "Jason"));
    }

    #[test]
    fn canonical_rules_fill_what_the_server_defaults() {
        let planned = RouteKind::Http.user_rule("end-user", "jason", json!({"name": "reviews-v2", "port": 9080}));
        let stored = json!({"matches": [{"path": {"type": "PathPrefix", "value": "/"},
                "headers": [{"type": "Exact", "name": "end-user", "value": "jason"}]}],
            "backendRefs": [{"group": "", "kind": "Service", "name": "reviews-v2", "port": 9080, "weight": 1}]});
        assert_eq!(
            RouteKind::Http.canonical_rule(&planned),
            RouteKind::Http.canonical_rule(&stored)
        );
        let grpc =
            json!({"matches": [{"method": {"service": "echo.Echo"}}], "backendRefs": [{"name": "e", "port": 9090}]});
        let stored = json!({"matches": [{"method": {"type": "Exact", "service": "echo.Echo"}}],
            "backendRefs": [{"group": "", "kind": "Service", "name": "e", "port": 9090, "weight": 1}]});
        assert_eq!(
            RouteKind::Grpc.canonical_rule(&grpc),
            RouteKind::Grpc.canonical_rule(&stored)
        );
        assert_eq!(
            RouteKind::Grpc.canonical_rule(&json!({"backendRefs": []})),
            json!({"backendRefs": []})
        );
    }
}
