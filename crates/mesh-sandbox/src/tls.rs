//! HTTPS and authentication for the sandbox API server, the way kube-apiserver (and k3s/k3d) does it.
//!
//! Real clusters are reached over TLS with a kubeconfig that pins the cluster CA and carries a client
//! certificate, a bearer token or an exec credential plugin; the plugin's TLS and 401 handling can only be
//! tested against a server that does the same. Each server generates its own CAs at start (one that signs
//! the serving certificate for 127.0.0.1/localhost, one for client certificates, as k3s keeps them apart).
//!
//! As in kube-apiserver, the TLS layer *requests* a client certificate but accepts any (proving possession
//! of its key is still checked), and the HTTP layer authenticates each request: a client certificate that
//! chains to the client CA and is within its validity is the user named by its CN; else a configured
//! bearer token is its user; else the answer is 401 with an `Unauthorized` Status.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde_json::json;

use super::server::{handle, log_response, RespBody, Shared};
use super::RequestRecord;

/// HTTPS settings of a sandbox server ([`super::ServerOptions::tls`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsOptions {
    /// Bearer tokens the server accepts, each with the user it authenticates as: `(token, user)`.
    pub tokens: Vec<(String, String)>,
}

impl TlsOptions {
    /// Accept this bearer token as `user`.
    pub fn token(mut self, token: &str, user: &str) -> Self {
        self.tokens.push((token.to_string(), user.to_string()));
        self
    }
}

/// A client certificate and its key, PEM encoded (what `client-certificate-data`/`client-key-data` hold,
/// base64'd).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// `-----BEGIN CERTIFICATE-----…`.
    pub cert_pem: String,
    /// `-----BEGIN PRIVATE KEY-----…` (PKCS#8).
    pub key_pem: String,
}

impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCert").finish_non_exhaustive()
    }
}

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// From an hour ago for a year.
    Current,
    /// Expired: valid for one day, a year ago.
    Expired,
}

fn tls_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("sandbox TLS: {e}"))
}

/// A certificate authority generated for one server (or for a test that needs a foreign one).
pub struct CertAuthority {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertAuthority").finish_non_exhaustive()
    }
}

fn validity(params: &mut CertificateParams, v: Validity) {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let now = rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(since_epoch.as_secs());
    let day = Duration::from_secs(86_400);
    let (from, to) = match v {
        Validity::Current => (now - Duration::from_secs(3600), now + day * 365),
        Validity::Expired => (now - day * 366, now - day * 365),
    };
    params.not_before = from;
    params.not_after = to;
}

impl CertAuthority {
    /// A new self-signed CA with this common name (k3s names its CAs `k3s-server-ca@<time>`,
    /// `k3s-client-ca@<time>`).
    pub fn new(common_name: &str) -> io::Result<CertAuthority> {
        let key = KeyPair::generate().map_err(tls_err)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::CrlSign,
        ];
        validity(&mut params, Validity::Current);
        let cert = params.self_signed(&key).map_err(tls_err)?;
        Ok(CertAuthority {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM encoded (what `certificate-authority-data` holds, base64'd).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issue a client certificate: CN = `user`, O = each group (how Kubernetes reads identities).
    pub fn issue_client(&self, user: &str, groups: &[&str], v: Validity) -> io::Result<ClientCert> {
        let key = KeyPair::generate().map_err(tls_err)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for g in groups {
            params.distinguished_name.push(DnType::OrganizationName, *g);
        }
        params.distinguished_name.push(DnType::CommonName, user);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, v);
        let cert = params.signed_by(&key, &self.issuer).map_err(tls_err)?;
        Ok(ClientCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A serving certificate for 127.0.0.1, ::1 and localhost: (chain, key).
    fn issue_server(&self) -> io::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        let key = KeyPair::generate().map_err(tls_err)?;
        let mut params = CertificateParams::new(vec![
            "127.0.0.1".to_string(),
            "::1".to_string(),
            "localhost".to_string(),
            "kubernetes.default.svc".to_string(),
        ])
        .map_err(tls_err)?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, Validity::Current);
        let cert = params.signed_by(&key, &self.issuer).map_err(tls_err)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![cert.der().clone()], key))
    }
}

/// Requests a client certificate and accepts any (a wrong or expired one is the HTTP layer's 401), but
/// still checks the handshake signature, so a presented certificate is one whose key the client holds.
#[derive(Debug)]
struct RequestClientCert {
    webpki: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: clients send the certificate they have, whoever issued it.
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The TLS side of one server: its CAs, the acceptor, and what authenticates a request.
pub struct TlsState {
    /// Signs the serving certificate (`certificate-authority-data` of a good kubeconfig).
    pub server_ca: CertAuthority,
    /// Signs client certificates the server accepts.
    pub client_ca: CertAuthority,
    acceptor: tokio_rustls::TlsAcceptor,
    client_verifier: Arc<dyn ClientCertVerifier>,
    tokens: Vec<(String, String)>,
}

impl std::fmt::Debug for TlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsState").finish_non_exhaustive()
    }
}

impl TlsState {
    /// Generate the CAs and the serving certificate.
    pub fn new(opts: &TlsOptions) -> io::Result<TlsState> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_ca = CertAuthority::new("sandbox-server-ca")?;
        let client_ca = CertAuthority::new("sandbox-client-ca")?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(client_ca.cert_der.clone()).map_err(tls_err)?;
        let client_verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(tls_err)?;
        let (chain, key) = server_ca.issue_server()?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .with_client_cert_verifier(Arc::new(RequestClientCert {
                webpki: client_verifier.clone(),
            }))
            .with_single_cert(chain, key)
            .map_err(tls_err)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsState {
            server_ca,
            client_ca,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            client_verifier,
            tokens: opts.tokens.clone(),
        })
    }

    /// The user a client certificate chain authenticates: it must chain to the client CA, be within its
    /// validity and be meant for client auth; the user is its CN.
    pub fn cert_user(&self, chain: &[CertificateDer<'_>]) -> Option<String> {
        let (leaf, intermediates) = chain.split_first()?;
        self.client_verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .ok()?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
        let cn = cert.subject().iter_common_name().next()?.as_str().ok()?.to_string();
        Some(cn).filter(|c| !c.is_empty())
    }

    /// The user a bearer token authenticates (`Authorization: Bearer TOKEN`).
    pub fn token_user(&self, authorization: Option<&str>) -> Option<String> {
        let token = authorization?.strip_prefix("Bearer ")?.trim();
        self.tokens
            .iter()
            .find(|(t, _)| !t.is_empty() && t == token)
            .map(|(_, u)| u.clone())
    }
}

/// The 401 a real API server answers.
fn unauthorized() -> Response<RespBody> {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401});
    let mut r = Response::new(RespBody::Full(Some(Bytes::from(body.to_string()))));
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

/// Authenticate, then hand over to the normal handler; unauthenticated requests get 401 (and are logged).
async fn handle_authenticated(
    shared: Arc<Shared>,
    tls: Arc<TlsState>,
    cert_user: Option<String>,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, io::Error> {
    let authorization = req.headers().get("authorization").and_then(|v| v.to_str().ok());
    let user = cert_user.or_else(|| tls.token_user(authorization));
    if user.is_some() {
        return handle(shared, req).await;
    }
    let query = req.uri().query().unwrap_or_default().to_string();
    let started = shared.elapsed();
    let record = RequestRecord {
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        watch: query.split('&').any(|p| p == "watch=true" || p == "watch=1"),
        query,
        content_type: req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        status: 401,
        dry_run: false,
        body: None,
        response_bytes: 0,
        started,
        finished: started,
    };
    Ok(log_response(&shared, record, unauthorized()))
}

/// Serve HTTPS connections from a listener until the task is aborted.
pub async fn serve_tls(listener: tokio::net::TcpListener, shared: Arc<Shared>, tls: Arc<TlsState>) {
    super::server::accept_loop(listener, move |stream| {
        let shared = shared.clone();
        let tls = tls.clone();
        async move {
            // A client that rejects our certificate (wrong CA) ends the handshake here.
            let Ok(stream) = tls.acceptor.accept(stream).await else {
                return;
            };
            let cert_user = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| tls.cert_user(chain));
            let svc = hyper::service::service_fn(move |req| {
                handle_authenticated(shared.clone(), tls.clone(), cert_user.clone(), req)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .with_upgrades()
                .await;
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(pem: &str) -> CertificateDer<'static> {
        let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        CertificateDer::from(p.contents)
    }

    #[test]
    fn client_certs_authenticate_only_from_the_client_ca_and_while_valid() {
        let state = TlsState::new(&TlsOptions::default().token("t0k3n", "bob")).unwrap();
        let good = state
            .client_ca
            .issue_client("alice", &["system:masters"], Validity::Current)
            .unwrap();
        assert_eq!(state.cert_user(&[der(&good.cert_pem)]).as_deref(), Some("alice"));
        let expired = state.client_ca.issue_client("alice", &[], Validity::Expired).unwrap();
        assert_eq!(state.cert_user(&[der(&expired.cert_pem)]), None);
        let foreign = CertAuthority::new("other").unwrap();
        let stranger = foreign.issue_client("alice", &[], Validity::Current).unwrap();
        assert_eq!(state.cert_user(&[der(&stranger.cert_pem)]), None);
        // The server CA signs serving certificates, not client identities.
        let wrong_ca = state.server_ca.issue_client("alice", &[], Validity::Current).unwrap();
        assert_eq!(state.cert_user(&[der(&wrong_ca.cert_pem)]), None);
        assert!(good.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(!format!("{good:?}").contains("BEGIN"), "Debug never shows key material");
    }

    #[test]
    fn bearer_tokens_authenticate_as_their_user() {
        let state = TlsState::new(&TlsOptions::default().token("t0k3n", "bob")).unwrap();
        assert_eq!(state.token_user(Some("Bearer t0k3n")).as_deref(), Some("bob"));
        assert_eq!(state.token_user(Some("Bearer nope")), None);
        assert_eq!(state.token_user(Some("Basic t0k3n")), None);
        assert_eq!(state.token_user(None), None);
    }
}
