//! The doctor report as users see it (table and JSON), pinned on fixed scenarios.

mod doctor_common;

use doctor_common::*;
use mesh_core::doctor::{
    render_json, render_table, run_checks, success, Category, Finding, Fix, Kind, OwnerKind, ResourceRef, Status,
};
use serde_json::{json, Value};

macro_rules! pin {
    ($name:expr, $value:expr) => {
        insta::with_settings!({snapshot_path => "../src/doctor/snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

/// A cluster with a rotated root, a missing sidecar, a missing backend and no permission to
/// read PodDisruptionBudgets.
fn broken() -> Cluster {
    let mut c = healthy();
    c.objects
        .retain(|o| !(o["kind"] == "ConfigMap" && o["metadata"]["namespace"] == "istio-demo"));
    c.push(root_cert_cm("istio-demo", &format!("{}{}", old_root(), new_root())));
    c.objects
        .retain(|o| !(o["kind"] == "ConfigMap" && o["metadata"]["namespace"] != "istio-demo"));
    c.push(root_cert_cm("istio-system", &format!("{}{}", new_root(), old_root())));
    c.objects
        .retain(|o| !(o["kind"] == "Pod" && o["metadata"]["name"] == "reviews-v2-5d8f9c-x1"));
    c.push(with_sidecar(
        deploy_pod("istio-demo", "reviews-v2", "a"),
        "2026-11-10T09:00:00Z",
        "1.26.2",
    ));
    c.push(with_sidecar(
        deploy_pod("istio-demo", "reviews-v2", "b"),
        "2026-11-11T09:00:00Z",
        "1.26.2",
    ));
    c.push(deploy_pod("istio-demo", "ratings-v1", "plain"));
    c.remove("Service", "reviews-v3");
    c.forbid(Kind::PodDisruptionBudget, None);
    c
}

#[test]
fn table_for_a_broken_cluster() {
    let findings = run_checks(&broken().snapshot(), now());
    let table = render_table(&findings, false);
    assert!(!table.contains('\x1b'), "no colour unless asked");
    assert!(
        table.ends_with("Status check results are × (4 errors, 1 warning)\n"),
        "{table}"
    );
    pin!("doctor_table_broken", table);
}

#[test]
fn table_for_a_healthy_cluster() {
    let findings = run_checks(&healthy().snapshot(), now());
    let table = render_table(&findings, false);
    assert!(table.ends_with("Status check results are √\n"), "{table}");
    pin!("doctor_table_healthy", table);
}

#[test]
fn json_for_a_broken_cluster() {
    let findings = run_checks(&broken().snapshot(), now());
    let text = render_json(&findings);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["success"], json!(false));
    let checks = doc["checks"].as_array().unwrap();
    assert_eq!(checks.len(), findings.len());
    let first = checks[0].as_object().unwrap();
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "code",
            "category",
            "status",
            "message",
            "hint",
            "docs",
            "resources"
        ]
    );
    pin!("doctor_json_broken", text);
}

#[test]
fn colour_only_when_asked() {
    let findings = vec![
        Finding::ok("istiod-ready", Category::Prerequisites, "istiod ready"),
        Finding::error("sidecar-missing", Category::DataPlane, "pod without sidecar"),
    ];
    let coloured = render_table(&findings, true);
    assert!(
        coloured.contains("\x1b[31m×\x1b[0m KM2020 pod without sidecar"),
        "{coloured:?}"
    );
    assert!(coloured.contains("\x1b[32m√\x1b[0m KM1030 istiod ready"));
    assert!(!render_table(&findings, false).contains('\x1b'));
}

#[test]
fn summary_counts_and_marks() {
    let mut findings = vec![
        Finding::warning("proxy-version-skew", Category::DataPlane, "old proxies"),
        Finding::skipped("sidecar-missing", Category::DataPlane, "needs list pods in x"),
    ];
    let t = render_table(&findings, false);
    assert!(
        t.ends_with("Status check results are ‼ (1 warning, 1 skipped)\n"),
        "{t}"
    );
    assert!(t.contains("○ KM2020 needs list pods in x"));
    assert!(success(&findings));
    findings.push(Finding::error("route-weights-zero", Category::Routing, "a"));
    findings.push(Finding::error("route-weights-zero", Category::Routing, "b"));
    findings.push(Finding::warning("pods-not-ready", Category::DataPlane, "c"));
    let t = render_table(&findings, false);
    assert!(
        t.ends_with("Status check results are × (2 errors, 2 warnings, 1 skipped)\n"),
        "{t}"
    );
    assert!(!success(&findings));
}

#[test]
fn many_resources_are_capped_with_a_count() {
    let resources = (0..13)
        .map(|i| ResourceRef::new("Pod", "ns", &format!("p{i}")))
        .collect();
    let f = Finding::error("sidecar-missing", Category::DataPlane, "many").with_resources(resources);
    let t = render_table(&[f], false);
    assert!(t.contains("    pod ns/p9\n    … and 3 more\n"), "{t}");
    assert!(!t.contains("p10"));
}

#[test]
fn json_fix_shape_is_tagged() {
    let f = Finding::error("stale-sidecar-cert", Category::DataPlane, "stale").with_fix(Fix::RestartOwner {
        kind: OwnerKind::Deployment,
        namespace: "istio-demo".into(),
        name: "reviews-v1".into(),
        pods: vec!["reviews-v1-a".into()],
        reason: "r".into(),
    });
    let doc: Value = serde_json::from_str(&render_json(&[f])).unwrap();
    assert_eq!(
        doc["checks"][0]["fix"],
        json!({"type": "restart-owner", "kind": "Deployment", "namespace": "istio-demo",
               "name": "reviews-v1", "pods": ["reviews-v1-a"], "reason": "r"})
    );
    assert_eq!(doc["checks"][0]["hint"], Value::Null);
    assert_eq!(doc["checks"][0]["status"], json!(Status::Error.as_str()));
}

#[test]
fn list_checks_names_every_check() {
    let list = mesh_core::doctor::render_check_list();
    assert!(list.starts_with("CODE "));
    assert_eq!(list.lines().count(), mesh_core::doctor::CHECKS.len() + 1);
    for c in mesh_core::doctor::CHECKS {
        assert!(
            list.contains(&format!("{}   {}", c.code, c.id)) && list.contains(c.description),
            "{}",
            c.id
        );
    }
    pin!("doctor_list_checks", list);
}
