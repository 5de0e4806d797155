//! Harness for binary-level tests: a sandbox API server with a scenario, a kubeconfig, and a runner for the
//! built `kubectl-mesh` binary that returns exit code, stdout and stderr.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use mesh_sandbox::scenario::Scenario;
use mesh_sandbox::{RequestRecord, ServerOptions, TestServer};
use serde_json::Value;

pub struct Mesh {
    pub server: TestServer,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "panic:\n{}", self.stderr);
        self
    }
}

impl Mesh {
    /// Bookinfo in istio-demo (the users' guide state) with the reviews route to v1.
    pub fn bookinfo() -> Mesh {
        Mesh::with(mesh_sandbox::scenario::bookinfo())
    }

    pub fn with(scenario: Scenario) -> Mesh {
        Mesh::with_options(scenario, ServerOptions::default())
    }

    pub fn with_options(scenario: Scenario, opts: ServerOptions) -> Mesh {
        let server = TestServer::start(opts).unwrap();
        server.apply_scenario(&scenario).unwrap();
        Mesh::on(server, Some("istio-demo"))
    }

    /// A harness around a server that already holds its state; the kubeconfig's context uses `namespace`.
    pub fn on(server: TestServer, namespace: Option<&str>) -> Mesh {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = server.write_kubeconfig(dir.path(), namespace).unwrap();
        server.clear_log();
        Mesh {
            server,
            dir,
            kubeconfig,
        }
    }

    /// Run `kubectl-mesh ARGS --kubeconfig K` with a clean environment.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kubectl-mesh"));
        // First, so a test's own --kubeconfig (later) wins, as with kubectl.
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env_remove("KUBECONFIG")
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null());
        c
    }

    /// Successful writes the server stored (dry runs excluded).
    pub fn stored_writes(&self) -> Vec<RequestRecord> {
        self.server
            .writes()
            .into_iter()
            .filter(|w| (200..300).contains(&w.status))
            .collect()
    }

    /// Every write request the server received, whatever its answer (dry runs included).
    pub fn write_attempts(&self) -> Vec<RequestRecord> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.is_write() && !r.path.contains("selfsubjectaccessreviews"))
            .collect()
    }

    pub fn route(&self, name: &str) -> Value {
        self.server
            .get("httproutes", Some("istio-demo"), name)
            .expect("route exists")
    }

    /// The default rule's backends as (name, weight), sorted by name.
    pub fn default_backends(&self, route: &str) -> Vec<(String, u64)> {
        let r = self.route(route);
        let rules = r["spec"]["rules"].as_array().unwrap();
        let rule = rules
            .iter()
            .find(|rule| {
                rule.get("matches").and_then(Value::as_array).is_none_or(|m| {
                    m.iter().all(|m| {
                        m.get("headers").is_none() && m.get("queryParams").is_none() && m.get("method").is_none()
                    })
                })
            })
            .expect("a default rule");
        rule["backendRefs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["name"].as_str().unwrap().to_string(),
                    b["weight"].as_u64().unwrap_or(1),
                )
            })
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_iter()
            .collect()
    }
}

pub fn pairs(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(n, w)| (n.to_string(), *w)).collect()
}
