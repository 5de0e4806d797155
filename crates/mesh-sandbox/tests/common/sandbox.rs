//! Helpers shared by the sandbox integration tests: a started server with a kubeconfig, and a runner for
//! the real `kubectl` binary against it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use mesh_sandbox::{ServerOptions, TestServer};

/// A running sandbox server plus a kubeconfig in a temp dir.
pub struct Env {
    pub server: TestServer,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        Env::with(ServerOptions::default(), Some("istio-demo"))
    }

    pub fn with(opts: ServerOptions, ns: Option<&str>) -> Env {
        let server = TestServer::start(opts).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = server.write_kubeconfig(dir.path(), ns).unwrap();
        Env {
            server,
            dir,
            kubeconfig,
        }
    }

    /// Run kubectl with this kubeconfig; returns the output.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .env_remove("KUBECONFIG")
            .output()
            .expect("kubectl runs")
    }

    /// Run kubectl and require success; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Write a file into the temp dir.
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

#[allow(unused_imports)]
pub use mesh_sandbox::fixtures::shared_fixtures;

/// Whether the real `kubectl` binary can run here; prints a visible skip otherwise. Panics when absent
/// and `MESH_REQUIRE_KUBECTL=1`.
pub fn kubectl_available() -> bool {
    let ok = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("MESH_REQUIRE_KUBECTL").as_deref() == Ok("1") {
            panic!("kubectl not found and MESH_REQUIRE_KUBECTL=1");
        }
        eprintln!("skipping: kubectl not found on PATH");
    }
    ok
}
