//! The only place that talks to the Kubernetes API.
//!
//! A thin layer over kube-rs's `Client::send`: it builds kubectl-compatible URLs, bounds every call by
//! `--request-timeout`, retries idempotent reads on 5xx/429 (honouring Retry-After, bounded), never replays writes,
//! follows list pagination (`limit`/`continue`, restarting once on 410 Gone), logs requests at `-v 6` like
//! kubectl (never headers, tokens or Secret data), and turns answers into [`KubeError`]s that name the server,
//! verb, resource and namespace.

use std::time::{Duration, Instant};

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;

pub use crate::config::ConnectOptions;
use mesh_core::resource::{self, Res};

use crate::error::{KubeError, Result};
use crate::log::Log;
use mesh_core::opts::DryRun;
pub use mesh_core::wire::{ListMeta, Page};

/// Page size for LISTs (kubectl uses 500 as well).
pub const PAGE_SIZE: u32 = 500;
/// Attempts for an idempotent read before giving up.
const READ_ATTEMPTS: u32 = 5;
/// Longest single backoff/Retry-After we honour.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A connected client plus what error messages need to say.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) client: kube::Client,
    /// The API server URL, for messages.
    pub server: String,
    /// Namespace from `-n` or the context.
    pub namespace: String,
    pub(crate) timeout: Option<Duration>,
    log: Log,
    pub(crate) backoff_base: Duration,
}

/// What a request is for: used in 403/404 messages and logs.
#[derive(Debug, Clone, Copy)]
pub struct Intent<'a> {
    pub verb: &'static str,
    pub res: &'a Res,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// Options of a write.
#[derive(Debug, Clone)]
pub struct WriteOpts {
    pub dry_run: DryRun,
    pub field_manager: String,
}

impl WriteOpts {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![("fieldManager", self.field_manager.clone())];
        if self.dry_run == DryRun::Server {
            q.push(("dryRun", "All".to_string()));
        }
        q
    }
}

/// Patch flavours the API server understands.
#[derive(Debug, Clone, Copy)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
}

impl PatchType {
    fn content_type(self) -> &'static str {
        match self {
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Json => "application/json-patch+json",
            PatchType::Strategic => "application/strategic-merge-patch+json",
        }
    }
}

/// A successful answer to a list: items plus the list's resourceVersion.
#[derive(Debug, Default)]
pub struct ListResult {
    pub items: Vec<Value>,
    pub resource_version: String,
}

/// Where [`Cluster::list_pages`] delivers pages.
pub trait PageSink: Send {
    /// Decode one page body (a `…List` object) and keep what is needed; return the page's list metadata.
    fn page(&mut self, body: &[u8]) -> std::result::Result<ListMeta, serde_json::Error>;
    /// The list starts over (its continue token expired): forget every item received so far.
    fn restart(&mut self);
}

/// The plain sink: every item as JSON.
#[derive(Default)]
struct ValuePages(Vec<Value>);

impl PageSink for ValuePages {
    fn page(&mut self, body: &[u8]) -> std::result::Result<ListMeta, serde_json::Error> {
        let page: Page<Value> = serde_json::from_slice(body)?;
        self.0.extend(page.items);
        Ok(page.metadata)
    }

    fn restart(&mut self) {
        self.0.clear();
    }
}

/// Selectors for LISTs.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: Option<u32>,
}

struct RawAnswer {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl Cluster {
    /// Load the kubeconfig and build a client. Does not contact the server.
    pub async fn connect(opts: &ConnectOptions) -> Result<Cluster> {
        let (config, source) = crate::config::load(opts).await?;
        let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
        let namespace = config.default_namespace.clone();
        opts.log
            .at(1, || format!("using {source}, server {server}, namespace {namespace}"));
        let client = kube::Client::try_from(config).map_err(|e| KubeError::Kubeconfig {
            message: format!("cannot build a client for {server}: {e}"),
            hint: "check the certificate and credential entries of the kubeconfig user and cluster".into(),
            source: Some(Box::new(e)),
        })?;
        Ok(Cluster {
            client,
            server,
            namespace,
            timeout: opts.request_timeout,
            log: opts.log.clone(),
            backoff_base: Duration::from_millis(200),
        })
    }

    /// The `-v` log this client writes to.
    pub fn log(&self, level: u8, line: impl FnOnce() -> String) {
        self.log.at(level, line);
    }

    /// Shorten retries (tests, completion).
    pub fn with_backoff_base(mut self, base: Duration) -> Self {
        self.backoff_base = base;
        self
    }

    /// Override the per-request timeout (e.g. completion must never hang a shell).
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// One HTTP round trip, bounded by the request timeout. The answer's body is read into `buf` (cleared
    /// first), so a caller reading page after page reuses one buffer instead of allocating megabytes per page.
    async fn round_trip(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        mut buf: Vec<u8>,
    ) -> Result<RawAnswer> {
        let url = format!("{}{}", self.server, path);
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("kubectl-mesh/", env!("CARGO_PKG_VERSION")),
            );
        let payload = match body {
            Some((content_type, bytes)) => {
                self.log(8, || format!("Request Body: {}", String::from_utf8_lossy(&bytes)));
                builder = builder.header(http::header::CONTENT_TYPE, content_type);
                bytes
            }
            None => Vec::new(),
        };
        let request = builder
            .body(kube::client::Body::from(payload))
            .map_err(|source| KubeError::Request {
                url: url.clone(),
                source,
            })?;
        let started = Instant::now();
        let exchange = async {
            let response = self.client.send(request).await.map_err(|e| self.transport_error(e))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let mut body = response.into_body();
            buf.clear();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| KubeError::Unreachable {
                    server: self.server.clone(),
                    reason: format!("the connection broke while reading the answer: {e}"),
                    source: Some(Box::new(e)),
                })?;
                if let Some(data) = frame.data_ref() {
                    buf.extend_from_slice(data);
                }
            }
            Ok::<_, KubeError>(RawAnswer {
                status,
                retry_after,
                body: buf,
            })
        };
        let answer = match self.timeout {
            Some(t) if !t.is_zero() => tokio::time::timeout(t, exchange)
                .await
                .map_err(|_| KubeError::Timeout {
                    server: self.server.clone(),
                    timeout: t,
                })?,
            _ => exchange.await,
        };
        match &answer {
            Ok(a) => self.log(6, || {
                format!(
                    "{method} {url} {} in {} milliseconds",
                    a.status,
                    started.elapsed().as_millis()
                )
            }),
            Err(e) => self.log(6, || {
                format!(
                    "{method} {url} failed after {} milliseconds: {e}",
                    started.elapsed().as_millis()
                )
            }),
        }
        answer
    }

    fn transport_error(&self, e: kube::Error) -> KubeError {
        // The client's own read and connect timeouts are `--request-timeout` too: racing ours, they must end the
        // request the same way (not as a broken connection, which reads retry).
        if let Some(timeout) = self.timeout.filter(|_| crate::error::timed_out(&e)) {
            return KubeError::Timeout {
                server: self.server.clone(),
                timeout,
            };
        }
        let mut reason = crate::error::root_cause(&e);
        let lower = reason.to_lowercase();
        if lower.contains("certificate") || lower.contains("x509") || lower.contains("unknownissuer") {
            reason = x509_reason(&reason);
        }
        KubeError::Unreachable {
            server: self.server.clone(),
            reason,
            source: Some(Box::new(e)),
        }
    }

    /// Turn a non-success answer into the error that names it.
    fn answer_error(&self, intent: &Intent<'_>, answer: &RawAnswer) -> KubeError {
        let status: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let message = status
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&answer.body).trim().chars().take(300).collect());
        let reason = status
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| answer.status.canonical_reason().unwrap_or("").replace(' ', ""));
        match answer.status.as_u16() {
            401 => KubeError::Unauthorized {
                server: self.server.clone(),
                message: if message.is_empty() {
                    "Unauthorized".into()
                } else {
                    message
                },
            },
            403 => KubeError::Forbidden {
                verb: intent.verb.to_string(),
                resource: intent.res.qualified(),
                namespace: intent.namespace.map(str::to_string),
                message,
            },
            404 if intent.name.is_some() && status.pointer("/details/name").is_some() => KubeError::NotFound {
                kind: intent.res.kind.to_string(),
                name: intent.name.unwrap_or_default().to_string(),
                namespace: intent.namespace.map(str::to_string),
            },
            404 => KubeError::NotServed {
                resource: intent.res.qualified(),
                hint: not_served_hint(intent.res),
            },
            code => KubeError::Api { code, reason, message },
        }
    }

    /// An idempotent read with bounded retries on 5xx, 429 and broken connections.
    async fn read(&self, intent: &Intent<'_>, path: &str) -> Result<RawAnswer> {
        self.read_into(intent, path, Vec::new()).await
    }

    /// [`Cluster::read`] with the answer read into `buf` (see [`Cluster::round_trip`]).
    async fn read_into(&self, intent: &Intent<'_>, path: &str, mut buf: Vec<u8>) -> Result<RawAnswer> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.round_trip(Method::GET, path, None, std::mem::take(&mut buf)).await;
            let retry_after = match &result {
                Ok(a) if a.status.is_success() => return result,
                Ok(a) if a.status == StatusCode::TOO_MANY_REQUESTS || a.status.is_server_error() => a.retry_after,
                Ok(a) => return Err(self.answer_error(intent, a)),
                // A refused connection or an untrusted certificate will not heal in a second; a reset might.
                Err(KubeError::Unreachable { reason, .. })
                    if !reason.contains("refused") && !reason.contains("x509") && !reason.contains("dns error") =>
                {
                    None
                }
                Err(_) => return result,
            };
            if attempt >= READ_ATTEMPTS {
                return match result {
                    Ok(a) => Err(self.answer_error(intent, &a)),
                    Err(e) => Err(e),
                };
            }
            if let Ok(a) = result {
                buf = a.body;
            }
            let backoff = retry_after
                .unwrap_or(self.backoff_base * 2u32.pow(attempt - 1))
                .min(MAX_BACKOFF);
            self.log(6, || {
                format!(
                    "retrying GET {path} in {} ms (attempt {attempt} of {READ_ATTEMPTS})",
                    backoff.as_millis()
                )
            });
            tokio::time::sleep(backoff).await;
        }
    }

    /// A write: sent once; its answer decides.
    async fn write(
        &self,
        intent: &Intent<'_>,
        method: Method,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> Result<Value> {
        let bytes = serde_json::to_vec(body).map_err(KubeError::Encode)?;
        let answer = self
            .round_trip(method, path, Some((content_type, bytes)), Vec::new())
            .await?;
        if !answer.status.is_success() {
            return Err(self.answer_error(intent, &answer));
        }
        decode(&answer.body, path)
    }

    /// GET one object; 404 is an error naming it.
    pub async fn get(&self, res: &Res, ns: Option<&str>, name: &str) -> Result<Value> {
        let intent = Intent {
            verb: "get",
            res,
            namespace: ns,
            name: Some(name),
        };
        let answer = self.read(&intent, &res.item(ns, name)).await?;
        decode(&answer.body, &res.item(ns, name))
    }

    /// GET one object; `None` when it does not exist.
    pub async fn get_opt(&self, res: &Res, ns: Option<&str>, name: &str) -> Result<Option<Value>> {
        match self.get(res, ns, name).await {
            Ok(v) => Ok(Some(v)),
            Err(KubeError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// GET an arbitrary path (discovery, /version).
    pub async fn get_raw(&self, res: &Res, path: &str) -> Result<Value> {
        let intent = Intent {
            verb: "get",
            res,
            namespace: None,
            name: None,
        };
        let answer = self.read(&intent, path).await?;
        decode(&answer.body, path)
    }

    /// LIST every item, following `continue` tokens; an expired token (410) restarts the list, at most twice.
    pub async fn list(&self, res: &Res, ns: Option<&str>, params: &ListParams) -> Result<ListResult> {
        let (resource_version, items) = self.list_pages(res, ns, params, ValuePages::default()).await?;
        Ok(ListResult {
            items: items.0,
            resource_version,
        })
    }

    /// LIST page by page, handing each page's body to `sink` as it arrives, so a caller decodes only the fields it
    /// needs and never holds more than two pages of JSON. Follows `continue` tokens; an expired token (410)
    /// restarts the list (the sink is told to forget what it got), at most twice. Returns the list's
    /// resourceVersion and the sink.
    ///
    /// Pages of one list must be fetched one after the other (each needs the previous one's `continue` token),
    /// so decoding a page in line would add its decode time to every round trip. Instead the token is read
    /// from the page's head (the API server writes `metadata` before `items`), the next page is requested at
    /// once, and the sink decodes on its own task meanwhile: a long list costs its transfer time, not transfer
    /// plus decode. Two page buffers take turns, so memory stays at two pages whatever the list's length.
    pub async fn list_pages<S: PageSink + 'static>(
        &self,
        res: &Res,
        ns: Option<&str>,
        params: &ListParams,
        sink: S,
    ) -> Result<(String, S)> {
        let intent = Intent {
            verb: "list",
            res,
            namespace: ns,
            name: None,
        };
        let limit = params.limit.unwrap_or(PAGE_SIZE).to_string();
        let mut decoder = PageDecoder::start(sink);
        let mut restarts = 0;
        'restart: loop {
            let mut token = String::new();
            loop {
                let path = format!(
                    "{}{}",
                    res.collection(ns),
                    resource::query(&[
                        ("labelSelector", params.label_selector.as_deref().unwrap_or("")),
                        ("fieldSelector", params.field_selector.as_deref().unwrap_or("")),
                        ("limit", &limit),
                        ("continue", &token),
                    ])
                );
                let buf = decoder.buffer().await?;
                let answer = match self.read_into(&intent, &path, buf).await {
                    Err(KubeError::Api { code: 410, .. }) if restarts < 2 && !token.is_empty() => {
                        restarts += 1;
                        self.log(6, || {
                            format!("continue token expired; restarting the list of {}", res.plural)
                        });
                        decoder.restart().await?;
                        continue 'restart;
                    }
                    other => other?,
                };
                let head = head_meta(&answer.body);
                decoder.decode(answer.body, path).await?;
                let meta = match head {
                    // The next request goes out while this page is decoded.
                    Some(meta) => meta,
                    // No metadata before the items: the page must be decoded to know whether another follows.
                    None => decoder.drain().await?.unwrap_or_default(),
                };
                token = meta.continue_token;
                if token.is_empty() {
                    decoder.drain().await?;
                    let sink = decoder.finish().await?;
                    return Ok((meta.resource_version, sink));
                }
            }
        }
    }

    pub async fn create(&self, res: &Res, ns: Option<&str>, body: &Value, opts: &WriteOpts) -> Result<Value> {
        let name = body.pointer("/metadata/name").and_then(Value::as_str);
        let intent = Intent {
            verb: "create",
            res,
            namespace: ns,
            name,
        };
        let path = format!("{}{}", res.collection(ns), query_of(&opts.query()));
        self.write(&intent, Method::POST, &path, "application/json", body).await
    }

    /// PUT the whole object; it must carry the resourceVersion read (409 when stale).
    pub async fn replace(
        &self,
        res: &Res,
        ns: Option<&str>,
        name: &str,
        body: &Value,
        opts: &WriteOpts,
    ) -> Result<Value> {
        let intent = Intent {
            verb: "update",
            res,
            namespace: ns,
            name: Some(name),
        };
        let path = format!("{}{}", res.item(ns, name), query_of(&opts.query()));
        self.write(&intent, Method::PUT, &path, "application/json", body).await
    }

    pub async fn patch(
        &self,
        res: &Res,
        ns: Option<&str>,
        name: &str,
        kind: PatchType,
        patch: &Value,
        opts: &WriteOpts,
    ) -> Result<Value> {
        let intent = Intent {
            verb: "patch",
            res,
            namespace: ns,
            name: Some(name),
        };
        let path = format!("{}{}", res.item(ns, name), query_of(&opts.query()));
        self.write(&intent, Method::PATCH, &path, kind.content_type(), patch)
            .await
    }

    /// POST to a subresource (`pods/NAME/eviction`).
    pub async fn create_subresource(
        &self,
        res: &Res,
        ns: Option<&str>,
        name: &str,
        sub: &str,
        body: &Value,
    ) -> Result<Value> {
        let intent = Intent {
            verb: "create",
            res,
            namespace: ns,
            name: Some(name),
        };
        // As kubectl sends an eviction: no query (no fieldManager; a dry run is the body's deleteOptions.dryRun).
        let path = format!("{}/{sub}", res.item(ns, name));
        self.write(&intent, Method::POST, &path, "application/json", body).await
    }

    /// SelfSubjectAccessReview: may we `verb` `group/resource[/sub]` in `ns`?
    pub async fn can_i(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        subresource: &str,
        ns: Option<&str>,
    ) -> Result<bool> {
        let body = serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {
                "verb": verb, "group": group, "resource": resource, "subresource": subresource,
                "namespace": ns.unwrap_or(""),
            }}
        });
        let intent = Intent {
            verb: "create",
            res: &resource::SSAR,
            namespace: None,
            name: None,
        };
        let answer = self
            .write(
                &intent,
                Method::POST,
                &resource::SSAR.collection(None),
                "application/json",
                &body,
            )
            .await?;
        Ok(answer
            .pointer("/status/allowed")
            .and_then(Value::as_bool)
            .unwrap_or(false))
    }
}

fn query_of(pairs: &[(&'static str, String)]) -> String {
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    resource::query(&borrowed)
}

fn decode(body: &[u8], path: &str) -> Result<Value> {
    serde_json::from_slice(body).map_err(|e| undecodable(path, e))
}

/// What [`Cluster::list_pages`] sends its decoding task.
enum ToDecoder {
    /// A page body, and the request path it answered (for error messages).
    Page(Vec<u8>, String),
    /// The list starts over: forget every item so far.
    Restart,
}

/// A decoded page: its buffer back for the next page, and what decoding it gave.
struct Decoded {
    buf: Vec<u8>,
    path: String,
    meta: std::result::Result<ListMeta, serde_json::Error>,
}

/// Page buffers in use by one list at a time: one being decoded, one being fetched.
const PAGE_BUFFERS: usize = 2;

/// The task that decodes one list's pages in order while the next page is fetched (see
/// [`Cluster::list_pages`]); it owns the sink until [`PageDecoder::finish`] hands it back.
struct PageDecoder<S> {
    pages: tokio::sync::mpsc::UnboundedSender<ToDecoder>,
    decoded: tokio::sync::mpsc::UnboundedReceiver<Decoded>,
    task: tokio::task::JoinHandle<S>,
    /// Pages sent and not yet answered.
    outstanding: usize,
    /// Buffers given back by the decoder, ready for the next page.
    spare: Vec<Vec<u8>>,
}

impl<S: PageSink + 'static> PageDecoder<S> {
    fn start(mut sink: S) -> Self {
        let (pages, mut inbox) = tokio::sync::mpsc::unbounded_channel::<ToDecoder>();
        let (outbox, decoded) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Some(msg) = inbox.recv().await {
                match msg {
                    ToDecoder::Restart => sink.restart(),
                    ToDecoder::Page(buf, path) => {
                        let meta = sink.page(&buf);
                        let failed = meta.is_err();
                        if outbox.send(Decoded { buf, path, meta }).is_err() || failed {
                            break;
                        }
                    }
                }
            }
            sink
        });
        PageDecoder {
            pages,
            decoded,
            task,
            outstanding: 0,
            spare: Vec::new(),
        }
    }

    /// Wait for the oldest outstanding page's answer; its buffer goes back to the spares.
    async fn answer(&mut self) -> Result<ListMeta> {
        let Some(d) = self.decoded.recv().await else {
            return Err(self.crashed());
        };
        self.outstanding -= 1;
        let meta = d.meta.map_err(|e| undecodable(&d.path, e))?;
        self.spare.push(d.buf);
        Ok(meta)
    }

    /// A buffer for the next page: a spare one, a new one while fewer than [`PAGE_BUFFERS`] exist, else the
    /// next one the decoder gives back.
    async fn buffer(&mut self) -> Result<Vec<u8>> {
        if let Some(buf) = self.spare.pop() {
            return Ok(buf);
        }
        if self.outstanding < PAGE_BUFFERS {
            return Ok(Vec::new());
        }
        self.answer().await?;
        Ok(self.spare.pop().unwrap_or_default())
    }

    async fn decode(&mut self, body: Vec<u8>, path: String) -> Result<()> {
        if self.pages.send(ToDecoder::Page(body, path)).is_err() {
            return Err(self.stopped().await);
        }
        self.outstanding += 1;
        Ok(())
    }

    async fn restart(&mut self) -> Result<()> {
        if self.pages.send(ToDecoder::Restart).is_err() {
            return Err(self.stopped().await);
        }
        Ok(())
    }

    /// Wait until every page sent is decoded; the last one's list metadata.
    async fn drain(&mut self) -> Result<Option<ListMeta>> {
        let mut last = None;
        while self.outstanding > 0 {
            last = Some(self.answer().await?);
        }
        Ok(last)
    }

    async fn finish(self) -> Result<S> {
        drop(self.pages);
        self.task.await.map_err(|source| KubeError::Task {
            context: "decoding a list",
            source,
        })
    }

    /// Why the decoder stopped taking pages: the page it could not decode, else a crash.
    async fn stopped(&mut self) -> KubeError {
        while self.outstanding > 0 {
            if let Err(e) = self.answer().await {
                return e;
            }
        }
        self.crashed()
    }

    fn crashed(&self) -> KubeError {
        KubeError::DecoderStopped
    }
}

/// A list page's `metadata`, read from the page's head without decoding its items; `None` when `items` (or
/// the end) comes first, or the head is not what the API server writes.
fn head_meta(body: &[u8]) -> Option<ListMeta> {
    use serde::de::{Deserializer as _, Error as _, IgnoredAny, MapAccess, Visitor};

    struct Head<'a>(&'a mut Option<ListMeta>);

    impl<'de> Visitor<'de> for Head<'_> {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
            while let Some(key) = map.next_key::<&'de str>()? {
                match key {
                    "metadata" => {
                        let meta: Option<ListMeta> = map.next_value()?;
                        *self.0 = Some(meta.unwrap_or_default());
                        // Stop here: the items are the decoder's business.
                        return Err(A::Error::custom("head read"));
                    }
                    "items" => return Err(A::Error::custom("items before metadata")),
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(())
        }
    }

    let mut meta = None;
    let _ = serde_json::Deserializer::from_slice(body).deserialize_map(Head(&mut meta));
    meta
}

fn undecodable(path: &str, source: serde_json::Error) -> KubeError {
    KubeError::Undecodable {
        path: path.to_string(),
        source,
    }
}

fn not_served_hint(res: &Res) -> String {
    if res.group == "gateway.networking.k8s.io" {
        "install the Gateway API CRDs: kubectl apply -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.0.0/standard-install.yaml".into()
    } else if res.group.ends_with("istio.io") {
        "install Istio's CRDs (helm install istio-base istio/base -n istio-system --create-namespace)".into()
    } else {
        format!(
            "check that the cluster serves {} (kubectl api-resources)",
            res.api_version()
        )
    }
}

/// An open watch: events (`{"type": …, "object": …}`) one per line of a chunked response.
pub struct WatchStream {
    body: kube::client::Body,
    buf: Vec<u8>,
}

impl WatchStream {
    /// The next event, `None` when the server ended the watch (its timeout; re-establish from the last
    /// resourceVersion seen).
    pub async fn next_event(&mut self) -> Result<Option<Value>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return serde_json::from_slice(&line)
                    .map(Some)
                    .map_err(KubeError::UndecodableEvent);
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                // A broken stream ends the watch like a server timeout: the caller re-establishes it.
                Some(Err(_)) | None => {
                    if self.buf.iter().any(|b| !b.is_ascii_whitespace()) {
                        let line = std::mem::take(&mut self.buf);
                        return Ok(serde_json::from_slice(&line).ok());
                    }
                    return Ok(None);
                }
            }
        }
    }
}

impl Cluster {
    /// Start a watch of one object (fieldSelector on its name) from `resource_version`. The request timeout
    /// bounds getting the answer's headers, not the stream, which the server ends after `timeout_seconds`.
    pub async fn watch_one(
        &self,
        res: &Res,
        ns: Option<&str>,
        name: &str,
        resource_version: &str,
        timeout_seconds: u64,
    ) -> Result<WatchStream> {
        let intent = Intent {
            verb: "watch",
            res,
            namespace: ns,
            name: Some(name),
        };
        let selector = format!("metadata.name={name}");
        let timeout = timeout_seconds.to_string();
        let path = format!(
            "{}{}",
            res.collection(ns),
            resource::query(&[
                ("fieldSelector", &selector),
                ("watch", "true"),
                ("resourceVersion", resource_version),
                ("allowWatchBookmarks", "true"),
                ("timeoutSeconds", &timeout),
            ])
        );
        let request = Request::builder()
            .method(Method::GET)
            .uri(&path)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("kubectl-mesh/", env!("CARGO_PKG_VERSION")),
            )
            .body(kube::client::Body::empty())
            .map_err(|source| KubeError::Request {
                url: format!("{}{path}", self.server),
                source,
            })?;
        let send = self.client.send(request);
        let response = match self.timeout {
            Some(t) if !t.is_zero() => tokio::time::timeout(t, send).await.map_err(|_| KubeError::Timeout {
                server: self.server.clone(),
                timeout: t,
            })?,
            _ => send.await,
        }
        .map_err(|e| self.transport_error(e))?;
        self.log(6, || format!("GET {}{path} {} (watch)", self.server, response.status()));
        if !response.status().is_success() {
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes().to_vec())
                .unwrap_or_default();
            return Err(self.answer_error(
                &intent,
                &RawAnswer {
                    status,
                    retry_after: None,
                    body,
                },
            ));
        }
        Ok(WatchStream {
            body: response.into_body(),
            buf: Vec::new(),
        })
    }
}

/// Say an untrusted server certificate the way kubectl (Go) does, keeping rustls's own words.
fn x509_reason(reason: &str) -> String {
    let lower = reason.to_lowercase();
    // rustls says UnknownIssuer, or BadSignature when the trusted CA has the issuer's name but not its key.
    if lower.contains("unknownissuer") || lower.contains("badsignature") {
        format!("x509: certificate signed by unknown authority ({reason})")
    } else {
        format!("x509: TLS certificate verification failed: {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::{head_meta, x509_reason, Cluster, KubeError, ListMeta, ListParams};
    use crate::config::ConnectOptions;
    use crate::log::Log;
    use mesh_core::resource::PODS;

    fn meta(rv: &str, token: &str) -> Option<ListMeta> {
        Some(ListMeta {
            resource_version: rv.into(),
            continue_token: token.into(),
        })
    }

    #[test]
    fn the_continue_token_is_read_from_the_head_of_a_page() {
        let page = br#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"42","continue":"abc","remainingItemCount":3},"items":[{"metadata":{"name":"p"}}]}"#;
        assert_eq!(head_meta(page), meta("42", "abc"));
        // The items after the head are not looked at: a page cut short still gives its head.
        assert_eq!(head_meta(&page[..page.len() - 20]), meta("42", "abc"));
        assert_eq!(head_meta(br#"{"metadata":null,"items":[]}"#), meta("", ""));
        assert_eq!(head_meta(br#"{"metadata":{"continue":null},"items":[]}"#), meta("", ""));
    }

    #[test]
    fn a_page_without_metadata_first_has_no_head() {
        for body in [
            &br#"{"items":[],"metadata":{"continue":"abc"}}"#[..],
            br#"{"kind":"PodList","items":[]}"#,
            br#"{"kind":"PodList"}"#,
            br#"[]"#,
            b"not json",
            b"",
            br#"{"metadata":{"continue":7},"items":[]}"#,
        ] {
            assert_eq!(head_meta(body), None, "{}", String::from_utf8_lossy(body));
        }
    }

    /// A bare HTTP server answering every GET with `answer(path_and_query)`; returns its base URL.
    async fn serve(answer: fn(&str) -> String) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    loop {
                        head.clear();
                        while !head.ends_with(b"\r\n\r\n") {
                            if conn.read_exact(&mut byte).await.is_err() {
                                return;
                            }
                            head.push(byte[0]);
                        }
                        let head = String::from_utf8_lossy(&head).to_string();
                        let target = head.split_whitespace().nth(1).unwrap_or_default().to_string();
                        let body = answer(&target);
                        let reply = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if conn.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        url
    }

    async fn cluster_at(url: &str, dir: &std::path::Path) -> Cluster {
        let path = dir.join("kubeconfig");
        std::fs::write(&path, mesh_sandbox::kubeconfig_yaml(url, Some("default"))).unwrap();
        Cluster::connect(&ConnectOptions {
            kubeconfig: Some(path),
            context: None,
            cluster: None,
            user: None,
            namespace: None,
            request_timeout: Some(std::time::Duration::from_secs(10)),
            log: Log::silent(),
        })
        .await
        .unwrap()
    }

    /// Page `n` of three (`continue=1`, `continue=2`), two pods each.
    fn page_number(target: &str) -> u32 {
        target
            .split_once("continue=")
            .and_then(|(_, t)| t.split('&').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or(0)
    }

    fn items(n: u32) -> String {
        format!(
            r#"[{{"metadata":{{"name":"p{}"}}}},{{"metadata":{{"name":"p{}"}}}}]"#,
            2 * n,
            2 * n + 1
        )
    }

    fn next_token(n: u32) -> String {
        if n < 2 {
            (n + 1).to_string()
        } else {
            String::new()
        }
    }

    fn names(items: &[serde_json::Value]) -> Vec<String> {
        items
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    #[tokio::test]
    async fn pages_are_listed_whole_and_in_order_whether_metadata_comes_first_or_last() {
        let api_server_order: fn(&str) -> String = |target| {
            let n = page_number(target);
            format!(
                r#"{{"kind":"PodList","apiVersion":"v1","metadata":{{"resourceVersion":"7","continue":"{}"}},"items":{}}}"#,
                next_token(n),
                items(n)
            )
        };
        let items_first: fn(&str) -> String = |target| {
            let n = page_number(target);
            format!(
                r#"{{"items":{},"kind":"PodList","metadata":{{"resourceVersion":"7","continue":"{}"}}}}"#,
                items(n),
                next_token(n)
            )
        };
        for answer in [api_server_order, items_first] {
            let url = serve(answer).await;
            let dir = tempfile::tempdir().unwrap();
            let cluster = cluster_at(&url, dir.path()).await;
            let list = cluster.list(&PODS, None, &ListParams::default()).await.unwrap();
            assert_eq!(
                names(&list.items),
                ["p0", "p1", "p2", "p3", "p4", "p5"],
                "{}",
                answer("")
            );
            assert_eq!(list.resource_version, "7");
        }
    }

    #[tokio::test]
    async fn an_undecodable_page_in_the_middle_fails_the_list_and_names_it() {
        // Page 1's head is fine (so page 2 is already requested) but its items are not JSON.
        let url = serve(|target| {
            let n = page_number(target);
            let items = if n == 1 { "[{]".to_string() } else { items(n) };
            format!(r#"{{"metadata":{{"continue":"{}"}},"items":{items}}}"#, next_token(n))
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let cluster = cluster_at(&url, dir.path()).await;
        match cluster.list(&PODS, None, &ListParams::default()).await {
            Err(KubeError::Undecodable { path, .. }) => {
                assert!(path.contains("/api/v1/pods?limit=500&continue=1"), "{path}")
            }
            other => panic!("expected an undecodable page, got {:?}", other.map(|l| names(&l.items))),
        }
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out_once_without_retries() {
        // Accepts connections and reads, never answers: both our timeout and the HTTP client's read timeout
        // fire at --request-timeout; either way it is a Timeout, which reads do not retry.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                open.push(conn);
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, mesh_sandbox::kubeconfig_yaml(&url, Some("default"))).unwrap();
        for _ in 0..5 {
            let cluster = Cluster::connect(&ConnectOptions {
                kubeconfig: Some(path.clone()),
                request_timeout: Some(std::time::Duration::from_millis(300)),
                log: Log::silent(),
                ..ConnectOptions::default()
            })
            .await
            .unwrap();
            let started = std::time::Instant::now();
            let result = cluster.list(&PODS, None, &ListParams::default()).await;
            assert!(matches!(result, Err(KubeError::Timeout { .. })), "{:?}", result.err());
            assert!(
                started.elapsed() < std::time::Duration::from_millis(900),
                "took {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn an_untrusted_server_certificate_reads_like_kubectl() {
        assert_eq!(
            x509_reason("invalid peer certificate: UnknownIssuer"),
            "x509: certificate signed by unknown authority (invalid peer certificate: UnknownIssuer)"
        );
        assert!(x509_reason("invalid peer certificate: BadSignature").contains("signed by unknown authority"));
        assert_eq!(
            x509_reason("invalid peer certificate: Expired"),
            "x509: TLS certificate verification failed: invalid peer certificate: Expired"
        );
    }
}
