//! `recover` restarts exactly the owners of affected pods, once each, and explains what it skips.

mod doctor_common;

use doctor_common::*;
use mesh_core::doctor::{run_checks, Category, Finding, Fix, OwnerKind};
use mesh_core::recover::plan::{
    plan_recover, render_plan_table, required_permissions, Action, Permission, Target, PAUSED_REASON,
};
use serde_json::json;

fn restart(kind: OwnerKind, ns: &str, name: &str) -> Target {
    Target::Restart {
        kind,
        namespace: ns.into(),
        name: name.into(),
    }
}

/// reviews-v2 has two stale sidecars, ratings-v1 a pod without sidecar (two checks flag it),
/// a bare pod and a Job pod lack sidecars, a StatefulSet and a DaemonSet pod are stale.
fn troubled() -> Cluster {
    let mut c = healthy();
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
    c.push(pod("istio-demo", "debug"));
    c.push(owned(pod("istio-demo", "migrate-7xk2p"), "Job", "migrate"));
    c.push(with_sidecar(
        owned(pod("istio-demo", "mysql-0"), "StatefulSet", "mysql"),
        "2026-11-01T00:00:00Z",
        "1.26.2",
    ));
    c.push(with_sidecar(
        owned(pod("istio-demo", "agent-q8x"), "DaemonSet", "agent"),
        "2026-11-01T00:00:00Z",
        "1.26.2",
    ));
    c
}

#[test]
fn recover_restarts_each_owner_once_with_every_reason() {
    let c = troubled();
    let snap = c.snapshot();
    let plan = plan_recover(&run_checks(&snap, now()), &snap);
    let targets: Vec<String> = plan.actions.iter().map(|a| a.target.to_string()).collect();
    assert_eq!(
        targets,
        [
            "daemonset istio-demo/agent",
            "pod istio-demo/debug",
            "statefulset istio-demo/mysql",
            "deployment istio-demo/ratings-v1",
            "deployment istio-demo/reviews-v2",
        ]
    );
    let ratings = &plan.actions[3];
    assert_eq!(ratings.pods, ["ratings-v1-5d8f9c-plain"]);
    assert_eq!(ratings.reasons, ["mtls-plaintext-callers", "sidecar-missing"]);
    let reviews = &plan.actions[4];
    assert_eq!(
        reviews,
        &Action {
            target: restart(OwnerKind::Deployment, "istio-demo", "reviews-v2"),
            pods: vec!["reviews-v2-5d8f9c-a".into(), "reviews-v2-5d8f9c-b".into()],
            reasons: vec!["stale-sidecar-cert".into()],
            note: None,
        }
    );
    assert_eq!(
        plan.actions[1].target,
        Target::Evict {
            namespace: "istio-demo".into(),
            name: "debug".into()
        }
    );
    assert_eq!(plan.skipped.len(), 1);
    assert_eq!(plan.skipped[0].0.to_string(), "pod istio-demo/migrate-7xk2p");
    assert!(
        plan.skipped[0].1.starts_with("owned by Job migrate"),
        "{}",
        plan.skipped[0].1
    );
}

#[test]
fn recover_never_touches_healthy_pods() {
    let c = healthy();
    let snap = c.snapshot();
    let plan = plan_recover(&run_checks(&snap, now()), &snap);
    assert!(plan.is_empty());
    assert!(plan.skipped.is_empty());
    assert_eq!(render_plan_table(&plan), "nothing to recover\n");
    // Warnings without a fix (version skew) do not restart anything either.
    let mut c = healthy();
    c.push(with_sidecar(
        deploy_pod("istio-demo", "reviews-v3", "old"),
        "2026-11-20T00:00:00Z",
        "1.25.0",
    ));
    let snap = c.snapshot();
    assert!(plan_recover(&run_checks(&snap, now()), &snap).is_empty());
}

#[test]
fn recover_skips_paused_deployments() {
    let mut c = troubled();
    c.get_mut("Deployment", "reviews-v2")["spec"]["paused"] = json!(true);
    let snap = c.snapshot();
    let plan = plan_recover(&run_checks(&snap, now()), &snap);
    assert!(!plan.actions.iter().any(|a| a.target.name() == "reviews-v2"));
    let paused = plan.skipped.iter().find(|(t, _)| t.name() == "reviews-v2").unwrap();
    assert_eq!(paused.0, restart(OwnerKind::Deployment, "istio-demo", "reviews-v2"));
    assert_eq!(paused.1, PAUSED_REASON);
}

#[test]
fn recover_plan_is_the_same_whatever_the_finding_order() {
    let c = troubled();
    let snap = c.snapshot();
    let mut findings = run_checks(&snap, now());
    let a = plan_recover(&findings, &snap);
    findings.reverse();
    assert_eq!(a, plan_recover(&findings, &snap));
}

#[test]
fn recover_trusts_the_fix_for_pods_missing_from_the_snapshot() {
    let snap = healthy().snapshot();
    let f = Finding::error("stale-sidecar-cert", Category::DataPlane, "x").with_fix(Fix::RestartOwner {
        kind: OwnerKind::StatefulSet,
        namespace: "db".into(),
        name: "pg".into(),
        pods: vec!["pg-1".into(), "pg-0".into()],
        reason: "r".into(),
    });
    let plan = plan_recover(&[f], &snap);
    assert_eq!(plan.actions.len(), 1);
    assert_eq!(plan.actions[0].target, restart(OwnerKind::StatefulSet, "db", "pg"));
    assert_eq!(plan.actions[0].pods, ["pg-0", "pg-1"]);
}

#[test]
fn recover_needs_patch_on_workloads_and_create_eviction() {
    let c = troubled();
    let snap = c.snapshot();
    let plan = plan_recover(&run_checks(&snap, now()), &snap);
    let perms = required_permissions(&plan);
    let shown: Vec<String> = perms.iter().map(Permission::to_string).collect();
    assert_eq!(
        shown,
        [
            "create pods/eviction in istio-demo",
            "patch daemonsets.apps in istio-demo",
            "patch deployments.apps in istio-demo",
            "patch statefulsets.apps in istio-demo",
        ]
    );
    assert_eq!(perms[0].subresource, Some("eviction"));
    assert_eq!(perms[0].group, "");
}

#[test]
fn recover_plan_table() {
    let c = troubled();
    let snap = c.snapshot();
    let table = render_plan_table(&plan_recover(&run_checks(&snap, now()), &snap));
    assert!(table.starts_with("OWNER "), "{table}");
    assert!(table.lines().all(|l| l == l.trim_end()));
    insta::with_settings!({snapshot_path => "../src/doctor/snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("recover_plan_table", table);
    });
}

fn pdb(ns: &str, name: &str, app: Option<&str>, allowed: i64) -> serde_json::Value {
    let mut v = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"minAvailable": 1},
        "status": {"disruptionsAllowed": allowed}});
    if let Some(app) = app {
        v["spec"]["selector"] = json!({"matchLabels": {"app": app}});
    }
    v
}

#[test]
fn recover_plans_evictions_with_disruption_budgets_in_mind() {
    // pod("istio-demo", "debug") carries label app=debug. A budget allowing no disruption *now* may allow
    // one soon: the eviction stays planned, with a note, and the executor retries the 429 until --timeout.
    let mut c = troubled();
    c.push(pdb("istio-demo", "debug-pdb", Some("debug"), 0));
    let snap = c.snapshot();
    let plan = plan_recover(&run_checks(&snap, now()), &snap);
    let debug = plan
        .actions
        .iter()
        .find(|a| a.target.name() == "debug")
        .expect("eviction planned");
    let why = debug.note.as_deref().unwrap_or_default();
    assert!(why.contains("debug-pdb allows no disruption"), "{why}");
    assert!(!plan.skipped.iter().any(|(t, _)| t.name() == "debug"));

    // A budget that allows a disruption does not block; one without selector selects nothing.
    let mut c = troubled();
    c.push(pdb("istio-demo", "debug-pdb", Some("debug"), 1));
    c.push(pdb("istio-demo", "none", None, 0));
    let snap = c.snapshot();
    let plan = plan_recover(&run_checks(&snap, now()), &snap);
    assert!(plan.actions.iter().any(|a| a.target.name() == "debug"));

    // Two budgets selecting the pod: the API server answers 500.
    let mut c = troubled();
    c.push(pdb("istio-demo", "a", Some("debug"), 1));
    let mut all = pdb("istio-demo", "b", None, 1);
    all["spec"]["selector"] = json!({});
    c.push(all);
    let snap = c.snapshot();
    let plan = plan_recover(&run_checks(&snap, now()), &snap);
    let (_, why) = plan.skipped.iter().find(|(t, _)| t.name() == "debug").unwrap();
    assert!(
        why.contains("more than one PodDisruptionBudget selects it (a, b)"),
        "{why}"
    );
}

/// Issue 15, divergence 4: the eviction API reads a budget's status as the disruption controller wrote it. A
/// budget just created (generation 1, the API server's all-zero status, no observedGeneration) is "still being
/// processed" (429) whatever its spec; an unready pod goes without using the budget when the budget is met.
#[test]
fn eviction_notes_follow_the_eviction_apis_reading_of_budget_status() {
    let fresh = || {
        let mut v = pdb("istio-demo", "debug-pdb", Some("debug"), 0);
        v["metadata"]["generation"] = json!(1);
        v["status"] = json!({"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0});
        v
    };
    let mut c = troubled();
    c.push(fresh());
    let snap = c.snapshot();
    let plan = plan_recover(&run_checks(&snap, now()), &snap);
    let note = plan
        .actions
        .iter()
        .find(|a| a.target.name() == "debug")
        .and_then(|a| a.note.clone())
        .unwrap_or_default();
    assert!(note.contains("debug-pdb is still being processed"), "{note}");

    // Observed by the controller, allowing one disruption: no note.
    let mut c = troubled();
    let mut observed = fresh();
    observed["status"] = json!({"currentHealthy": 2, "desiredHealthy": 1, "disruptionsAllowed": 1,
        "expectedPods": 2, "observedGeneration": 1});
    c.push(observed);
    let snap = c.snapshot();
    let plan = plan_recover(&run_checks(&snap, now()), &snap);
    assert!(plan
        .actions
        .iter()
        .any(|a| a.target.name() == "debug" && a.note.is_none()));

    // An unready pod under a satisfied budget (healthy 1 of 1 wanted) is evicted without using it up.
    let mut c = troubled();
    for o in c.objects.iter_mut().filter(|o| o["metadata"]["name"] == "debug") {
        o["status"]["conditions"] = json!([{"type": "Ready", "status": "False"}]);
    }
    let mut met = fresh();
    met["status"] = json!({"currentHealthy": 1, "desiredHealthy": 1, "disruptionsAllowed": 0,
        "expectedPods": 2, "observedGeneration": 1});
    c.push(met);
    let snap = c.snapshot();
    let plan = plan_recover(&run_checks(&snap, now()), &snap);
    let debug = plan.actions.iter().find(|a| a.target.name() == "debug");
    assert!(debug.is_some_and(|a| a.note.is_none()), "{debug:?}");
}

/// Issue 15, divergence 5: a pod being deleted (Terminating) is going away — its workload already replaced
/// it — so doctor does not report it and recover does not act on it again.
#[test]
fn terminating_pods_are_neither_findings_nor_recover_targets() {
    let mut c = troubled();
    for o in c
        .objects
        .iter_mut()
        .filter(|o| o["metadata"]["name"] == "debug" || o["metadata"]["name"] == "reviews-v2-5d8f9c-a")
    {
        o["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:30Z");
        o["metadata"]["deletionGracePeriodSeconds"] = json!(30);
    }
    let snap = c.snapshot();
    assert_eq!(snap.terminating_pods, 2);
    let findings = run_checks(&snap, now());
    let text = format!("{findings:?}");
    assert!(
        !text.contains("\"debug\"") && !text.contains("reviews-v2-5d8f9c-a"),
        "{findings:#?}"
    );
    let plan = plan_recover(&findings, &snap);
    assert!(!plan.actions.iter().any(|a| a.target.name() == "debug"));
    let reviews = plan
        .actions
        .iter()
        .find(|a| a.target.name() == "reviews-v2")
        .expect("the other stale pod still needs the restart");
    assert_eq!(reviews.pods, ["reviews-v2-5d8f9c-b"]);
}
