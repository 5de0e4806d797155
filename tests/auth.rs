//! HTTPS and authentication as users meet them: the built plugin and the real kubectl against the sandbox
//! serving TLS with per-test CAs, with each kubeconfig style (k3d's client certificate, a token, an exec
//! credential plugin, insecure-skip-tls-verify) and the broken ones (a wrong CA, an expired or unknown
//! client certificate, no credentials), whose errors must say what went wrong and exit 3.

#[path = "../crates/mesh-sandbox/tests/common/sandbox.rs"]
mod sandbox_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use mesh_sandbox::{scenario, Credentials, ServerOptions, TestServer, TlsOptions, Validity};

const TOKEN: &str = "s3cr3t-sandbox-token-8f2a";

struct Tls {
    server: TestServer,
    dir: tempfile::TempDir,
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Tls {
    fn start() -> Tls {
        let server = TestServer::start(ServerOptions {
            tls: Some(TlsOptions::default().token(TOKEN, "token-user")),
            ..Default::default()
        })
        .unwrap();
        server.apply_scenario(&scenario::bookinfo()).unwrap();
        server.clear_log();
        Tls {
            server,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn kubeconfig(&self, name: &str, creds: &Credentials) -> PathBuf {
        self.server
            .write_kubeconfig_with(&self.dir.path().join(name), Some("istio-demo"), creds)
            .unwrap()
    }

    fn mesh(&self, kubeconfig: &Path, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_kubectl-mesh"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .env_remove("KUBECONFIG")
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(!run.stderr.contains("panicked"), "{run:?}");
        run
    }

    fn kubectl(&self, kubeconfig: &Path, args: &[&str]) -> Option<Run> {
        if !sandbox_common::kubectl_available() {
            return None;
        }
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        Some(Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// The plugin's `status` and `version` and kubectl's `get pods` all work with this kubeconfig.
    fn assert_works(&self, kubeconfig: &Path) {
        let r = self.mesh(kubeconfig, &["status", "-n", "istio-demo"]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stdout.contains("reviews-v1"), "{r:?}");
        let r = self.mesh(kubeconfig, &["version", "-o", "json"]);
        assert_eq!(r.code, 0, "{r:?}");
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["serverVersion"]["gitVersion"], "v1.32.0-sandbox", "{r:?}");
        if let Some(k) = self.kubectl(kubeconfig, &["get", "pods", "-n", "istio-demo", "-o", "name"]) {
            assert_eq!(k.code, 0, "{k:?}");
            assert!(k.stdout.contains("pod/reviews-v1-"), "{k:?}");
        }
        assert!(
            self.server.requests().iter().all(|q| q.status != 401),
            "{:?}",
            self.server.requests()
        );
    }

    /// The plugin exits 3 saying authentication failed; kubectl fails (saying the user must log in when it
    /// sent credentials; without any it prompts for a username and fails on the closed stdin).
    fn assert_unauthorized(&self, kubeconfig: &Path) {
        self.server.clear_log();
        for args in [&["status", "-n", "istio-demo"][..], &["version"][..]] {
            let r = self.mesh(kubeconfig, args);
            assert_eq!(r.code, 3, "{args:?}: {r:?}");
            assert!(r.stderr.contains("authentication failed"), "{r:?}");
            assert!(r.stderr.contains(&self.server.url()), "names the server: {r:?}");
            assert!(r.stderr.contains("hint:"), "{r:?}");
        }
        let reqs = self.server.requests();
        assert!(!reqs.is_empty() && reqs.iter().all(|q| q.status == 401), "{reqs:?}");
        if let Some(k) = self.kubectl(kubeconfig, &["get", "pods", "-n", "istio-demo"]) {
            assert_ne!(k.code, 0, "{k:?}");
            assert!(
                k.stderr.contains("You must be logged in to the server") || k.stdout.contains("Username"),
                "{k:?}"
            );
        }
    }
}

#[test]
fn k3d_style_client_certificate_data_authenticates() {
    let t = Tls::start();
    let kc = t.kubeconfig("k3d", &Credentials::client_cert("admin"));
    let text = std::fs::read_to_string(&kc).unwrap();
    assert!(
        text.contains("certificate-authority-data:") && text.contains("client-key-data:"),
        "{text}"
    );
    assert!(t.server.url().starts_with("https://127.0.0.1:"));
    t.assert_works(&kc);
}

#[test]
fn the_default_kubeconfig_of_a_tls_server_is_k3d_style() {
    let t = Tls::start();
    let kc = t.server.write_kubeconfig(t.dir.path(), Some("istio-demo")).unwrap();
    assert!(std::fs::read_to_string(&kc)
        .unwrap()
        .contains("client-certificate-data:"));
    t.assert_works(&kc);
}

#[test]
fn bearer_token_authenticates() {
    let t = Tls::start();
    let kc = t.kubeconfig("token", &Credentials::token(TOKEN));
    t.assert_works(&kc);
    let reqs = t.server.requests();
    assert!(
        reqs.iter().any(|q| q.path == "/api/v1/namespaces/istio-demo/pods"),
        "{reqs:?}"
    );
}

#[test]
fn exec_credential_plugin_authenticates() {
    let t = Tls::start();
    let kc = t.kubeconfig("exec", &Credentials::exec(TOKEN));
    let text = std::fs::read_to_string(&kc).unwrap();
    assert!(
        text.contains("client.authentication.k8s.io/v1") && !text.contains(TOKEN),
        "{text}"
    );
    t.assert_works(&kc);
}

#[test]
fn insecure_skip_tls_verify_connects_without_a_ca() {
    let t = Tls::start();
    let kc = t.kubeconfig("insecure", &Credentials::token(TOKEN).insecure());
    let text = std::fs::read_to_string(&kc).unwrap();
    assert!(
        text.contains("insecure-skip-tls-verify: true") && !text.contains("certificate-authority"),
        "{text}"
    );
    t.assert_works(&kc);
}

#[test]
fn a_wrong_ca_is_an_x509_error_naming_the_server() {
    let t = Tls::start();
    let kc = t.kubeconfig("wrong-ca", &Credentials::client_cert("admin").wrong_ca());
    for args in [&["status", "-n", "istio-demo"][..], &["version"][..]] {
        let r = t.mesh(&kc, args);
        assert_eq!(r.code, 3, "{args:?}: {r:?}");
        assert!(
            r.stderr.contains("x509: certificate signed by unknown authority"),
            "{r:?}"
        );
        assert!(r.stderr.contains(&t.server.url()), "names the server: {r:?}");
        assert!(r.stderr.contains("hint:"), "{r:?}");
    }
    assert!(t.server.requests().is_empty(), "no request got through the handshake");
    if let Some(k) = t.kubectl(&kc, &["get", "pods", "-n", "istio-demo"]) {
        assert_ne!(k.code, 0, "{k:?}");
        assert!(k.stderr.contains("x509"), "{k:?}");
    }
}

#[test]
fn an_expired_client_certificate_is_rejected_with_401() {
    let t = Tls::start();
    t.assert_unauthorized(&t.kubeconfig("expired", &Credentials::expired_client_cert("admin")));
}

#[test]
fn a_client_certificate_from_an_unknown_ca_is_rejected_with_401() {
    let t = Tls::start();
    t.assert_unauthorized(&t.kubeconfig("foreign", &Credentials::foreign_client_cert("admin")));
}

#[test]
fn no_credentials_or_a_wrong_token_is_rejected_with_401() {
    let t = Tls::start();
    t.assert_unauthorized(&t.kubeconfig("anonymous", &Credentials::none()));
    t.assert_unauthorized(&t.kubeconfig("bad-token", &Credentials::token("not-the-token")));
    let body = t.server.requests();
    assert!(body.iter().all(|q| q.status == 401));
}

#[test]
fn verbose_logs_never_show_tokens_or_keys() {
    let t = Tls::start();
    let cert = t.kubeconfig("k3d", &Credentials::client_cert("admin"));
    let key_data = std::fs::read_to_string(&cert)
        .unwrap()
        .lines()
        .find_map(|l| l.trim().strip_prefix("client-key-data: ").map(str::to_string))
        .unwrap();
    let styles = [
        cert,
        t.kubeconfig("token", &Credentials::token(TOKEN)),
        t.kubeconfig("exec", &Credentials::exec(TOKEN)),
        t.kubeconfig("bad-token", &Credentials::token(TOKEN).wrong_ca()),
    ];
    for kc in &styles {
        for args in [
            &["status", "-n", "istio-demo", "-v", "10"][..],
            &["doctor", "-v", "10"][..],
            &["shift", "reviews", "v1=50", "v3=50", "--dry-run=server", "-v", "10"][..],
        ] {
            let r = t.mesh(kc, args);
            let all = format!("{}{}", r.stdout, r.stderr);
            assert!(r.stderr.contains("I kubectl-mesh:"), "verbose logging is on: {r:?}");
            assert!(!all.contains(TOKEN), "{kc:?} {args:?} leaks the token:\n{all}");
            assert!(!all.contains("-----BEGIN"), "{kc:?} {args:?} leaks PEM:\n{all}");
            assert!(!all.contains(&key_data[..40]), "{kc:?} {args:?} leaks key data:\n{all}");
        }
    }
}

#[tokio::test]
async fn kube_rs_in_process_talks_https_with_a_client_certificate() {
    let server = mesh_sandbox::ApiServer::start(ServerOptions {
        tls: Some(TlsOptions::default()),
        ..Default::default()
    })
    .await
    .unwrap();
    server.apply_scenario(&scenario::bookinfo()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = server
        .write_kubeconfig_with(dir.path(), Some("istio-demo"), &Credentials::client_cert("alice"))
        .unwrap();
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    assert!(config.cluster_url.to_string().starts_with("https://"));
    let client = kube::Client::try_from(config).unwrap();
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, "istio-demo");
    let list = pods.list(&Default::default()).await.unwrap();
    assert!(list.items.len() >= 6);
    // A certificate issued by the server's client CA works too; PEM out of the helper, no key in Debug.
    let cert = server
        .issue_client_cert("bob", &["dev"], Validity::Current)
        .unwrap()
        .unwrap();
    assert!(cert.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(server
        .server_ca_pem()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
}
