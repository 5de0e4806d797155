//! kubectl finds the plugin on PATH and runs it as `kubectl mesh …`, passing arguments unchanged.

#[path = "common/mesh.rs"]
mod mesh;

use std::process::Command;

use mesh::Mesh;

#[test]
fn kubectl_runs_the_plugin_from_path() {
    let m = Mesh::bookinfo();
    let bin = m.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_kubectl-mesh"), bin.join("kubectl-mesh")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());

    let out = Command::new("kubectl")
        .args(["plugin", "list"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("kubectl-mesh"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = Command::new("kubectl")
        .args(["mesh", "version", "--kubeconfig"])
        .arg(&m.kubeconfig)
        .env("PATH", &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains(concat!("Client Version: v", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
    assert!(stdout.contains("Server Version: v1."), "{stdout}");

    // kubectl hands the plugin its arguments unchanged, including kubectl-style global flags.
    let out = Command::new("kubectl")
        .args(["mesh", "status", "-n", "istio-demo", "-o", "json", "--kubeconfig"])
        .arg(&m.kubeconfig)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["routes"][0]["route"], "reviews");

    // And its exit codes.
    let out = Command::new("kubectl")
        .args(["mesh", "shift"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
