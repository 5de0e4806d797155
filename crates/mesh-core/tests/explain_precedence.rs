//! Precedence tables taken from the Gateway API spec's wording (`HTTPRouteRule.Matches`, `HTTPPathMatch`,
//! `HTTPHeaderMatch`, `HTTPQueryParamMatch` in `apis/v1/httproute_types.go`), one test per table, rows as data:
//! (request, expected route, rule, backend).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use mesh_core::route::explain::{explain, render_explain_table};
use mesh_core::route::precedence::HttpRequest;
use mesh_core::route::{NamespaceState, PlanError, ServiceInfo, ServicePort};

const T0: &str = "2026-01-01T00:00:00Z";

fn service(name: &str, ports: &[i32]) -> ServiceInfo {
    ServiceInfo {
        name: name.into(),
        labels: BTreeMap::new(),
        selector: BTreeMap::from([("app".to_string(), name.to_string())]),
        ports: ports
            .iter()
            .map(|p| ServicePort {
                name: Some(format!("http-{p}")),
                port: *p,
            })
            .collect(),
        type_: None,
        cluster_ip: Some("10.43.0.10".into()),
        istio_conditions: Vec::new(),
    }
}

/// A route `name` in `ns` whose parent is Service `svc`, created at `created`, with `rules` given as
/// (matches, backend) pairs (`Value::Null` matches: the key is left out, as in a file).
fn route(name: &str, created: &str, rules: &[(Value, &str)]) -> Value {
    let rules: Vec<Value> = rules
        .iter()
        .map(|(m, b)| {
            let mut r = json!({"backendRefs": [{"name": b, "port": 80}]});
            if !m.is_null() {
                r["matches"] = m.clone();
            }
            r
        })
        .collect();
    json!({"metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
           "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "svc"}], "rules": rules}})
}

fn state(routes: Vec<Value>) -> NamespaceState {
    let mut services = vec![service("svc", &[80])];
    let mut ready = BTreeMap::new();
    for r in &routes {
        for rule in r["spec"]["rules"].as_array().unwrap() {
            for b in rule["backendRefs"].as_array().unwrap() {
                let name = b["name"].as_str().unwrap().to_string();
                if !services.iter().any(|s| s.name == name) {
                    services.push(service(&name, &[80]));
                    ready.insert(name, 1);
                }
            }
        }
    }
    NamespaceState {
        namespace: "ns".into(),
        routes,
        services,
        ready_endpoints: ready,
        pods: Vec::new(),
        ..Default::default()
    }
}

fn prefix(v: &str) -> Value {
    json!([{"path": {"type": "PathPrefix", "value": v}}])
}

fn exact(v: &str) -> Value {
    json!([{"path": {"type": "Exact", "value": v}}])
}

/// `GET PATH` with headers `name: value` (names as typed; the CLI lowercases them) and `?query`.
fn req(method: &str, path_and_query: &str, headers: &[(&str, &str)]) -> HttpRequest {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (
            p.to_string(),
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        None => (path_and_query.to_string(), Vec::new()),
    };
    HttpRequest {
        method: method.into(),
        path,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect(),
        query,
        port: None,
    }
}

/// Which (route, rule, backend) the request takes; `None` when no rule matches.
fn takes(st: &NamespaceState, r: &HttpRequest) -> Option<(String, usize, String)> {
    let e = explain(st, "svc", r).unwrap();
    if !e.matched {
        assert!(e.route.is_none() && e.rule.is_none() && e.backends.is_empty());
        assert!(e.message.contains("rejects such requests"), "{}", e.message);
        return None;
    }
    Some((
        e.route.clone().unwrap_or_default(),
        e.rule.as_ref().map_or(usize::MAX, |r| r.index),
        e.backends[0].service.clone(),
    ))
}

/// (route, rule index, first backend) a request should take; `None`: rejected.
type Want<'a> = Option<(&'a str, usize, &'a str)>;

#[track_caller]
fn check_table(st: &NamespaceState, rows: &[(HttpRequest, Want)]) {
    for (r, want) in rows {
        let got = takes(st, r);
        let want = want.map(|(a, b, c)| (a.to_string(), b, c.to_string()));
        assert_eq!(got, want, "{} {}?{:?} {:?}", r.method, r.path, r.query, r.headers);
    }
}

#[test]
fn t1_exact_beats_prefix_then_the_longest_prefix_wins() {
    // "Exact" path match; "Prefix" path match with largest number of characters; prefix matching is done on a
    // path element by element basis; matching is case-sensitive.
    let st = state(vec![route(
        "r",
        T0,
        &[
            (prefix("/"), "a"),
            (prefix("/foo"), "b"),
            (exact("/foo/bar"), "c"),
            (prefix("/foo/bar"), "d"),
        ],
    )]);
    check_table(
        &st,
        &[
            (req("GET", "/foo/bar", &[]), Some(("r", 2, "c"))),
            (req("GET", "/foo/bar/", &[]), Some(("r", 3, "d"))),
            (req("GET", "/foo/bar/baz", &[]), Some(("r", 3, "d"))),
            (req("GET", "/foo/baz", &[]), Some(("r", 1, "b"))),
            (req("GET", "/foobar", &[]), Some(("r", 0, "a"))),
            (req("GET", "/Foo", &[]), Some(("r", 0, "a"))),
            (req("GET", "/foo", &[]), Some(("r", 1, "b"))),
            (req("GET", "/", &[]), Some(("r", 0, "a"))),
        ],
    );
}

#[test]
fn t2_a_trailing_slash_of_a_prefix_is_ignored() {
    // "When specified, a trailing `/` is ignored."
    let st = state(vec![route("r", T0, &[(prefix("/v2/"), "x"), (prefix("/"), "y")])]);
    check_table(
        &st,
        &[
            (req("GET", "/v2", &[]), Some(("r", 0, "x"))),
            (req("GET", "/v2/", &[]), Some(("r", 0, "x"))),
            (req("GET", "/v2/a", &[]), Some(("r", 0, "x"))),
            (req("GET", "/v2example", &[]), Some(("r", 1, "y"))),
        ],
    );
}

#[test]
fn t3_method_before_headers_and_length_before_method() {
    // Order of the criteria: prefix length, then "Method match", then "Largest number of header matches".
    let st = state(vec![route(
        "r",
        T0,
        &[
            (
                json!([{"path": {"type": "PathPrefix", "value": "/api"}, "method": "POST"}]),
                "p",
            ),
            (
                json!([{"path": {"type": "PathPrefix", "value": "/api"}, "headers": [{"name": "x", "value": "1"}]}]),
                "h",
            ),
            (prefix("/api/v1"), "l"),
        ],
    )]);
    check_table(
        &st,
        &[
            (req("POST", "/api", &[("x", "1")]), Some(("r", 0, "p"))),
            (req("GET", "/api", &[("x", "1")]), Some(("r", 1, "h"))),
            (req("POST", "/api/v1", &[("x", "1")]), Some(("r", 2, "l"))),
            // GAMMA: "requests that do not match at least one of the Routes will be rejected".
            (req("GET", "/api", &[]), None),
        ],
    );
}

#[test]
fn t4_more_header_matches_win_and_names_are_case_insensitive() {
    // "Largest number of header matches"; "Name matching MUST be case-insensitive"; values are exact.
    let st = state(vec![route(
        "r",
        T0,
        &[
            (json!([{"headers": [{"name": "end-user", "value": "jason"}]}]), "v2"),
            (
                json!([{"headers": [{"name": "end-user", "value": "jason"}, {"name": "x-debug", "value": "1"}]}]),
                "v3",
            ),
            (Value::Null, "v1"),
        ],
    )]);
    check_table(
        &st,
        &[
            (
                req("GET", "/", &[("end-user", "jason"), ("x-debug", "1")]),
                Some(("r", 1, "v3")),
            ),
            (req("GET", "/", &[("end-user", "jason")]), Some(("r", 0, "v2"))),
            (req("GET", "/", &[("End-User", "jason")]), Some(("r", 0, "v2"))),
            (req("GET", "/", &[("end-user", "Jason")]), Some(("r", 2, "v1"))),
            (req("GET", "/", &[("x-debug", "1")]), Some(("r", 2, "v1"))),
        ],
    );
}

#[test]
fn t5_only_the_first_of_equivalent_header_names_counts() {
    // "If multiple entries specify equivalent header names, only the first entry with an equivalent name MUST be
    // considered for a match."
    let st = state(vec![route(
        "r",
        T0,
        &[
            (
                json!([{"headers": [{"name": "end-user", "value": "a"}, {"name": "End-User", "value": "b"}]}]),
                "A",
            ),
            (Value::Null, "B"),
        ],
    )]);
    check_table(
        &st,
        &[
            (req("GET", "/", &[("end-user", "a")]), Some(("r", 0, "A"))),
            (req("GET", "/", &[("end-user", "b")]), Some(("r", 1, "B"))),
        ],
    );
    let e = explain(&st, "svc", &req("GET", "/", &[("end-user", "a")])).unwrap();
    assert_eq!(e.match_.as_ref().unwrap().headers, 1, "counts as one header");
    assert!(
        e.notes.iter().any(|n| n.contains("repeats a header name")),
        "{:?}",
        e.notes
    );
}

#[test]
fn t6_query_params_rank_after_headers_and_match_the_first_value() {
    // "Largest number of query param matches" (after headers); names are exact; "match against the first value".
    let st = state(vec![route(
        "r",
        T0,
        &[
            (json!([{"queryParams": [{"name": "a", "value": "1"}]}]), "q1"),
            (json!([{"headers": [{"name": "h", "value": "1"}]}]), "h1"),
            (
                json!([{"queryParams": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]}]),
                "q2",
            ),
            (Value::Null, "z"),
        ],
    )]);
    check_table(
        &st,
        &[
            (req("GET", "/?a=1&b=2", &[("h", "1")]), Some(("r", 1, "h1"))),
            (req("GET", "/?a=1", &[]), Some(("r", 0, "q1"))),
            (req("GET", "/?a=1&b=2", &[]), Some(("r", 2, "q2"))),
            (req("GET", "/?a=2&a=1", &[]), Some(("r", 3, "z"))),
            (req("GET", "/?A=1", &[]), Some(("r", 3, "z"))),
        ],
    );
}

#[test]
fn t7_ties_go_to_the_oldest_route_then_namespace_name_then_the_first_rule() {
    // "The oldest Route based on creation timestamp"; "The Route appearing first in alphabetical order by
    // {namespace}/{name}"; "the FIRST matching rule (in list order)".
    let jason = json!([{"headers": [{"name": "end-user", "value": "jason"}]}]);
    let st = state(vec![
        route("new", "2026-01-02T00:00:00Z", &[(jason.clone(), "B")]),
        route("old", T0, &[(jason.clone(), "A")]),
    ]);
    check_table(
        &st,
        &[(req("GET", "/", &[("end-user", "jason")]), Some(("old", 0, "A")))],
    );
    let st = state(vec![
        route("b-route", T0, &[(jason.clone(), "B")]),
        route("a-route", T0, &[(jason.clone(), "A")]),
    ]);
    check_table(
        &st,
        &[(req("GET", "/", &[("end-user", "jason")]), Some(("a-route", 0, "A")))],
    );
    let st = state(vec![route(
        "r",
        T0,
        &[
            (jason.clone(), "first"),
            (prefix("/x"), "other"),
            (jason.clone(), "second"),
        ],
    )]);
    check_table(
        &st,
        &[(req("GET", "/", &[("end-user", "jason")]), Some(("r", 0, "first")))],
    );
}

#[test]
fn t7_the_winner_does_not_depend_on_the_order_routes_are_listed_in() {
    let jason = json!([{"headers": [{"name": "end-user", "value": "jason"}]}]);
    let routes = vec![
        route("c", "2026-01-03T00:00:00Z", &[(jason.clone(), "C")]),
        route("b", T0, &[(prefix("/"), "B")]),
        route("a", "2026-01-02T00:00:00Z", &[(jason.clone(), "A")]),
        route("d", T0, &[(jason.clone(), "D")]),
    ];
    let r = req("GET", "/", &[("end-user", "jason")]);
    let first = takes(&state(routes.clone()), &r);
    assert_eq!(first, Some(("d".to_string(), 0, "D".to_string())));
    // Every rotation and the reverse give the same winner.
    for k in 0..routes.len() {
        let mut rotated = routes.clone();
        rotated.rotate_left(k);
        assert_eq!(takes(&state(rotated.clone()), &r), first);
        rotated.reverse();
        assert_eq!(takes(&state(rotated), &r), first);
    }
}

/// T8: "Each match is independent, i.e. this rule will be matched if any one of the matches is satisfied": the
/// upstream conformance route `mesh-matching`, byte-exact, with the backends `conformance/tests/mesh/
/// httproute-matching.go` expects.
#[test]
fn t8_any_match_of_a_rule_suffices_upstream_conformance() {
    let Some(dir) = mesh_sandbox::fixtures::shared_fixtures() else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("gateway-api/conformance/tests/mesh/httproute-matching.yaml")).unwrap();
    let route: Value = serde_saphyr::from_str(&text).unwrap();
    let ns = route["metadata"]["namespace"].as_str().unwrap().to_string();
    let st = NamespaceState {
        namespace: ns.clone(),
        routes: vec![route],
        services: vec![
            service("echo", &[80, 8080]),
            service("echo-v1", &[8080]),
            service("echo-v2", &[8080]),
        ],
        ready_endpoints: BTreeMap::from([("echo-v1".into(), 1), ("echo-v2".into(), 1)]),
        pods: Vec::new(),
        ..Default::default()
    };
    type Row<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let rows: &[Row] = &[
        ("/", &[], "echo-v1"),
        ("/example", &[], "echo-v1"),
        ("/", &[("Version", "one")], "echo-v1"),
        ("/v2", &[], "echo-v2"),
        ("/v2/example", &[], "echo-v2"),
        ("/", &[("Version", "two")], "echo-v2"),
        ("/v2/", &[], "echo-v2"),
        // "Not a path segment prefix so should not match /v2."
        ("/v2example", &[], "echo-v1"),
        ("/foo/v2/example", &[], "echo-v1"),
    ];
    for (path, headers, backend) in rows {
        let mut r = req("GET", path, headers);
        r.port = Some(80);
        let e = explain(&st, "echo", &r).unwrap();
        assert!(e.matched, "{path}");
        assert_eq!(e.backends[0].service, *backend, "{path} {headers:?}");
    }
}

#[test]
fn t9_stored_defaults_and_file_forms_give_the_same_answers() {
    // The API server defaults a rule's matches to PathPrefix "/", a match's path to PathPrefix "/" and a path's
    // type to PathPrefix; files are not defaulted.
    let stored = state(vec![route(
        "r",
        T0,
        &[
            (json!([{"path": {"type": "PathPrefix", "value": "/"}}]), "a"),
            (prefix("/foo"), "b"),
            (exact("/foo/bar"), "c"),
            (
                json!([{"path": {"type": "PathPrefix", "value": "/foo/bar"}, "headers": [{"name": "h", "type": "Exact", "value": "1"}]}]),
                "d",
            ),
        ],
    )]);
    let file = state(vec![route(
        "r",
        T0,
        &[
            (Value::Null, "a"),
            (json!([{"path": {"value": "/foo"}}]), "b"),
            (exact("/foo/bar"), "c"),
            (
                json!([{"path": {"value": "/foo/bar"}, "headers": [{"name": "h", "value": "1"}]}]),
                "d",
            ),
        ],
    )]);
    for path in [
        "/foo/bar",
        "/foo/bar/",
        "/foo/bar/baz",
        "/foo/baz",
        "/foobar",
        "/Foo",
        "/foo",
        "/",
    ] {
        for headers in [&[][..], &[("h", "1")][..]] {
            let r = req("GET", path, headers);
            assert_eq!(takes(&stored, &r), takes(&file, &r), "{path} {headers:?}");
        }
    }
    // A match with only headers has path PathPrefix "/".
    let st = state(vec![route(
        "r",
        T0,
        &[(json!([{"headers": [{"name": "h", "value": "1"}]}]), "h")],
    )]);
    check_table(&st, &[(req("GET", "/any/path", &[("h", "1")]), Some(("r", 0, "h")))]);
}

#[test]
fn t10_regular_expressions_are_full_matches_ranked_below_prefixes() {
    // "Matches if the URL path matches the given regular expression"; Envoy evaluates RE2::FullMatch; Istio ranks
    // RegularExpression paths below every prefix ("The precedence of RegularExpression path matches are
    // implementation-specific").
    let st = state(vec![route(
        "r",
        T0,
        &[
            (
                json!([{"headers": [{"name": "version", "type": "RegularExpression", "value": "v[0-9]+"}]}]),
                "r",
            ),
            (Value::Null, "d"),
        ],
    )]);
    check_table(
        &st,
        &[
            (req("GET", "/", &[("version", "v12")]), Some(("r", 0, "r"))),
            (req("GET", "/", &[("version", "xv12")]), Some(("r", 1, "d"))),
            (req("GET", "/", &[("version", "v1x")]), Some(("r", 1, "d"))),
        ],
    );
    let st = state(vec![route(
        "r",
        T0,
        &[
            (
                json!([{"path": {"type": "RegularExpression", "value": "/api/.*"}}]),
                "re",
            ),
            (prefix("/api"), "pre"),
        ],
    )]);
    check_table(&st, &[(req("GET", "/api/x", &[]), Some(("r", 1, "pre")))]);
    // RE2 syntax Rust's regex rejects: the result uses the next rule and says which match could not be evaluated.
    let st = state(vec![route(
        "r",
        T0,
        &[
            (
                json!([{"headers": [{"name": "h", "type": "RegularExpression", "value": r"\Qa.b\E"}]}]),
                "q",
            ),
            (Value::Null, "d"),
        ],
    )]);
    let e = explain(&st, "svc", &req("GET", "/", &[("h", "a.b")])).unwrap();
    assert_eq!(e.rule.as_ref().unwrap().index, 1);
    assert_eq!(e.uncertain.len(), 1);
    assert_eq!((e.uncertain[0].route.as_str(), e.uncertain[0].rule), ("r", 0));
    assert!(
        e.notes.iter().any(|n| n.contains("could not be evaluated")),
        "{:?}",
        e.notes
    );
}

#[test]
fn t11_a_service_without_routes_goes_straight_to_itself() {
    // GAMMA: "If no Routes are attached to a Service, requests to the Service simply proceed per the mesh's
    // default behavior".
    let mut st = state(Vec::new());
    st.ready_endpoints.insert("svc".into(), 3);
    let e = explain(&st, "svc", &req("GET", "/x", &[])).unwrap();
    assert!(e.matched);
    assert_eq!(e.route, None);
    assert_eq!(e.backends.len(), 1);
    assert_eq!(e.backends[0].service, "svc");
    assert_eq!(e.backends[0].ready_endpoints, Some(3));
    assert_eq!(e.backends[0].percent, 100.0);
}

#[test]
fn t12_a_parent_port_scopes_the_route_to_that_port() {
    // GEP-1426: a parentRef with a port applies to that Service port only.
    let mut r = route("r", T0, &[(prefix("/"), "b")]);
    r["spec"]["parentRefs"][0]["port"] = json!(8080);
    let mut st = state(vec![r]);
    st.services[0] = service("svc", &[80, 8080]);
    let mut on_80 = req("GET", "/", &[]);
    on_80.port = Some(80);
    let e = explain(&st, "svc", &on_80).unwrap();
    assert!(e.matched);
    assert_eq!(e.route, None, "not attached on port 80");
    assert!(e.notes.iter().any(|n| n.contains("port 8080")), "{:?}", e.notes);
    let mut on_8080 = on_80.clone();
    on_8080.port = Some(8080);
    let e = explain(&st, "svc", &on_8080).unwrap();
    assert_eq!(e.route.as_deref(), Some("r"));
    on_8080.port = Some(9999);
    assert!(matches!(
        explain(&st, "svc", &on_8080),
        Err(PlanError::ServicePortNotFound { port: 9999, .. })
    ));
}

#[test]
fn rejected_core_group_and_other_namespace_parents_do_not_attach() {
    let mut rejected = route("rejected", T0, &[(prefix("/"), "x")]);
    rejected["status"] = json!({"parents": [{"controllerName": "other.example/no-parent-ref"},
        {"parentRef": {"group": "", "kind": "Service", "name": "svc"},
        "conditions": [{"type": "Accepted", "status": "False", "reason": "NotAllowed", "message": "no"}]}]});
    let mut core = route("core", T0, &[(prefix("/"), "y")]);
    core["spec"]["parentRefs"][0]["group"] = json!("core");
    let mut gateway = route("gw", T0, &[(prefix("/"), "z")]);
    gateway["spec"]["parentRefs"] = json!([{"name": "svc"}]);
    let st = state(vec![rejected, core, gateway]);
    let e = explain(&st, "svc", &req("GET", "/", &[])).unwrap();
    assert_eq!(e.route, None);
    assert!(e.notes.iter().any(|n| n.contains("Accepted=False")), "{:?}", e.notes);
    assert!(e.notes.iter().any(|n| n.contains("group \"core\"")), "{:?}", e.notes);
}

#[test]
fn the_backend_split_names_missing_and_unready_backends() {
    let mut r = route("r", T0, &[(Value::Null, "v1")]);
    r["spec"]["rules"][0]["backendRefs"] = json!([
        {"name": "v1", "port": 80, "weight": 50},
        {"name": "v2", "port": 80, "weight": 25},
        {"name": "v9", "port": 80, "weight": 25},
        {"name": "v0", "port": 80, "weight": 0}]);
    let mut st = state(vec![r]);
    st.services = vec![
        service("svc", &[80]),
        service("v1", &[80]),
        service("v2", &[80]),
        service("v0", &[80]),
    ];
    st.ready_endpoints = BTreeMap::from([("v1".to_string(), 1)]);
    let e = explain(&st, "svc", &req("GET", "/", &[])).unwrap();
    type Split<'a> = (&'a str, u64, f64, Option<u32>, Option<bool>);
    let got: Vec<Split> = e
        .backends
        .iter()
        .map(|b| (b.service.as_str(), b.weight, b.percent, b.ready_endpoints, b.exists))
        .collect();
    assert_eq!(
        got,
        vec![
            ("v1", 50, 50.0, Some(1), Some(true)),
            ("v2", 25, 25.0, Some(0), Some(true)),
            ("v9", 25, 25.0, Some(0), Some(false)),
            ("v0", 0, 0.0, Some(0), Some(true)),
        ]
    );
    assert!(e
        .notes
        .iter()
        .any(|n| n.contains("v9 does not exist: its 25% of requests get HTTP 500")));
    assert!(e.notes.iter().any(|n| n.contains("v2 has no ready endpoints")));
    assert!(
        !e.notes.iter().any(|n| n.contains("v0")),
        "weight 0 gets nothing: {:?}",
        e.notes
    );
}

#[test]
fn json_has_the_contract_fields_first() {
    let st = state(vec![route(
        "r",
        T0,
        &[
            (json!([{"headers": [{"name": "end-user", "value": "jason"}]}]), "v2"),
            (Value::Null, "v1"),
        ],
    )]);
    let e = explain(&st, "svc", &req("GET", "/reviews/0", &[("end-user", "jason")])).unwrap();
    let v = serde_json::to_value(&e).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).take(5).collect();
    assert_eq!(keys, vec!["route", "namespace", "rule", "matched", "backends"]);
    assert_eq!(v["rule"], json!({"index": 0, "name": null}));
    assert_eq!(
        v["backends"][0],
        json!({"service": "v2", "weight": 1, "percent": 100.0, "readyEndpoints": 1, "version": null, "exists": true})
    );
    let text = render_explain_table(&e, true);
    assert!(
        text.contains("ROUTE     r (created 2026-01-01T00:00:00Z)   RULE rules[0]"),
        "{text}"
    );
    assert!(
        text.contains("MATCHED   path PathPrefix / + header end-user=jason"),
        "{text}"
    );
    assert!(text.contains("won"), "{text}");
}
