//! `kubectl mesh doctor --context A --context B` / `--all-contexts` against two sandbox API servers (and a
//! context whose server does not answer).

#[path = "common/mesh.rs"]
mod mesh;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mesh::Run;
use mesh_sandbox::scenario::{bookinfo, Scenario, ROTATED_ROOT_CERT_PEM};
use mesh_sandbox::{ServerOptions, TestServer};
use serde_json::{json, Value};

fn server(scenario: &Scenario) -> TestServer {
    let s = TestServer::start(ServerOptions::default()).unwrap();
    s.apply_scenario(scenario).unwrap();
    s.clear_log();
    s
}

/// A kubeconfig with one context per (name, server URL), each in namespace istio-demo; the first is current.
fn kubeconfig(dir: &Path, contexts: &[(&str, &str)]) -> PathBuf {
    let mut clusters = String::new();
    let mut ctxs = String::new();
    for (name, url) in contexts {
        clusters.push_str(&format!("- name: {name}\n  cluster:\n    server: {url}\n"));
        ctxs.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: tester\n    namespace: istio-demo\n"
        ));
    }
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{clusters}contexts:\n{ctxs}current-context: {}\nusers:\n- name: tester\n  user: {{}}\n",
        contexts[0].0
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn run(kubeconfig: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-mesh"))
        .args(args)
        .args(["--request-timeout", "5s", "--kubeconfig"])
        .arg(kubeconfig)
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A root rotation done everywhere in the cluster (istiod's CA, every namespace's istio-ca-root-cert and the
/// injector's caBundle): the cluster is healthy on its own, but its root is not east's.
fn use_rotated_root(s: &TestServer) {
    for mut cm in s.list("configmaps", None) {
        if cm["metadata"]["name"] == "istio-ca-root-cert" {
            cm["data"]["root-cert.pem"] = json!(ROTATED_ROOT_CERT_PEM);
            s.update(cm).unwrap();
        }
    }
    let mut mwc = s
        .get("mutatingwebhookconfigurations", None, "istio-sidecar-injector")
        .unwrap();
    mwc["webhooks"][0]["clientConfig"]["caBundle"] =
        json!(mesh_sandbox::scenario::base64(ROTATED_ROOT_CERT_PEM.as_bytes()));
    s.update(mwc).unwrap();
}

fn cross<'a>(doc: &'a Value, id: &str) -> Vec<&'a Value> {
    doc["crossCluster"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == id)
        .collect()
}

fn contexts_of(doc: &Value) -> Vec<&str> {
    doc["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["context"].as_str().unwrap())
        .collect()
}

#[test]
fn two_healthy_clusters_sharing_a_root_pass() {
    let (east, west) = (server(&bookinfo()), server(&bookinfo()));
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(dir.path(), &[("east", &east.url()), ("west", &west.url())]);
    let r = run(&kc, &["doctor", "--context", "east", "--context", "west", "-o", "json"]);
    r.assert_code(0);
    let doc = r.json();
    assert_eq!(doc["success"], true);
    assert_eq!(contexts_of(&doc), vec!["east", "west"]);
    for c in doc["clusters"].as_array().unwrap() {
        assert_eq!(c["success"], true, "{c}");
        assert_eq!(c["error"], Value::Null);
        assert!(!c["checks"].as_array().unwrap().is_empty());
    }
    assert_eq!(doc["clusters"][0]["server"], east.url());
    let root = cross(&doc, "multicluster-root-mismatch");
    assert_eq!(root.len(), 1);
    assert_eq!(root[0]["status"], "ok", "{}", root[0]);
    let clusters: Vec<&Value> = root[0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["cluster"])
        .collect();
    assert_eq!(clusters, vec!["east", "west"]);
    assert_eq!(cross(&doc, "multicluster-version-skew")[0]["status"], "ok");

    // Each server saw its own LISTs, and only reads.
    for s in [&east, &west] {
        let log = s.requests();
        assert!(
            log.iter().any(|q| q.path == "/api/v1/namespaces/istio-demo/pods"),
            "{log:?}"
        );
        assert!(
            log.iter().all(|q| q.method == "GET" && q.query.contains("limit=500")),
            "{log:?}"
        );
    }

    // --all-contexts is the same list, in kubeconfig order.
    let r = run(&kc, &["doctor", "--all-contexts", "-o", "json"]);
    r.assert_code(0);
    assert_eq!(contexts_of(&r.json()), vec!["east", "west"]);

    // The table: a CLUSTER column under each category, the cross-cluster section last.
    let r = run(&kc, &["doctor", "--context", "east", "--context", "west"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .starts_with(&format!("clusters: east ({}), west ({})\n", east.url(), west.url())),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("  CLUSTER  MESSAGE\n"), "{}", r.stdout);
    assert!(r.stdout.contains("√ KM1030 east     istiod ready"), "{}", r.stdout);
    assert!(r.stdout.contains("√ KM1030 west     istiod ready"), "{}", r.stdout);
    let multicluster = r
        .stdout
        .find("multicluster\n------------")
        .expect("a multicluster section");
    assert!(
        r.stdout[multicluster..].contains("east, west trust the same Istio root certificate"),
        "{}",
        r.stdout
    );
}

#[test]
fn clusters_with_different_roots_share_no_trust() {
    let (east, west) = (server(&bookinfo()), server(&bookinfo()));
    use_rotated_root(&west);
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(dir.path(), &[("east", &east.url()), ("west", &west.url())]);
    let r = run(&kc, &["doctor", "--context", "east", "--context", "west", "-o", "json"]);
    r.assert_code(1);
    let doc = r.json();
    assert_eq!(doc["success"], false);
    for c in doc["clusters"].as_array().unwrap() {
        assert_eq!(c["success"], true, "each cluster is healthy on its own: {c}");
    }
    let root = cross(&doc, "multicluster-root-mismatch");
    assert_eq!(root.len(), 1);
    assert_eq!(root[0]["status"], "error");
    let msg = root[0]["message"].as_str().unwrap();
    assert!(msg.contains("east and west share no Istio root certificate"), "{msg}");
    assert!(msg.contains("CERTIFICATE_VERIFY_FAILED"), "{msg}");
    assert_eq!(
        root[0]["resources"],
        json!([
            {"kind": "ConfigMap", "namespace": "istio-system", "name": "istio-ca-root-cert", "cluster": "east"},
            {"kind": "ConfigMap", "namespace": "istio-system", "name": "istio-ca-root-cert", "cluster": "west"}])
    );
    assert!(root[0]["hint"].as_str().unwrap().contains("cacerts"), "{}", root[0]);
    let r = run(&kc, &["doctor", "--context", "east", "--context", "west"]);
    r.assert_code(1);
    assert!(
        r.stdout
            .contains("× KM8010 *        east and west share no Istio root certificate"),
        "{}",
        r.stdout
    );
}

#[test]
fn istiod_versions_more_than_one_minor_apart_are_a_warning() {
    let east = server(&bookinfo());
    let mut old = bookinfo();
    old.istio_version = "1.24.3".into();
    let west = server(&old);
    let mut near = bookinfo();
    near.istio_version = "1.25.0".into();
    let north = server(&near);
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(
        dir.path(),
        &[("east", &east.url()), ("west", &west.url()), ("north", &north.url())],
    );
    let r = run(&kc, &["doctor", "--context", "east", "--context", "west", "-o", "json"]);
    r.assert_code(0);
    let doc = r.json();
    let skew = cross(&doc, "multicluster-version-skew");
    assert_eq!(skew.len(), 1);
    assert_eq!(skew[0]["status"], "warning");
    assert!(
        skew[0]["message"]
            .as_str()
            .unwrap()
            .contains("east runs istiod 1.26.2, west runs 1.24.3"),
        "{}",
        skew[0]
    );
    let r = run(
        &kc,
        &["doctor", "--context", "east", "--context", "north", "-o", "json"],
    );
    r.assert_code(0);
    assert_eq!(cross(&r.json(), "multicluster-version-skew")[0]["status"], "ok");
}

#[test]
fn an_unreachable_cluster_gets_its_own_error_and_the_others_still_run() {
    let (east, west) = (server(&bookinfo()), server(&bookinfo()));
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(
        dir.path(),
        &[
            ("east", &east.url()),
            ("down", "http://127.0.0.1:1"),
            ("west", &west.url()),
        ],
    );
    let r = run(&kc, &["doctor", "--all-contexts", "-o", "json"]);
    r.assert_code(1);
    let doc = r.json();
    assert_eq!(contexts_of(&doc), vec!["east", "down", "west"]);
    let down = &doc["clusters"][1];
    assert_eq!(down["success"], false);
    assert!(down["error"].as_str().unwrap().contains("http://127.0.0.1:1"), "{down}");
    assert!(down["hint"].is_string(), "{down}");
    assert_eq!(down["checks"], json!([]));
    for i in [0, 2] {
        assert_eq!(doc["clusters"][i]["success"], true);
        assert!(!doc["clusters"][i]["checks"].as_array().unwrap().is_empty());
    }
    assert_eq!(
        cross(&doc, "multicluster-root-mismatch")[0]["status"],
        "ok",
        "east and west compared"
    );
    let r = run(&kc, &["doctor", "--all-contexts"]);
    r.assert_code(1);
    assert!(
        r.stdout.contains("× KM0010 down     could not be reached: "),
        "{}",
        r.stdout
    );

    // Nothing reachable: exit 3.
    let dir2 = tempfile::tempdir().unwrap();
    let kc2 = kubeconfig(
        dir2.path(),
        &[("down", "http://127.0.0.1:1"), ("gone", "http://127.0.0.1:2")],
    );
    let r = run(&kc2, &["doctor", "--all-contexts", "-o", "json"]);
    r.assert_code(3);
    assert_eq!(r.json()["success"], false);
}

#[test]
fn context_flags_are_checked_before_any_request() {
    let (east, west) = (server(&bookinfo()), server(&bookinfo()));
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(dir.path(), &[("east", &east.url()), ("west", &west.url())]);
    let r = run(&kc, &["doctor", "--all-contexts", "--context", "east"]);
    r.assert_code(2);
    let r = run(&kc, &["doctor", "--context", "east", "--context", "nope"]);
    r.assert_code(3);
    assert!(r.stderr.contains("context \"nope\" not found"), "{}", r.stderr);
    assert!(r.stderr.contains("available contexts: east, west"), "{}", r.stderr);
    let r = run(
        &kc,
        &["doctor", "--context", "east", "--context", "west", "--cluster", "east"],
    );
    r.assert_code(2);
    let r = run(&kc, &["doctor", "--context", "east", "--context", "west", "-f", "-"]);
    r.assert_code(2);
    assert!(
        east.requests().is_empty() && west.requests().is_empty(),
        "no request was sent"
    );

    // Every other command keeps kubectl's rule: the last --context wins.
    let r = run(&kc, &["status", "--context", "east", "--context", "west", "-o", "json"]);
    r.assert_code(0);
    assert!(east.requests().is_empty(), "{:?}", east.requests());
    assert!(!west.requests().is_empty());
    // The same context twice is one cluster: plain doctor.
    let r = run(&kc, &["doctor", "--context", "east", "--context", "east", "-o", "json"]);
    r.assert_code(0);
    assert!(r.json().get("checks").is_some(), "{}", r.stdout);
}
