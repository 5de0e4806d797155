//! The real kubectl binary against the sandbox API server: discovery, get, apply, patch, label, delete.

#[path = "common/sandbox.rs"]
mod sandbox_common;

use sandbox_common::Env;
use serde_json::Value;

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn kubectl_get_pods_lists_running_bookinfo_pods() {
    if !sandbox_common::kubectl_available() {
        return;
    }
    let env = Env::new();
    env.server.apply_scenario(&mesh_sandbox::scenario::bookinfo()).unwrap();
    let out = json(&env.kubectl_ok(&["get", "pods", "-n", "istio-demo", "-o", "json"]));
    let items = out["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|p| p["metadata"]["name"].as_str().unwrap()).collect();
    assert!(names.iter().any(|n| n.starts_with("reviews-v2-")), "{names:?}");
    assert!(items.iter().all(|p| p["status"]["phase"] == "Running"));
    let table = env.kubectl_ok(&["get", "pods", "-n", "istio-demo"]);
    let header = table.lines().next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    let row = table.lines().find(|l| l.starts_with("productpage-v1-")).unwrap();
    assert_eq!(row.split_whitespace().nth(1), Some("2/2"), "{table}");
    assert_eq!(row.split_whitespace().nth(2), Some("Running"), "{table}");
    let deploys = env.kubectl_ok(&["get", "deploy", "-A"]);
    assert!(
        deploys
            .lines()
            .any(|l| l.starts_with("istio-system") && l.contains("istiod") && l.contains("1/1")),
        "{deploys}"
    );
}

fn bookinfo_env() -> Env {
    let env = Env::new();
    env.server.apply_scenario(&mesh_sandbox::scenario::bookinfo()).unwrap();
    env
}

#[test]
fn kubectl_get_httproutes_shows_schema_defaults() {
    if !sandbox_common::kubectl_available() {
        return;
    }
    let env = bookinfo_env();
    let out = json(&env.kubectl_ok(&["get", "httproutes", "reviews", "-o", "json"]));
    let rule = &out["spec"]["rules"][0];
    assert_eq!(rule["matches"][0]["path"]["type"], "PathPrefix");
    assert_eq!(rule["backendRefs"][0]["weight"], 1);
    // v1.0.0-like schema: parentRefs[].port is pruned.
    assert!(out["spec"]["parentRefs"][0].get("port").is_none(), "{}", out["spec"]);
    assert_eq!(out["spec"]["parentRefs"][0]["kind"], "Service");
}

#[test]
fn kubectl_apply_creates_then_updates_an_httproute() {
    if !sandbox_common::kubectl_available() {
        return;
    }
    let env = bookinfo_env();
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: ratings\nspec:\n  parentRefs:\n  - group: \"\"\n    kind: Service\n    name: ratings\n  rules:\n  - backendRefs:\n    - name: ratings\n      port: 9080\n";
    let f = env.file("route.yaml", route);
    let out = env.kubectl_ok(&["apply", "-f", f.to_str().unwrap()]);
    assert!(
        out.contains("httproute.gateway.networking.k8s.io/ratings created"),
        "{out}"
    );
    let stored = env.server.get("httproutes", Some("istio-demo"), "ratings").unwrap();
    assert_eq!(stored["metadata"]["generation"], 1);
    let f = env.file(
        "route2.yaml",
        &route.replace("port: 9080", "port: 9080\n      weight: 5"),
    );
    let out = env.kubectl_ok(&["apply", "-f", f.to_str().unwrap()]);
    assert!(out.contains("configured"), "{out}");
    let stored = env.server.get("httproutes", Some("istio-demo"), "ratings").unwrap();
    assert_eq!(stored["spec"]["rules"][0]["backendRefs"][0]["weight"], 5);
    assert_eq!(stored["metadata"]["generation"], 2);
    // The route-status controller (istiod's part) writes status for generation 2 after the write; let it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let stored = loop {
        let r = env.server.get("httproutes", Some("istio-demo"), "ratings").unwrap();
        if r.pointer("/status/parents/0/conditions/0/observedGeneration") == Some(&serde_json::json!(2)) {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no route status for generation 2: {r}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // Same again: kubectl sends a merge patch (lists differ from the defaulted ones) but nothing changes,
    // so the resourceVersion stays.
    let rv = stored["metadata"]["resourceVersion"].clone();
    env.kubectl_ok(&["apply", "-f", f.to_str().unwrap()]);
    let stored = env.server.get("httproutes", Some("istio-demo"), "ratings").unwrap();
    assert_eq!(stored["metadata"]["resourceVersion"], rv);
}

#[test]
fn kubectl_apply_rejects_parent_port_on_v1_0_schema() {
    if !sandbox_common::kubectl_available() {
        return;
    }
    let env = bookinfo_env();
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: ratings\nspec:\n  parentRefs:\n  - group: \"\"\n    kind: Service\n    name: ratings\n    port: 9080\n";
    let f = env.file("route.yaml", route);
    let out = env.kubectl(&["apply", "-f", f.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown field \"spec.parentRefs[0].port\""), "{err}");
    assert!(env.server.get("httproutes", Some("istio-demo"), "ratings").is_none());
}

#[test]
fn kubectl_patch_merge_changes_weights() {
    if !sandbox_common::kubectl_available() {
        return;
    }
    let env = bookinfo_env();
    let patch = r#"{"spec":{"rules":[{"backendRefs":[{"name":"reviews-v1","port":9080,"weight":90},{"name":"reviews-v3","port":9080,"weight":10}]}]}}"#;
    env.kubectl_ok(&["patch", "httproute", "reviews", "--type", "merge", "-p", patch]);
    let stored = env.server.get("httproutes", Some("istio-demo"), "reviews").unwrap();
    let refs = stored["spec"]["rules"][0]["backendRefs"].as_array().unwrap();
    assert_eq!(refs.len(), 2);
    assert_eq!(refs[1]["weight"], 10);
    assert_eq!(refs[1]["kind"], "Service");
    assert_eq!(stored["spec"]["rules"][0]["matches"][0]["path"]["value"], "/");
}

#[test]
fn kubectl_strategic_patch_on_a_custom_resource_is_415() {
    if !sandbox_common::kubectl_available() {
        return;
    }
    let env = bookinfo_env();
    let out = env.kubectl(&[
        "patch",
        "httproute",
        "reviews",
        "--type",
        "strategic",
        "-p",
        r#"{"spec":{"hostnames":["x"]}}"#,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("UnsupportedMediaType") || err.contains("unknown format") || err.contains("415"),
        "{err}"
    );
}

/// Poll (20 ms) until `cond` holds; fail after 2 s.
#[track_caller]
fn eventually(mut cond: impl FnMut() -> bool) {
    for _ in 0..100 {
        if cond() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(cond(), "condition not met within 2 s");
}

#[test]
fn kubectl_rollout_restart_replaces_pods() {
    if !sandbox_common::kubectl_available() {
        return;
    }
    let env = bookinfo_env();
    let before: Vec<String> = env
        .server
        .list_selected("pods", Some("istio-demo"), "app=reviews,version=v2")
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(before.len(), 1);
    env.kubectl_ok(&["rollout", "restart", "deployment/reviews-v2"]);
    // The old pod is Terminating (deletionTimestamp set) until its kubelet is done, as on a cluster.
    let during = env
        .server
        .list_selected("pods", Some("istio-demo"), "app=reviews,version=v2");
    let old = during
        .iter()
        .find(|p| p["metadata"]["name"] == before[0].as_str())
        .expect("the old pod is still listed while it terminates");
    assert!(old["metadata"]["deletionTimestamp"].is_string());
    eventually(|| {
        env.server
            .list_selected("pods", Some("istio-demo"), "app=reviews,version=v2")
            .len()
            == 1
    });
    let after = env
        .server
        .list_selected("pods", Some("istio-demo"), "app=reviews,version=v2");
    assert_eq!(after.len(), 1);
    assert_ne!(after[0]["metadata"]["name"].as_str().unwrap(), before[0]);
    assert!(after[0]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].is_string());
    let d = env.server.get("deployments", Some("istio-demo"), "reviews-v2").unwrap();
    assert_eq!(d["metadata"]["generation"], 2);
    assert_eq!(d["status"]["observedGeneration"], 2);
    assert_eq!(d["status"]["updatedReplicas"], 1);
    let out = env.kubectl_ok(&["rollout", "status", "deployment/reviews-v2", "--timeout=10s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
}

#[test]
fn kubectl_label_and_delete_change_the_store() {
    if !sandbox_common::kubectl_available() {
        return;
    }
    let env = bookinfo_env();
    env.kubectl_ok(&["label", "service", "ratings", "team=mesh"]);
    assert_eq!(
        env.server.get("svc", Some("istio-demo"), "ratings").unwrap()["metadata"]["labels"]["team"],
        "mesh"
    );
    let out = env.kubectl_ok(&["get", "svc", "-l", "team=mesh", "-o", "name"]);
    assert_eq!(out.trim(), "service/ratings");
    env.kubectl_ok(&["delete", "deployment", "ratings-v1"]);
    assert!(env
        .server
        .get("deployments", Some("istio-demo"), "ratings-v1")
        .is_none());
    // Its pods terminate, then go.
    eventually(|| {
        env.server
            .list_selected("pods", Some("istio-demo"), "app=ratings")
            .is_empty()
    });
    assert!(env
        .server
        .list_selected("replicasets", Some("istio-demo"), "app=ratings")
        .is_empty());
}

#[test]
fn kubectl_get_watch_streams_changes() {
    if !sandbox_common::kubectl_available() {
        return;
    }
    let env = bookinfo_env();
    let mut child = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["get", "configmaps", "-w", "--request-timeout=0"])
        .env("KUBECACHEDIR", env.dir.path().join("cache"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    env.server
        .insert(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "watched", "namespace": "istio-demo"}}))
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.starts_with("istio-ca-root-cert ")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("watched ")), "{text}");
}

#[test]
fn kubectl_apply_warns_about_pruned_fields_with_validate_warn() {
    if !sandbox_common::kubectl_available() {
        return;
    }
    let env = bookinfo_env();
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: ratings\nspec:\n  parentRefs:\n  - group: \"\"\n    kind: Service\n    name: ratings\n    port: 9080\n";
    let f = env.file("route.yaml", route);
    let out = env.kubectl(&["apply", "--validate=warn", "-f", f.to_str().unwrap()]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown field \"spec.parentRefs[0].port\""), "{err}");
    let stored = env.server.get("httproutes", Some("istio-demo"), "ratings").unwrap();
    assert!(stored["spec"]["parentRefs"][0].get("port").is_none());
}

#[test]
fn kubectl_dry_run_server_stores_nothing() {
    if !sandbox_common::kubectl_available() {
        return;
    }
    let env = bookinfo_env();
    env.server.clear_log();
    let out = env.kubectl_ok(&["delete", "deployment", "reviews-v1", "--dry-run=server"]);
    assert!(out.contains("(server dry run)"), "{out}");
    assert!(env.server.get("deploy", Some("istio-demo"), "reviews-v1").is_some());
    assert!(env.server.writes().is_empty());
    assert_eq!(env.server.writes_including_dry_run().len(), 1);
}

#[test]
fn kubectl_server_side_apply_and_auth_can_i() {
    if !sandbox_common::kubectl_available() {
        return;
    }
    let env = bookinfo_env();
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: details\nspec:\n  parentRefs:\n  - group: \"\"\n    kind: Service\n    name: details\n  rules:\n  - backendRefs:\n    - name: details\n      port: 9080\n";
    let f = env.file("route.yaml", route);
    let out = env.kubectl_ok(&["apply", "--server-side", "-f", f.to_str().unwrap()]);
    assert!(out.contains("serverside-applied"), "{out}");
    let stored = env.server.get("httproutes", Some("istio-demo"), "details").unwrap();
    assert_eq!(stored["metadata"]["managedFields"][0]["manager"], "kubectl");
    assert_eq!(stored["spec"]["rules"][0]["backendRefs"][0]["weight"], 1);

    env.server.set_rbac(Some(vec![mesh_sandbox::RbacRule::new(
        &["gateway.networking.k8s.io"],
        &["httproutes"],
        &["get", "list", "patch"],
        &["istio-demo"],
    )]));
    assert_eq!(
        env.kubectl_ok(&["auth", "can-i", "patch", "httproutes.gateway.networking.k8s.io"])
            .trim(),
        "yes"
    );
    let out = env.kubectl(&["auth", "can-i", "delete", "httproutes.gateway.networking.k8s.io"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
    let out = env.kubectl(&["get", "pods"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pods is forbidden: User \"test\" cannot list resource \"pods\" in API group \"\" in the namespace \"istio-demo\""), "{err}");
}

#[test]
fn kubectl_reads_istio_kinds_at_v1beta1() {
    if !sandbox_common::kubectl_available() {
        return;
    }
    let env = Env::new();
    env.server
        .apply_scenario(&mesh_sandbox::scenario::bookinfo().strict_mtls())
        .unwrap();
    let out = json(&env.kubectl_ok(&[
        "get",
        "peerauthentications.v1beta1.security.istio.io",
        "-A",
        "-o",
        "json",
    ]));
    let items = out["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{out}");
    assert_eq!(items[0]["apiVersion"], "security.istio.io/v1beta1");
    assert_eq!(items[0]["spec"]["mtls"]["mode"], "STRICT");
    let dr = env.file(
        "dr.yaml",
        "apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n  name: reviews\nspec:\n  host: reviews\n",
    );
    env.kubectl_ok(&["apply", "-n", "istio-demo", "-f", dr.to_str().unwrap()]);
    let got = json(&env.kubectl_ok(&["get", "destinationrules", "reviews", "-n", "istio-demo", "-o", "json"]));
    assert_eq!(got["apiVersion"], "networking.istio.io/v1");
    assert_eq!(got["spec"]["host"], "reviews");
}

/// Issue 15 divergence 6: kubectl's generators send built-in kinds as protobuf
/// (`application/vnd.kubernetes.protobuf`); the real server takes them, and so does the sandbox now.
#[test]
fn kubectl_generators_send_protobuf_and_are_served() {
    if !sandbox_common::kubectl_available() {
        return;
    }
    let env = bookinfo_env();
    env.kubectl_ok(&["create", "namespace", "pdbt"]);
    env.kubectl_ok(&[
        "create",
        "poddisruptionbudget",
        "solo",
        "-n",
        "pdbt",
        "--selector=app=solo",
        "--min-available=0",
    ]);
    env.kubectl_ok(&[
        "create",
        "pdb",
        "half",
        "-n",
        "pdbt",
        "--selector=app=solo",
        "--max-unavailable=50%",
    ]);
    env.kubectl_ok(&["create", "configmap", "cm", "-n", "pdbt", "--from-literal=a=b"]);
    env.kubectl_ok(&["create", "secret", "generic", "s", "-n", "pdbt", "--from-literal=k=v"]);
    env.kubectl_ok(&["create", "serviceaccount", "sa", "-n", "pdbt"]);
    let ns = json(&env.kubectl_ok(&["get", "namespace", "pdbt", "-o", "json"]));
    assert_eq!(ns["status"]["phase"], "Active");
    let pdb = json(&env.kubectl_ok(&["get", "pdb", "solo", "-n", "pdbt", "-o", "json"]));
    assert_eq!(pdb["spec"]["minAvailable"], 0);
    assert_eq!(pdb["spec"]["selector"]["matchLabels"]["app"], "solo");
    let half = json(&env.kubectl_ok(&["get", "pdb", "half", "-n", "pdbt", "-o", "json"]));
    assert_eq!(half["spec"]["maxUnavailable"], "50%");
    let cm = json(&env.kubectl_ok(&["get", "configmap", "cm", "-n", "pdbt", "-o", "json"]));
    assert_eq!(cm["data"]["a"], "b");
    let s = json(&env.kubectl_ok(&["get", "secret", "s", "-n", "pdbt", "-o", "json"]));
    assert_eq!(s["data"]["k"], "dg==");
    assert_eq!(s["type"], "Opaque");
}
