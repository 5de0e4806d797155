//! Real-cluster end-to-end suite: k3d + Istio + Gateway API v1.0.0 + MetalLB + Bookinfo, set up as in the users'
//! guide (see .github/workflows/e2e.yml). Runs only when MESH_E2E_KUBECONFIG points at such a cluster; otherwise
//! each test says it is skipped.
//!
//! The suite changes the reviews route and puts it back to v1 at the end.

use std::process::{Command, Output};

use serde_json::Value;

fn kubeconfig() -> Option<String> {
    match std::env::var("MESH_E2E_KUBECONFIG") {
        Ok(k) if !k.is_empty() => Some(k),
        _ => {
            eprintln!("skipping real-cluster e2e: set MESH_E2E_KUBECONFIG to a k3d cluster set up as in .github/workflows/e2e.yml");
            None
        }
    }
}

fn mesh(kc: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-mesh"))
        .args(args)
        .args(["--kubeconfig", kc, "-n", "istio-demo", "--request-timeout", "30s"])
        .output()
        .unwrap();
    eprintln!(
        "$ kubectl mesh {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn kubectl(kc: &str, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .args(["--kubeconfig", kc, "-n", "istio-demo"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Ask reviews directly from inside the mesh (from the ratings pod), as productpage would.
fn reviews_color(kc: &str, user: Option<&str>) -> String {
    let mut args = vec!["exec", "deploy/ratings-v1", "-c", "ratings", "--", "curl", "-s"];
    let header;
    if let Some(u) = user {
        header = format!("end-user: {u}");
        args.extend(["-H", &header]);
    }
    args.push("http://reviews:9080/reviews/0");
    let body = kubectl(kc, &args);
    if body.contains("\"color\": \"red\"") || body.contains("\"color\":\"red\"") {
        "red".into()
    } else if body.contains("black") {
        "black".into()
    } else {
        "none".into()
    }
}

#[test]
fn e2e_guide_flow_shift_route_user_doctor_recover() {
    let Some(kc) = kubeconfig() else { return };
    let kc = kc.as_str();

    let out = mesh(kc, &["version", "-o", "json"]);
    assert!(out.status.success());

    let out = mesh(kc, &["doctor", "-o", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let status_of = |id: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["status"].clone())
    };
    assert_eq!(status_of("gateway-api-crds"), Some(Value::from("ok")));
    assert_eq!(status_of("istiod-ready"), Some(Value::from("ok")));

    // Feature 2 of the guide: 50/50, then all to v3.
    assert!(mesh(kc, &["shift", "reviews", "v1=50", "v3=50"]).status.success());
    let out = mesh(kc, &["status", "reviews", "-o", "json"]);
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    let backends = st["routes"][0]["rules"].as_array().unwrap().last().unwrap()["backends"].clone();
    assert_eq!(backends.as_array().unwrap().len(), 2, "{backends}");
    assert!(mesh(kc, &["shift", "reviews", "v3=100"]).status.success());
    std::thread::sleep(std::time::Duration::from_secs(5));
    let reds = (0..10).filter(|_| reviews_color(kc, None) == "red").count();
    assert!(reds >= 9, "after v3=100, {reds}/10 answers came from v3");

    // Feature 1a: vijay sees v2 (black stars), everyone else v3.
    assert!(mesh(kc, &["route-user", "reviews", "vijay", "v2"]).status.success());
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert_eq!(reviews_color(kc, Some("vijay")), "black");
    assert_eq!(reviews_color(kc, Some("someone-else")), "red");

    // Nothing is broken, so recover has nothing to do.
    let out = mesh(kc, &["recover", "--dry-run=client"]);
    assert!(out.status.success());

    // Put things back as the guide started.
    assert!(mesh(kc, &["route-user", "reviews", "vijay", "--remove"])
        .status
        .success());
    assert!(mesh(kc, &["shift", "reviews", "v1=100"]).status.success());
}

/// `doctor --deep` against real Envoy admins: every sidecar of a freshly installed mesh answers `/certs` through
/// the API server's port-forward and trusts the current root.
#[test]
fn e2e_doctor_deep_reads_every_envoy_admin() {
    let Some(kc) = kubeconfig() else { return };
    let out = mesh(
        &kc,
        &["doctor", "--deep", "--check", "stale-sidecar-cert-deep", "-o", "json"],
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let deep: Vec<&Value> = report["checks"].as_array().unwrap().iter().collect();
    assert!(!deep.is_empty(), "{report}");
    assert!(
        deep.iter().all(|c| c["status"] == "ok"),
        "every admin readable and fresh: {report}"
    );
    assert!(
        deep.iter().any(|c| !c["resources"].as_array().unwrap().is_empty()),
        "{report}"
    );
}
