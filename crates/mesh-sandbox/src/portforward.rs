//! The sandbox's pod port-forward, with a fake Envoy admin behind it, so `kubectl mesh doctor --deep` is tested
//! end to end.
//!
//! What a real cluster does (kube-apiserver proxying to the kubelet's
//! `staging/src/k8s.io/kubelet/pkg/cri/streaming/portforward/websocket.go`):
//! - `GET /api/v1/namespaces/{ns}/pods/{name}/portforward?ports=15000` with a WebSocket upgrade. The kubelet
//!   offers the subprotocols `v4.channel.k8s.io`, `v4.base64.channel.k8s.io` and none; kube-rs asks for
//!   `v5.channel.k8s.io, v4.channel.k8s.io` and gets v4. Binary frames: the first byte is the channel.
//! - Per requested port `i`, channel `2i` carries data and `2i+1` errors; the first frame on each is the port
//!   number, 2 bytes little-endian. A port nothing listens on gets one text message on its error channel
//!   (`error forwarding port …: … connection refused`). When forwarding ends, the WebSocket closes.
//! - Authorization: a WebSocket upgrade is a GET, authorized as `get pods/portforward`; since 1.35
//!   (`AuthorizePodWebsocketUpgradeCreatePermission`) `create` is required as well. The sandbox demands both,
//!   so a client that works here works on every version.
//!
//! Behind port 15000 of a pod with a running `istio-proxy`, an Envoy admin answers HTTP/1.1 (chunked, like
//! Envoy): `/certs` lists the CA the proxy trusts — the published roots (the namespace's, else istio-system's
//! `istio-ca-root-cert`) whose NotBefore is not after the proxy's start; a proxy that started before every
//! published root trusts the newest of the sandbox's known roots that existed then (the old root in
//! `bookinfo().stale_root_cert()`). Other paths answer 404; `/ready` answers `LIVE`. Pods without istio-proxy,
//! and other ports, refuse the connection on the error channel. Faults, RBAC and the request log apply as to
//! any request; [`super::Fault::reset_mid_body`] breaks the WebSocket right after the port frames.
//!
//! Not emulated: SPDY and the `SPDY/3.1+portforward.k8s.io` WebSocket tunnel that `kubectl port-forward` uses
//! (answered 400), the base64 channel protocol, and `pods/exec`/`pods/attach`.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use jiff::Timestamp;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::scenario::{ROOT_CERT_PEM, ROTATED_ROOT_CERT_PEM};
use super::server::{
    apply_fault, error_response, lock, log_response, rbac_allows, FaultOutcome, Query, RespBody, Shared,
};
use super::status::ApiError;
use super::store::{format_ts, Store};
use super::RequestRecord;

/// The binary channel protocol the kubelet's port-forward speaks.
pub const PROTOCOL_V4: &str = "v4.channel.k8s.io";
/// Envoy's admin port in Istio sidecars.
pub const ENVOY_ADMIN_PORT: u16 = 15000;

/// `(namespace, pod)` when `path` is a pod's `portforward` subresource.
pub fn target(path: &str) -> Option<(String, String)> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["api", "v1", "namespaces", ns, "pods", name, "portforward"] if !ns.is_empty() && !name.is_empty() => {
            Some((ns.to_string(), name.to_string()))
        }
        _ => None,
    }
}

/// What is behind one forwarded port.
#[derive(Debug, Clone)]
enum Behind {
    /// A fake Envoy admin answering with these `/certs`.
    Admin(Value),
    /// Nothing listens: the error channel gets this message.
    Refused(String),
}

/// The forwarded ports, in request order, and what is behind each.
type Ports = Vec<(u16, Behind)>;

/// Handle a port-forward request (the routing hook in `server::handle` sends them here).
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<RespBody>, io::Error> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or_default().to_string();
    let started = shared.elapsed();
    let record = RequestRecord {
        method: method.to_string(),
        path: path.clone(),
        query: raw_query.clone(),
        content_type: String::new(),
        status: 0,
        dry_run: false,
        watch: false,
        body: None,
        response_bytes: 0,
        started,
        finished: started,
    };
    let full = if raw_query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{raw_query}")
    };
    let mut break_after_ports = false;
    match apply_fault(&shared, &method, &full, &record).await {
        FaultOutcome::None => {}
        FaultOutcome::Answer(answer) => return answer,
        // Upgrade, send the port frames, then break the stream.
        FaultOutcome::ResetMidBody => break_after_ports = true,
    }
    let answer = prepare(&shared, &req, &raw_query);
    match answer {
        Err(e) => Ok(log_response(&shared, record, error_response(&e))),
        Ok((response, ports)) => {
            // The answer is the 101 upgrade; what flows over the WebSocket afterwards is not counted.
            let response = log_response(&shared, record, response);
            let on_upgrade = hyper::upgrade::on(req);
            tokio::spawn(async move {
                if let Ok(upgraded) = on_upgrade.await {
                    let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
                    session(ws, ports, break_after_ports).await;
                }
            });
            Ok(response)
        }
    }
}

/// Check everything a real server checks before switching protocols; the 101 answer and what is behind each
/// port.
fn prepare(shared: &Shared, req: &Request<Incoming>, raw_query: &str) -> Result<(Response<RespBody>, Ports), ApiError> {
    let (ns, name) = target(req.uri().path()).ok_or_else(ApiError::no_route)?;
    let headers = req.headers();
    let header = |h: http::header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let websocket = header(http::header::UPGRADE).eq_ignore_ascii_case("websocket")
        && header(http::header::CONNECTION)
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    if req.method() != http::Method::GET || !websocket {
        return Err(ApiError::bad_request(
            "sandbox: only the WebSocket port-forward (GET with Upgrade: websocket, v4.channel.k8s.io) is emulated, not SPDY",
        ));
    }
    // RBAC: the upgrade is a GET (verb get); Kubernetes 1.35+ also demands create.
    {
        let rules = lock(&shared.rbac);
        for verb in ["get", "create"] {
            if !rbac_allows(&rules, verb, "", "pods/portforward", Some(&ns)) {
                return Err(ApiError::forbidden(
                    &shared.user,
                    verb,
                    "",
                    "pods/portforward",
                    &name,
                    Some(&ns),
                ));
            }
        }
    }
    let ports = parse_ports(&Query::parse(raw_query))?;
    let key = header(http::header::SEC_WEBSOCKET_KEY).to_string();
    if key.is_empty() || header(http::header::SEC_WEBSOCKET_VERSION) != "13" {
        return Err(ApiError::bad_request(
            "unable to upgrade connection: missing Sec-WebSocket-Key or Sec-WebSocket-Version 13",
        ));
    }
    let offered: Vec<String> = headers
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    let protocol = match offered.iter().find(|p| *p == PROTOCOL_V4) {
        Some(p) => Some(p.clone()),
        None if offered.is_empty() => None,
        None => {
            return Err(ApiError::bad_request(format!(
                "unable to upgrade connection: requested protocol(s) are not supported: {offered:?}; supports [\"{PROTOCOL_V4}\"]"
            )))
        }
    };
    let behind = {
        let store = lock(&shared.store);
        let pod = store
            .raw("", "pods", &ns, &name)
            .cloned()
            .ok_or_else(|| ApiError::not_found("", "pods", &name))?;
        let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
        if phase != "Running" {
            return Err(ApiError::bad_request(format!(
                "unable to upgrade connection: pod {name} is not running (phase {phase})"
            )));
        }
        let admin = envoy_certs(&store, &pod);
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        ports
            .iter()
            .map(|&port| {
                let behind = match (&admin, port) {
                    (Some(certs), ENVOY_ADMIN_PORT) => Behind::Admin(certs.clone()),
                    _ => Behind::Refused(format!(
                        "error forwarding port {port} to pod {uid}, uid : failed to connect to localhost:{port} inside namespace \"{uid}\", IPv4: dial tcp4 127.0.0.1:{port}: connect: connection refused IPv6 dial tcp6 [::1]:{port}: connect: connection refused"
                    )),
                };
                (port, behind)
            })
            .collect()
    };
    let mut response = Response::new(RespBody::Full(None));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(http::header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(http::header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(p) = protocol.and_then(|p| HeaderValue::from_str(&p).ok()) {
        h.insert(http::header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    Ok((response, behind))
}

/// The `ports` query parameter (comma-separated, 1–65535), as the kubelet parses it.
fn parse_ports(q: &Query) -> Result<Vec<u16>, ApiError> {
    let raw = q
        .get("ports")
        .ok_or_else(|| ApiError::bad_request("query parameter \"ports\" is required"))?;
    if raw.is_empty() {
        return Err(ApiError::bad_request("query parameter \"ports\" cannot be empty"));
    }
    raw.split(',')
        .map(|p| match p.trim().parse::<u16>() {
            Ok(0) => Err(ApiError::bad_request(format!("port {raw:?} must be > 0"))),
            Ok(n) => Ok(n),
            Err(e) => Err(ApiError::bad_request(format!("unable to parse {raw:?} as a port: {e}"))),
        })
        .collect()
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::binary(v)
}

/// One forwarded connection: port frames, then each admin port serves HTTP until its client closes.
async fn session<S>(mut ws: WebSocketStream<S>, ports: Ports, break_after_ports: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    for (i, (port, _)) in ports.iter().enumerate() {
        let ch = (2 * i) as u8;
        for c in [ch, ch + 1] {
            if ws.send(frame(c, &port.to_le_bytes())).await.is_err() {
                return;
            }
        }
    }
    if break_after_ports {
        // The fault: the connection breaks before the pod answers (no WebSocket close).
        return;
    }
    let mut open: BTreeMap<u8, (Value, Vec<u8>)> = BTreeMap::new();
    for (i, (_, behind)) in ports.into_iter().enumerate() {
        let ch = (2 * i) as u8;
        match behind {
            Behind::Admin(certs) => {
                open.insert(ch, (certs, Vec::new()));
            }
            Behind::Refused(message) => {
                if ws.send(frame(ch + 1, message.as_bytes())).await.is_err() {
                    return;
                }
            }
        }
    }
    while !open.is_empty() {
        let Some(Ok(msg)) = ws.next().await else { return };
        let data = match msg {
            Message::Binary(data) if data.len() > 1 => data,
            Message::Close(_) => return,
            _ => continue,
        };
        let ch = data[0];
        let Some((certs, buf)) = open.get_mut(&ch) else {
            continue;
        };
        buf.extend_from_slice(&data[1..]);
        let mut close = false;
        while let Some((request, used, wants_close)) = parse_request(buf) {
            buf.drain(..used);
            let answer = admin_answer(certs, &request, wants_close);
            for chunk in answer.chunks(32 * 1024) {
                if ws.send(frame(ch, chunk)).await.is_err() {
                    return;
                }
            }
            if wants_close {
                close = true;
                break;
            }
        }
        if close {
            open.remove(&ch);
        }
    }
    // Envoy closed its side: the kubelet ends the forward and the WebSocket closes.
    let _ = ws.send(Message::Close(None)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(m)) = ws.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
}

/// A complete request head in `buf`: (request line, bytes used, whether the connection closes after it).
fn parse_request(buf: &[u8]) -> Option<(String, usize, bool)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let http10 = request_line.ends_with("HTTP/1.0");
    let mut close = http10;
    let mut body = 0usize;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("connection") {
                close = v.trim().eq_ignore_ascii_case("close");
            } else if k.trim().eq_ignore_ascii_case("content-length") {
                body = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let used = end + 4 + body;
    (buf.len() >= used).then_some((request_line, used, close))
}

/// Envoy's admin answer (chunked, as Envoy streams admin responses).
fn admin_answer(certs: &Value, request_line: &str, close: bool) -> Vec<u8> {
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = target.split('?').next().unwrap_or_default();
    let (status, content_type, body) = match (method, path) {
        ("GET", "/certs") => (
            "200 OK",
            "application/json",
            serde_json::to_string_pretty(certs).unwrap_or_default().into_bytes(),
        ),
        ("GET", "/ready") => ("200 OK", "text/plain; charset=UTF-8", b"LIVE\n".to_vec()),
        _ => (
            "404 Not Found",
            "text/plain; charset=UTF-8",
            format!("invalid path: {path}\nadmin commands are:\n  /certs: print certs on machine\n  /ready: print server state, return 200 if LIVE, otherwise return 503\n").into_bytes(),
        ),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncache-control: no-cache, max-age=0\r\nx-content-type-options: nosniff\r\nserver: envoy\r\ntransfer-encoding: chunked\r\n{}\r\n",
        if close { "connection: close\r\n" } else { "" }
    )
    .into_bytes();
    // Larger bodies go in two chunks, so clients must really decode chunked bodies.
    let mid = if body.len() > 64 { body.len() / 2 } else { 0 };
    for part in [&body[..mid], &body[mid..]] {
        if !part.is_empty() {
            out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            out.extend_from_slice(part);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// One root certificate as Envoy reports it.
struct Root {
    serial: String,
    not_before: Timestamp,
    not_after: Timestamp,
}

/// Parse every certificate of a PEM bundle (unparseable ones are skipped).
fn roots(pem: &str) -> Vec<Root> {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .filter_map(Result::ok)
        .filter_map(|p| {
            let cert = p.parse_x509().ok()?;
            let validity = cert.validity();
            Some(Root {
                serial: bn2hex(cert.raw_serial()),
                not_before: Timestamp::from_second(validity.not_before.timestamp()).ok()?,
                not_after: Timestamp::from_second(validity.not_after.timestamp()).ok()?,
            })
        })
        .collect()
}

/// BoringSSL's `BN_bn2hex` as Envoy prints serials: lowercase, no leading zero bytes.
fn bn2hex(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let hex: String = bytes[start..].iter().map(|b| format!("{b:02x}")).collect();
    if hex.is_empty() {
        "0".to_string()
    } else {
        hex
    }
}

fn details(serial: &str, sans: Value, from: Timestamp, until: Timestamp, now: Timestamp) -> Value {
    let days = (until.as_second() - now.as_second()).max(0) / 86_400;
    json!({
        "path": "<inline>",
        "serial_number": serial,
        "subject_alt_names": sans,
        "days_until_expiration": days.to_string(),
        "valid_from": format_ts(from),
        "expiration_time": format_ts(until),
    })
}

/// The `/certs` of a pod's istio-proxy, or `None` when it has no running istio-proxy.
fn envoy_certs(store: &Store, pod: &Value) -> Option<Value> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let started: Timestamp = ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|k| pod["status"][k].as_array())
        .flatten()
        .find(|c| c["name"] == "istio-proxy")
        .and_then(|c| c["state"]["running"]["startedAt"].as_str())
        .and_then(|t| t.parse().ok())?;
    let published = [ns, "istio-system"]
        .iter()
        .filter_map(|n| store.raw("", "configmaps", n, "istio-ca-root-cert"))
        .filter_map(|cm| cm["data"]["root-cert.pem"].as_str())
        .map(roots)
        .find(|r| !r.is_empty())
        .unwrap_or_default();
    let mut trusted: Vec<&Root> = published.iter().filter(|r| r.not_before <= started).collect();
    let history: Vec<Root> = [ROOT_CERT_PEM, ROTATED_ROOT_CERT_PEM]
        .iter()
        .flat_map(|p| roots(p))
        .collect();
    if trusted.is_empty() {
        // Started before every published root existed: it still trusts the root that was current then.
        trusted.extend(
            history
                .iter()
                .filter(|r| r.not_before <= started)
                .max_by_key(|r| r.not_before),
        );
    }
    let now = store.now();
    let ca: Vec<Value> = trusted
        .iter()
        .map(|r| details(&r.serial, json!([]), r.not_before, r.not_after, now))
        .collect();
    let sa = pod["spec"]["serviceAccountName"].as_str().unwrap_or("default");
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let uid_hex: String = pod["metadata"]["uid"]
        .as_str()
        .unwrap_or(name)
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(32)
        .collect();
    let leaf_serial = bn2hex(&uid_hex.bytes().map(|b| b % 251 + 1).collect::<Vec<u8>>());
    let leaf_until = started
        .checked_add(jiff::SignedDuration::from_hours(24))
        .unwrap_or(started);
    let leaf = details(
        &leaf_serial,
        json!([{"uri": format!("spiffe://cluster.local/ns/{ns}/sa/{sa}")}]),
        started,
        leaf_until,
        now,
    );
    Some(json!({"certificates": [{"ca_cert": ca, "cert_chain": [leaf]}]}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pod_portforward_paths_are_targets() {
        assert_eq!(
            target("/api/v1/namespaces/istio-demo/pods/reviews-v2-abc/portforward"),
            Some(("istio-demo".to_string(), "reviews-v2-abc".to_string()))
        );
        assert_eq!(target("/api/v1/namespaces/istio-demo/pods/reviews-v2-abc"), None);
        assert_eq!(target("/api/v1/namespaces/istio-demo/pods/x/exec"), None);
        assert_eq!(target("/apis/apps/v1/namespaces/a/pods/x/portforward"), None);
    }

    #[test]
    fn ports_parse_like_the_kubelet() {
        assert_eq!(parse_ports(&Query::parse("&ports=15000")).unwrap(), vec![15000]);
        assert_eq!(parse_ports(&Query::parse("ports=80%2C15000")).unwrap(), vec![80, 15000]);
        assert_eq!(parse_ports(&Query::parse("")).unwrap_err().code, 400);
        assert_eq!(parse_ports(&Query::parse("ports=0")).unwrap_err().code, 400);
        assert_eq!(parse_ports(&Query::parse("ports=x")).unwrap_err().code, 400);
    }

    #[test]
    fn serials_are_printed_like_boringssl() {
        assert_eq!(bn2hex(&[0x00, 0x0a, 0xff]), "0aff");
        assert_eq!(bn2hex(&[0x00]), "0");
        let old = roots(ROOT_CERT_PEM);
        let new = roots(ROTATED_ROOT_CERT_PEM);
        assert_eq!((old.len(), new.len()), (1, 1));
        assert_ne!(
            old[0].serial, new[0].serial,
            "the sandbox's roots must be told apart by serial"
        );
        assert!(old[0].not_before < new[0].not_before);
    }

    #[test]
    fn admin_requests_are_framed_by_their_head() {
        let req = b"GET /certs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /ready";
        let (line, used, close) = parse_request(req).unwrap();
        assert_eq!((line.as_str(), close), ("GET /certs HTTP/1.1", true));
        assert_eq!(&req[used..], b"GET /ready");
        assert!(parse_request(b"GET /certs HTTP/1.1\r\nHost: x\r\n").is_none());
        let answer =
            String::from_utf8(admin_answer(&json!({"certificates": []}), "GET /nope HTTP/1.1", false)).unwrap();
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
        assert!(answer.ends_with("0\r\n\r\n"));
    }
}
