//! `doctor --deep`'s pure part: Envoy `/certs` parsing, serial comparison, and how the evidence confirms or clears
//! the start-time `stale-sidecar-cert` findings.

mod doctor_common;

use doctor_common::*;
use mesh_core::doctor::certs::parse_pem_bundle;
use mesh_core::doctor::deep::{
    self, apply, normalize_serial, parse_envoy_certs, plan, serial_of_der, AdminRead, DeepEvidence, DeepPlan,
};
use mesh_core::doctor::{run_checks, success, Finding, Fix, Kind, Scope, Snapshot, Status};
use serde_json::json;

const DEEP: &str = "stale-sidecar-cert-deep";
const START: &str = "stale-sidecar-cert";

fn serial(pem: &str) -> String {
    serial_of_der(&parse_pem_bundle(pem).certs[0].der).unwrap()
}

/// Envoy's `/certs` answer shape for a proxy trusting `ca_serials` (two TLS contexts, like a real sidecar).
fn envoy_certs(ca_serials: &[&str]) -> Vec<u8> {
    let ca: Vec<_> = ca_serials
        .iter()
        .map(|s| {
            json!({"path": "<inline>", "serial_number": s, "subject_alt_names": [],
                "days_until_expiration": "3541", "valid_from": "2026-11-15T12:00:00Z", "expiration_time": "2036-11-13T12:00:00Z"})
        })
        .collect();
    serde_json::to_vec(&json!({"certificates": [
        {"ca_cert": ca, "cert_chain": []},
        {"ca_cert": [], "cert_chain": [{"path": "<inline>", "serial_number": "5ab31c", "subject_alt_names": [
            {"uri": "spiffe://cluster.local/ns/istio-demo/sa/bookinfo-reviews"}],
            "days_until_expiration": "0", "valid_from": "2026-11-23T00:00:00Z", "expiration_time": "2026-11-24T00:00:00Z"}]}
    ]}))
    .unwrap()
}

fn scope() -> Scope {
    Scope::Namespaces(vec!["istio-demo".to_string()])
}

/// The healthy cluster with reviews-v2's sidecar started before the current root (a start-time suspicion).
fn suspected() -> Cluster {
    let mut c = healthy();
    c.get_mut("Pod", "reviews-v2-5d8f9c-x1")["status"]["containerStatuses"][1]["state"]["running"]["startedAt"] =
        json!("2026-11-10T00:00:00Z");
    c
}

/// Evidence where every planned sidecar answers `/certs` with the current root, except `overrides`.
fn evidence(p: &DeepPlan, overrides: &[(&str, AdminRead)]) -> DeepEvidence {
    let mut e = DeepEvidence::default();
    for t in &p.targets {
        let read = overrides
            .iter()
            .find(|(name, _)| *name == t.pod)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| AdminRead::Answer {
                status: 200,
                body: envoy_certs(&[&t.root_serial]),
            });
        e.reads.insert((t.namespace.clone(), t.pod.clone()), read);
    }
    e
}

fn deepened(s: &Snapshot, overrides: &[(&str, AdminRead)]) -> Vec<Finding> {
    let p = plan(s, &scope());
    let e = evidence(&p, overrides);
    apply(s, run_checks(s, now()), &p, &e)
}

fn with<'a>(findings: &'a [Finding], id: &str, status: Status) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.id == id && f.status == status).collect()
}

fn pods(f: &Finding) -> Vec<&str> {
    f.resources.iter().map(|r| r.name.as_str()).collect()
}

fn old_serial_answer() -> AdminRead {
    AdminRead::Answer {
        status: 200,
        body: envoy_certs(&[&serial(&old_root())]),
    }
}

#[test]
fn serials_compare_across_spellings() {
    let want = normalize_serial("1001");
    for spelling in ["10:01", "0x1001", "00:10:01", " 1001 ", "001001"] {
        assert_eq!(normalize_serial(spelling), want, "{spelling}");
    }
    assert_eq!(normalize_serial("1A:2b"), normalize_serial("1a2B"));
    assert_ne!(normalize_serial("1001"), normalize_serial("1000"));
    assert_eq!(normalize_serial("zz"), None);
    assert_eq!(normalize_serial(""), None);
    assert_eq!(normalize_serial("00"), Some("0".to_string()));
    assert_eq!(serial(&old_root()), "1000");
    assert_eq!(serial(&new_root()), "1001");
}

#[test]
fn envoy_certs_lists_the_ca_serials_of_every_context() {
    let parsed = parse_envoy_certs(&envoy_certs(&["10:01", "0FFE"])).unwrap();
    assert_eq!(parsed.ca_serials, vec!["1001".to_string(), "ffe".to_string()]);
    // The workload certificate (cert_chain) is not a CA.
    assert!(!parsed.ca_serials.contains(&"5ab31c".to_string()));
    assert!(parse_envoy_certs(br#"{"certificates": []}"#)
        .unwrap()
        .ca_serials
        .is_empty());
    assert!(parse_envoy_certs(b"<html>admin</html>").is_err());
    assert!(parse_envoy_certs(br#"{"stats": []}"#).is_err());
    assert!(parse_envoy_certs(br#"{"certificates": [{"ca_cert": [{"serial_number": "not-hex"}]}]}"#).is_err());
}

#[test]
fn plan_reads_every_running_proxy_in_scope_against_its_namespace_root() {
    let s = healthy().snapshot();
    let p = plan(&s, &scope());
    assert_eq!(p.skipped, None);
    let names: Vec<&str> = p.targets.iter().map(|t| t.pod.as_str()).collect();
    assert_eq!(names.len(), 7, "six bookinfo sidecars and the gateway: {names:?}");
    assert!(names.iter().all(|n| !n.starts_with("curl")));
    assert!(p.targets.iter().all(|t| t.root_serial == serial(&new_root())));
    // Out of scope: nothing to read.
    assert!(plan(&s, &Scope::Namespaces(vec!["default".into()])).targets.is_empty());
}

#[test]
fn plan_is_skipped_when_pods_may_not_be_listed() {
    let mut c = healthy();
    c.forbid(Kind::Pod, Some("istio-demo"));
    let s = c.snapshot();
    let p = plan(&s, &scope());
    assert_eq!(p.skipped.as_deref(), Some("needs list pods in istio-demo"));
    let f = apply(&s, run_checks(&s, now()), &p, &DeepEvidence::default());
    let deep: Vec<_> = f.iter().filter(|f| f.id == DEEP).collect();
    assert_eq!(deep.len(), 1);
    assert_eq!(deep[0].status, Status::Skipped);
}

#[test]
fn deep_clears_a_start_time_suspicion_the_proxy_refutes() {
    let s = suspected().snapshot();
    let before = run_checks(&s, now());
    assert_eq!(
        with(&before, START, Status::Error).len(),
        1,
        "the heuristic suspects reviews-v2"
    );
    assert!(!success(&before));
    let after = deepened(&s, &[]);
    assert!(with(&after, START, Status::Error).is_empty(), "{after:#?}");
    let cleared = with(&after, START, Status::Ok);
    let cleared = cleared.iter().find(|f| pods(f) == ["reviews-v2-5d8f9c-x1"]).unwrap();
    assert!(cleared.message.contains("no restart needed"), "{}", cleared.message);
    assert_eq!(
        cleared.fix, None,
        "recover must not restart a proxy that trusts the current root"
    );
    let ok = with(&after, DEEP, Status::Ok);
    assert_eq!(ok.len(), 1);
    assert_eq!(pods(ok[0]).len(), 7);
    assert!(success(&after));
}

#[test]
fn deep_confirms_a_start_time_suspicion_the_proxy_shares() {
    let s = suspected().snapshot();
    let after = deepened(&s, &[("reviews-v2-5d8f9c-x1", old_serial_answer())]);
    let start = with(&after, START, Status::Error);
    assert_eq!(start.len(), 1);
    assert!(
        start[0].message.ends_with("(confirmed by --deep)"),
        "{}",
        start[0].message
    );
    let deep = with(&after, DEEP, Status::Error);
    assert_eq!(deep.len(), 1);
    assert_eq!(pods(deep[0]), ["reviews-v2-5d8f9c-x1"]);
    assert!(
        deep[0].message.contains("trusts only CA serial 1000"),
        "{}",
        deep[0].message
    );
    assert!(
        deep[0].message.contains("current Istio root (serial 1001)"),
        "{}",
        deep[0].message
    );
    match &deep[0].fix {
        Some(Fix::RestartOwner { name, pods, .. }) => {
            assert_eq!(name, "reviews-v2");
            assert_eq!(pods, &["reviews-v2-5d8f9c-x1".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pods(with(&after, DEEP, Status::Ok)[0]).len(), 6);
    assert!(!success(&after));
}

#[test]
fn deep_finds_stale_proxies_the_start_times_missed() {
    // Start times look fine, but details' Envoy still trusts only the old root.
    let s = healthy().snapshot();
    assert!(with(&run_checks(&s, now()), START, Status::Error).is_empty());
    let after = deepened(&s, &[("details-v1-5d8f9c-x1", old_serial_answer())]);
    let deep = with(&after, DEEP, Status::Error);
    assert_eq!(deep.len(), 1);
    assert_eq!(pods(deep[0]), ["details-v1-5d8f9c-x1"]);
    assert!(deep[0].fix.is_some());
    assert!(!success(&after));
}

#[test]
fn a_proxy_trusting_both_roots_during_a_rotation_is_fresh() {
    let s = suspected().snapshot();
    let both = AdminRead::Answer {
        status: 200,
        body: envoy_certs(&["10:00", "10:01"]),
    };
    let after = deepened(&s, &[("reviews-v2-5d8f9c-x1", both)]);
    assert!(with(&after, DEEP, Status::Error).is_empty());
    assert!(with(&after, START, Status::Error).is_empty());
}

#[test]
fn unreadable_admins_warn_and_leave_the_suspicion_standing() {
    let s = suspected().snapshot();
    let after = deepened(
        &s,
        &[
            (
                "reviews-v2-5d8f9c-x1",
                AdminRead::Unreachable("error forwarding port 15000: connection refused".into()),
            ),
            (
                "details-v1-5d8f9c-x1",
                AdminRead::Answer {
                    status: 404,
                    body: b"invalid path".to_vec(),
                },
            ),
            (
                "ratings-v1-5d8f9c-x1",
                AdminRead::Answer {
                    status: 200,
                    body: br#"{"certificates": []}"#.to_vec(),
                },
            ),
        ],
    );
    let warn = with(&after, DEEP, Status::Warning);
    assert_eq!(warn.len(), 1);
    assert_eq!(
        pods(warn[0]),
        ["details-v1-5d8f9c-x1", "ratings-v1-5d8f9c-x1", "reviews-v2-5d8f9c-x1"]
    );
    for needle in ["connection refused", "HTTP 404", "no CA certificate"] {
        assert!(warn[0].message.contains(needle), "{needle}: {}", warn[0].message);
    }
    // Unconfirmed is not cleared: the start-time error stays, untouched.
    let start = with(&after, START, Status::Error);
    assert_eq!(start.len(), 1);
    assert!(!start[0].message.contains("--deep"));
    assert!(start[0].fix.is_some());
    assert_eq!(pods(with(&after, DEEP, Status::Ok)[0]).len(), 4);
}

#[test]
fn denied_port_forward_is_skipped_with_the_permission_named() {
    let s = suspected().snapshot();
    let p = plan(&s, &scope());
    let mut e = DeepEvidence::default();
    e.denied.insert("istio-demo".into(), vec!["create".into()]);
    let after = apply(&s, run_checks(&s, now()), &p, &e);
    let deep: Vec<_> = after.iter().filter(|f| f.id == DEEP).collect();
    assert_eq!(deep.len(), 1, "{deep:#?}");
    assert_eq!(deep[0].status, Status::Skipped);
    assert_eq!(deep[0].message, "needs create pods/portforward in istio-demo");
    assert!(deep[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("doctor-deep-clusterrole.yaml"));
    // Nothing was learned: the start-time finding is unchanged, and so is the exit status.
    assert_eq!(with(&after, START, Status::Error).len(), 1);
    assert_eq!(success(&after), success(&run_checks(&s, now())));

    // A 403 on the upgrade itself (SelfSubjectAccessReview said yes, or could not be asked) reads the same.
    let e = evidence(
        &p,
        &[("reviews-v1-5d8f9c-x1", AdminRead::Forbidden("403 Forbidden".into()))],
    );
    let after = apply(&s, run_checks(&s, now()), &p, &e);
    let skipped = with(&after, DEEP, Status::Skipped);
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0]
        .message
        .starts_with("needs get and create pods/portforward in istio-demo"));
}

#[test]
fn a_partly_refuted_owner_keeps_only_its_stale_pods() {
    let mut c = suspected();
    let mut second = with_sidecar(
        deploy_pod("istio-demo", "reviews-v2", "x2"),
        "2026-11-10T00:00:00Z",
        "1.26.2",
    );
    second["metadata"]["name"] = json!("reviews-v2-5d8f9c-x2");
    c.push(second);
    let s = c.snapshot();
    let after = deepened(&s, &[("reviews-v2-5d8f9c-x2", old_serial_answer())]);
    let start = with(&after, START, Status::Error);
    assert_eq!(start.len(), 1);
    assert_eq!(pods(start[0]), ["reviews-v2-5d8f9c-x2"]);
    assert!(start[0]
        .message
        .contains("--deep: 1 of them trust the current root (reviews-v2-5d8f9c-x1)"));
    match &start[0].fix {
        Some(Fix::RestartOwner { pods, .. }) => assert_eq!(pods, &["reviews-v2-5d8f9c-x2".to_string()]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn deep_findings_follow_the_start_time_check_in_report_order() {
    let s = suspected().snapshot();
    let after = deepened(&s, &[("reviews-v2-5d8f9c-x1", old_serial_answer())]);
    let ids: Vec<&str> = after.iter().map(|f| f.id).collect();
    let last_start = ids.iter().rposition(|id| *id == START).unwrap();
    let first_deep = ids.iter().position(|id| *id == DEEP).unwrap();
    let last_deep = ids.iter().rposition(|id| *id == DEEP).unwrap();
    assert_eq!(first_deep, last_start + 1);
    assert_eq!(ids[last_deep + 1], "root-cert-mismatch");
    assert!(mesh_core::doctor::CHECKS.iter().any(|c| c.id == deep::ID));
}
