//! Kubeconfigs for the sandbox in each style users have: k3d's CA + client certificate data, a bearer
//! token, an exec credential plugin, `insecure-skip-tls-verify`, and the broken ones (a CA that did not
//! sign the server's certificate, an expired client certificate, one from a CA the server does not know)
//! whose errors the plugin must explain.

use std::io;
use std::path::{Path, PathBuf};

use super::scenario::base64;
use super::tls::{CertAuthority, TlsState, Validity};

/// How a kubeconfig trusts the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// `certificate-authority-data` = the server's CA (what k3d writes).
    ServerCa,
    /// `certificate-authority-data` = a CA that did not sign the server's certificate.
    OtherCa,
    /// `insecure-skip-tls-verify: true` (no CA).
    InsecureSkipVerify,
}

/// The user entry of a kubeconfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserAuth {
    /// No credentials (`user: {}`).
    None,
    /// `client-certificate-data`/`client-key-data` for this user (CN).
    ClientCert {
        /// User (CN).
        user: String,
        /// Current or expired.
        validity: Validity,
        /// Issued by a CA the server does not know instead of its client CA.
        foreign: bool,
    },
    /// `token: …`.
    Token(String),
    /// `exec:` a script (written next to the kubeconfig) printing an ExecCredential with this token.
    Exec(String),
}

/// How a kubeconfig written by [`super::Sandbox::write_kubeconfig_with`] trusts the server and
/// authenticates to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Server trust.
    pub trust: Trust,
    /// User entry.
    pub user: UserAuth,
}

impl Credentials {
    /// The server's CA and no user credentials.
    pub fn none() -> Self {
        Credentials {
            trust: Trust::ServerCa,
            user: UserAuth::None,
        }
    }

    /// What k3d writes: the server's CA and a client certificate (with key) for `user`.
    pub fn client_cert(user: &str) -> Self {
        Credentials {
            trust: Trust::ServerCa,
            user: UserAuth::ClientCert {
                user: user.to_string(),
                validity: Validity::Current,
                foreign: false,
            },
        }
    }

    /// A client certificate from the server's client CA that has expired.
    pub fn expired_client_cert(user: &str) -> Self {
        Credentials {
            trust: Trust::ServerCa,
            user: UserAuth::ClientCert {
                user: user.to_string(),
                validity: Validity::Expired,
                foreign: false,
            },
        }
    }

    /// A current client certificate issued by a CA the server does not know.
    pub fn foreign_client_cert(user: &str) -> Self {
        Credentials {
            trust: Trust::ServerCa,
            user: UserAuth::ClientCert {
                user: user.to_string(),
                validity: Validity::Current,
                foreign: true,
            },
        }
    }

    /// The server's CA and a bearer token.
    pub fn token(token: &str) -> Self {
        Credentials {
            trust: Trust::ServerCa,
            user: UserAuth::Token(token.to_string()),
        }
    }

    /// The server's CA and an exec credential plugin that prints `token`.
    pub fn exec(token: &str) -> Self {
        Credentials {
            trust: Trust::ServerCa,
            user: UserAuth::Exec(token.to_string()),
        }
    }

    /// Skip verifying the server's certificate (`insecure-skip-tls-verify: true`).
    pub fn insecure(mut self) -> Self {
        self.trust = Trust::InsecureSkipVerify;
        self
    }

    /// Trust a CA that did not sign the server's certificate.
    pub fn wrong_ca(mut self) -> Self {
        self.trust = Trust::OtherCa;
        self
    }
}

/// YAML single-quoted scalar.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Write the kubeconfig (and, for [`UserAuth::Exec`], its script next to it). `path` may be a directory
/// (the file is then `path/kubeconfig`).
pub(crate) fn write(
    path: &Path,
    url: &str,
    namespace: Option<&str>,
    tls: Option<&TlsState>,
    creds: &Credentials,
) -> io::Result<PathBuf> {
    let file = if path.is_dir() {
        path.join("kubeconfig")
    } else {
        path.to_path_buf()
    };
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut cluster = format!("    server: {url}\n");
    if let Some(tls) = tls {
        match creds.trust {
            Trust::ServerCa => cluster.push_str(&format!(
                "    certificate-authority-data: {}\n",
                base64(tls.server_ca.cert_pem().as_bytes())
            )),
            Trust::OtherCa => {
                let other = CertAuthority::new("sandbox-server-ca")?;
                cluster.push_str(&format!(
                    "    certificate-authority-data: {}\n",
                    base64(other.cert_pem().as_bytes())
                ));
            }
            Trust::InsecureSkipVerify => cluster.push_str("    insecure-skip-tls-verify: true\n"),
        }
    }
    let user = match &creds.user {
        UserAuth::None => "  user: {}\n".to_string(),
        UserAuth::ClientCert {
            user,
            validity,
            foreign,
        } => {
            let cert = match (tls, foreign) {
                (Some(tls), false) => tls.client_ca.issue_client(user, &["system:masters"], *validity)?,
                _ => CertAuthority::new("sandbox-client-ca")?.issue_client(user, &["system:masters"], *validity)?,
            };
            format!(
                "  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
                base64(cert.cert_pem.as_bytes()),
                base64(cert.key_pem.as_bytes())
            )
        }
        UserAuth::Token(t) => format!("  user:\n    token: {}\n", quote(t)),
        UserAuth::Exec(t) => {
            let stem = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let script = dir.join(format!("{stem}-credential.sh"));
            let credential = serde_json::json!({"apiVersion": "client.authentication.k8s.io/v1",
                "kind": "ExecCredential", "status": {"token": t}});
            std::fs::write(&script, format!("#!/bin/sh\ncat <<'EOF'\n{credential}\nEOF\n"))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
            }
            format!(
                "  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\n      provideClusterInfo: false\n",
                quote(&script.to_string_lossy())
            )
        }
    };
    let ns = namespace.map(|n| format!("\n    namespace: {n}")).unwrap_or_default();
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n{cluster}contexts:\n- name: sandbox\n  context:\n    cluster: sandbox\n    user: sandbox{ns}\ncurrent-context: sandbox\npreferences: {{}}\nusers:\n- name: sandbox\n{user}"
    );
    std::fs::write(&file, yaml)?;
    Ok(file)
}
