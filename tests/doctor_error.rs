//! `kubectl mesh doctor --error TEXT` as users run it: the real binary against sandbox clusters with known faults,
//! fed the failure texts of crates/mesh-core/tests/fixtures/symptoms.

#[path = "common/mesh.rs"]
mod mesh;

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

use mesh::{Mesh, Run};
use mesh_core::doctor::symptom::PATTERNS;
use mesh_sandbox::scenario::bookinfo;
use mesh_sandbox::{ServerOptions, TestServer};
use serde_json::Value;

fn text(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("crates/mesh-core/tests/fixtures/symptoms")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn checks(report: &Value) -> &Vec<Value> {
    report["checks"].as_array().unwrap()
}

fn ids(report: &Value) -> Vec<String> {
    let mut v: Vec<String> = checks(report)
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    v.dedup();
    v
}

fn pods_named(report: &Value, id: &str) -> Vec<String> {
    let mut pods: Vec<String> = checks(report)
        .iter()
        .filter(|c| c["id"] == id && c["status"] == "error")
        .flat_map(|c| c["resources"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["kind"] == "Pod")
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    pods.sort();
    pods
}

fn error_json(m: &Mesh, text: &str, extra: &[&str]) -> Run {
    let mut args = vec!["doctor", "--error", text, "-o", "json"];
    args.extend_from_slice(extra);
    m.run(&args)
}

#[test]
fn a_certificate_error_finds_exactly_the_stale_sidecars() {
    let m = Mesh::with(bookinfo().stale_root_cert());
    let r = error_json(&m, &text("f01-cert-wrapped.txt"), &[]);
    r.assert_code(1);
    let report = r.json();
    assert_eq!(report["success"], false);
    let symptom = &report["symptom"];
    assert_eq!(symptom["pattern"], "tls-verify-failed");
    assert_eq!(
        symptom["checks"],
        serde_json::json!([
            "api-access",
            "stale-sidecar-cert",
            "root-cert-mismatch",
            "proxy-version-skew"
        ])
    );
    // Only the called-for checks ran, causes first.
    for id in ids(&report) {
        assert!(
            symptom["checks"].as_array().unwrap().iter().any(|c| c == &id),
            "{id} ran"
        );
    }
    assert_eq!(checks(&report)[0]["status"], "error");
    let pods = m.server.list("pods", Some("istio-demo"));
    let mut expected: Vec<String> = pods
        .iter()
        .filter(|p| {
            let l = &p["metadata"]["labels"];
            (l["app"] == "reviews" && l["version"] == "v2") || l["app"] == "ratings"
        })
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    assert_eq!(pods_named(&report, "stale-sidecar-cert"), expected);
    // The text report: the symptom, the causes found before what was ruled out, the docs link.
    let r = m.run(&["doctor", "--error", &text("f01-cert-wrapped.txt")]);
    r.assert_code(1);
    let out = &r.stdout;
    assert!(
        out.starts_with("Symptom: tls-verify-failed (CERTIFICATE_VERIFY_FAILED)"),
        "{out}"
    );
    let causes = out.find("Causes found").unwrap();
    let stale = out.find("× KM2030").unwrap();
    let ruled_out = out.find("Ruled out").unwrap();
    assert!(causes < stale && stale < ruled_out, "{out}");
    assert!(out.contains("docs: https://github.com/kubectl-mesh/kubectl-mesh/blob/main/docs/checks.md#km2030"));
    assert!(out.contains("rerun with --deep"), "{out}");
    assert!(m.write_attempts().is_empty(), "doctor --error is read-only");
}

#[test]
fn a_healthy_cluster_rules_everything_out_and_exits_0() {
    let m = Mesh::bookinfo();
    let r = error_json(&m, &text("f02-cert-one-line.txt"), &[]);
    r.assert_code(0);
    let report = r.json();
    assert_eq!(report["success"], true);
    assert!(checks(&report).iter().all(|c| c["status"] == "ok"), "{report:#}");
    let r = m.run(&["doctor", "--error", &text("f02-cert-one-line.txt")]);
    r.assert_code(0);
    assert!(r.stdout.contains("Causes found\n------------\nnone\n"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("none of the checks tls-verify-failed calls for found a cause here"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_503_connection_termination_names_the_sidecarless_caller_under_strict_mtls() {
    let m = Mesh::with(bookinfo().strict_mtls().missing_sidecar());
    let r = error_json(&m, &text("f08-503-termination.txt"), &[]);
    r.assert_code(1);
    let report = r.json();
    assert_eq!(report["symptom"]["pattern"], "connection-termination");
    let first = &checks(&report)[0];
    assert_eq!(first["status"], "error");
    assert!(
        first["id"] == "mtls-plaintext-callers" || first["id"] == "sidecar-missing",
        "{first:#}"
    );
    let callers = pods_named(&report, "mtls-plaintext-callers");
    assert!(
        !callers.is_empty() && callers.iter().all(|p| p.starts_with("details-v1-")),
        "{callers:?}"
    );
}

#[test]
fn a_log_line_is_scoped_to_the_service_and_namespace_it_names() {
    // The context's namespace is default: the text alone decides what is read.
    let server = TestServer::start(ServerOptions::default()).unwrap();
    server.apply_scenario(&bookinfo().unready_backend()).unwrap();
    let m = Mesh::on(server, Some("default"));
    // Send half of reviews to v3, which has no ready endpoint (its Deployment is scaled to 0).
    m.run(&["shift", "reviews", "v1=50", "v3=50", "-n", "istio-demo", "--force"])
        .assert_code(0);
    m.server.clear_log();
    let r = error_json(&m, &text("f12-log-uh.txt"), &[]);
    r.assert_code(1);
    let report = r.json();
    let symptom = &report["symptom"];
    assert_eq!(symptom["pattern"], "no-healthy-upstream");
    assert_eq!(
        symptom["request"],
        serde_json::json!({"method": "GET", "path": "/reviews/1"})
    );
    let targets = symptom["targets"].as_array().unwrap();
    assert_eq!(targets[0]["service"], "reviews-v3");
    assert_eq!(targets[0]["namespace"], "istio-demo");
    assert_eq!(targets[0]["exists"], true);
    assert_eq!(targets[0]["readyEndpoints"], 0);
    assert_eq!(targets[1]["service"], "reviews");
    assert_eq!(targets[1]["routes"], serde_json::json!(["istio-demo/reviews"]));
    let first = &checks(&report)[0];
    assert_eq!(first["id"], "route-backend-unready");
    assert!(first["message"].as_str().unwrap().contains("reviews-v3"), "{first:#}");
    // One LIST per kind, only in the namespace the text names (and the ones doctor always reads).
    let requests = m.server.requests();
    assert!(!requests.is_empty());
    for req in &requests {
        assert_eq!(req.method, "GET", "{req:?}");
        assert!(
            !req.path.contains("/namespaces/default/"),
            "read the context's namespace: {}",
            req.path
        );
        if let Some(ns) = req.path.split("/namespaces/").nth(1).and_then(|p| p.split('/').next()) {
            assert!(
                ["istio-demo", "istio-system", "kube-system"].contains(&ns),
                "read namespace {ns}: {}",
                req.path
            );
        }
        assert!(
            !req.path.rsplit('/').next().unwrap_or("").contains("reviews"),
            "a GET of one object: {}",
            req.path
        );
    }
}

#[test]
fn the_text_can_come_from_stdin() {
    let m = Mesh::with(bookinfo().stale_root_cert());
    let mut child = m
        .command(&["doctor", "--error", "-", "-o", "short"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text("f04-java-client.txt").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("error KM2030 stale-sidecar-cert: deployment istio-demo/")),
        "{stdout}"
    );
}

#[test]
fn an_unknown_text_is_a_usage_error_listing_the_patterns_and_sends_nothing() {
    let m = Mesh::bookinfo();
    let r = m.run(&["doctor", "--error", &text("n1-prose.txt")]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("error: no known failure pattern in the text (1 line read)"),
        "{}",
        r.stderr
    );
    for p in PATTERNS {
        assert!(r.stderr.contains(p.id), "{} not listed: {}", p.id, r.stderr);
    }
    assert!(r.stdout.is_empty());
    assert!(m.server.requests().is_empty(), "nothing is sent for a usage error");
    for t in ["n2-200.txt", "n3-app-404.txt"] {
        m.run(&["doctor", "--error", &text(t)]).assert_code(2);
    }
    let r = m.run(&["doctor", "--error", "  \n"]);
    r.assert_code(2);
    assert!(r.stderr.contains("the error text is empty"), "{}", r.stderr);
    let r = m.run(&["doctor", "--error", "x", "--check", "sidecar-missing"]);
    r.assert_code(2);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
    assert!(m.server.requests().is_empty());
}

#[test]
fn suppression_and_fail_on_apply_to_error_runs_too() {
    let m = Mesh::with(bookinfo().stale_root_cert());
    let r = error_json(&m, &text("f03-cert-old-format.txt"), &["--suppress", "KM2030"]);
    r.assert_code(0);
    let report = r.json();
    assert_eq!(report["success"], true);
    let suppressed: Vec<&Value> = checks(&report).iter().filter(|c| c["status"] == "suppressed").collect();
    assert_eq!(suppressed.len(), 2, "{report:#}");
    assert!(suppressed.iter().all(|c| c["suppressed"]["status"] == "error"));
}

#[test]
fn the_readme_pattern_table_is_what_the_code_does() {
    use mesh_core::doctor::symptom::scope::called_checks;
    let readme = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for p in PATTERNS {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", p.id)))
            .unwrap_or_else(|| panic!("README has no row for pattern {}", p.id));
        let cells: Vec<&str> = row.split(" | ").collect();
        let listed: Vec<String> = cells[2]
            .trim_end_matches(" |")
            .split(", ")
            .map(|c| c.split(" (").next().unwrap().trim().to_string())
            .collect();
        let mut called: Vec<String> = called_checks(p, false)
            .into_iter()
            .filter(|c| *c != "api-access")
            .map(str::to_string)
            .collect();
        called.sort();
        let mut listed_sorted = listed.clone();
        listed_sorted.sort();
        assert_eq!(listed_sorted, called, "README row of {}", p.id);
    }
}
