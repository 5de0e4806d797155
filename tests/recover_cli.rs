//! `kubectl mesh recover` against the sandbox: it restarts exactly the owners of the broken pods, writes
//! nothing else, and every refusal or failure leaves the cluster as it was.

#[path = "common/mesh.rs"]
mod mesh;

use std::time::Duration;

use mesh::Mesh;
use mesh_sandbox::scenario::{backdate_pods, bookinfo};
use mesh_sandbox::{Fault, RbacRule, ServerOptions};
use serde_json::{json, Value};

fn stale() -> Mesh {
    Mesh::with(bookinfo().stale_root_cert())
}

/// PATCH/POST/PUT/DELETE the server stored, as "METHOD path".
fn mutations(m: &Mesh) -> Vec<String> {
    m.stored_writes()
        .into_iter()
        .filter(|w| !w.path.contains("selfsubjectaccessreviews"))
        .map(|w| format!("{} {}", w.method, w.path))
        .collect()
}

fn doctor_errors(m: &Mesh) -> Vec<String> {
    let r = m.run(&["doctor", "-o", "json"]);
    r.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "error")
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn recover_restarts_exactly_the_owners_of_stale_pods_and_doctor_is_clean_after() {
    let m = stale();
    assert!(doctor_errors(&m).contains(&"stale-sidecar-cert".to_string()));
    m.server.clear_log();
    let r = m.run(&["recover", "--yes"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("reviews-v2") && r.stdout.contains("ratings-v1"),
        "{}",
        r.stdout
    );
    let mut writes = mutations(&m);
    writes.sort();
    assert_eq!(
        writes,
        [
            "PATCH /apis/apps/v1/namespaces/istio-demo/deployments/ratings-v1",
            "PATCH /apis/apps/v1/namespaces/istio-demo/deployments/reviews-v2",
        ]
    );
    for w in m.stored_writes().iter().filter(|w| w.method == "PATCH") {
        assert_eq!(w.content_type, "application/strategic-merge-patch+json");
        let body: Value = serde_json::from_str(w.body.as_deref().unwrap()).unwrap();
        let at = body["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .as_str()
            .unwrap();
        assert!(at.parse::<jiff::Timestamp>().is_ok(), "RFC 3339: {at}");
    }
    // The server's Deployment controller replaced the pods: doctor is clean, and a second recover does nothing.
    assert!(doctor_errors(&m).is_empty(), "{:?}", doctor_errors(&m));
    m.server.clear_log();
    let r = m.run(&["recover", "--yes"]);
    r.assert_code(0);
    assert!(r.stdout.contains("Nothing to recover"), "{}", r.stdout);
    assert!(mutations(&m).is_empty());
}

#[test]
fn recover_never_touches_healthy_workloads() {
    let m = Mesh::bookinfo();
    let r = m.run(&["recover", "--yes", "-A"]);
    r.assert_code(0);
    assert!(r.stdout.contains("Nothing to recover"), "{}", r.stdout);
    assert!(m.write_attempts().is_empty(), "{:?}", m.write_attempts());
}

#[test]
fn dry_run_client_shows_the_plan_and_writes_nothing() {
    let m = stale();
    let r = m.run(&["recover", "--dry-run=client"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("OWNER") && r.stdout.contains("reviews-v2"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("stale-sidecar-cert"), "{}", r.stdout);
    assert!(r.stdout.contains("nothing was changed"), "{}", r.stdout);
    assert!(m.write_attempts().is_empty(), "{:?}", m.write_attempts());
}

#[test]
fn dry_run_server_sends_dry_run_patches_only() {
    let m = stale();
    let r = m.run(&["recover", "--dry-run=server"]);
    r.assert_code(0);
    let attempts = m.write_attempts();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(attempts.iter().all(|a| a.dry_run), "{attempts:?}");
    assert!(mutations(&m).is_empty());
    assert!(doctor_errors(&m).contains(&"stale-sidecar-cert".to_string()));
}

#[test]
fn without_a_terminal_recover_requires_yes_and_writes_nothing() {
    let m = stale();
    let r = m.run(&["recover"]);
    r.assert_code(1);
    assert!(r.stderr.contains("hint: pass --yes"), "{}", r.stderr);
    assert!(mutations(&m).is_empty(), "{:?}", mutations(&m));
}

#[test]
fn a_forbidden_patch_stops_before_any_write() {
    let m = stale();
    // Everything doctor needs, but not patch on deployments.
    m.server.set_rbac(Some(vec![
        RbacRule::new(&["*"], &["*"], &["get", "list", "watch"], &[]),
        RbacRule::new(
            &["authorization.k8s.io"],
            &["selfsubjectaccessreviews"],
            &["create"],
            &[],
        ),
    ]));
    let r = m.run(&["recover", "--yes"]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("patch") && r.stderr.contains("deployments"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("istio-demo"), "{}", r.stderr);
    let patches: Vec<_> = m
        .server
        .requests()
        .into_iter()
        .filter(|q| q.method == "PATCH")
        .collect();
    assert!(patches.is_empty(), "{patches:?}");
}

#[test]
fn a_paused_deployment_is_reported_and_skipped() {
    let m = stale();
    let mut d = m.server.get("deployments", Some("istio-demo"), "reviews-v2").unwrap();
    d["spec"]["paused"] = json!(true);
    m.server.update(d).unwrap();
    m.server.clear_log();
    let r = m.run(&["recover", "--yes"]);
    r.assert_code(0);
    assert!(r.stdout.contains("paused"), "{}", r.stdout);
    assert_eq!(
        mutations(&m),
        ["PATCH /apis/apps/v1/namespaces/istio-demo/deployments/ratings-v1"]
    );
}

#[test]
fn a_failing_patch_leaves_the_others_done_and_exits_1_with_a_summary() {
    let m = stale();
    m.server.inject(
        Fault::status(500, "etcd timeout")
            .method("PATCH")
            .path("/deployments/ratings-v1")
            .always(),
    );
    let r = m.run(&["recover", "--yes"]);
    r.assert_code(1);
    let summary = r.stdout.split("RESULT").nth(1).unwrap_or("").to_string();
    let line = |name: &str| summary.lines().find(|l| l.starts_with(name)).unwrap_or("").to_string();
    assert!(line("ratings-v1").contains("failed"), "{}", r.stdout);
    assert!(line("reviews-v2").contains("done"), "{}", r.stdout);
    assert_eq!(
        mutations(&m),
        ["PATCH /apis/apps/v1/namespaces/istio-demo/deployments/reviews-v2"]
    );
}

#[test]
fn a_bare_pod_under_a_pdb_with_no_disruptions_allowed_is_reported_not_forced() {
    let m = stale();
    m.server
        .insert(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "debug", "namespace": "istio-demo", "labels": {"app": "debug"}},
            "spec": {"containers": [{"name": "sleep", "image": "curlimages/curl"}]}}))
        .unwrap();
    let early = "2026-01-01T00:00:00Z".parse().unwrap();
    m.server
        .with_store(|s| backdate_pods(s, "istio-demo", "app=debug", early));
    m.server
        .insert(json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "debug", "namespace": "istio-demo"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "debug"}}}}))
        .unwrap();
    m.server.clear_log();
    let r = m.run(&["recover", "--yes", "--timeout", "3s"]);
    r.assert_code(1);
    assert!(
        r.stdout.contains("debug") && r.stdout.to_lowercase().contains("disruption"),
        "{}",
        r.stdout
    );
    let evictions: Vec<_> = m
        .server
        .requests()
        .into_iter()
        .filter(|q| q.path.ends_with("/eviction"))
        .collect();
    assert!(evictions.len() >= 2, "429 is retried: {evictions:?}");
    assert!(evictions.iter().all(|e| e.status == 429), "{evictions:?}");
    // As kubectl sends evictions: no query string (no fieldManager, which the API server accepts but ignores).
    assert!(evictions.iter().all(|e| e.query.is_empty()), "{evictions:?}");
    assert!(
        m.server.get("pods", Some("istio-demo"), "debug").is_some(),
        "never forced"
    );
}

#[test]
fn wait_follows_the_rollouts_then_checks_again() {
    let opts = ServerOptions {
        ready_delay: Some(Duration::from_millis(1500)),
        ..ServerOptions::default()
    };
    let m = Mesh::with_options(bookinfo().stale_root_cert(), opts);
    let r = m.run(&["recover", "--yes", "--wait", "--timeout", "60s"]);
    r.assert_code(0);
    assert!(r.stderr.contains("Waiting for deployment"), "{}", r.stderr);
    assert!(r.stderr.contains("successfully rolled out"), "{}", r.stderr);
    assert!(r.stdout.contains("healthy now"), "{}", r.stdout);
    assert!(doctor_errors(&m).is_empty());
}

#[test]
fn wait_timeout_expires_cleanly() {
    let opts = ServerOptions {
        ready_delay: Some(Duration::from_secs(600)),
        ..ServerOptions::default()
    };
    let m = Mesh::with_options(bookinfo().stale_root_cert(), opts);
    let started = std::time::Instant::now();
    let r = m.run(&["recover", "--yes", "--wait", "--timeout", "3s"]);
    r.assert_code(1);
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert!(r.stdout.contains("timed out"), "{}\n{}", r.stdout, r.stderr);
}
