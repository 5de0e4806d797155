//! `doctor --deep`'s IO: read each sidecar's Envoy admin `/certs` through the API server's pod port-forward.
//!
//! Istio binds Envoy's admin to 127.0.0.1:15000 inside the pod, so the only way in without exec is
//! `pods/portforward` (what `istioctl proxy-config` does). kube-rs opens it as a WebSocket
//! (`v4.channel.k8s.io`: per port a data and an error channel, each first carrying the port number); over the
//! data stream we speak plain HTTP/1.1 to the admin and read one answer.
//!
//! Bounds: the permission is checked first (SelfSubjectAccessReviews for `get` and `create` on
//! `pods/portforward` per namespace: API servers before 1.35 authorize the WebSocket upgrade as `get`, 1.35 and
//! newer also require `create`), at most [`PARALLEL_PODS`] sidecars are read at once, each attempt within
//! [`POD_TIMEOUT`], and the whole read within `--request-timeout`. Failures never abort doctor: they become
//! [`AdminRead::Unreachable`] (a warning) or [`AdminRead::Forbidden`] (skipped).

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cluster::Cluster;
use mesh_core::doctor::deep::{AdminRead, DeepEvidence, DeepPlan, ADMIN_PORT, CERTS_PATH};

/// Sidecars read at the same time.
pub const PARALLEL_PODS: usize = 8;
/// Longest one attempt at one sidecar may take (port-forward upgrade plus the admin's answer).
pub const POD_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts per sidecar when the API server answers 5xx/429 or the connection breaks.
const ATTEMPTS: u32 = 3;
/// Largest admin answer accepted (a busy gateway's `/certs` is a few hundred KiB).
const MAX_ANSWER: usize = 4 << 20;

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fetch {
    /// 403 on the upgrade.
    Forbidden(String),
    /// Worth another attempt: 5xx/429, a broken connection.
    Transient(String),
    /// Not worth another attempt: the kubelet could not reach the port, the pod is gone, a timeout.
    Failed(String),
}

impl Fetch {
    fn message(self) -> String {
        match self {
            Fetch::Forbidden(m) | Fetch::Transient(m) | Fetch::Failed(m) => m,
        }
    }
}

/// Read `/certs` from every sidecar in `plan`, after checking the permission in each namespace.
pub async fn read_sidecar_certs(cluster: &Cluster, plan: &DeepPlan) -> DeepEvidence {
    let deadline = cluster.timeout.filter(|t| !t.is_zero()).map(|t| Instant::now() + t);
    let mut evidence = DeepEvidence::default();
    let mut checks = JoinSet::new();
    for ns in plan.namespaces() {
        let cluster = cluster.clone();
        let ns = ns.to_string();
        checks.spawn(async move {
            let missing = denied_verbs(&cluster, &ns).await;
            (ns, missing)
        });
    }
    while let Some(joined) = checks.join_next().await {
        if let Ok((ns, missing)) = joined {
            if !missing.is_empty() {
                evidence.denied.insert(ns, missing);
            }
        }
    }
    let limit = Arc::new(Semaphore::new(PARALLEL_PODS));
    let mut reads = JoinSet::new();
    for target in plan
        .targets
        .iter()
        .filter(|t| !evidence.denied.contains_key(&t.namespace))
    {
        let cluster = cluster.clone();
        let limit = limit.clone();
        let (ns, pod) = (target.namespace.clone(), target.pod.clone());
        reads.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let read = read_one(&cluster, &ns, &pod, deadline).await;
            ((ns, pod), read)
        });
    }
    while let Some(joined) = reads.join_next().await {
        match joined {
            Ok((key, read)) => {
                evidence.reads.insert(key, read);
            }
            Err(e) => cluster.log(1, || format!("a sidecar read task failed: {e}")),
        }
    }
    evidence
}

/// The `pods/portforward` verbs a SelfSubjectAccessReview denies in `ns`. A review that fails is logged and
/// treated as allowed: the port-forward itself then answers 403 if it is not.
async fn denied_verbs(cluster: &Cluster, ns: &str) -> Vec<String> {
    let (get, create) = tokio::join!(
        cluster.can_i("get", "", "pods", "portforward", Some(ns)),
        cluster.can_i("create", "", "pods", "portforward", Some(ns)),
    );
    let mut missing = Vec::new();
    for (verb, answer) in [("get", get), ("create", create)] {
        match answer {
            Ok(true) => {}
            Ok(false) => missing.push(verb.to_string()),
            Err(e) => cluster.log(1, || {
                format!("cannot check {verb} pods/portforward in {ns} ({e}); trying the port-forward anyway")
            }),
        }
    }
    missing
}

/// One sidecar: a few attempts within its own timeout and the overall deadline.
async fn read_one(cluster: &Cluster, ns: &str, pod: &str, deadline: Option<Instant>) -> AdminRead {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let budget = left.map_or(POD_TIMEOUT, |l| l.min(POD_TIMEOUT));
        if budget.is_zero() {
            return AdminRead::Unreachable("not read within --request-timeout".to_string());
        }
        let started = Instant::now();
        let outcome = match tokio::time::timeout(budget, fetch_once(&cluster.client, ns, pod, CERTS_PATH)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Fetch::Failed(format!("no answer within {} ms", budget.as_millis()))),
        };
        cluster.log(6, || {
            let result = match &outcome {
                Ok((status, body)) => format!("HTTP {status}, {} bytes", body.len()),
                Err(e) => format!("failed: {}", e.clone().message()),
            };
            format!(
                "GET {}/api/v1/namespaces/{ns}/pods/{pod}/portforward?ports={ADMIN_PORT} then GET {CERTS_PATH}: {result} in {} milliseconds",
                cluster.server,
                started.elapsed().as_millis()
            )
        });
        match outcome {
            Ok((status, body)) => return AdminRead::Answer { status, body },
            Err(Fetch::Forbidden(m)) => return AdminRead::Forbidden(m),
            Err(Fetch::Failed(m)) => return AdminRead::Unreachable(m),
            Err(Fetch::Transient(m)) if attempt >= ATTEMPTS => return AdminRead::Unreachable(m),
            Err(Fetch::Transient(_)) => {
                tokio::time::sleep(cluster.backoff_base * 2u32.pow(attempt - 1)).await;
            }
        }
    }
}

/// Open a port-forward to the admin port, send one request, read one answer.
async fn fetch_once(client: &kube::Client, ns: &str, pod: &str, path: &str) -> Result<(u16, Vec<u8>), Fetch> {
    let api: kube::Api<Pod> = kube::Api::namespaced(client.clone(), ns);
    let mut forwarder = api.portforward(pod, &[ADMIN_PORT]).await.map_err(classify)?;
    let (Some(mut stream), Some(error)) = (
        forwarder.take_stream(ADMIN_PORT),
        forwarder.take_error(ADMIN_PORT).map(futures::FutureExt::fuse),
    ) else {
        forwarder.abort();
        return Err(Fetch::Failed("the port-forward opened no stream".to_string()));
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{ADMIN_PORT}\r\nUser-Agent: kubectl-mesh/{}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    tokio::pin!(error);
    let mut result = {
        let exchange = async {
            stream
                .write_all(request.as_bytes())
                .await
                .map_err(|e| Fetch::Transient(format!("the port-forward stream broke: {e}")))?;
            read_http_response(&mut stream).await
        };
        tokio::pin!(exchange);
        // The error channel carries the kubelet's reason (e.g. nothing listens on the port); it wins over the
        // data stream simply closing.
        tokio::select! {
            biased;
            Some(message) = &mut error => Err(Fetch::Failed(one_line(&message))),
            answer = &mut exchange => answer,
        }
    };
    if let Err(Fetch::Transient(_)) = &result {
        if let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(200), &mut error).await {
            result = Err(Fetch::Failed(one_line(&message)));
        }
    }
    // Closing our end lets kube-rs send the WebSocket close; give it a moment, do not wait on it.
    drop(stream);
    let _ = tokio::time::timeout(Duration::from_millis(500), forwarder.join()).await;
    result
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Sort a kube-rs error into retry or not.
fn classify(e: kube::Error) -> Fetch {
    use kube::client::UpgradeConnectionError as Upgrade;
    match &e {
        kube::Error::UpgradeConnection(Upgrade::ProtocolSwitch(code)) => match code.as_u16() {
            403 => Fetch::Forbidden(format!("the port-forward upgrade answered {code}")),
            404 => Fetch::Failed("the pod is gone (404 on the port-forward upgrade)".to_string()),
            429 | 500..=599 => Fetch::Transient(format!("the API server answered {code} to the port-forward upgrade")),
            _ => Fetch::Failed(format!("the API server answered {code} to the port-forward upgrade")),
        },
        kube::Error::UpgradeConnection(other) => Fetch::Failed(format!("the port-forward upgrade failed: {other}")),
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            let reason = crate::error::root_cause(&e);
            Fetch::Transient(format!("the connection to the API server broke: {reason}"))
        }
        _ => Fetch::Failed(format!("the port-forward failed: {e}")),
    }
}

async fn read_http_response<R: AsyncRead + Unpin>(reader: &mut R) -> Result<(u16, Vec<u8>), Fetch> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        if let Some(answer) = parse_http_response(&buf, false).map_err(Fetch::Failed)? {
            return Ok(answer);
        }
        let n = reader
            .read(&mut chunk)
            .await
            .map_err(|e| Fetch::Transient(format!("the port-forward stream broke: {e}")))?;
        if n == 0 {
            return parse_http_response(&buf, true).map_err(Fetch::Failed)?.ok_or_else(|| {
                Fetch::Transient("the port-forward closed before the admin's answer was complete".to_string())
            });
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_ANSWER {
            return Err(Fetch::Failed(format!(
                "the admin's answer is larger than {} MiB",
                MAX_ANSWER >> 20
            )));
        }
    }
}

/// Parse an HTTP/1.1 answer read so far: `Ok(None)` while incomplete, `Ok(Some((status, body)))` once the
/// body is complete (Content-Length, chunked, or up to `eof` otherwise), `Err` when it is not HTTP.
pub fn parse_http_response(buf: &[u8], eof: bool) -> Result<Option<(u16, Vec<u8>)>, String> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if eof && !buf.is_empty() {
            return Err("the admin's answer is not HTTP".to_string());
        }
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(format!("bad HTTP status line {status_line:?}"));
    };
    let status: u16 = match (version.starts_with("HTTP/1."), code.parse()) {
        (true, Ok(code)) => code,
        _ => return Err(format!("bad HTTP status line {status_line:?}")),
    };
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse().map_err(|_| format!("bad Content-Length {value:?}"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().split(',').any(|v| v.trim() == "chunked");
        }
    }
    let body = &buf[head_end + 4..];
    if status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(Some((status, Vec::new())));
    }
    if chunked {
        return decode_chunked(body).map(|b| b.map(|b| (status, b)));
    }
    match length {
        Some(n) if body.len() >= n => Ok(Some((status, body[..n].to_vec()))),
        Some(_) => Ok(None),
        None if eof => Ok(Some((status, body.to_vec()))),
        None => Ok(None),
    }
}

/// Decode a chunked body: `Ok(None)` until the last (zero-size) chunk has arrived.
fn decode_chunked(mut rest: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&rest[..line_end]);
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| format!("bad chunk size {size_text:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_answers_complete_at_their_length() {
        let whole = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(parse_http_response(&whole[..40], false), Ok(None));
        assert_eq!(parse_http_response(&whole[..whole.len() - 1], false), Ok(None));
        assert_eq!(parse_http_response(whole, false), Ok(Some((200, b"hello".to_vec()))));
    }

    #[test]
    fn chunked_answers_are_decoded_once_the_last_chunk_arrives() {
        let whole = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(parse_http_response(&whole[..whole.len() - 5], false), Ok(None));
        assert_eq!(
            parse_http_response(whole, false),
            Ok(Some((200, b"{\"a\":1}".to_vec())))
        );
    }

    #[test]
    fn answers_without_length_end_at_eof() {
        let whole = b"HTTP/1.1 404 Not Found\r\n\r\nnope";
        assert_eq!(parse_http_response(whole, false), Ok(None));
        assert_eq!(parse_http_response(whole, true), Ok(Some((404, b"nope".to_vec()))));
    }

    #[test]
    fn non_http_is_an_error_not_a_hang() {
        assert!(parse_http_response(b"SSH-2.0-OpenSSH\r\n\r\n", false).is_err());
        assert!(parse_http_response(b"garbage", true).is_err());
        assert!(parse_http_response(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false).is_err());
        assert!(parse_http_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false).is_err());
    }
}
