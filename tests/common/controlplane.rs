//! Harness for the real-control-plane suite (tests/e2e.rs): a real kube-apiserver, kube-controller-manager,
//! kube-scheduler, etcd and kwok built from their Go modules by `e2e/controlplane/build.sh` and started by
//! `e2e/controlplane/start.sh` on 127.0.0.1 with the users' guide state. One instance per Gateway API version,
//! started on first use and stopped when the test binary exits (start.sh watches our PID).
//!
//! When the binaries are not built the tests say they are skipped — unless `MESH_REQUIRE_CONTROLPLANE=1` (CI),
//! which turns that into a failure. A built control plane that fails to start always fails.
//!
//! This file drives processes only (the plugin's binary, kubectl, the scripts); the one crate item it uses is
//! where the shared fixtures live (`mesh_sandbox::fixtures`, the same place every sandbox test reads them).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Gateway API bundle a control plane instance serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayApi {
    V1_0_0,
    V1_6_1,
}

impl GatewayApi {
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayApi::V1_0_0 => "v1.0.0",
            GatewayApi::V1_6_1 => "v1.6.1",
        }
    }
}

pub struct ControlPlane {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub gateway_api: GatewayApi,
    /// https://127.0.0.1:PORT
    pub server: String,
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
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

    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.assert_code(0)
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn script(name: &str) -> PathBuf {
    repo().join("e2e/controlplane").join(name)
}

fn required() -> bool {
    std::env::var("MESH_REQUIRE_CONTROLPLANE").as_deref() == Ok("1")
}

/// The control plane serving `api`, started on first use; None (after saying why) when it is not built and
/// not required.
pub fn controlplane(api: GatewayApi) -> Option<&'static ControlPlane> {
    static V1_0_0: OnceLock<Option<ControlPlane>> = OnceLock::new();
    static V1_6_1: OnceLock<Option<ControlPlane>> = OnceLock::new();
    let cell = match api {
        GatewayApi::V1_0_0 => &V1_0_0,
        GatewayApi::V1_6_1 => &V1_6_1,
    };
    cell.get_or_init(|| start(api)).as_ref()
}

fn start(api: GatewayApi) -> Option<ControlPlane> {
    let check = Command::new("bash")
        .arg(script("build.sh"))
        .arg("--check")
        .status()
        .expect("bash runs");
    if !check.success() {
        let msg = "the real control plane is not built: run e2e/controlplane/build.sh (Go 1.26; about 20 minutes cold on 2 cores), or `bash .ci/run`";
        if required() {
            panic!("{msg} (MESH_REQUIRE_CONTROLPLANE=1: this is a failure, not a skip)");
        }
        eprintln!("skipping real-control-plane test: {msg}");
        return None;
    }
    let fixtures = mesh_sandbox::fixtures::shared_fixtures_dir();
    if !fixtures.is_dir() {
        let msg = format!("shared fixtures missing at {}", fixtures.display());
        if required() || std::env::var("MESH_REQUIRE_SHARED").as_deref() == Ok("1") {
            panic!("{msg}");
        }
        eprintln!("skipping real-control-plane test: {msg}");
        return None;
    }
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(script("start.sh"))
        .args(["up", "--gateway-api", api.as_str(), "--owner-pid"])
        .arg(std::process::id().to_string())
        .env("MESH_SHARED_FIXTURES", &fixtures)
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    let run = Run::from(out);
    assert_eq!(
        run.code,
        0,
        "the real control plane failed to start (Gateway API {}):\n{}",
        api.as_str(),
        run.stderr
    );
    let dir = PathBuf::from(run.stdout.trim());
    let env = std::fs::read_to_string(dir.join("env")).expect("start.sh writes env");
    let server = env
        .lines()
        .find_map(|l| l.strip_prefix("MESH_CONTROLPLANE_API="))
        .expect("API address in env")
        .to_string();
    eprintln!(
        "real control plane (Gateway API {}) ready in {:.0?} at {server}; kubeconfig {}",
        api.as_str(),
        started.elapsed(),
        dir.join("kubeconfig").display()
    );
    Some(ControlPlane {
        kubeconfig: dir.join("kubeconfig"),
        dir,
        gateway_api: api,
        server,
    })
}

impl ControlPlane {
    /// Run the plugin with the admin kubeconfig.
    pub fn mesh(&self, args: &[&str]) -> Run {
        self.mesh_as(&self.kubeconfig, args)
    }

    /// Run the plugin with another kubeconfig (e.g. a ServiceAccount token's).
    pub fn mesh_as(&self, kubeconfig: &Path, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_kubectl-mesh"))
            .args(args)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--request-timeout", "60s"])
            .env_remove("KUBECONFIG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("the plugin runs");
        let run = Run::from(out);
        eprintln!(
            "$ kubectl mesh {}\n-> {}\n{}{}",
            args.join(" "),
            run.code,
            run.stdout,
            run.stderr
        );
        run
    }

    pub fn kubectl(&self, args: &[&str]) -> Run {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("kubectl runs");
        Run::from(out)
    }

    /// kubectl that must succeed; its stdout.
    #[track_caller]
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let r = self.kubectl(args);
        assert_eq!(r.code, 0, "kubectl {}\n{}{}", args.join(" "), r.stdout, r.stderr);
        r.stdout
    }

    #[track_caller]
    pub fn kubectl_json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(&a)).expect("kubectl -o json")
    }

    /// `kubectl apply -f -` of `yaml` in `ns`.
    #[track_caller]
    pub fn apply(&self, ns: &str, yaml: &str) {
        self.sh(&format!("kubectl apply -n {ns} -f - <<'MESH_EOF'\n{yaml}\nMESH_EOF"))
            .ok();
    }

    /// Apply `yaml` in `ns` with Istio's sidecar injected into its Deployments (e2e/controlplane/inject.sh), as
    /// istiod's injector would at admission.
    #[track_caller]
    pub fn apply_injected(&self, ns: &str, yaml: &str) {
        let inject = script("inject.sh");
        self.sh(&format!(
            "bash {} -n {ns} - <<'MESH_EOF' | kubectl apply -n {ns} -f -\n{yaml}\nMESH_EOF",
            inject.display()
        ))
        .ok();
    }

    /// bash -c with KUBECONFIG set.
    pub fn sh(&self, script: &str) -> Run {
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::null())
            .output()
            .expect("bash runs");
        let run = Run::from(out);
        if run.code != 0 {
            eprintln!("$ {script}\n-> {}\n{}{}", run.code, run.stdout, run.stderr);
        }
        run
    }

    /// A namespace as the guide makes them: labelled `istio-injection=enabled` (when `injected`) and, as istiod
    /// would write it, holding the ConfigMap istio-ca-root-cert with the cluster's current Istio root.
    pub fn namespace(&self, ns: &str, injected: bool) {
        self.sh(&format!(
            "kubectl create namespace {ns} --dry-run=client -o yaml | kubectl apply -f - >/dev/null"
        ))
        .ok();
        if injected {
            self.kubectl_ok(&["label", "namespace", ns, "istio-injection=enabled", "--overwrite"]);
        }
        self.sh(&format!(
            "bash {} --cert {} {ns}",
            script("root-cert.sh").display(),
            self.dir.join("pki/istio-root-cert.pem").display()
        ))
        .ok();
        // The ServiceAccount admission plugin refuses pods until the controller-manager made "default".
        self.eventually(&format!("ServiceAccount {ns}/default"), Duration::from_secs(30), || {
            self.kubectl(&["-n", ns, "get", "serviceaccount", "default"]).code == 0
        });
    }

    /// A root rotation in `ns`: a new self-signed Istio root (NotBefore now) in its istio-ca-root-cert. Every
    /// sidecar that started before now no longer trusts the root. Waits past the second first, so that pods
    /// started just before are strictly older than the new root (both times have second precision).
    pub fn rotate_root(&self, ns: &str) {
        std::thread::sleep(Duration::from_millis(1100));
        self.sh(&format!(
            "bash {} --new --cert {} {ns}",
            script("root-cert.sh").display(),
            self.dir.join(format!("pki/root-{ns}.pem")).display()
        ))
        .ok();
        std::thread::sleep(Duration::from_millis(1100));
    }

    #[track_caller]
    pub fn wait_available(&self, ns: &str, what: &str) {
        self.kubectl_ok(&["-n", ns, "wait", "--for=condition=Available", what, "--timeout=120s"]);
    }

    /// How many ready endpoints Service `svc` has in its EndpointSlices (what the real EndpointSlice controller
    /// wrote; an endpoint without a `ready` condition counts as ready, as the API says).
    pub fn ready_endpoints(&self, ns: &str, svc: &str) -> usize {
        let slices = self.kubectl_json(&[
            "-n",
            ns,
            "get",
            "endpointslices",
            "-l",
            &format!("kubernetes.io/service-name={svc}"),
        ]);
        slices["items"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["conditions"]["ready"] != false)
            .count()
    }

    /// Wait until Service `svc` has (or, `ready = false`, has no) ready endpoints.
    #[track_caller]
    pub fn wait_ready_endpoints(&self, ns: &str, svc: &str, ready: bool) {
        self.eventually(
            &format!("ready endpoints of {ns}/{svc} = {ready}"),
            Duration::from_secs(90),
            || (self.ready_endpoints(ns, svc) > 0) == ready,
        );
    }

    /// Pod names in `ns` matching `selector`, sorted (pods being deleted left out).
    pub fn pods(&self, ns: &str, selector: &str) -> Vec<String> {
        let list = self.kubectl_json(&["-n", ns, "get", "pods", "-l", selector]);
        let mut names: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    /// Wait until `cond` holds, polling; panics with `what` after `timeout`.
    #[track_caller]
    pub fn eventually(&self, what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A kubeconfig for ServiceAccount `ns/sa` with a token from the TokenRequest API (`kubectl create token`).
    pub fn token_kubeconfig(&self, ns: &str, sa: &str) -> PathBuf {
        let token = self.kubectl_ok(&["-n", ns, "create", "token", sa, "--duration=1h"]);
        let path = self.dir.join(format!("kubeconfig-{ns}-{sa}"));
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: {sa}\n  user:\n    token: {}\ncontexts:\n- name: e2e\n  context:\n    cluster: e2e\n    user: {sa}\n    namespace: {ns}\ncurrent-context: e2e\n",
            self.server,
            self.dir.join("pki/ca.crt").display(),
            token.trim()
        );
        std::fs::write(&path, yaml).unwrap();
        path
    }
}

/// A Bookinfo-like app: Deployments `NAME-VERSION` (labels app/version), the Service `NAME` selecting all
/// versions and `NAME-VERSION` per version, port 9080.
pub fn app_yaml(name: &str, versions: &[&str], replicas: u32) -> String {
    let mut docs = vec![format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  labels: {{app: {name}, service: {name}}}\nspec:\n  ports:\n  - {{port: 9080, name: http}}\n  selector: {{app: {name}}}\n"
    )];
    for v in versions {
        docs.push(format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}-{v}\nspec:\n  ports:\n  - {{port: 9080, name: http}}\n  selector: {{app: {name}, version: {v}}}\n"
        ));
        docs.push(format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}-{v}\n  labels: {{app: {name}, version: {v}}}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: {name}, version: {v}}}\n  template:\n    metadata:\n      labels: {{app: {name}, version: {v}}}\n    spec:\n      containers:\n      - name: {name}\n        image: docker.io/istio/examples-bookinfo-reviews-v1:1.20.3\n        ports:\n        - containerPort: 9080\n"
        ));
    }
    docs.join("---\n")
}

/// The mesh HTTPRoute `name` → `backend` (a GAMMA route: parentRef the Service `name`).
pub fn route_yaml(name: &str, backend: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\nspec:\n  parentRefs:\n  - {{group: \"\", kind: Service, name: {name}}}\n  rules:\n  - backendRefs:\n    - {{name: {backend}, port: 9080}}\n"
    )
}

/// (backend, weight) of the default rule (no matches but the PathPrefix "/" the server fills in).
pub fn default_backends(route: &Value) -> Vec<(String, i64)> {
    let rules = route["spec"]["rules"].as_array().expect("rules");
    let rule = rules
        .iter()
        .find(|r| {
            r["matches"].as_array().is_none_or(|m| {
                m.iter().all(|m| {
                    m["headers"].is_null()
                        && m["queryParams"].is_null()
                        && m["method"].is_null()
                        && (m["path"].is_null() || (m["path"]["type"] == "PathPrefix" && m["path"]["value"] == "/"))
                })
            })
        })
        .unwrap_or_else(|| panic!("no default rule in {route}"));
    backends(rule)
}

pub fn backends(rule: &Value) -> Vec<(String, i64)> {
    rule["backendRefs"]
        .as_array()
        .map(|b| {
            b.iter()
                .map(|b| {
                    (
                        b["name"].as_str().unwrap().to_string(),
                        b["weight"].as_i64().unwrap_or(1),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Rules matching header `name: value` (Exact), with their backends.
pub fn header_rules(route: &Value, name: &str, value: &str) -> Vec<Vec<(String, i64)>> {
    route["spec"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["matches"].as_array().is_some_and(|m| {
                m.iter().any(|m| {
                    m["headers"].as_array().is_some_and(|h| {
                        h.iter().any(|h| {
                            h["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name))
                                && h["value"] == value
                                && (h["type"].is_null() || h["type"] == "Exact")
                        })
                    })
                })
            })
        })
        .map(backends)
        .collect()
}

pub fn pairs(p: &[(&str, i64)]) -> Vec<(String, i64)> {
    p.iter().map(|(n, w)| (n.to_string(), *w)).collect()
}
