//! Request budgets on the scale scenario: the plugin's reads cost one paginated LIST per kind (`limit=500`), never
//! a request per object, and `shift` waits for at most 3 round trips. These are counts, not timings, so they hold
//! on any machine; a regression to per-pod calls fails here. (The timings are in `cargo bench --bench scale`.)

#[path = "common/mesh.rs"]
mod mesh;

use std::collections::BTreeMap;
use std::time::Duration;

use mesh::Mesh;
use mesh_core::doctor::Kind;
use mesh_sandbox::scale::ScaleScenario;
use mesh_sandbox::{sequential_round_trips, Fault, RequestRecord, ServerOptions, TestServer};
use serde_json::{json, Value};

const PAGE: usize = 500;

/// A smaller scale cluster for shift (which reads one namespace whatever the size): 1,200 pods over 24 namespaces.
fn scale() -> Mesh {
    let server = TestServer::start(ServerOptions::default()).unwrap();
    let scenario = ScaleScenario {
        namespaces: 24,
        pods_per_namespace: 50,
        services: 72,
        routes: 24,
        ..ScaleScenario::default()
    };
    let summary = server.apply_scale(&scenario).unwrap();
    assert_eq!(summary.pods, 1200);
    Mesh::on(server, Some("team-000"))
}

/// LIST path → requests made, for GETs; panics on anything that is not a LIST (a GET of one object, a watch).
fn lists_made(log: &[RequestRecord]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for q in log {
        assert_eq!(q.method, "GET", "only reads: {q:?}");
        assert!(!q.watch, "no watches: {q:?}");
        assert!(q.query.contains("limit=500"), "every LIST is paginated: {q:?}");
        *out.entry(q.path.clone()).or_insert(0) += 1;
    }
    out
}

/// The LISTs (path → pages) a cluster-wide read of `kinds` must cost, counted from the store.
fn expected_lists(m: &Mesh, kinds: &[Kind]) -> BTreeMap<String, usize> {
    kinds
        .iter()
        .map(|kind| {
            let items = m.server.list(kind.plural(), None);
            let n = if kind.field_selector().is_some() {
                let name = json!("istio-ca-root-cert");
                items
                    .iter()
                    .filter(|o| o.pointer("/metadata/name") == Some(&name))
                    .count()
            } else {
                items.len()
            };
            let path = kind.list_path(None);
            let path = path.split('?').next().unwrap_or_default().to_string();
            (path, n.div_ceil(PAGE).max(1))
        })
        .collect()
}

/// The default scale scenario (10,000 pods in 200 namespaces, 1,500 Services, 500 routes), as `cargo bench`
/// measures it. One test runs every command in turn, since the request log is the server's.
#[test]
fn on_ten_thousand_pods_every_read_is_one_paginated_list_per_kind() {
    let server = TestServer::start(ServerOptions::default()).unwrap();
    let summary = server.apply_scale(&ScaleScenario::default()).unwrap();
    assert_eq!(summary.pods, 10_000);
    let m = Mesh::on(server, Some("team-000"));

    // doctor and recover: one LIST per kind (17 kinds, GatewayClasses and VirtualServices included), 21 pages of
    // pods and nothing per object.
    let expected = expected_lists(&m, &Kind::ALL);
    assert_eq!(expected.len(), 17, "{expected:?}");
    assert!(
        expected.contains_key("/apis/gateway.networking.k8s.io/v1/gatewayclasses"),
        "{expected:?}"
    );
    assert!(
        expected.contains_key("/apis/networking.istio.io/v1beta1/virtualservices"),
        "{expected:?}"
    );
    eprintln!(
        "doctor -A on 10,000 pods: {} requests (one LIST per kind and its pages)",
        expected.values().sum::<usize>()
    );
    assert!(
        expected["/api/v1/pods"] >= 20,
        "10,000 pods are at least 20 pages: {expected:?}"
    );
    for args in [
        &["doctor", "-A", "-o", "json"][..],
        &["recover", "-A", "--dry-run=client", "-o", "json"][..],
    ] {
        m.server.clear_log();
        let r = m.run(args);
        assert!(r.code == 0 || r.code == 1, "{args:?}: {}", r.stderr);
        let made = lists_made(&m.server.requests());
        assert_eq!(made, expected, "{args:?}");
    }

    // What doctor found on all of them: exactly the stale sidecars the scenario made.
    let r = m.run(&["doctor", "-A", "-o", "json"]);
    r.assert_code(1);
    let stale = m
        .server
        .list("pods", None)
        .iter()
        .filter(|p| {
            p["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .starts_with("team-")
        })
        .filter(|p| started_before_root(p, &m))
        .count();
    assert_eq!(stale, summary.stale_sidecar_pods);
    assert!(stale > 0, "the scenario has stale sidecars");
    assert_eq!(error_resources(&r.json(), "stale-sidecar-cert"), stale);

    // status: its four kinds (HTTPRoutes, GRPCRoutes, Services, EndpointSlices) and the namespaces (ambient mode),
    // however many routes, and never the pods (the biggest list by far). This cluster's Gateway API (v1.0.0) serves
    // no GRPCRoutes: one LIST answered 404, read as none.
    let status_kinds = [Kind::HttpRoute, Kind::Service, Kind::EndpointSlice];
    m.server.clear_log();
    let r = m.run(&["status", "-A", "-o", "json"]);
    r.assert_code(0);
    assert_eq!(
        r.json()["routes"].as_array().map_or(0, Vec::len),
        500,
        "every mesh route is shown"
    );
    let mut expected = expected_lists(&m, &status_kinds);
    expected.insert("/apis/gateway.networking.k8s.io/v1/grpcroutes".into(), 1);
    expected.insert("/api/v1/namespaces".into(), 1);
    assert_eq!(lists_made(&m.server.requests()), expected);

    // explain: status's three kinds in the Service's namespace, one page each, whatever the cluster's size.
    let route = m
        .server
        .list("httproutes", Some("team-000"))
        .into_iter()
        .next()
        .expect("team-000 has a mesh route");
    let service = route["spec"]["parentRefs"][0]["name"].as_str().unwrap().to_string();
    m.server.clear_log();
    let r = m.run(&["explain", &service, "-n", "team-000", "-o", "json"]);
    r.assert_code(0);
    assert_eq!(r.json()["matched"], true);
    let expected: BTreeMap<String, usize> = status_kinds
        .iter()
        .map(|k| {
            let path = k.list_path(Some("team-000"));
            (path.split('?').next().unwrap_or_default().to_string(), 1)
        })
        .collect();
    assert_eq!(lists_made(&m.server.requests()), expected);

    // doctor in one namespace of the big cluster never lists pods (or anything namespaced) cluster-wide.
    m.server.clear_log();
    let r = m.run(&["doctor", "-n", "team-007", "-o", "json"]);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    let made = lists_made(&m.server.requests());
    for kind in Kind::ALL.iter().filter(|k| k.namespaced()) {
        let everywhere = kind.list_path(None);
        let everywhere = everywhere.split('?').next().unwrap_or_default();
        assert!(!made.contains_key(everywhere), "{kind:?} listed cluster-wide: {made:?}");
    }
    assert!(made.values().all(|&pages| pages == 1), "one page each: {made:?}");
    assert!(made.contains_key("/api/v1/namespaces/team-007/pods"), "{made:?}");
    // ztunnel's DaemonSet is looked for where Istio installs it (istio-system, or kube-system on GKE).
    for ns in ["team-007", "istio-system", "kube-system"] {
        let path = format!("/apis/apps/v1/namespaces/{ns}/daemonsets");
        assert!(made.contains_key(&path), "{path}: {made:?}");
    }
    assert!(
        made.contains_key("/apis/networking.istio.io/v1beta1/namespaces/team-007/virtualservices"),
        "{made:?}"
    );
    assert!(
        made.contains_key("/apis/gateway.networking.k8s.io/v1/gatewayclasses"),
        "{made:?}"
    );

    // doctor --error with a text naming a Service of team-007 (the context's namespace is team-000): exactly
    // the LISTs of doctor -n team-007, nothing of the context's namespace, nothing per object.
    let service = m
        .server
        .list("services", Some("team-007"))
        .into_iter()
        .next()
        .expect("team-007 has Services")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let text = format!(
        "[2026-11-23T12:00:00.000Z] \"GET / HTTP/1.1\" 503 UH no_healthy_upstream - \"-\" 0 19 0 - \"-\" \"curl/8.5.0\" \"1\" \"{service}:9080\" \"-\" outbound|9080||{service}.team-007.svc.cluster.local - 10.43.0.1:9080 10.42.0.1:5000 - default"
    );
    m.server.clear_log();
    let r = m.run(&["doctor", "--error", &text, "-o", "json"]);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    assert_eq!(r.json()["symptom"]["targets"][0]["namespace"], "team-007");
    assert_eq!(
        lists_made(&m.server.requests()),
        made,
        "doctor --error reads what doctor -n team-007 reads"
    );
}

/// How many resources the error findings of check `id` name.
fn error_resources(doc: &Value, id: &str) -> usize {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == id && c["status"] == "error")
        .map(|c| c["resources"].as_array().map_or(0, Vec::len))
        .sum()
}

/// Whether the pod's istio-proxy started before its namespace's current root certificate.
fn started_before_root(pod: &Value, m: &Mesh) -> bool {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let Some(cm) = m.server.get("configmaps", Some(ns), "istio-ca-root-cert") else {
        return false;
    };
    let Some(not_before) = cm["data"]["root-cert.pem"]
        .as_str()
        .and_then(mesh_sandbox::scenario::cert_not_before)
    else {
        return false;
    };
    let started = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == "istio-proxy")
        .and_then(|c| c.pointer("/state/running/startedAt"))
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    started.is_some_and(|t| t < not_before)
}

#[test]
fn shift_waits_for_at_most_three_round_trips() {
    let m = scale();
    let route = m
        .server
        .list("httproutes", Some("team-000"))
        .into_iter()
        .next()
        .expect("team-000 has a mesh route");
    let service = route["spec"]["parentRefs"][0]["name"].as_str().unwrap().to_string();
    // With 100 ms added to every answer, requests sent together overlap in the server's log for sure, and
    // requests sent one after the other do not.
    // Pods of v3 run but have no Service yet: shift creates it, so all three round trips (reads, Service,
    // route) are used.
    let mut pod = m
        .server
        .list("pods", Some("team-000"))
        .into_iter()
        .find(|p| p["metadata"]["labels"]["app"] == service.as_str())
        .expect("a pod of the routed app");
    pod["metadata"]["name"] = format!("{service}-v3-0").into();
    pod["metadata"]["labels"]["version"] = "v3".into();
    for k in ["uid", "resourceVersion", "ownerReferences", "creationTimestamp"] {
        pod["metadata"].as_object_mut().unwrap().remove(k);
    }
    m.server.insert(pod).expect("a v3 pod");
    m.server.inject(Fault::delay(Duration::from_millis(100)).always());
    m.server.clear_log();
    let r = m.run(&["shift", &service, "v1=50", "v3=50", "--create-backends"]);
    r.assert_code(0);
    let log = m.server.requests();
    let creates: Vec<_> = log.iter().filter(|q| q.method == "POST").collect();
    assert_eq!(creates.len(), 1, "the v3 Service: {creates:?}");
    assert_eq!(log.iter().filter(|q| q.method == "PUT").count(), 1, "the route");
    assert_eq!(sequential_round_trips(&log), 3, "{log:#?}");
    // Reads are one round: the CRD, the namespace's five lists (GRPCRoutes too: a Service whose route is a
    // GRPCRoute is found, and one with both kinds attached is refused, only if they are read with the rest), the
    // namespace itself and its Gateways (ambient mode and waypoints).
    let reads = log.iter().filter(|q| q.method == "GET").count();
    assert_eq!(reads, 8, "{log:#?}");
    assert!(
        log.iter()
            .filter(|q| q.method == "GET")
            .all(|q| q.path.starts_with("/api/v1/namespaces/team-000/")
                || q.path == "/api/v1/namespaces/team-000"
                || q.path.starts_with("/apis/discovery.k8s.io/v1/namespaces/team-000/")
                || q.path
                    .starts_with("/apis/gateway.networking.k8s.io/v1/namespaces/team-000/")
                || q.path
                    == "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/httproutes.gateway.networking.k8s.io"),
        "shift reads only its namespace and the HTTPRoute CRD: {log:#?}"
    );
    for path in [
        "/api/v1/namespaces/team-000",
        "/apis/gateway.networking.k8s.io/v1/namespaces/team-000/gateways",
    ] {
        assert!(
            log.iter().any(|q| q.method == "GET" && q.path == path),
            "{path}: {log:#?}"
        );
    }
}
