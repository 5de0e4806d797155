//! `kubectl mesh doctor` as users run it: the real binary against sandbox clusters with known faults.

#[path = "common/mesh.rs"]
mod mesh;

use mesh::Mesh;
use mesh_sandbox::scenario::bookinfo;
use mesh_sandbox::{Fault, RbacRule};
use serde_json::Value;

fn check<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == id)
        .collect()
}

fn named_pods(report: &Value, id: &str) -> Vec<String> {
    let mut pods: Vec<String> = check(report, id)
        .iter()
        .flat_map(|c| c["resources"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["kind"] == "Pod")
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    pods.sort();
    pods
}

#[test]
fn doctor_on_a_healthy_bookinfo_is_clean() {
    let m = Mesh::bookinfo();
    let r = m.run(&["doctor"]);
    eprintln!("{}", r.stdout);
    r.assert_code(0);
    let r = m.run(&["doctor", "-o", "json"]);
    r.assert_code(0);
    let report = r.json();
    assert_eq!(report["success"], true);
    for c in report["checks"].as_array().unwrap() {
        assert!(
            c["status"] == "ok" || c["status"] == "skipped" || c["status"] == "warning",
            "{c}"
        );
    }
    assert!(m.write_attempts().is_empty(), "doctor is read-only");
}

#[test]
fn doctor_names_exactly_the_pods_with_stale_sidecar_certs() {
    let m = Mesh::with(bookinfo().stale_root_cert());
    let r = m.run(&["doctor", "-o", "json"]);
    eprintln!("{}", r.stdout);
    r.assert_code(1);
    let report = r.json();
    assert_eq!(report["success"], false);
    let stale = named_pods(&report, "stale-sidecar-cert");
    let pods = m.server.list("pods", Some("istio-demo"));
    let mut expected: Vec<String> = pods
        .iter()
        .filter(|p| {
            let app = p["metadata"]["labels"]["app"].as_str().unwrap_or("");
            let version = p["metadata"]["labels"]["version"].as_str().unwrap_or("");
            (app == "reviews" && version == "v2") || app == "ratings"
        })
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    assert!(!expected.is_empty());
    assert_eq!(stale, expected);
    let r = m.run(&["doctor"]);
    r.assert_code(1);
    assert!(
        r.stdout.contains("stale-sidecar-cert") || r.stdout.contains("CERTIFICATE_VERIFY_FAILED"),
        "{}",
        r.stdout
    );
}

#[test]
fn doctor_finds_pods_without_sidecars() {
    let m = Mesh::with(bookinfo().missing_sidecar());
    let r = m.run(&["doctor", "-o", "json"]);
    r.assert_code(1);
    let pods = named_pods(&r.json(), "sidecar-missing");
    assert!(
        !pods.is_empty() && pods.iter().all(|p| p.starts_with("details-v1-")),
        "{pods:?}"
    );
}

#[test]
fn a_forbidden_list_makes_checks_skipped_not_failed() {
    let m = Mesh::bookinfo();
    m.server.inject(
        Fault::status(403, "forbidden")
            .method("GET")
            .path("/api/v1/namespaces/istio-demo/pods")
            .always(),
    );
    let r = m.run(&["doctor", "-o", "json"]);
    eprintln!("{}", r.stdout);
    r.assert_code(0);
    let report = r.json();
    let skipped: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "skipped")
        .collect();
    assert!(!skipped.is_empty());
    assert!(
        skipped
            .iter()
            .any(|c| c["message"].as_str().unwrap().contains("needs list pods in istio-demo")),
        "{skipped:?}"
    );
    assert!(check(&report, "sidecar-missing")
        .iter()
        .all(|c| c["status"] == "skipped"));
}

#[test]
fn doctor_with_the_shipped_read_only_role_sees_no_forbidden_request() {
    let m = Mesh::bookinfo();
    let role: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/rbac/doctor-clusterrole.yaml"
        ))
        .unwrap(),
    )
    .unwrap();
    let rules: Vec<RbacRule> = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let list = |k: &str| {
                r[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            };
            RbacRule {
                api_groups: list("apiGroups"),
                resources: list("resources"),
                verbs: list("verbs"),
                namespaces: vec![],
            }
        })
        .collect();
    assert!(
        !rules.iter().any(|r| r.resources.iter().any(|x| x == "secrets")),
        "the doctor role grants no Secrets"
    );
    m.server.set_rbac(Some(rules));
    for args in [&["doctor", "-A", "-o", "json"][..], &["doctor", "-o", "json"][..]] {
        m.server.clear_log();
        let r = m.run(args);
        r.assert_code(0);
        let forbidden: Vec<_> = m.server.requests().into_iter().filter(|q| q.status == 403).collect();
        assert!(forbidden.is_empty(), "{forbidden:?}");
        assert!(
            !m.server.requests().iter().any(|q| q.path.contains("/secrets")),
            "doctor read Secrets"
        );
    }
}

#[test]
fn doctor_lists_each_kind_once_per_namespace_not_per_pod() {
    let m = Mesh::with(bookinfo().pods(10_000));
    let total = m.server.list("pods", None).len();
    assert!(total >= 10_000);
    let started = std::time::Instant::now();
    let r = m.run(&["doctor", "-A", "-o", "json"]);
    eprintln!("doctor on {total} pods took {:?}", started.elapsed());
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    let reqs = m.server.requests();
    let pod_lists: Vec<_> = reqs.iter().filter(|q| q.path == "/api/v1/pods").collect();
    assert_eq!(
        pod_lists.len(),
        total.div_ceil(500),
        "pods in pages of 500: {:?}",
        pod_lists.iter().map(|q| &q.query).collect::<Vec<_>>()
    );
    assert!(pod_lists.iter().skip(1).all(|q| q.query.contains("continue=")));
    assert!(
        reqs.iter()
            .all(|q| !q.path.starts_with("/api/v1/namespaces/") || !q.path.contains("/pods/")),
        "no per-pod GETs"
    );
    // One LIST per kind (plus the pages of the big ones), nothing per object.
    assert!(reqs.len() < 15 + 2 * total.div_ceil(500), "{} requests", reqs.len());
}

#[test]
fn unknown_check_id_is_a_usage_error() {
    let m = Mesh::bookinfo();
    let r = m.run(&["doctor", "--check", "nope"]);
    r.assert_code(2);
    assert!(r.stderr.contains("--list-checks"), "{}", r.stderr);
    assert!(m.server.requests().is_empty());
    let r = m.run(&["doctor", "--list-checks"]);
    r.assert_code(0);
    assert!(r.stdout.contains("stale-sidecar-cert"));
}

#[test]
fn doctor_reads_peer_authentications_at_v1beta1_and_finds_plaintext_callers() {
    let m = Mesh::with(bookinfo().strict_mtls().missing_sidecar());
    let r = m.run(&["doctor", "-o", "json"]);
    r.assert_code(1);
    let report = r.json();
    let reqs = m.server.requests();
    let pa = reqs
        .iter()
        .find(|q| q.path.contains("peerauthentications"))
        .expect("doctor lists PeerAuthentications");
    assert!(pa.path.starts_with("/apis/security.istio.io/v1beta1/"), "{}", pa.path);
    assert_eq!(pa.status, 200);
    let callers = named_pods(&report, "mtls-plaintext-callers");
    assert!(!callers.is_empty(), "{report:#}");
    assert!(callers.iter().all(|p| p.starts_with("details-v1-")), "{callers:?}");
}

#[test]
fn a_backend_in_another_namespace_is_not_verified_under_n() {
    // reviews sends 10% to a Service of another namespace: `doctor -n istio-demo` did not list that namespace's
    // Services, so it cannot say the backend is missing; -A can, and does.
    let m = Mesh::bookinfo();
    let mut route = m.server.get("httproutes", Some("istio-demo"), "reviews").unwrap();
    route["spec"]["rules"][0]["backendRefs"] = serde_json::json!([
        {"name": "reviews-v1", "port": 9080, "weight": 90},
        {"name": "reviews-canary", "namespace": "canary", "port": 9080, "weight": 10}
    ]);
    m.server.update(route).unwrap();
    let r = m.run(&[
        "doctor",
        "-n",
        "istio-demo",
        "--check",
        "route-backend-missing",
        "-o",
        "json",
    ]);
    r.assert_code(0);
    let report = r.json();
    let c = check(&report, "route-backend-missing");
    assert_eq!(c.len(), 1, "{report}");
    assert_eq!(c[0]["status"], "skipped", "{report}");
    assert!(
        c[0]["message"]
            .as_str()
            .unwrap()
            .contains("Service canary/reviews-canary"),
        "{report}"
    );
    let r = m.run(&["doctor", "-A", "--check", "route-backend-missing", "-o", "json"]);
    r.assert_code(1);
    assert_eq!(check(&r.json(), "route-backend-missing")[0]["status"], "error");
}
