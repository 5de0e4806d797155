//! Finding codes, `--suppress`, the `mesh.kubectl.io/suppress` annotation, `--fail-on` and `-o short` through the
//! real binary against sandbox clusters.

#[path = "common/mesh.rs"]
mod mesh;

use mesh::Mesh;
use mesh_sandbox::scenario::bookinfo;
use mesh_sandbox::Fault;
use serde_json::{json, Value};

fn checks(report: &Value) -> Vec<&Value> {
    report["checks"].as_array().unwrap().iter().collect()
}

fn of<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    checks(report).into_iter().filter(|c| c["id"] == id).collect()
}

fn about<'a>(report: &'a Value, id: &str, needle: &str) -> &'a Value {
    of(report, id)
        .into_iter()
        .find(|c| c["message"].as_str().unwrap().contains(needle))
        .unwrap_or_else(|| panic!("no {id} about {needle}: {report:#}"))
}

fn annotate(m: &Mesh, resource: &str, ns: Option<&str>, name: &str, value: &str) {
    let mut obj = m.server.get(resource, ns, name).unwrap();
    obj["metadata"]["annotations"]["mesh.kubectl.io/suppress"] = json!(value);
    m.server.update(obj).unwrap();
}

/// The request paths a run made, sorted.
fn paths(m: &Mesh) -> Vec<String> {
    let mut p: Vec<String> = m
        .server
        .requests()
        .iter()
        .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
        .collect();
    p.sort();
    p
}

#[test]
fn every_finding_has_a_code_and_a_docs_link() {
    let m = Mesh::with(bookinfo().stale_root_cert().missing_sidecar());
    let r = m.run(&["doctor", "-o", "json"]);
    r.assert_code(1);
    let report = r.json();
    for c in checks(&report) {
        let code = c["code"].as_str().unwrap();
        assert!(code.len() == 6 && code.starts_with("KM"), "{c:#}");
        assert_eq!(
            c["docs"],
            format!(
                "https://github.com/kubectl-mesh/kubectl-mesh/blob/main/docs/checks.md#{}",
                code.to_lowercase()
            )
        );
        let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            &keys[..8],
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
    }
    // The docs link points at the repository the binary names.
    assert!(env!("CARGO_PKG_REPOSITORY").starts_with("https://github.com/kubectl-mesh/kubectl-mesh"));
    // --check takes codes as well as ids; --list-checks shows them.
    let r = m.run(&["doctor", "--check", "km2030", "-o", "json"]);
    r.assert_code(1);
    let report = r.json();
    assert!(
        checks(&report).iter().all(|c| c["id"] == "stale-sidecar-cert"),
        "{report:#}"
    );
    let r = m.run(&["doctor", "--list-checks"]);
    r.assert_code(0);
    assert!(r.stdout.starts_with("CODE "), "{}", r.stdout);
    assert!(r.stdout.contains("KM2030   stale-sidecar-cert"), "{}", r.stdout);
    let r = m.run(&["doctor", "--check", "KM9999"]);
    r.assert_code(2);
}

#[test]
fn suppress_by_code_passes_a_cluster_whose_only_errors_it_covers() {
    let m = Mesh::with(bookinfo().stale_root_cert());
    m.run(&["doctor"]).assert_code(1);
    let r = m.run(&["doctor", "-o", "json", "--suppress", "KM2030"]);
    r.assert_code(0);
    let report = r.json();
    assert_eq!(report["success"], true);
    let stale = of(&report, "stale-sidecar-cert");
    assert_eq!(stale.len(), 2);
    for c in stale {
        assert_eq!(c["status"], "suppressed");
        assert_eq!(c["suppressed"], json!({"status": "error", "by": ["--suppress KM2030"]}));
    }
    let r = m.run(&["doctor", "--suppress", "stale-sidecar-cert"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("- KM2030 (suppressed) deployment istio-demo/"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("error suppressed by --suppress stale-sidecar-cert"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .trim_end()
            .ends_with("Status check results are √ (2 suppressed)"),
        "{}",
        r.stdout
    );
}

#[test]
fn the_annotation_on_one_deployment_silences_only_its_finding_and_recover_skips_it() {
    let m = Mesh::with(bookinfo().stale_root_cert());
    m.run(&["doctor"]).assert_code(1);
    let plain = paths(&m);
    m.server.clear_log();
    annotate(&m, "deployments", Some("istio-demo"), "reviews-v2", "KM2030");
    m.server.clear_log();
    let r = m.run(&["doctor", "-o", "json"]);
    r.assert_code(1);
    assert_eq!(paths(&m), plain, "the annotation costs no request");
    let report = r.json();
    let v2 = about(&report, "stale-sidecar-cert", "reviews-v2");
    assert_eq!(v2["status"], "suppressed");
    assert_eq!(
        v2["suppressed"]["by"],
        json!(["annotation on deployment istio-demo/reviews-v2"])
    );
    assert_eq!(about(&report, "stale-sidecar-cert", "ratings-v1")["status"], "error");
    // recover plans ratings-v1 only and says why reviews-v2 is left alone.
    let r = m.run(&["recover", "--dry-run=client", "-o", "json"]);
    r.assert_code(0);
    let results = r.json()["results"].as_array().unwrap().clone();
    let planned: Vec<&str> = results
        .iter()
        .filter(|a| a["result"] == "planned")
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(planned, ["ratings-v1"], "{results:#?}");
    let skipped = results
        .iter()
        .find(|a| a["name"] == "reviews-v2")
        .unwrap_or_else(|| panic!("{results:#?}"));
    assert_eq!(skipped["result"], "skipped");
    assert!(
        skipped["detail"].as_str().unwrap().contains("suppressed by annotation"),
        "{skipped:#}"
    );
    // --suppress on recover silences the other one: nothing to do.
    let r = m.run(&[
        "recover",
        "--dry-run=client",
        "--suppress",
        "KM2030=Deployment/istio-demo/ratings-v1",
    ]);
    r.assert_code(0);
    assert!(r.stdout.starts_with("Nothing to recover"), "{}", r.stdout);
    assert!(m.stored_writes().is_empty());
}

#[test]
fn a_namespace_annotation_covers_its_objects_and_unknown_codes_are_warned_about() {
    let m = Mesh::with(bookinfo().stale_root_cert().missing_sidecar());
    annotate(&m, "namespaces", None, "istio-demo", "KM2030, sidecar-missing, KM9999");
    let r = m.run(&["doctor", "-o", "json"]);
    r.assert_code(0);
    let report = r.json();
    assert_eq!(report["success"], true);
    let notes = report["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1);
    assert!(notes[0].as_str().unwrap().contains("KM9999"), "{notes:?}");
    let r = m.run(&["doctor"]);
    r.assert_code(0);
    assert!(
        r.stderr.contains(
            "warning: annotation mesh.kubectl.io/suppress on namespace istio-demo names unknown code \"KM9999\""
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_suppress_values_are_usage_errors_before_anything_is_sent() {
    let m = Mesh::bookinfo();
    for (value, says) in [
        ("KM9999", "unknown code or check id"),
        ("KM2030=Pod/x", "Pod is namespaced"),
        ("KM2010=Namespace/a/b", "cluster-scoped"),
        ("KM2030=Widget/a/b", "unknown kind"),
        ("KM2030=", "is not KIND/NAMESPACE/NAME"),
    ] {
        let r = m.run(&["doctor", "--suppress", value]);
        r.assert_code(2);
        assert!(r.stderr.contains(says), "{value}: {}", r.stderr);
    }
    assert!(m.server.requests().is_empty());
}

#[test]
fn fail_on_warning_fails_a_cluster_with_warnings_only() {
    let m = Mesh::bookinfo();
    // A forbidden list is a warning (api-access), never an error.
    m.server.inject(
        Fault::status(403, "forbidden")
            .method("GET")
            .path("/apis/policy/v1/namespaces/istio-demo/poddisruptionbudgets")
            .always(),
    );
    let r = m.run(&["doctor", "-o", "json"]);
    r.assert_code(0);
    assert_eq!(of(&r.json(), "api-access")[0]["status"], "warning");
    let r = m.run(&["doctor", "-o", "json", "--fail-on", "warning"]);
    r.assert_code(1);
    assert_eq!(r.json()["success"], false);
    m.run(&["doctor", "--fail-on", "warning", "--suppress", "KM0010"])
        .assert_code(0);
    m.run(&["doctor", "--fail-on", "error"]).assert_code(0);
    m.run(&["doctor", "--fail-on", "info"]).assert_code(2);
}

#[test]
fn short_output_prints_only_what_is_not_ok() {
    let m = Mesh::bookinfo();
    let r = m.run(&["doctor", "-o", "short"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "", "nothing to say on a healthy cluster");
    let m = Mesh::with(bookinfo().stale_root_cert().missing_sidecar());
    let r = m.run(&["doctor", "-o", "short"]);
    r.assert_code(1);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    assert!(
        lines[0].starts_with(
            "error KM2020 sidecar-missing: deployment istio-demo/details-v1: 1 pod without istio-proxy sidecar"
        ),
        "{}",
        r.stdout
    );
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.starts_with("error KM2030 stale-sidecar-cert: deployment istio-demo/")),
        "{}",
        r.stdout
    );
    // Suppressed findings are not "not ok" any more.
    let r = m.run(&["doctor", "-o", "short", "--suppress", "KM2030"]);
    r.assert_code(1);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    // -o short is doctor's alone.
    m.run(&["status", "-o", "short"]).assert_code(2);
}

#[test]
fn the_readme_check_table_gives_every_code() {
    let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for c in mesh_core::doctor::CHECKS {
        assert!(
            readme.contains(&format!("| {} | `{}` | {} |", c.code, c.id, c.category)),
            "README's check table lacks {} {}",
            c.code,
            c.id
        );
    }
    assert!(readme.contains("(docs/checks.md)"), "README links docs/checks.md");
}
