//! Cluster access failures a user meets before any command logic: they exit 3 with the address in the message,
//! quickly, and never panic.

use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;

fn kubeconfig(dir: &Path, server: &str, extra_context: &str) -> std::path::PathBuf {
    let path = dir.join("config");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\nusers:\n- name: u\n  user:\n    token: s3cr3t-token-value\ncontexts:\n- name: main\n  context:\n    cluster: c\n    user: u\n    namespace: istio-demo\n{extra_context}current-context: main\n"
        ),
    )
    .unwrap();
    path
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn mesh() -> Command {
    let mut c = Command::cargo_bin("kubectl-mesh").unwrap();
    c.env_remove("KUBECONFIG")
        .env("HOME", "/nonexistent-home")
        .env("NO_COLOR", "1");
    c
}

#[test]
fn closed_port_exits_3_within_the_request_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let server = format!("http://127.0.0.1:{port}");
    let cfg = kubeconfig(dir.path(), &server, "");
    for args in [vec!["version"], vec!["status"]] {
        let started = Instant::now();
        let out = mesh()
            .args(&args)
            .args(["--kubeconfig", cfg.to_str().unwrap(), "--request-timeout", "2s"])
            .output()
            .unwrap();
        let elapsed = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if args[0] == "status" && out.status.code() == Some(1) && stderr.contains("not implemented") {
            continue;
        }
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(
            stderr.contains(&format!("127.0.0.1:{port}")),
            "address missing: {stderr}"
        );
        assert!(stderr.contains("hint: "), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
    }
}

#[test]
fn missing_kubeconfig_file_is_a_clear_error() {
    let out = mesh()
        .args(["version", "--kubeconfig", "/no/such/kubeconfig"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("error: kubeconfig file /no/such/kubeconfig does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
}

#[test]
fn no_kubeconfig_at_all_points_to_the_demo() {
    let out = mesh()
        .args(["version"])
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("no kubeconfig found"), "{stderr}");
    assert!(stderr.contains("kubectl mesh demo"), "{stderr}");
}

#[test]
fn unknown_context_lists_the_available_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = kubeconfig(dir.path(), "http://127.0.0.1:1", "");
    let out = mesh()
        .args(["version", "--kubeconfig", cfg.to_str().unwrap(), "--context", "prod"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("context \"prod\" not found"), "{stderr}");
    assert!(stderr.contains("available contexts: main"), "{stderr}");
}

#[test]
fn garbled_kubeconfig_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(&path, "apiVersion: v1\nclusters: [ {name: c, cluster: {server: \n").unwrap();
    let out = mesh()
        .args(["version", "--kubeconfig", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("cannot load kubeconfig"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn kubeconfig_env_list_skips_missing_files_like_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let cfg = kubeconfig(dir.path(), &format!("http://127.0.0.1:{port}"), "");
    let list = format!("/no/such/file:{}", cfg.display());
    let out = mesh()
        .env("KUBECONFIG", list)
        .args(["version", "--request-timeout", "2s"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // It found the second file and tried its server.
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
}

#[test]
fn invalid_namespace_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = kubeconfig(dir.path(), "http://127.0.0.1:1", "");
    let out = mesh()
        .args(["status", "-n", "Bad_NS", "--kubeconfig", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("not implemented") {
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid namespace"), "{stderr}");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let out = mesh().args(["shift"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = mesh().args(["--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: kubectl mesh"));
}

#[test]
fn a_closed_stdout_pipe_exits_0() {
    // `kubectl mesh completion bash | head -1`: the reader goes away early.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-mesh"))
        .args(["completion", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}
