//! `kubectl mesh doctor --deep` against the sandbox API server: each sidecar's Envoy admin `/certs` is read
//! through the pod port-forward (the sandbox emulates the WebSocket port-forward and a fake Envoy admin).

#[path = "common/mesh.rs"]
mod mesh;

use std::collections::BTreeSet;

use mesh::Mesh;
use mesh_sandbox::scenario::bookinfo;
use mesh_sandbox::{Fault, RbacRule};
use serde_json::Value;

const DEEP: &str = "stale-sidecar-cert-deep";

fn findings<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == id)
        .collect()
}

/// Pod names named by the findings of `id` with `status`.
fn pods_with(report: &Value, id: &str, status: &str) -> BTreeSet<String> {
    findings(report, id)
        .iter()
        .filter(|c| c["status"] == status)
        .flat_map(|c| c["resources"].as_array().unwrap().iter())
        .filter(|r| r["kind"] == "Pod")
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

fn pod_names(m: &Mesh, selector: &str) -> BTreeSet<String> {
    m.server
        .list_selected("pods", Some("istio-demo"), selector)
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// Pods with an istio-proxy container (sidecars and gateways).
fn proxies(m: &Mesh) -> BTreeSet<String> {
    m.server
        .list("pods", Some("istio-demo"))
        .iter()
        .filter(|p| {
            ["containers", "initContainers"].iter().any(|k| {
                p["spec"][k]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["name"] == "istio-proxy"))
            })
        })
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn portforwards(m: &Mesh) -> Vec<mesh_sandbox::RequestRecord> {
    m.server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/portforward"))
        .collect()
}

/// The doctor role shipped in deploy/rbac, plus `extra` rules.
fn doctor_role(extra: &[RbacRule]) -> Vec<RbacRule> {
    let mut rules = rules_of("deploy/rbac/doctor-clusterrole.yaml");
    rules.extend(extra.iter().cloned());
    rules
}

fn rules_of(file: &str) -> Vec<RbacRule> {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    let role: Value = serde_saphyr::from_str(&text).unwrap();
    role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let list = |k: &str| -> Vec<String> {
                r[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect()
            };
            RbacRule {
                api_groups: list("apiGroups"),
                resources: list("resources"),
                verbs: list("verbs"),
                namespaces: vec![],
            }
        })
        .collect()
}

#[test]
fn deep_confirms_exactly_the_stale_pods_and_clears_the_others() {
    let m = Mesh::with(bookinfo().stale_root_cert());
    let r = m.run(&["doctor", "--deep", "-o", "json"]);
    r.assert_code(1);
    let report = r.json();
    let stale: BTreeSet<String> = pod_names(&m, "app=reviews,version=v2")
        .into_iter()
        .chain(pod_names(&m, "app=ratings"))
        .collect();
    let all = proxies(&m);
    assert_eq!(stale.len(), 2, "reviews-v2 and ratings-v1 have one pod each");
    assert!(all.len() > stale.len(), "{all:?}");
    assert_eq!(pods_with(&report, DEEP, "error"), stale, "{}", r.stdout);
    let fresh: BTreeSet<String> = all.difference(&stale).cloned().collect();
    assert_eq!(pods_with(&report, DEEP, "ok"), fresh, "{}", r.stdout);
    assert!(pods_with(&report, DEEP, "warning").is_empty(), "{}", r.stdout);
    // The deep errors name the serials and carry the same restart fix as the start-time check.
    for f in findings(&report, DEEP).iter().filter(|f| f["status"] == "error") {
        let msg = f["message"].as_str().unwrap();
        assert!(
            msg.contains("trusts only CA serial") && msg.contains("current Istio root (serial"),
            "{msg}"
        );
        assert_eq!(f["fix"]["type"], "restart-owner", "{f}");
    }
    // The start-time suspicion is confirmed, not duplicated or contradicted.
    let start_time = findings(&report, "stale-sidecar-cert");
    assert!(start_time
        .iter()
        .filter(|f| f["status"] == "error")
        .all(|f| f["message"].as_str().unwrap().ends_with("(confirmed by --deep)")));
    assert_eq!(pods_with(&report, "stale-sidecar-cert", "error"), stale);
    // One port-forward per sidecar, each upgraded, after a permission check.
    let pf = portforwards(&m);
    assert_eq!(pf.len(), all.len(), "{pf:?}");
    assert!(pf
        .iter()
        .all(|q| q.method == "GET" && q.status == 101 && q.query.contains("ports=15000")));
    let reviews = m.server.requests();
    assert!(reviews.iter().any(
        |q| q.path.contains("selfsubjectaccessreviews") && q.body.as_deref().unwrap_or("").contains("portforward")
    ));
}

#[test]
fn deep_reads_native_sidecars_too() {
    let m = Mesh::with(bookinfo().stale_root_cert().native_sidecars());
    let r = m.run(&["doctor", "--deep", "-o", "json"]);
    r.assert_code(1);
    let report = r.json();
    let stale: BTreeSet<String> = pod_names(&m, "app=reviews,version=v2")
        .into_iter()
        .chain(pod_names(&m, "app=ratings"))
        .collect();
    assert_eq!(pods_with(&report, DEEP, "error"), stale, "{}", r.stdout);
}

#[test]
fn deep_on_a_healthy_mesh_confirms_every_sidecar_and_exits_0() {
    let m = Mesh::bookinfo();
    let r = m.run(&["doctor", "--deep"]);
    r.assert_code(0);
    let all = proxies(&m);
    assert!(
        r.stdout.contains(&format!(
            "√ KM2031 {} sidecars trust the current Istio root (serial",
            all.len()
        )),
        "{}",
        r.stdout
    );
}

#[test]
fn doctor_without_deep_never_port_forwards() {
    let m = Mesh::with(bookinfo().stale_root_cert());
    let r = m.run(&["doctor", "-o", "json"]);
    r.assert_code(1);
    assert!(portforwards(&m).is_empty());
    assert!(!m
        .server
        .requests()
        .iter()
        .any(|q| q.path.contains("selfsubjectaccessreviews")));
    assert!(findings(&r.json(), DEEP).is_empty(), "{}", r.stdout);
}

#[test]
fn deep_without_portforward_permission_is_skipped_naming_it() {
    let m = Mesh::bookinfo();
    m.server.set_rbac(Some(doctor_role(&[])));
    let r = m.run(&["doctor", "--deep", "-o", "json"]);
    // Skipped checks do not change the exit code: the healthy mesh still exits 0.
    r.assert_code(0);
    let report = r.json();
    let deep = findings(&report, DEEP);
    assert_eq!(deep.len(), 1, "{deep:?}");
    assert_eq!(deep[0]["status"], "skipped");
    assert_eq!(
        deep[0]["message"],
        "needs get and create pods/portforward in istio-demo"
    );
    assert!(
        portforwards(&m).is_empty(),
        "nothing is port-forwarded without permission"
    );
    let forbidden: Vec<_> = m.server.requests().into_iter().filter(|q| q.status == 403).collect();
    assert!(forbidden.is_empty(), "{forbidden:?}");

    // With only `get` (enough for WebSocket upgrades before Kubernetes 1.35), `create` is named.
    m.server.set_rbac(Some(doctor_role(&[RbacRule::new(
        &[""],
        &["pods/portforward"],
        &["get"],
        &[],
    )])));
    let r = m.run(&["doctor", "--deep", "-o", "json"]);
    r.assert_code(0);
    let report = r.json();
    assert_eq!(
        findings(&report, DEEP)[0]["message"],
        "needs create pods/portforward in istio-demo"
    );
}

#[test]
fn a_skipped_deep_check_leaves_the_exit_code_to_the_other_checks() {
    let m = Mesh::with(bookinfo().stale_root_cert());
    m.server.set_rbac(Some(doctor_role(&[])));
    let plain = m.run(&["doctor", "-o", "json"]);
    let deep = m.run(&["doctor", "--deep", "-o", "json"]);
    plain.assert_code(1);
    deep.assert_code(1);
    let report = deep.json();
    assert_eq!(findings(&report, DEEP)[0]["status"], "skipped");
    // The start-time check still reports what it found, unchanged.
    assert_eq!(
        pods_with(&report, "stale-sidecar-cert", "error"),
        pods_with(&plain.json(), "stale-sidecar-cert", "error")
    );
}

#[test]
fn doctor_with_the_shipped_deep_role_sees_no_forbidden_request() {
    let m = Mesh::with(bookinfo().stale_root_cert());
    let mut rules = doctor_role(&[]);
    rules.extend(rules_of("deploy/rbac/doctor-deep-clusterrole.yaml"));
    m.server.set_rbac(Some(rules));
    let r = m.run(&["doctor", "--deep", "-o", "json"]);
    r.assert_code(1);
    let forbidden: Vec<_> = m.server.requests().into_iter().filter(|q| q.status == 403).collect();
    assert!(forbidden.is_empty(), "{forbidden:?}");
    assert_eq!(pods_with(&r.json(), DEEP, "error").len(), 2, "{}", r.stdout);
}

#[test]
fn unreadable_admins_are_warnings_naming_the_pod() {
    let m = Mesh::bookinfo();
    let details = pod_names(&m, "app=details").into_iter().next().unwrap();
    let ratings = pod_names(&m, "app=ratings").into_iter().next().unwrap();
    m.server
        .inject(Fault::status(503, "kubelet unavailable").path(&format!("pods/{details}/portforward")));
    m.server
        .inject(Fault::reset_mid_body().path(&format!("pods/{ratings}/portforward")));
    let r = m.run(&["doctor", "--deep", "-o", "json"]);
    // Unconfirmed is a warning, not an error and never an ok.
    r.assert_code(0);
    let report = r.json();
    let unread = pods_with(&report, DEEP, "warning");
    assert_eq!(
        unread,
        BTreeSet::from([details.clone(), ratings.clone()]),
        "{}",
        r.stdout
    );
    assert!(!pods_with(&report, DEEP, "ok").contains(&details));
    let warning = findings(&report, DEEP)
        .into_iter()
        .find(|f| f["status"] == "warning")
        .unwrap();
    assert!(warning["message"].as_str().unwrap().contains("503"), "{warning}");
    // 5xx and broken streams are retried a bounded number of times.
    let tries = portforwards(&m).iter().filter(|q| q.path.contains(&details)).count();
    assert_eq!(tries, 3);
}

#[test]
fn a_slow_port_forward_is_bounded_by_the_request_timeout() {
    let m = Mesh::bookinfo();
    let details = pod_names(&m, "app=details").into_iter().next().unwrap();
    m.server
        .inject(Fault::delay(std::time::Duration::from_secs(4)).path(&format!("pods/{details}/portforward")));
    let started = std::time::Instant::now();
    let r = m.run(&["doctor", "--deep", "--request-timeout", "1s", "-o", "json"]);
    let took = started.elapsed();
    r.assert_code(0);
    assert!(took < std::time::Duration::from_secs(4), "took {took:?}");
    assert_eq!(pods_with(&r.json(), DEEP, "warning"), BTreeSet::from([details]));
}

#[test]
fn the_deep_check_id_needs_the_deep_flag() {
    let m = Mesh::bookinfo();
    let r = m.run(&["doctor", "--check", DEEP]);
    r.assert_code(2);
    assert!(r.stderr.contains("--deep"), "{}", r.stderr);
    assert!(m.server.requests().is_empty(), "nothing was sent");
    let r = m.run(&["doctor", "--deep", "--check", DEEP, "-o", "json"]);
    r.assert_code(0);
    let report = r.json();
    assert!(report["checks"].as_array().unwrap().iter().all(|c| c["id"] == DEEP));
    assert!(!findings(&report, DEEP).is_empty());
}
