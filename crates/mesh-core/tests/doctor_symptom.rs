//! `doctor --error`: every failure text of tests/fixtures/symptoms (sources in its SOURCES.md) is recognised as
//! the pattern it is, with the Services it names; texts that are not Envoy failures match nothing. Then the
//! scoping: which checks run, which findings are about the named Services, causes first.

mod doctor_common;

use std::path::PathBuf;

use doctor_common::*;
use mesh_core::doctor::symptom::scope::{called_checks, namespaces, order, relevant, resolve, SymptomReport};
use mesh_core::doctor::symptom::{known_patterns, recognise, PATTERNS};
use mesh_core::doctor::{run_some, Status};

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/symptoms")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// (file, pattern, every pattern matched, targets as (service, namespace, port), external hosts, a note that
/// must be there).
type Row = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, Option<&'static str>, Option<u16>)],
    &'static [&'static str],
    Option<&'static str>,
);

const ROWS: &[Row] = &[
    (
        "f01-cert-wrapped.txt",
        "tls-verify-failed",
        &["tls-verify-failed"],
        &[],
        &[],
        None,
    ),
    (
        "f02-cert-one-line.txt",
        "tls-verify-failed",
        &["tls-verify-failed"],
        &[],
        &[],
        None,
    ),
    (
        "f03-cert-old-format.txt",
        "tls-verify-failed",
        &["tls-verify-failed"],
        &[],
        &[],
        None,
    ),
    (
        "f04-java-client.txt",
        "tls-verify-failed",
        &["tls-verify-failed"],
        &[],
        &[],
        None,
    ),
    (
        "f05-envoy-debug-cert.txt",
        "tls-verify-failed",
        &["tls-verify-failed"],
        &[],
        &[],
        None,
    ),
    (
        "f06-san.txt",
        "tls-verify-failed",
        &["tls-verify-failed"],
        &[],
        &[],
        Some("subject alternative names"),
    ),
    (
        "f07-json-uf-urx.txt",
        "upstream-connect-failure",
        &["upstream-connect-failure"],
        &[],
        &[],
        None,
    ),
    (
        "f08-503-termination.txt",
        "connection-termination",
        &["connection-termination"],
        &[],
        &[],
        None,
    ),
    (
        "f09-spring-client.txt",
        "connection-termination",
        &["connection-termination"],
        &[("service-a", None, None)],
        &[],
        None,
    ),
    (
        "f10-log-uc.txt",
        "connection-termination",
        &["connection-termination"],
        &[("reviews", Some("istio-demo"), Some(9080))],
        &[],
        None,
    ),
    (
        "f11-no-healthy.txt",
        "no-healthy-upstream",
        &["no-healthy-upstream"],
        &[],
        &[],
        None,
    ),
    (
        "f12-log-uh.txt",
        "no-healthy-upstream",
        &["no-healthy-upstream"],
        &[
            ("reviews-v3", Some("istio-demo"), Some(9080)),
            ("reviews", Some("istio-demo"), Some(9080)),
        ],
        &[],
        None,
    ),
    (
        "f13-timeout.txt",
        "upstream-timeout",
        &["upstream-timeout"],
        &[("ratings", Some("istio-demo"), Some(9080))],
        &[],
        None,
    ),
    ("f14-rbac.txt", "rbac-denied", &["rbac-denied"], &[], &[], None),
    (
        "f14b-rbac-waypoint-json.txt",
        "rbac-denied",
        &["rbac-denied"],
        &[("productpage", None, Some(9080))],
        &[],
        Some("AuthorizationPolicy default/layer7-authz"),
    ),
    (
        "f15-wrong-version.txt",
        "tls-wrong-version",
        &["tls-wrong-version"],
        &[],
        &["freighter.starfleet.mesh"],
        Some("external host"),
    ),
    (
        "f16-refused.txt",
        "connection-refused",
        &["connection-refused"],
        &[],
        &[],
        None,
    ),
    (
        "f16b-curl-refused.txt",
        "connection-refused",
        &["connection-refused"],
        &[("reviews", None, Some(9080))],
        &[],
        None,
    ),
    (
        "f17-uf.txt",
        "upstream-connect-failure",
        &["upstream-connect-failure"],
        &[],
        &[],
        None,
    ),
    (
        "f18-log-nr.txt",
        "route-not-found",
        &["route-not-found"],
        &[],
        &["auth.shop.example.com"],
        None,
    ),
    (
        "f18b-curl-404.txt",
        "route-not-found",
        &["route-not-found"],
        &[],
        &[],
        None,
    ),
    (
        "f19-urx-only.txt",
        "retry-limit",
        &["retry-limit"],
        &[("reviews", Some("istio-demo"), Some(9080))],
        &[],
        None,
    ),
    (
        "f20-protocol-error.txt",
        "upstream-reset",
        &["upstream-reset"],
        &[],
        &[],
        Some("appProtocol"),
    ),
    (
        "f21-immediate-connect-error.txt",
        "upstream-connect-failure",
        &["upstream-connect-failure"],
        &[],
        &[],
        None,
    ),
    (
        "f22-tcp-log.txt",
        "upstream-connect-failure",
        &["upstream-connect-failure"],
        &[],
        &[],
        None,
    ),
    (
        "m1-mixed-log.txt",
        "no-healthy-upstream",
        &["no-healthy-upstream", "connection-termination"],
        &[
            ("reviews", Some("istio-demo"), Some(9080)),
            ("reviews-v3", Some("istio-demo"), Some(9080)),
        ],
        &[],
        None,
    ),
];

#[test]
fn every_fixture_is_recognised_as_its_pattern_with_its_targets() {
    for (file, pattern, matched, targets, external, note) in ROWS {
        let text = fixture(file);
        let r = recognise(&text).unwrap_or_else(|_| panic!("{file}: not recognised"));
        assert_eq!(r.pattern.id, *pattern, "{file}");
        assert_eq!(r.matched, *matched, "{file}");
        let got: Vec<(&str, Option<&str>, Option<u16>)> = r
            .targets
            .iter()
            .map(|t| (t.service.as_str(), t.namespace.as_deref(), t.port))
            .collect();
        assert_eq!(got, *targets, "{file}: targets");
        assert_eq!(r.external, *external, "{file}: external hosts");
        if let Some(note) = note {
            assert!(
                r.notes.iter().any(|n| n.contains(note)),
                "{file}: no note with {note:?} in {:?}",
                r.notes
            );
        }
        assert!(
            !r.evidence.is_empty() && r.evidence.iter().all(|e| e.chars().count() <= 162),
            "{file}"
        );
        assert!(r.lines >= 1, "{file}");
    }
}

#[test]
fn every_fixture_file_is_in_the_table_and_every_pattern_has_a_fixture() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/symptoms");
    let sources = std::fs::read_to_string(dir.join("SOURCES.md")).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    files.sort();
    for f in &files {
        let in_table = ROWS.iter().any(|r| r.0 == f) || f.starts_with("n");
        assert!(in_table, "{f} has no expected row");
        assert!(
            sources.contains(&format!("| {f} |")),
            "SOURCES.md does not describe {f}"
        );
    }
    for p in PATTERNS {
        assert!(ROWS.iter().any(|r| r.1 == p.id), "pattern {} has no fixture", p.id);
    }
}

#[test]
fn texts_that_are_not_envoy_failures_match_nothing() {
    for file in ["n1-prose.txt", "n2-200.txt", "n3-app-404.txt"] {
        let err = recognise(&fixture(file)).expect_err(file);
        assert!(err.lines >= 1, "{file}");
    }
    for text in [
        "",
        "   \n",
        "everything is fine",
        "HTTP/1.1 302 Found\nserver: envoy\ncontent-length: 0",
    ] {
        assert!(recognise(text).is_err(), "{text:?}");
    }
    // The list printed for exit 2 names every pattern.
    let known = known_patterns();
    for p in PATTERNS {
        assert!(known.contains(p.id), "{}", p.id);
    }
}

#[test]
fn the_users_guide_troubleshooting_texts_are_recognised() {
    // The guide's two failures, read from the guide itself (shared material is never copied into the repo).
    let Some(fixtures) = shared_fixtures() else { return };
    let guide = std::fs::read_to_string(fixtures.join("../guides/istio-gateway-api-on-k3d.md")).unwrap();
    let block_after = |marker: &str| -> String {
        let at = guide.find(marker).unwrap_or_else(|| panic!("guide has {marker}"));
        let rest = &guide[at..];
        let start = rest.find("```\n").unwrap() + 4;
        let end = start + rest[start..].find("```").unwrap();
        rest[start..end].to_string()
    };
    let cert = block_after("**Issue 1");
    assert_eq!(recognise(&cert).unwrap().pattern.id, "tls-verify-failed", "{cert}");
    assert_eq!(cert, fixture("f01-cert-wrapped.txt"), "f01 is the guide's text");
    let unavailable = block_after("**Issue 2");
    assert_eq!(
        recognise(&unavailable).unwrap().pattern.id,
        "connection-termination",
        "{unavailable}"
    );
    assert_eq!(
        unavailable,
        fixture("f08-503-termination.txt"),
        "f08 is the guide's text"
    );
}

#[test]
fn checks_called_for_exist_and_include_api_access() {
    for p in PATTERNS {
        let checks = called_checks(p, false);
        assert_eq!(checks[0], "api-access", "{}", p.id);
        assert!(checks.len() > 1, "{}: calls for no registered check", p.id);
        assert!(!checks.contains(&"stale-sidecar-cert-deep"));
    }
    let tls = PATTERNS.iter().find(|p| p.id == "tls-verify-failed").unwrap();
    assert!(called_checks(tls, true).contains(&"stale-sidecar-cert-deep"));
}

#[test]
fn a_bookinfo_503_is_scoped_to_the_named_service_and_lists_causes_first() {
    // reviews-v3 has no ready endpoint; another route in the namespace (ratings) is broken too.
    let mut c = healthy();
    c.remove("EndpointSlice", "reviews-v3-abcde");
    c.push(endpoint_slice("istio-demo", "reviews-v3", 0, 1));
    c.push(service("istio-demo", "ratings-v2", &[9080]));
    c.push(mesh_route("istio-demo", "ratings", "ratings", &[("ratings-v2", 1)]));
    c.push(endpoint_slice("istio-demo", "ratings-v2", 0, 0));
    let snapshot = c.snapshot();
    let r = recognise(&fixture("f12-log-uh.txt")).unwrap();
    assert_eq!(namespaces(&r.targets, "default"), ["istio-demo"]);
    let checks = called_checks(r.pattern, false);
    let findings = run_some(&snapshot, now(), &checks);
    assert!(findings.iter().all(|f| checks.contains(&f.id)));
    let (targets, notes) = resolve(&r.targets, "default", false, &snapshot);
    assert!(notes.is_empty(), "{notes:?}");
    let t: Vec<(&str, bool, Option<usize>)> = targets
        .iter()
        .map(|t| (t.service.as_str(), t.exists, t.ready_endpoints))
        .collect();
    assert_eq!(t, [("reviews-v3", true, Some(0)), ("reviews", true, Some(3))]);
    assert_eq!(targets[1].routes, ["istio-demo/reviews"]);
    let (mut kept, hidden) = relevant(findings, &targets, &snapshot);
    order(&mut kept);
    // The ratings route's findings (its unready backend, and the backend's selector no workload carries) are
    // about another Service.
    assert_eq!(hidden, 2, "the ratings findings are about another Service");
    assert_eq!(kept[0].id, "route-backend-unready");
    assert_eq!(kept[0].status, Status::Error);
    assert!(kept[0].message.contains("reviews-v3"), "{}", kept[0].message);
    assert!(kept.iter().skip(1).all(|f| !f.status.is_problem()));
    let report = SymptomReport {
        recognised: r,
        checks,
        targets,
        notes: Vec::new(),
        hidden,
        deep: false,
    };
    let json = report.json();
    assert_eq!(json["pattern"], "no-healthy-upstream");
    assert_eq!(json["targets"][0]["readyEndpoints"], 0);
    assert_eq!(json["request"]["path"], "/reviews/1");
    assert_eq!(json["hidden"], 2);
    let text = report.render_text(&kept, false);
    assert!(text.starts_with("Symptom: no-healthy-upstream"), "{text}");
    let causes = text.find("Causes found").unwrap();
    let ruled_out = text.find("Ruled out").unwrap();
    let cause_line = text.find("× KM3040").unwrap();
    assert!(causes < cause_line && cause_line < ruled_out, "{text}");
    assert!(
        text.contains("Target:  Service istio-demo/reviews-v3 port 9080"),
        "{text}"
    );
    assert!(
        text.contains("note: 2 findings about other routes in the namespaces read are hidden"),
        "{text}"
    );
}

#[test]
fn a_name_dot_namespace_host_outside_the_cluster_is_external() {
    let snapshot = healthy().snapshot();
    let r = recognise("upstream connect error or disconnect/reset before headers. reset reason: connection termination GET http://httpbin.org/get").unwrap();
    assert_eq!(r.targets.len(), 1);
    let (targets, notes) = resolve(&r.targets, "default", false, &snapshot);
    assert!(targets.is_empty());
    assert!(
        notes[0].contains("httpbin.org") && notes[0].contains("external host"),
        "{notes:?}"
    );
    // With no cause found, the report says what the pattern usually means.
    let report = SymptomReport {
        recognised: r,
        checks: vec!["api-access"],
        targets,
        notes,
        hidden: 0,
        deep: false,
    };
    let closing = report.closing_notes(&[]);
    assert!(closing[0].contains("keep-alive"), "{closing:?}");
}

#[test]
fn with_all_namespaces_a_bare_name_is_every_service_of_that_name() {
    let mut c = healthy();
    c.push(namespace("shop", &[]));
    c.push(service("shop", "reviews", &[9080]));
    let snapshot = c.snapshot();
    let r = recognise(&fixture("f16b-curl-refused.txt")).unwrap();
    let (targets, _) = resolve(&r.targets, "default", true, &snapshot);
    let names: Vec<(&str, &str, bool)> = targets
        .iter()
        .map(|t| (t.namespace.as_str(), t.service.as_str(), t.exists))
        .collect();
    assert_eq!(names, [("istio-demo", "reviews", true), ("shop", "reviews", true)]);
    // Without -A: the default namespace's.
    let (targets, _) = resolve(&r.targets, "default", false, &snapshot);
    assert_eq!(targets.len(), 1);
    assert_eq!((targets[0].namespace.as_str(), targets[0].exists), ("default", false));
}
