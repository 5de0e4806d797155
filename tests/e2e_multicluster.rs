//! `kubectl mesh doctor --context east --context west` across two real Kubernetes control planes (see tests/e2e.rs
//! and tests/common/controlplane.rs): east serves Gateway API v1.0.0, west v1.6.1, and each made its own Istio
//! root certificate when its state was installed, as two independent `helm install istiod` would. No Istio runs;
//! the test plays the operator (sharing east's root with west, changing west's istiod image) with kubectl.

#[path = "common/controlplane.rs"]
mod controlplane;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use controlplane::{controlplane, script, ControlPlane, GatewayApi, Run};
use serde_json::{json, Value};

/// One kubeconfig with a context per control plane (`name` for cluster, user and context), plus contexts for
/// servers that do not answer.
fn kubeconfig(path: &Path, planes: &[(&str, &ControlPlane)], down: &[(&str, &str)]) -> PathBuf {
    let (mut clusters, mut users, mut contexts) = (Vec::new(), Vec::new(), Vec::new());
    for (name, cp) in planes {
        let text = std::fs::read_to_string(&cp.kubeconfig).unwrap();
        let kc: Value = serde_saphyr::from_str(&text).unwrap();
        let mut cluster = kc["clusters"][0].clone();
        cluster["name"] = json!(name);
        let mut user = kc["users"][0].clone();
        user["name"] = json!(name);
        clusters.push(cluster);
        users.push(user);
        contexts.push(json!({"name": name, "context": {"cluster": name, "user": name, "namespace": "istio-demo"}}));
    }
    for (name, server) in down {
        clusters.push(json!({"name": name, "cluster": {"server": server}}));
        users.push(json!({"name": name, "user": {}}));
        contexts.push(json!({"name": name, "context": {"cluster": name, "user": name, "namespace": "istio-demo"}}));
    }
    let kc = json!({"apiVersion": "v1", "kind": "Config", "clusters": clusters, "users": users, "contexts": contexts,
        "current-context": planes[0].0});
    std::fs::write(path, serde_json::to_string_pretty(&kc).unwrap()).unwrap();
    path.to_path_buf()
}

fn mesh(kubeconfig: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-mesh"))
        .args(args)
        .args(["--request-timeout", "30s", "--kubeconfig"])
        .arg(kubeconfig)
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!(
        "$ kubectl mesh {}\n-> {}\n{}{}",
        args.join(" "),
        run.code,
        run.stdout,
        run.stderr
    );
    run
}

fn cross<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["crossCluster"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id}: {doc}"))
}

/// Each cluster's own checks pass (the guide state is healthy).
fn clusters_healthy(doc: &Value) {
    for c in doc["clusters"].as_array().unwrap() {
        assert_eq!(c["success"], true, "{c}");
    }
}

#[test]
fn two_real_clusters_with_their_own_roots_then_a_shared_root_then_skewed_istiods() {
    // East first: its root is older than every pod of west, so sharing it with west later stales no sidecar.
    let Some(east) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let Some(west) = controlplane(GatewayApi::V1_6_1) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(&dir.path().join("kubeconfig"), &[("east", east), ("west", west)], &[]);

    // 1. Two independent installs: two roots, no shared trust.
    let r = mesh(&kc, &["doctor", "--context", "east", "--context", "west", "-o", "json"]);
    r.assert_code(1);
    let doc = r.json();
    assert_eq!(doc["clusters"][0]["server"], east.server.as_str());
    assert_eq!(doc["clusters"][1]["server"], west.server.as_str());
    clusters_healthy(&doc);
    let root = cross(&doc, "multicluster-root-mismatch");
    assert_eq!(root["status"], "error", "{root}");
    assert!(
        root["message"]
            .as_str()
            .unwrap()
            .contains("east and west share no Istio root certificate"),
        "{root}"
    );
    let clusters: Vec<&Value> = root["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["cluster"])
        .collect();
    assert_eq!(clusters, vec!["east", "west"]);
    assert_eq!(cross(&doc, "multicluster-version-skew")["status"], "ok");

    // 2. The operator gives west east's root (every namespace's istio-ca-root-cert, as istiod would write it).
    let east_root = east.dir.join("pki/istio-root-cert.pem");
    west.sh(&format!(
        "bash {} --cert {} --all",
        script("root-cert.sh").display(),
        east_root.display()
    ))
    .ok();
    let r = mesh(&kc, &["doctor", "--all-contexts", "-o", "json"]);
    r.assert_code(0);
    let doc = r.json();
    clusters_healthy(&doc);
    assert_eq!(cross(&doc, "multicluster-root-mismatch")["status"], "ok", "{doc}");

    // 3. West's istiod is two minors behind: a warning (exit 0), named in the table's multicluster section.
    west.kubectl_ok(&[
        "-n",
        "istio-system",
        "set",
        "image",
        "deployment/istiod",
        "discovery=docker.io/istio/pilot:1.24.3",
    ]);
    west.kubectl_ok(&[
        "-n",
        "istio-system",
        "rollout",
        "status",
        "deployment/istiod",
        "--timeout=120s",
    ]);
    let r = mesh(&kc, &["doctor", "--context", "east", "--context", "west", "-o", "json"]);
    let doc = r.json();
    let skew = cross(&doc, "multicluster-version-skew");
    assert_eq!(skew["status"], "warning", "{skew}");
    assert!(
        skew["message"]
            .as_str()
            .unwrap()
            .contains("east runs istiod 1.26.2, west runs 1.24.3"),
        "{skew}"
    );
    let r = mesh(&kc, &["doctor", "--context", "east", "--context", "west"]);
    assert!(
        r.stdout
            .contains("‼ KM8020 *        east runs istiod 1.26.2, west runs 1.24.3"),
        "{}",
        r.stdout
    );
    west.kubectl_ok(&[
        "-n",
        "istio-system",
        "set",
        "image",
        "deployment/istiod",
        "discovery=docker.io/istio/pilot:1.26.2",
    ]);
    west.kubectl_ok(&[
        "-n",
        "istio-system",
        "rollout",
        "status",
        "deployment/istiod",
        "--timeout=120s",
    ]);

    // 4. A third context that does not answer: its own error entry, the two real clusters still checked.
    let kc3 = kubeconfig(
        &dir.path().join("kubeconfig3"),
        &[("east", east), ("west", west)],
        &[("down", "https://127.0.0.1:1")],
    );
    let r = mesh(&kc3, &["doctor", "--all-contexts", "-o", "json"]);
    r.assert_code(1);
    let doc = r.json();
    let names: Vec<&str> = doc["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["context"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["east", "west", "down"]);
    assert!(
        doc["clusters"][2]["error"]
            .as_str()
            .unwrap()
            .contains("https://127.0.0.1:1"),
        "{doc}"
    );
    assert_eq!(doc["clusters"][0]["success"], true);
    assert_eq!(doc["clusters"][1]["success"], true);
    assert_eq!(cross(&doc, "multicluster-root-mismatch")["status"], "ok");
}
