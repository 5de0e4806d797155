//! The HTTP side of the sandbox API server (hyper 1, HTTP/1.1 on 127.0.0.1): routing of Kubernetes API
//! paths, discovery documents, query parameters, watch streams, fault injection, RBAC and the request log.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

use super::registry::ResourceType;
use super::select::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{EventType, ListQuery, PatchType, Store, WriteOpts};
use super::{Fault, FaultAction, RbacRule, RequestRecord};

/// State shared by the HTTP handlers and the in-process API.
pub struct Shared {
    /// The store.
    pub store: Mutex<Store>,
    /// Woken on every stored change (watches wait on it).
    pub notify: Arc<Notify>,
    /// Injected faults, checked in order.
    pub faults: Mutex<Vec<Fault>>,
    /// Request log.
    pub log: Mutex<RequestLog>,
    /// When the server started (request times are measured from it).
    pub started: Instant,
    /// RBAC rules (`None` = everything allowed).
    pub rbac: Mutex<Option<Vec<RbacRule>>>,
    /// User name in Forbidden messages.
    pub user: String,
    /// `host:port` the server listens on.
    pub address: Mutex<String>,
}

/// The request log: records in arrival-of-answer order, each with an id so a streamed answer can complete
/// its record when the stream ends.
#[derive(Default)]
pub struct RequestLog {
    records: Vec<RequestRecord>,
    ids: Vec<u64>,
    next: u64,
}

impl RequestLog {
    /// Append a record; returns its id.
    pub fn push(&mut self, record: RequestRecord) -> u64 {
        self.next += 1;
        self.records.push(record);
        self.ids.push(self.next);
        self.next
    }

    /// Change a record, if it is still in the log.
    fn update(&mut self, id: u64, f: impl FnOnce(&mut RequestRecord)) {
        if let Ok(i) = self.ids.binary_search(&id) {
            f(&mut self.records[i]);
        }
    }

    /// The records so far.
    pub fn records(&self) -> &[RequestRecord] {
        &self.records
    }

    /// Forget every record.
    pub fn clear(&mut self) {
        self.records.clear();
        self.ids.clear();
    }
}

impl Shared {
    /// Time since the server started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Log `record` as answered by `resp`, with the status and the response body's size. A whole body is
/// measured here (its length, no copy); a streamed one (watch, fault) is counted as it is sent, and its
/// record's `response_bytes` and `finished` are completed when the stream ends or the client goes away.
pub(super) fn log_response(shared: &Arc<Shared>, mut record: RequestRecord, resp: Resp) -> Resp {
    record.status = resp.status().as_u16();
    record.finished = shared.elapsed();
    let (parts, body) = resp.into_parts();
    match body {
        RespBody::Full(b) => {
            record.response_bytes = b.as_ref().map_or(0, |b| b.len() as u64);
            lock(&shared.log).push(record);
            Response::from_parts(parts, RespBody::Full(b))
        }
        streamed => {
            let id = lock(&shared.log).push(record);
            let tracker = StreamLog {
                shared: shared.clone(),
                id,
                sent: 0,
                done: false,
            };
            Response::from_parts(parts, RespBody::Logged(Box::new(streamed), tracker))
        }
    }
}

/// Counts the bytes of a streamed answer and writes them into its log record at the end.
pub struct StreamLog {
    shared: Arc<Shared>,
    id: u64,
    sent: u64,
    done: bool,
}

impl StreamLog {
    fn finish(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let (sent, finished) = (self.sent, self.shared.elapsed());
        lock(&self.shared.log).update(self.id, |r| {
            r.response_bytes = sent;
            r.finished = finished;
        });
    }
}

impl Drop for StreamLog {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Lock a mutex, recovering from poisoning (a panicking test must not wedge the server).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Response body: a full buffer, or a stream (watch, mid-body reset).
pub enum RespBody {
    /// Whole body.
    Full(Option<Bytes>),
    /// Chunks from a channel; an `Err` aborts the connection.
    Stream(mpsc::Receiver<Result<Bytes, io::Error>>),
    /// A streamed body whose size is logged when it ends (see [`log_response`]).
    Logged(Box<RespBody>, StreamLog),
}

impl Body for RespBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            RespBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            RespBody::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data))),
            RespBody::Logged(inner, log) => {
                let polled = Pin::new(inner.as_mut()).poll_frame(cx);
                match &polled {
                    Poll::Ready(Some(Ok(frame))) => {
                        log.sent += frame.data_ref().map_or(0, |d| d.len() as u64);
                    }
                    Poll::Ready(_) => log.finish(),
                    Poll::Pending => {}
                }
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RespBody::Logged(inner, _) => inner.is_end_stream(),
            other => matches!(other, RespBody::Full(None)),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RespBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            RespBody::Full(None) => SizeHint::with_exact(0),
            RespBody::Stream(_) => SizeHint::default(),
            RespBody::Logged(inner, _) => inner.size_hint(),
        }
    }
}

type Resp = Response<RespBody>;

fn json_response(code: u16, v: &Value) -> Resp {
    let body = Bytes::from(serde_json::to_vec(v).unwrap_or_default());
    let mut r = Response::new(RespBody::Full(Some(body)));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

pub(super) fn error_response(e: &ApiError) -> Resp {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(s) = e.retry_after {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert("retry-after", v);
        }
    }
    r
}

/// Percent-decode a query component (`+` is a space).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parsed query string.
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parse `a=b&c=d`.
    pub fn parse(q: &str) -> Self {
        Query(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (percent_decode(k), percent_decode(v)),
                    None => (percent_decode(p), String::new()),
                })
                .collect(),
        )
    }

    /// First value of a parameter.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str())
    }

    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true") | Some("1") | Some(""))
    }
}

/// The resource a request addresses.
#[derive(Debug, Clone)]
struct Target {
    rt: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

enum Route {
    Doc(Value),
    Status(u16),
    Resource(Box<Target>),
}

fn route(store: &Store, path: &str, address: &str) -> Result<Route, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => Ok(Route::Doc(json!({
            "major": "1", "minor": "32", "gitVersion": "v1.32.0-sandbox", "gitCommit": "sandbox", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64"}))),
        ["healthz"] | ["readyz"] | ["livez"] => Ok(Route::Status(200)),
        ["openapi", "v2"] => Err(ApiError::no_route()),
        ["openapi", "v3"] => Ok(Route::Doc(store.registry.openapi_v3_root())),
        ["openapi", "v3", "api", v] => store
            .registry
            .openapi_v3_group_version("", v)
            .map(Route::Doc)
            .ok_or_else(ApiError::no_route),
        ["openapi", "v3", "apis", g, v] => store
            .registry
            .openapi_v3_group_version(g, v)
            .map(Route::Doc)
            .ok_or_else(ApiError::no_route),
        ["api"] => Ok(Route::Doc(store.registry.api_versions(address))),
        ["apis"] => Ok(Route::Doc(store.registry.api_group_list())),
        ["api", "v1"] => store
            .registry
            .api_resource_list("", "v1")
            .map(Route::Doc)
            .ok_or_else(ApiError::no_route),
        ["apis", g] => {
            let list = store.registry.api_group_list();
            list["groups"]
                .as_array()
                .and_then(|gs| gs.iter().find(|x| x["name"] == *g).cloned())
                .map(|mut grp| {
                    grp["kind"] = json!("APIGroup");
                    grp["apiVersion"] = json!("v1");
                    Route::Doc(grp)
                })
                .ok_or_else(ApiError::no_route)
        }
        ["apis", g, v] => store
            .registry
            .api_resource_list(g, v)
            .map(Route::Doc)
            .ok_or_else(ApiError::no_route),
        ["api", "v1", rest @ ..] => resource_route(store, "", "v1", rest),
        ["apis", g, v, rest @ ..] => resource_route(store, g, v, rest),
        _ => Err(ApiError::no_route()),
    }
}

fn resource_route(store: &Store, group: &str, version: &str, rest: &[&str]) -> Result<Route, ApiError> {
    let find = |plural: &str| {
        store
            .registry
            .find(group, version, plural)
            .cloned()
            .ok_or_else(ApiError::no_route)
    };
    let t = |rt: ResourceType, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(Box::new(Target {
            rt,
            namespace: ns.map(str::to_string),
            name: name.map(str::to_string),
            sub: sub.map(str::to_string),
        }))
    };
    match rest {
        ["namespaces", ns, plural, tail @ ..]
            if group.is_empty() && tail.is_empty() && matches!(*plural, "status" | "finalize") =>
        {
            Ok(t(find("namespaces")?, None, Some(ns), Some(plural)))
        }
        ["namespaces", ns, plural, tail @ ..] => {
            let rt = find(plural)?;
            if !rt.namespaced {
                return Err(ApiError::no_route());
            }
            match tail {
                [] => Ok(t(rt, Some(ns), None, None)),
                [name] => Ok(t(rt, Some(ns), Some(name), None)),
                [name, sub] => {
                    if !rt.subresources.iter().any(|s| s == sub) {
                        return Err(ApiError::no_route());
                    }
                    Ok(t(rt, Some(ns), Some(name), Some(sub)))
                }
                _ => Err(ApiError::no_route()),
            }
        }
        [plural] => Ok(t(find(plural)?, None, None, None)),
        [plural, name] => {
            let rt = find(plural)?;
            if rt.namespaced {
                return Err(ApiError::no_route());
            }
            Ok(t(rt, None, Some(name), None))
        }
        [plural, name, sub] => {
            let rt = find(plural)?;
            if rt.namespaced || !rt.subresources.iter().any(|s| s == sub) {
                return Err(ApiError::no_route());
            }
            Ok(t(rt, None, Some(name), Some(sub)))
        }
        _ => Err(ApiError::no_route()),
    }
}

/// The namespace a request is authorized in, as kube-apiserver's `RequestInfoFactory` says
/// (`staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`): a path `/api/v1/namespaces/NS…` is in
/// namespace NS, the Namespace object itself (and its `status` and `finalize`) included, so a namespaced Role can
/// grant `get` of its own Namespace.
fn authorization_namespace(target: &Target) -> Option<&str> {
    if target.rt.group.is_empty() && target.rt.plural == "namespaces" {
        return target.name.as_deref();
    }
    target.namespace.as_deref()
}

fn verb_of(method: &Method, target: &Target, q: &Query) -> &'static str {
    match *method {
        Method::GET if q.flag("watch") => "watch",
        Method::GET if target.name.is_some() => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if target.name.is_some() => "delete",
        Method::DELETE => "deletecollection",
        _ => "unknown",
    }
}

fn rule_allows(rules: &[RbacRule], verb: &str, group: &str, resource: &str, ns: Option<&str>) -> bool {
    let has = |list: &[String], v: &str| list.iter().any(|x| x == "*" || x == v);
    rules.iter().any(|r| {
        has(&r.verbs, verb)
            && has(&r.api_groups, group)
            && has(&r.resources, resource)
            && (r.namespaces.is_empty() || ns.is_some_and(|ns| has(&r.namespaces, ns)))
    })
}

/// Whether the RBAC rules allow a request (no rules = allowed).
pub fn rbac_allows(rules: &Option<Vec<RbacRule>>, verb: &str, group: &str, resource: &str, ns: Option<&str>) -> bool {
    match rules {
        None => true,
        Some(rules) => rule_allows(rules, verb, group, resource, ns),
    }
}

/// What an injected fault decided for one request.
pub(super) enum FaultOutcome {
    /// No fault (or only latency): handle the request normally.
    None,
    /// The fault answered (a Status) or dropped the connection; the request is logged.
    Answer(Result<Resp, io::Error>),
    /// Start answering, then break the connection: how depends on the endpoint.
    ResetMidBody,
}

/// Apply the first fault matching this request: its latency, then its action.
pub(super) async fn apply_fault(
    shared: &Arc<Shared>,
    method: &Method,
    path_and_query: &str,
    record: &RequestRecord,
) -> FaultOutcome {
    let Some(fault) = take_fault(shared, method, path_and_query) else {
        return FaultOutcome::None;
    };
    if let Some(d) = fault.latency {
        tokio::time::sleep(d).await;
    }
    match &fault.action {
        FaultAction::Delay => FaultOutcome::None,
        FaultAction::Status { code, message } => {
            let mut e = ApiError::new(*code, reason_for(*code), message.clone());
            e.retry_after = fault.retry_after;
            FaultOutcome::Answer(Ok(log_response(shared, record.clone(), error_response(&e))))
        }
        FaultAction::Reset => {
            let mut record = record.clone();
            record.finished = shared.elapsed();
            lock(&shared.log).push(record);
            FaultOutcome::Answer(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "fault: connection reset",
            )))
        }
        FaultAction::ResetMidBody => FaultOutcome::ResetMidBody,
    }
}

pub(super) fn take_fault(shared: &Shared, method: &Method, path_and_query: &str) -> Option<Fault> {
    let mut faults = lock(&shared.faults);
    let idx = faults.iter().position(|f| {
        f.remaining != Some(0)
            && f.method
                .as_ref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
            && f.path_contains
                .as_ref()
                .is_none_or(|p| path_and_query.contains(p.as_str()))
    })?;
    let f = &mut faults[idx];
    if let Some(n) = f.remaining.as_mut() {
        *n -= 1;
    }
    Some(f.clone())
}

/// Handle one HTTP request.
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Resp, io::Error> {
    // Pod port-forward upgrades to a WebSocket (see portforward.rs).
    if super::portforward::target(req.uri().path()).is_some() {
        return super::portforward::handle(shared, req).await;
    }
    let started = shared.elapsed();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or_default().to_string();
    let q = Query::parse(&raw_query);
    let wants_table = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"));
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let dry_run = q.get("dryRun") == Some("All");
    let watch = q.flag("watch");
    let mut record = RequestRecord {
        method: method.to_string(),
        path: path.clone(),
        query: raw_query.clone(),
        content_type: content_type.clone(),
        status: 0,
        dry_run,
        watch,
        body: None,
        response_bytes: 0,
        started,
        finished: started,
    };
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Err(io::Error::other(e)),
    };
    if !body.is_empty() {
        record.body = Some(String::from_utf8_lossy(&body).into_owned());
        // DeleteOptions (DELETE, eviction) carry dryRun in the body.
        if method == Method::DELETE || path.ends_with("/eviction") {
            let opts: Value = serde_json::from_slice(&body).unwrap_or_default();
            let in_body = |v: &Value| v["dryRun"].as_array().is_some_and(|a| !a.is_empty());
            record.dry_run |= in_body(&opts) || in_body(&opts["deleteOptions"]);
        }
    }
    let full = if raw_query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{raw_query}")
    };
    match apply_fault(&shared, &method, &full, &record).await {
        FaultOutcome::None => {}
        FaultOutcome::Answer(answer) => return answer,
        FaultOutcome::ResetMidBody => {
            let (tx, rx) = mpsc::channel(2);
            let _ = tx.try_send(Ok(Bytes::from_static(b"{\"kind\":\"")));
            let _ = tx.try_send(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "fault: reset mid-body",
            )));
            let mut r = Response::new(RespBody::Stream(rx));
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            return Ok(log_response(&shared, record, r));
        }
    }
    let resp = dispatch(&shared, &method, &path, &q, &content_type, &body, wants_table).await;
    Ok(log_response(&shared, record, resp))
}

pub(super) fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

fn parse_body(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    if content_type.contains("yaml") {
        let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("body is not UTF-8"))?;
        return serde_saphyr::from_str(text).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")));
    }
    if content_type.contains("protobuf") {
        // The built-in kinds kubectl's generators send (see proto.rs); others stay 415.
        return super::proto::decode_object(body).ok_or_else(|| ApiError::unsupported_media_type(content_type));
    }
    if content_type.contains("cbor") {
        return Err(ApiError::unsupported_media_type(content_type));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}")))
}

fn list_query(q: &Query) -> Result<ListQuery, ApiError> {
    let continued = q.get("continue").is_some_and(|c| !c.is_empty());
    Ok(ListQuery {
        labels: LabelSelector::parse(q.get("labelSelector").unwrap_or_default()).map_err(ApiError::bad_request)?,
        fields: FieldSelector::parse(q.get("fieldSelector").unwrap_or_default()).map_err(ApiError::bad_request)?,
        // resourceVersion=0 is served from kube-apiserver's watch cache, which ignores `limit`: one page.
        limit: if q.get("resourceVersion") == Some("0") && !continued {
            0
        } else {
            q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0)
        },
        continue_token: q.get("continue").map(str::to_string),
        resource_version: q.get("resourceVersion").map(str::to_string),
    })
}

async fn dispatch(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    q: &Query,
    ct: &str,
    body: &[u8],
    wants_table: bool,
) -> Resp {
    let address = lock(&shared.address).clone();
    let routed = {
        let store = lock(&shared.store);
        route(&store, path, &address)
    };
    let target = match routed {
        Ok(Route::Doc(v)) if *method == Method::GET => return json_response(200, &v),
        Ok(Route::Status(code)) => {
            let mut r = Response::new(RespBody::Full(Some(Bytes::from_static(b"ok"))));
            *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("text/plain; charset=utf-8"));
            return r;
        }
        Ok(Route::Doc(_)) => return error_response(&ApiError::method_not_allowed(method.as_str(), path)),
        Ok(Route::Resource(t)) => t,
        Err(e) => return error_response(&e),
    };
    let verb = verb_of(method, &target, q);
    let resource = match &target.sub {
        Some(s) => format!("{}/{}", target.rt.plural, s),
        None => target.rt.plural.clone(),
    };
    {
        let rules = lock(&shared.rbac);
        // Every authenticated user may ask what it may do (system:basic-user).
        let always_allowed = target.rt.plural == "selfsubjectaccessreviews";
        let ns = authorization_namespace(&target);
        if !always_allowed && !rbac_allows(&rules, verb, &target.rt.group, &resource, ns) {
            let e = ApiError::forbidden(
                &shared.user,
                verb,
                &target.rt.group,
                &resource,
                target.name.as_deref().unwrap_or_default(),
                ns,
            );
            return error_response(&e);
        }
    }
    if verb == "watch" {
        return match start_watch(shared, &target, q, wants_table) {
            Ok(r) => r,
            Err(e) => error_response(&e),
        };
    }
    if verb == "list" && !wants_table {
        // Serialized straight from the store: a page of 500 pods is not copied before it is written.
        let ns = target.namespace.as_deref();
        let page = list_query(q).and_then(|lq| lock(&shared.store).list_json(&target.rt, ns, &lq));
        return match page {
            Ok(body) => {
                let mut r = Response::new(RespBody::Full(Some(Bytes::from(body))));
                r.headers_mut()
                    .insert("content-type", HeaderValue::from_static("application/json"));
                r
            }
            Err(e) => error_response(&e),
        };
    }
    let validation = q.get("fieldValidation").unwrap_or("Warn");
    let opts = WriteOpts {
        warn_unknown: validation == "Warn",
        dry_run: q.get("dryRun") == Some("All"),
        field_manager: q.get("fieldManager").map(str::to_string),
        strict: q.get("fieldValidation") == Some("Strict"),
        force: q.flag("force"),
        from_http: true,
        apply: false,
        grace_period: q.get("gracePeriodSeconds").and_then(|g| g.parse().ok()),
    };
    let result = run_verb(shared, method, &target, q, ct, body, &opts);
    let warnings = std::mem::take(&mut lock(&shared.store).warnings);
    let mut resp = match result {
        Ok((200, v)) if wants_table && *method == Method::GET && target.sub.is_none() => {
            let now = lock(&shared.store).now();
            json_response(200, &super::table::to_table(&target.rt, &v, now))
        }
        Ok((code, v)) => json_response(code, &v),
        Err(e) => error_response(&e),
    };
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(h) = HeaderValue::from_str(&text) {
            resp.headers_mut().append("warning", h);
        }
    }
    resp
}

fn run_verb(
    shared: &Shared,
    method: &Method,
    t: &Target,
    q: &Query,
    ct: &str,
    body: &[u8],
    opts: &WriteOpts,
) -> Result<(u16, Value), ApiError> {
    let ns = t.namespace.as_deref();
    let rt = &t.rt;
    let mut store = lock(&shared.store);
    store.warnings.clear();
    let name = t.name.as_deref();
    match (method.as_str(), name, t.sub.as_deref()) {
        ("GET", Some(n), None | Some("status")) => store.get(rt, ns, n).map(|v| (200, v)),
        ("GET", None, None) => store.list(rt, ns, &list_query(q)?).map(|v| (200, v)),
        ("POST", None, None) if rt.plural == "selfsubjectaccessreviews" => {
            let review = if ct.contains("protobuf") {
                super::proto::decode_ssar(body)
                    .ok_or_else(|| ApiError::bad_request("cannot decode protobuf SelfSubjectAccessReview"))?
            } else {
                parse_body(body, ct)?
            };
            if !review.is_object() {
                return Err(ApiError::bad_request("SelfSubjectAccessReview must be an object"));
            }
            let attrs = &review["spec"]["resourceAttributes"];
            let resource = match attrs["subresource"].as_str() {
                Some(s) if !s.is_empty() => {
                    format!("{}/{}", attrs["resource"].as_str().unwrap_or_default(), s)
                }
                _ => attrs["resource"].as_str().unwrap_or_default().to_string(),
            };
            let allowed = rbac_allows(
                &lock(&shared.rbac),
                attrs["verb"].as_str().unwrap_or_default(),
                attrs["group"].as_str().unwrap_or_default(),
                &resource,
                attrs["namespace"].as_str().filter(|s| !s.is_empty()),
            );
            let mut out = review.clone();
            out["apiVersion"] = json!("authorization.k8s.io/v1");
            out["kind"] = json!("SelfSubjectAccessReview");
            out["metadata"] = json!({"creationTimestamp": null});
            out["status"] = if allowed {
                json!({"allowed": true, "reason": "sandbox: allowed by rules"})
            } else {
                json!({"allowed": false})
            };
            Ok((201, out))
        }
        ("POST", None, None) => {
            let obj = parse_body(body, ct)?;
            if let Some(k) = obj["kind"].as_str() {
                if k != rt.kind {
                    return Err(ApiError::bad_request(format!(
                        "the API version in the data ({}) does not match the expected API version ({})",
                        obj["apiVersion"].as_str().unwrap_or_default(),
                        rt.api_version()
                    )));
                }
            }
            store.create(rt, ns, obj, opts).map(|v| (201, v))
        }
        ("POST", Some(n), Some("eviction")) => {
            let ev = parse_body(body, ct).unwrap_or_default();
            let dry = opts.dry_run || ev["deleteOptions"]["dryRun"].as_array().is_some_and(|a| !a.is_empty());
            store.evict(ns.unwrap_or("default"), n, dry).map(|v| (201, v))
        }
        ("PUT", Some(n), sub @ (None | Some("status"))) => {
            let obj = parse_body(body, ct)?;
            store.update(rt, ns, n, obj, opts, sub.is_some()).map(|v| (200, v))
        }
        ("PATCH", Some(n), sub @ (None | Some("status"))) => {
            let ptype = PatchType::from_content_type(ct).ok_or_else(|| ApiError::unsupported_media_type(ct))?;
            let mut opts = opts.clone();
            if ptype == PatchType::Apply && opts.field_manager.is_none() {
                return Err(ApiError::bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"));
            }
            if ptype == PatchType::Apply {
                opts.force = opts.force || q.flag("force");
            }
            store
                .patch(rt, ns, n, ptype, body, &opts, sub.is_some())
                .map(|(v, created)| (if created { 201 } else { 200 }, v))
        }
        ("DELETE", Some(n), None) => {
            let del: Value = if body.is_empty() {
                json!({})
            } else {
                parse_body(body, "application/json").unwrap_or_default()
            };
            let policy = q
                .get("propagationPolicy")
                .map(str::to_string)
                .or_else(|| del["propagationPolicy"].as_str().map(str::to_string));
            let dry = opts.dry_run || del["dryRun"].as_array().is_some_and(|a| !a.is_empty());
            let mut o = opts.clone();
            o.dry_run = dry;
            if let Some(g) = del["gracePeriodSeconds"].as_i64() {
                o.grace_period = Some(g);
            }
            let deleted = store.delete(rt, ns, n, &o, policy.as_deref() == Some("Orphan"))?;
            Ok((200, deleted))
        }
        ("DELETE", None, None) => {
            let list = store.list(rt, ns, &list_query(q)?)?;
            let names: Vec<(Option<String>, String)> = list["items"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|o| {
                    (
                        o["metadata"]["namespace"].as_str().map(str::to_string),
                        o["metadata"]["name"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            for (ons, n) in names {
                store.delete(rt, ons.as_deref().or(ns), &n, opts, false)?;
            }
            Ok((200, list))
        }
        _ => Err(ApiError::method_not_allowed(method.as_str(), &rt.qualified())),
    }
}

fn event_line(kind: &str, obj: &Value) -> Bytes {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        object: &'a Value,
    }
    let mut v = serde_json::to_vec(&Line { kind, object: obj }).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn start_watch(shared: &Arc<Shared>, t: &Target, q: &Query, table: bool) -> Result<Resp, ApiError> {
    let lq = list_query(q)?;
    let timeout = Duration::from_secs(q.get("timeoutSeconds").and_then(|s| s.parse().ok()).unwrap_or(1800));
    let bookmarks = q.flag("allowWatchBookmarks");
    let send_initial = q.flag("sendInitialEvents");
    let rt = t.rt.clone();
    let ns = if rt.namespaced { t.namespace.clone() } else { None };
    let name = t.name.clone();
    let field_name = lq.fields.clone();
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(256);
    let mut first: Vec<Bytes> = Vec::new();
    let start_rv;
    {
        let store = lock(&shared.store);
        let rv = q.get("resourceVersion").unwrap_or_default();
        if rv.is_empty() || rv == "0" || send_initial {
            let list = store.list(
                &rt,
                ns.as_deref(),
                &ListQuery {
                    limit: 0,
                    continue_token: None,
                    ..lq.clone()
                },
            )?;
            for item in list["items"].as_array().map(Vec::as_slice).unwrap_or_default() {
                if name.as_deref().is_some_and(|n| item["metadata"]["name"] != n) {
                    continue;
                }
                let obj = if table {
                    super::table::to_table(&rt, item, store.now())
                } else {
                    item.clone()
                };
                first.push(event_line("ADDED", &obj));
            }
            start_rv = store.resource_version();
            if send_initial {
                let bm = json!({"kind": rt.kind, "apiVersion": rt.api_version(),
                    "metadata": {"resourceVersion": start_rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
                first.push(event_line("BOOKMARK", &bm));
            }
        } else {
            let parsed: u64 = rv
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
            if let Err(e) = store.events_since(parsed) {
                first.push(event_line("ERROR", &e.to_status()));
                drop(store);
                for b in first {
                    let _ = tx.try_send(Ok(b));
                }
                return Ok(stream_response(rx));
            }
            start_rv = parsed;
        }
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        for b in first {
            if tx.send(Ok(b)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = start_rv;
        loop {
            let notified = shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let batch = {
                let store = lock(&shared.store);
                match store.events_since(last) {
                    Ok(events) => {
                        let mut out = Vec::new();
                        for e in events {
                            last = e.rv;
                            if e.group != rt.group || e.plural != rt.plural {
                                continue;
                            }
                            if ns.as_deref().is_some_and(|n| n != e.namespace) {
                                continue;
                            }
                            if name.as_deref().is_some_and(|n| e.object["metadata"]["name"] != n) {
                                continue;
                            }
                            let selects = |o: &Value| lq.labels.matches(o) && field_name.matches(o);
                            let now_matches = selects(&e.object);
                            let before_matched = e.previous.as_deref().map(selects);
                            // A modification across the selector boundary is an ADDED or DELETED for
                            // this watch, as on a real API server.
                            let kind = match (e.kind, before_matched, now_matches) {
                                (EventType::Modified, Some(false), true) => "ADDED",
                                (EventType::Modified, Some(true), false) => "DELETED",
                                (_, _, false) => continue,
                                (EventType::Added, _, true) => "ADDED",
                                (EventType::Modified, _, true) => "MODIFIED",
                                (EventType::Deleted, _, true) => "DELETED",
                            };
                            let mut obj = (*e.object).clone();
                            rt.present(&mut obj);
                            if table {
                                obj = super::table::to_table(&rt, &obj, store.now());
                            }
                            out.push(event_line(kind, &obj));
                        }
                        Ok(out)
                    }
                    Err(e) => Err(e),
                }
            };
            match batch {
                Ok(lines) => {
                    for l in lines {
                        if tx.send(Ok(l)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Ok(event_line("ERROR", &e.to_status()))).await;
                    return;
                }
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline) => {
                    if bookmarks {
                        let bm = json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": {"resourceVersion": last.to_string()}});
                        let _ = tx.send(Ok(event_line("BOOKMARK", &bm))).await;
                    }
                    return;
                }
                _ = tx.closed() => return,
            }
        }
    });
    Ok(stream_response(rx))
}

fn stream_response(rx: mpsc::Receiver<Result<Bytes, io::Error>>) -> Resp {
    let mut r = Response::new(RespBody::Stream(rx));
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r.headers_mut()
        .insert("transfer-encoding", HeaderValue::from_static("chunked"));
    r
}

/// Accept connections until the task is aborted, each served on its own task by `serve_one`.
pub async fn accept_loop<F, Fut>(listener: tokio::net::TcpListener, serve_one: F)
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        conns.spawn(serve_one(stream));
        while conns.try_join_next().is_some() {}
    }
}

/// Serve plain HTTP connections from a listener until the task is aborted.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    accept_loop(listener, move |stream| {
        let shared = shared.clone();
        async move {
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { handle(shared, req).await }
            });
            // Upgrades: port-forward WebSockets.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .with_upgrades()
                .await;
        }
    })
    .await
}
