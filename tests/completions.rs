//! The completion scripts and man page checked into the repo must match what the binary generates, and kubectl's
//! plugin completion must work through the real kubectl.

use std::path::Path;

use kubectl_mesh::cmd::completion::{man_page, script, Shell};

fn check_or_update(path: &str, want: &str) {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if std::env::var_os("MESH_UPDATE_GENERATED").is_some() {
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&full).unwrap_or_default();
    assert!(
        have == want,
        "{path} is stale: regenerate with `MESH_UPDATE_GENERATED=1 cargo test --test completions`"
    );
}

#[test]
fn checked_in_completion_scripts_are_current() {
    check_or_update("completions/kubectl-mesh.bash", &script(Shell::Bash));
    check_or_update("completions/_kubectl-mesh", &script(Shell::Zsh));
    check_or_update("completions/kubectl-mesh.fish", &script(Shell::Fish));
    check_or_update("completions/_kubectl-mesh.ps1", &script(Shell::Powershell));
}

#[test]
fn checked_in_man_page_is_current() {
    let page = man_page();
    assert!(page.contains(".TH kubectl-mesh"), "{}", &page[..200.min(page.len())]);
    check_or_update("man/kubectl-mesh.1", &page);
}

#[test]
fn scripts_complete_every_subcommand() {
    let bash = script(Shell::Bash);
    for sub in [
        "shift",
        "route-user",
        "history",
        "undo",
        "status",
        "doctor",
        "recover",
        "completion",
        "version",
        "demo",
    ] {
        assert!(bash.contains(sub), "bash completion misses {sub}");
    }
    assert!(
        !bash.contains("__complete "),
        "the hidden entry point must not be offered"
    );
}

/// kubectl >= 1.26 runs `kubectl_complete-mesh` from PATH for `kubectl mesh <TAB>`.
#[test]
fn kubectl_plugin_completion_lists_shift() {
    let Ok(kubectl) = which("kubectl") else {
        if std::env::var_os("CI").is_some() {
            panic!("kubectl is required in CI");
        }
        eprintln!("skipping: kubectl not on PATH");
        return;
    };
    let bin_dir = tempfile::tempdir().unwrap();
    let exe = Path::new(env!("CARGO_BIN_EXE_kubectl-mesh"));
    std::fs::copy(exe, bin_dir.path().join("kubectl-mesh")).unwrap();
    // What `kubectl mesh completion install` writes.
    let out = std::process::Command::new(bin_dir.path().join("kubectl-mesh"))
        .args(["completion", "install", "--dir"])
        .arg(bin_dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = format!(
        "{}:{}",
        bin_dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new(&kubectl)
        .args(["__complete", "mesh", "sh"])
        .env("PATH", &path)
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.starts_with("shift")),
        "kubectl __complete mesh sh gave:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains("status"),
        "only candidates starting with 'sh': {stdout}"
    );
    // Flags of a subcommand.
    let out = std::process::Command::new(&kubectl)
        .args(["__complete", "mesh", "shift", "--cre"])
        .env("PATH", &path)
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("--create-backends"), "{stdout}");
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

#[path = "common/mesh.rs"]
mod mesh;

fn complete(m: &mesh::Mesh, words: &[&str]) -> (Vec<String>, std::time::Duration) {
    let started = std::time::Instant::now();
    let k = m.kubeconfig.display().to_string();
    let mut args = vec!["__complete", "--kubeconfig", &k];
    args.extend(words);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-mesh"))
        .args(&args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        text.lines().last(),
        Some(":4"),
        "last line turns off file completion: {text}"
    );
    (
        text.lines()
            .filter(|l| *l != ":4")
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect(),
        started.elapsed(),
    )
}

#[test]
fn dynamic_completion_reads_namespaces_services_and_versions_from_the_cluster() {
    let m = mesh::Mesh::bookinfo();
    let (ns, _) = complete(&m, &["status", "-n", "istio-"]);
    assert_eq!(ns, ["istio-demo", "istio-system"]);
    let (services, _) = complete(&m, &["shift", "-n", "istio-demo", ""]);
    assert_eq!(services, ["reviews"], "Services with a mesh route");
    let (versions, _) = complete(&m, &["shift", "-n", "istio-demo", "reviews", "v1=50", "v"]);
    assert_eq!(versions, ["v2=", "v3="], "versions not typed yet");
    let (versions, _) = complete(&m, &["route-user", "-n", "istio-demo", "reviews", "vijay", ""]);
    assert_eq!(versions, ["v1", "v2", "v3"]);
    let (outputs, _) = complete(&m, &["status", "-o", ""]);
    assert_eq!(outputs, ["table", "wide", "json", "yaml"]);
    assert!(m.write_attempts().is_empty());
}

#[test]
fn dynamic_completion_never_hangs_the_shell() {
    let m = mesh::Mesh::bookinfo();
    m.server
        .inject(mesh_sandbox::Fault::delay(std::time::Duration::from_secs(30)));
    let (services, took) = complete(&m, &["shift", "-n", "istio-demo", ""]);
    assert!(services.is_empty());
    assert!(took < std::time::Duration::from_secs(4), "took {took:?}");
    // Static candidates still come without the cluster.
    let (subs, took) = complete(&m, &["r"]);
    assert_eq!(subs, ["route-user", "recover"]);
    assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
}
