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
    let env = Env::new();
    env.server
        .apply_scenario(&kubectl_mesh::sandbox::scenario::bookinfo())
        .unwrap();
    let out = json(&env.kubectl_ok(&["get", "pods", "-n", "istio-demo", "-o", "json"]));
    let items = out["items"].as_array().unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("reviews-v2-")),
        "{names:?}"
    );
    assert!(items.iter().all(|p| p["status"]["phase"] == "Running"));
    let table = env.kubectl_ok(&["get", "pods", "-n", "istio-demo"]);
    assert!(table.contains("productpage-v1-"), "{table}");
}
