//! `shift`, `route-user` and `status` as a user runs them: the real binary against the sandbox API server.
//! Each test asserts the exit code, what was printed, what the server then holds, and which writes were made.

#[path = "common/mesh.rs"]
mod mesh;

use mesh::{pairs, Mesh};
use mesh_sandbox::Fault;
use serde_json::{json, Value};

#[test]
fn shift_follows_the_guide_50_50_then_all_to_v3() {
    let m = Mesh::bookinfo();
    let r = m.run(&["shift", "reviews", "v1=50", "v3=50"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("httproute.gateway.networking.k8s.io/reviews configured"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("reviews-v3") && r.stdout.contains("50 (50%)"),
        "{}",
        r.stdout
    );
    assert_eq!(
        m.default_backends("reviews"),
        pairs(&[("reviews-v1", 50), ("reviews-v3", 50)])
    );
    let writes = m.stored_writes();
    assert_eq!(writes.len(), 1, "one PUT: {writes:?}");
    assert_eq!(writes[0].method, "PUT");
    assert!(writes[0].query.contains("fieldManager=kubectl-mesh"), "{:?}", writes[0]);

    m.run(&["shift", "reviews", "v3=100"]).assert_code(0);
    assert_eq!(m.default_backends("reviews"), pairs(&[("reviews-v3", 100)]));
}

#[test]
fn shift_below_100_keeps_the_rest_in_proportion() {
    let m = Mesh::bookinfo();
    m.run(&["shift", "reviews", "v3=10"]).assert_code(0);
    assert_eq!(
        m.default_backends("reviews"),
        pairs(&[("reviews-v1", 90), ("reviews-v3", 10)])
    );
    m.run(&["shift", "reviews", "v1=50", "v2=25", "v3=25"]).assert_code(0);
    assert_eq!(
        m.default_backends("reviews"),
        pairs(&[("reviews-v1", 50), ("reviews-v2", 25), ("reviews-v3", 25)])
    );
    m.run(&["shift", "reviews", "v3=50"]).assert_code(0);
    assert_eq!(
        m.default_backends("reviews"),
        pairs(&[("reviews-v1", 33), ("reviews-v2", 17), ("reviews-v3", 50)])
    );
}

#[test]
fn shift_is_idempotent() {
    let m = Mesh::bookinfo();
    m.run(&["shift", "reviews", "v1=100"]).assert_code(0);
    let r = m.run(&["shift", "reviews", "v1=100"]);
    r.assert_code(0);
    assert!(r.stdout.contains("unchanged"), "{}", r.stdout);
    assert!(m.stored_writes().len() <= 1, "{:?}", m.stored_writes());
    let before = m.stored_writes().len();
    m.run(&["shift", "reviews", "v1=100"]).assert_code(0);
    assert_eq!(m.stored_writes().len(), before, "a no-op writes nothing");
}

#[test]
fn bad_input_is_a_usage_error_and_writes_nothing() {
    let m = Mesh::bookinfo();
    let cases: &[(&[&str], &str)] = &[
        (&["shift", "reviews", "v3=101"], "101"),
        (&["shift", "reviews", "v3=-1"], ""),
        (&["shift", "reviews", "v3=ten"], "ten"),
        (&["shift", "reviews", "v1=60", "v3=60"], "100"),
        (&["shift", "reviews", "v3=10", "v3=20"], "v3"),
        (&["shift", "reviews", "=10"], ""),
        (&["shift", "reviews", "v3"], "v3"),
        (&["shift", "reviews", "V3=10"], "V3"),
        (&["shift", "Reviews", "v3=10"], "Reviews"),
        (&["shift", "reviews", "v3=10", "-n", "Not_A_Namespace"], "namespace"),
        (&["shift", "reviews", "v3=10", "--route", "Bad Name"], "route"),
        (&["shift", "reviews", "v3=10", "-o", "xml"], "xml"),
        (&["shift", "reviews", "v3=10", "--dry-run=sometimes"], "sometimes"),
        (&["route-user", "reviews", "vijay\r\nx-evil: 1", "v2"], "header"),
        (
            &["route-user", "reviews", "vijay", "v2", "--header", "end user"],
            "header",
        ),
        (&["route-user", "reviews", "", "v2"], ""),
        (&["route-user", "reviews", "vijay", "v2", "--remove"], ""),
        (&["status", "-n", "istio-demo", "-A"], "together"),
        (&["status", "-o", "xml"], "xml"),
        // Issue 17's flags: nonsense combinations are usage errors before any request.
        (&["shift", "reviews", "v3=100", "--step", "0"], "step"),
        (&["shift", "reviews", "v3=100", "--step", "101"], "step"),
        (
            &["shift", "reviews", "v3=100", "--interval", "5s"],
            "--interval needs --step",
        ),
        (
            &["shift", "reviews", "v3=100", "--timeout", "5s"],
            "--timeout needs --wait",
        ),
        (&["shift", "reviews", "v3=100", "--rollback-on-failure"], "needs --wait"),
        (
            &["shift", "reviews", "v3=100", "--wait", "--dry-run=client"],
            "nothing to wait for",
        ),
        (
            &["shift", "reviews", "v3=100", "--emit-patch", "--step", "25"],
            "--emit-patch",
        ),
        (
            &["shift", "reviews", "v3=100", "--emit-patch", "--dry-run=server"],
            "--emit-patch",
        ),
        (&["shift", "reviews", "v3=100", "--kind", "tcp"], "tcp"),
        (
            &["route-user", "reviews", "vijay", "v2", "--timeout", "5s"],
            "--timeout needs --wait",
        ),
        (&["undo", "reviews", "--to-revision", "0"], "to-revision"),
        (&["undo", "reviews", "--to-revision", "x"], "to-revision"),
        (
            &["undo", "reviews", "--wait", "--dry-run=server"],
            "nothing to wait for",
        ),
        (&["undo", "Reviews"], "Reviews"),
        (&["history", "reviews", "--kind", "udp"], "udp"),
        (&["history", "Reviews"], "Reviews"),
    ];
    for (args, needle) in cases {
        let r = m.run(args);
        assert_eq!(r.code, 2, "{args:?} should be a usage error:\n{}", r.stderr);
        assert!(r.stderr.starts_with("error:"), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.to_lowercase().contains(&needle.to_lowercase()),
            "{args:?} should mention {needle:?}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
    assert!(
        m.write_attempts().is_empty(),
        "usage errors sent writes: {:?}",
        m.write_attempts()
    );
}

#[test]
fn shift_refuses_a_missing_backend_and_names_the_versions_that_exist() {
    let m = Mesh::bookinfo();
    let r = m.run(&["shift", "reviews", "v4=100"]);
    r.assert_code(1);
    assert!(r.stderr.contains("reviews-v4"), "{}", r.stderr);
    for v in ["v1", "v2", "v3"] {
        assert!(r.stderr.contains(v), "existing version {v} not listed: {}", r.stderr);
    }
    assert!(r.stderr.contains("--create-backends"), "{}", r.stderr);
    assert!(m.write_attempts().is_empty());
}

#[test]
fn create_backends_makes_the_per_version_service_from_pod_labels() {
    let m = Mesh::bookinfo();
    m.server.delete("services", Some("istio-demo"), "reviews-v3").unwrap();
    m.server.clear_log();
    let r = m.run(&["shift", "reviews", "v3=100"]);
    r.assert_code(1);
    assert!(r.stderr.contains("--create-backends"), "{}", r.stderr);
    let r = m.run(&["shift", "reviews", "v3=100", "--create-backends"]);
    r.assert_code(0);
    assert!(r.stdout.contains("service/reviews-v3 created"), "{}", r.stdout);
    let svc = m
        .server
        .get("services", Some("istio-demo"), "reviews-v3")
        .expect("service created");
    assert_eq!(svc["spec"]["selector"], json!({"app": "reviews", "version": "v3"}));
    assert_eq!(m.default_backends("reviews"), pairs(&[("reviews-v3", 100)]));
}

#[test]
fn shift_refuses_a_backend_without_ready_endpoints_unless_forced() {
    let m = Mesh::bookinfo();
    // Scale reviews-v3 to zero: its Service has no ready endpoints (the seeds' 503).
    let mut d = m.server.get("deployments", Some("istio-demo"), "reviews-v3").unwrap();
    d["spec"]["replicas"] = json!(0);
    m.server.update(d).unwrap();
    m.server.clear_log();
    let r = m.run(&["shift", "reviews", "v3=100"]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("reviews-v3") && r.stderr.contains("ready"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert!(m.write_attempts().is_empty());
    m.run(&["shift", "reviews", "v3=100", "--force"]).assert_code(0);
    assert_eq!(m.default_backends("reviews"), pairs(&[("reviews-v3", 100)]));
}

#[test]
fn shift_refuses_a_route_owned_by_a_controller_unless_forced() {
    let m = Mesh::bookinfo();
    let mut r = m.route("reviews");
    r["metadata"]["annotations"] = json!({"flagger.app/primary": "reviews-primary"});
    m.server.update(r).unwrap();
    m.server.clear_log();
    let out = m.run(&["shift", "reviews", "v3=100"]);
    out.assert_code(1);
    assert!(out.stderr.to_lowercase().contains("flagger"), "{}", out.stderr);
    assert!(m.write_attempts().is_empty());
    m.run(&["shift", "reviews", "v3=100", "--force"]).assert_code(0);
}

#[test]
fn shift_keeps_user_rules_and_unknown_fields_byte_identical() {
    let m = Mesh::bookinfo();
    m.run(&["route-user", "reviews", "vijay", "v2"]).assert_code(0);
    let mut r = m.route("reviews");
    r["metadata"]["annotations"] = json!({"team": "books"});
    m.server.update(r).unwrap();
    let before = m.route("reviews");
    let user_rule = before["spec"]["rules"][0].clone();
    m.run(&["shift", "reviews", "v1=50", "v3=50"]).assert_code(0);
    let after = m.route("reviews");
    assert_eq!(after["spec"]["rules"][0], user_rule, "the user rule must not change");
    assert_eq!(after["metadata"]["annotations"]["team"], "books");
    assert_eq!(after["spec"]["parentRefs"], before["spec"]["parentRefs"]);
}

#[test]
fn dry_run_client_writes_nothing_and_prints_the_route() {
    let m = Mesh::bookinfo();
    let r = m.run(&["shift", "reviews", "v3=100", "--dry-run=client", "-o", "yaml"]);
    r.assert_code(0);
    assert!(r.stdout.contains("reviews-v3"), "{}", r.stdout);
    let printed: Value = serde_saphyr::from_str(&r.stdout).unwrap();
    assert_eq!(printed["kind"], "HTTPRoute");
    assert!(m.write_attempts().is_empty(), "{:?}", m.write_attempts());
    assert_eq!(m.default_backends("reviews"), pairs(&[("reviews-v1", 1)]));
}

#[test]
fn dry_run_server_sends_dry_run_all_and_stores_nothing() {
    let m = Mesh::bookinfo();
    let rv = m.route("reviews")["metadata"]["resourceVersion"].clone();
    let r = m.run(&["shift", "reviews", "v3=100", "--dry-run=server", "-o", "json"]);
    r.assert_code(0);
    assert_eq!(r.json()["spec"]["rules"][0]["backendRefs"][0]["name"], "reviews-v3");
    let attempts = m.write_attempts();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert!(attempts[0].dry_run, "{attempts:?}");
    assert_eq!(m.route("reviews")["metadata"]["resourceVersion"], rv);
    assert_eq!(m.default_backends("reviews"), pairs(&[("reviews-v1", 1)]));
}

#[test]
fn a_conflict_on_the_first_write_is_retried_and_succeeds() {
    let m = Mesh::bookinfo();
    m.server.inject(
        Fault::status(409, "the object has been modified")
            .method("PUT")
            .path("/httproutes/reviews")
            .once(),
    );
    let r = m.run(&["shift", "reviews", "v1=50", "v3=50"]);
    r.assert_code(0);
    let puts: Vec<_> = m.write_attempts().into_iter().filter(|w| w.method == "PUT").collect();
    assert_eq!(puts.len(), 2, "{puts:?}");
    assert_eq!(
        m.default_backends("reviews"),
        pairs(&[("reviews-v1", 50), ("reviews-v3", 50)])
    );
}

#[test]
fn a_conflict_storm_stops_with_a_clear_message() {
    let m = Mesh::bookinfo();
    m.server.inject(
        Fault::status(409, "the object has been modified")
            .method("PUT")
            .always(),
    );
    let r = m.run(&["shift", "reviews", "v3=100"]);
    r.assert_code(1);
    assert!(r.stderr.contains("kept changing"), "{}", r.stderr);
    assert!(m.stored_writes().is_empty());
    assert_eq!(m.write_attempts().len(), 5, "bounded retries");
}

#[test]
fn a_server_failing_every_request_fails_cleanly_without_writing() {
    let m = Mesh::bookinfo();
    m.server
        .inject(Fault::status(500, "etcdserver: leader changed").always());
    let r = m.run(&["shift", "reviews", "v3=100", "--request-timeout", "10s"]);
    r.assert_code(1);
    assert!(r.stderr.contains("500"), "{}", r.stderr);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    assert!(m.write_attempts().is_empty(), "{:?}", m.write_attempts());
}

#[test]
fn concurrent_shift_and_route_user_lose_nothing() {
    for _ in 0..3 {
        let m = Mesh::bookinfo();
        let a = m.command(&["shift", "reviews", "v1=50", "v3=50"]).spawn().unwrap();
        let b = m.command(&["route-user", "reviews", "alice", "v2"]).spawn().unwrap();
        let c = m.command(&["route-user", "reviews", "bob", "v3"]).spawn().unwrap();
        for child in [a, b, c] {
            assert!(child.wait_with_output().unwrap().status.success());
        }
        let route = m.route("reviews");
        let text = route.to_string();
        assert!(
            text.contains("\"alice\"") && text.contains("\"bob\""),
            "a user rule was lost: {text}"
        );
        assert_eq!(
            m.default_backends("reviews"),
            pairs(&[("reviews-v1", 50), ("reviews-v3", 50)])
        );
    }
}

#[test]
fn route_user_adds_is_idempotent_and_removes_only_that_user() {
    let m = Mesh::bookinfo();
    let r = m.run(&["route-user", "reviews", "vijay", "v2"]);
    r.assert_code(0);
    let route = m.route("reviews");
    let rule = &route["spec"]["rules"][0];
    assert_eq!(
        rule["matches"][0]["headers"][0],
        json!({"type": "Exact", "name": "end-user", "value": "vijay"})
    );
    assert_eq!(rule["backendRefs"][0]["name"], "reviews-v2");
    assert_eq!(
        m.default_backends("reviews"),
        pairs(&[("reviews-v1", 1)]),
        "everyone else unchanged"
    );

    let writes = m.stored_writes().len();
    let r = m.run(&["route-user", "reviews", "vijay", "v2"]);
    r.assert_code(0);
    assert!(r.stdout.contains("unchanged"), "{}", r.stdout);
    assert_eq!(m.stored_writes().len(), writes, "second run writes nothing");

    m.run(&["route-user", "reviews", "jason", "v3"]).assert_code(0);
    m.run(&["route-user", "reviews", "vijay", "--remove"]).assert_code(0);
    let text = m.route("reviews").to_string();
    assert!(!text.contains("\"vijay\""), "{text}");
    assert!(text.contains("\"jason\""), "{text}");
}

#[test]
fn status_reports_rules_backends_and_conditions() {
    let m = Mesh::bookinfo();
    m.run(&["route-user", "reviews", "vijay", "v2"]).assert_code(0);
    m.run(&["shift", "reviews", "v1=90", "v3=10"]).assert_code(0);
    m.server.clear_log();
    let r = m.run(&["status", "-o", "json"]);
    r.assert_code(0);
    let doc = r.json();
    let route = doc["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "reviews")
        .unwrap()
        .clone();
    assert_eq!(route["namespace"], "istio-demo");
    assert_eq!(route["service"], "reviews");
    assert_eq!(
        route["rules"][0]["matches"][0],
        json!({"header": "end-user", "value": "vijay"})
    );
    let default = &route["rules"][1];
    assert_eq!(default["matches"], json!([]));
    assert_eq!(default["backends"][0]["service"], "reviews-v1");
    assert_eq!(default["backends"][0]["version"], "v1");
    assert_eq!(default["backends"][0]["weight"], 90);
    assert_eq!(default["backends"][0]["percent"], 90.0);
    assert!(default["backends"][0]["readyEndpoints"].as_u64().unwrap() >= 1);
    assert!(route["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Accepted"));
    // One LIST per kind (HTTPRoutes, GRPCRoutes, Services, EndpointSlices) and the namespace itself (its labels say
    // whether it is in ambient mode), not a request per route, and no pods. (This bundle, v1.0.0, serves no
    // GRPCRoutes: that LIST is a 404, read as "none".)
    let mut gets: Vec<String> = m.server.requests().iter().map(|r| r.path.clone()).collect();
    gets.sort();
    assert_eq!(
        gets,
        [
            "/api/v1/namespaces/istio-demo",
            "/api/v1/namespaces/istio-demo/services",
            "/apis/discovery.k8s.io/v1/namespaces/istio-demo/endpointslices",
            "/apis/gateway.networking.k8s.io/v1/namespaces/istio-demo/grpcroutes",
            "/apis/gateway.networking.k8s.io/v1/namespaces/istio-demo/httproutes",
        ]
        .map(String::from)
    );
}

#[test]
fn status_table_reads_like_kubectl() {
    let m = Mesh::bookinfo();
    m.run(&["route-user", "reviews", "vijay", "v2"]).assert_code(0);
    m.run(&["shift", "reviews", "v1=90", "v3=10"]).assert_code(0);
    let r = m.run(&["status", "reviews"]);
    r.assert_code(0);
    insta::assert_snapshot!("status_table_reviews", r.stdout);
    let r = m.run(&["status", "-A", "-o", "wide"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("CONDITIONS") && r.stdout.contains("Accepted=True"),
        "{}",
        r.stdout
    );
}

#[test]
fn without_gateway_api_crds_the_hint_says_how_to_install_them() {
    let m = Mesh::with(mesh_sandbox::scenario::bookinfo().no_crds());
    let r = m.run(&["shift", "reviews", "v3=100"]);
    r.assert_code(1);
    assert!(r.stderr.contains("HTTPRoutes"), "{}", r.stderr);
    assert!(r.stderr.contains("standard-install.yaml"), "{}", r.stderr);
    let r = m.run(&["status"]);
    r.assert_code(1);
}

#[test]
fn error_messages_are_pinned() {
    let m = Mesh::bookinfo();
    let r = m.run(&["shift", "reviews", "v4=100"]);
    insta::assert_snapshot!("shift_missing_backend", r.stderr);
    let r = m.run(&["shift", "reviews", "v1=60", "v3=60"]);
    insta::assert_snapshot!("shift_sum_over_100", r.stderr);
    let r = m.run(&["shift", "ratings", "v1=100", "--route", "nope"]);
    insta::assert_snapshot!("shift_route_not_found", r.stderr);
}
