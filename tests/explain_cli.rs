//! `kubectl mesh explain` as users run it: the real binary against the sandbox's Bookinfo.

#[path = "common/mesh.rs"]
mod mesh;

use mesh::Mesh;
use mesh_sandbox::scenario::bookinfo;
use serde_json::{json, Value};

fn backends(doc: &Value) -> Vec<(String, f64, u64)> {
    doc["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["service"].as_str().unwrap().to_string(),
                b["percent"].as_f64().unwrap(),
                b["readyEndpoints"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn explain_follows_a_user_rule_and_the_default_rule() {
    let m = Mesh::bookinfo();
    m.run(&["route-user", "reviews", "jason", "v2"]).assert_code(0);
    let r = m.run(&["explain", "reviews", "-H", "end-user=jason", "-o", "json"]);
    r.assert_code(0);
    let doc = r.json();
    let route = m.route("reviews");
    let user_rule = route["spec"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .position(|rule| rule["matches"][0]["headers"][0]["value"] == "jason")
        .expect("route-user wrote a rule for jason");
    assert_eq!(doc["route"], "reviews");
    assert_eq!(doc["namespace"], "istio-demo");
    assert_eq!(doc["matched"], true);
    assert_eq!(doc["rule"]["index"], user_rule);
    assert_eq!(backends(&doc), vec![("reviews-v2".to_string(), 100.0, 1)]);

    // The header name is case-insensitive; "NAME: VALUE" is accepted too.
    let r = m.run(&["explain", "reviews", "-H", "End-User: jason", "-o", "json"]);
    r.assert_code(0);
    assert_eq!(r.json()["rule"]["index"], user_rule);

    // Anyone else takes the default rule.
    let r = m.run(&[
        "explain",
        "reviews",
        "-H",
        "end-user=vijay",
        "--path",
        "/reviews/0",
        "-o",
        "json",
    ]);
    r.assert_code(0);
    let doc = r.json();
    assert_ne!(doc["rule"]["index"], user_rule);
    assert_eq!(backends(&doc), vec![("reviews-v1".to_string(), 100.0, 1)]);
    assert_eq!(doc["request"]["path"], "/reviews/0");
    assert_eq!(doc["request"]["port"], 9080);

    let r = m.run(&["explain", "reviews", "-H", "end-user=jason"]);
    r.assert_code(0);
    assert!(r.stdout.contains("ROUTE     reviews"), "{}", r.stdout);
    assert!(r.stdout.contains("header end-user=jason"), "{}", r.stdout);
    assert!(r.stdout.contains("reviews-v2"), "{}", r.stdout);
    let r = m.run(&["explain", "reviews", "-o", "wide"]);
    r.assert_code(0);
    assert!(r.stdout.contains("RESULT"), "{}", r.stdout);
    assert!(r.stdout.contains("won"), "{}", r.stdout);
    assert!(r.stdout.contains("no: no header end-user"), "{}", r.stdout);
    assert!(m.write_attempts().len() <= 2, "explain writes nothing");
}

#[test]
fn explain_shows_the_split_after_a_shift() {
    let m = Mesh::bookinfo();
    m.run(&["shift", "reviews", "v1=90", "v3=10"]).assert_code(0);
    let r = m.run(&["explain", "reviews", "-o", "json"]);
    r.assert_code(0);
    assert_eq!(
        backends(&r.json()),
        vec![("reviews-v1".to_string(), 90.0, 1), ("reviews-v3".to_string(), 10.0, 1)]
    );
    let r = m.run(&["explain", "reviews", "-o", "yaml"]);
    r.assert_code(0);
    assert!(r.stdout.contains("matched: true"), "{}", r.stdout);
}

#[test]
fn an_unready_backend_is_named() {
    let m = Mesh::with(bookinfo().unready_backend());
    m.run(&["shift", "reviews", "v1=50", "v3=50", "--force"]).assert_code(0);
    let r = m.run(&["explain", "reviews", "-o", "json"]);
    r.assert_code(0);
    let doc = r.json();
    assert_eq!(
        backends(&doc),
        vec![("reviews-v1".to_string(), 50.0, 1), ("reviews-v3".to_string(), 50.0, 0)]
    );
    assert!(
        doc["notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("reviews-v3 has no ready endpoints: its 50% of requests get 503")),
        "{doc}"
    );
}

#[test]
fn a_request_no_rule_matches_is_rejected_with_exit_1() {
    let m = Mesh::bookinfo();
    m.server
        .insert(
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "ratings", "namespace": "istio-demo"},
            "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "ratings"}],
                "rules": [{"matches": [{"path": {"type": "Exact", "value": "/x"}}],
                           "backendRefs": [{"name": "ratings", "port": 9080}]}]}}),
        )
        .unwrap();
    let r = m.run(&["explain", "ratings", "--path", "/ratings/0", "-o", "json"]);
    r.assert_code(1);
    let doc = r.json();
    assert_eq!(doc["matched"], false);
    assert_eq!(doc["route"], Value::Null);
    assert_eq!(doc["rule"], Value::Null);
    assert_eq!(doc["backends"], json!([]));
    assert!(
        doc["message"].as_str().unwrap().contains("rejects such requests"),
        "{doc}"
    );
    let r = m.run(&["explain", "ratings", "--path", "/x"]);
    r.assert_code(0);
    let r = m.run(&["explain", "ratings", "--path", "/y"]);
    r.assert_code(1);
    assert!(r.stdout.contains("NO MATCH"), "{}", r.stdout);

    // A Service without routes: the request goes to the Service itself.
    let r = m.run(&["explain", "details", "-o", "json"]);
    r.assert_code(0);
    let doc = r.json();
    assert_eq!(doc["route"], Value::Null);
    assert_eq!(backends(&doc), vec![("details".to_string(), 100.0, 1)]);
}

#[test]
fn bad_requests_and_unknown_services() {
    let m = Mesh::bookinfo();
    let r = m.run(&["explain", "nope"]);
    r.assert_code(1);
    assert!(r.stderr.contains("\"nope\" not found"), "{}", r.stderr);
    for args in [
        &["explain", "reviews", "-H", "no separator"][..],
        &["explain", "reviews", "-H", "bad name=x"][..],
        &["explain", "reviews", "-H", "a=1", "-H", "A=2"][..],
        &["explain", "reviews", "--path", "reviews"][..],
        &["explain", "reviews", "--method", "FETCH"][..],
        &["explain", "reviews", "--query", "novalue"][..],
        &["explain", "Reviews"][..],
        &["explain", "reviews", "--port", "0"][..],
    ] {
        let r = m.run(args);
        r.assert_code(2);
        assert!(r.stderr.starts_with("error: "), "{args:?}: {}", r.stderr);
    }
    let r = m.run(&["explain", "reviews", "--port", "80"]);
    r.assert_code(1);
    assert!(r.stderr.contains("no port 80"), "{}", r.stderr);
    assert!(r.stderr.contains("9080"), "{}", r.stderr);
    assert!(m.write_attempts().is_empty());
}

#[test]
fn explain_reads_three_lists_and_nothing_per_object() {
    let m = Mesh::bookinfo();
    m.server.clear_log();
    m.run(&["explain", "reviews", "-o", "json"]).assert_code(0);
    let mut paths: Vec<String> = m
        .server
        .requests()
        .iter()
        .map(|q| {
            assert_eq!(q.method, "GET");
            assert!(q.query.contains("limit=500"), "a paginated LIST: {q:?}");
            q.path.clone()
        })
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        vec![
            "/api/v1/namespaces/istio-demo/services",
            "/apis/discovery.k8s.io/v1/namespaces/istio-demo/endpointslices",
            "/apis/gateway.networking.k8s.io/v1/namespaces/istio-demo/httproutes",
        ]
    );
}
