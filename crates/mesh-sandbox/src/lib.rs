//! An in-process Kubernetes API server over real HTTP on 127.0.0.1, for tests and `kubectl mesh demo`.
//!
//! No real cluster can run where kubectl-mesh is developed and demoed, so this module emulates the parts of
//! kube-apiserver (and of the controllers and Istio's injector) the plugin relies on, closely enough that
//! both the plugin (kube-rs) and the real `kubectl` binary work against it through a kubeconfig:
//! discovery, CRUD with the real Status errors, patches (merge, JSON, strategic, server-side apply),
//! dry run, label/field selectors, pagination, watches, CRD-registered kinds with schema defaulting and
//! pruning, a Deployment → ReplicaSet → Pod controller chain, EndpointSlices, sidecar injection, eviction
//! with PodDisruptionBudgets, optional RBAC, fault injection and a request log.
//!
//! The behaviour it must match is written down, with sources, in the project's API facts (`API-FACTS.md` in the
//! shared material next to the repository).
//!
//! ```no_run
//! use mesh_sandbox::{scenario, Fault, ServerOptions, TestServer};
//!
//! let server = TestServer::start(ServerOptions::default())?;
//! server.apply_scenario(&scenario::bookinfo().stale_root_cert())?;
//! let dir = std::env::temp_dir();
//! let kubeconfig = server.write_kubeconfig(&dir, Some("istio-demo"))?;
//! server.inject(Fault::status(409, "conflict").method("PATCH").path("/httproutes/").once());
//! // … run `kubectl-mesh --kubeconfig <kubeconfig> shift reviews v1=90 v3=10` …
//! let route = server.get("httproutes", Some("istio-demo"), "reviews");
//! let writes = server.writes();
//! # let _ = (kubeconfig, route, writes);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Deviations from a real API server worth knowing: plain HTTP without authentication unless
//! [`ServerOptions::tls`] is set (then HTTPS, client certificates and bearer tokens, 401 otherwise; RBAC
//! messages still name [`ServerOptions::user`]); server-side apply
//! merges (no field-ownership conflicts); rollouts are instant unless [`ServerOptions::ready_delay`] is set.
//! CRD schemas are enforced as kube-apiserver does, CEL `x-kubernetes-validations` rules included (see
//! [`schema`]); ValidatingAdmissionPolicies are not served.

#![forbid(unsafe_code)]

mod controllers;
mod disruption;
#[cfg(feature = "fixtures")]
pub mod fixtures;
mod kubeconfig;
pub mod lifecycle;
mod patch;
mod portforward;
mod proto;
mod registry;
pub mod route_status;
pub mod scale;
pub mod scenario;
pub mod schema;
mod select;
mod server;
mod status;
mod store;
mod table;
mod tls;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

pub use kubeconfig::{Credentials, Trust, UserAuth};
pub use patch::{json_patch, merge_patch, strategic_merge, JsonPatchError};
pub use registry::{CrdVersion, Registry, ResourceType};
pub use route_status::{RouteStatusMode, RouteVerdict};
pub use scale::{ScaleScenario, ScaleSummary};
pub use scenario::{GatewayApiBundle, Scenario};
pub use select::{FieldSelector, LabelSelector};
pub use status::{ApiError, Cause};
pub use store::{format_ts, EventType, ListQuery, PatchType, Store, StoreSettings, WriteOpts};
pub use table::{human_duration, to_table};
pub use tls::{CertAuthority, ClientCert, TlsOptions, Validity};

use server::{lock, Shared};

/// Options for starting a server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Istio version of injected sidecars and of the scenario's istiod.
    pub istio_version: String,
    /// Inject native sidecars (init container `istio-proxy` with `restartPolicy: Always`).
    pub native_sidecars: bool,
    /// Pods become Ready this long after they start (default: at once). Needs a running server.
    pub ready_delay: Option<Duration>,
    /// A deleted pod stays Terminating (listed, with its `deletionTimestamp`) this long before the fake kubelet
    /// removes it, as on a cluster (kwok: milliseconds; real kubelets: until the containers stop). Default
    /// 100 ms; zero removes it in the same request, after its Terminating state was stored and watched.
    pub termination_delay: Duration,
    /// User name the server reports in RBAC Forbidden messages.
    pub user: String,
    /// Port on 127.0.0.1 (0 = any free port, the default).
    pub port: u16,
    /// Serve HTTPS with per-server CAs and authenticate every request (client certificate or bearer token;
    /// 401 otherwise). `None` (the default): plain HTTP, no authentication.
    pub tls: Option<TlsOptions>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            istio_version: "1.26.2".into(),
            native_sidecars: false,
            ready_delay: None,
            termination_delay: Duration::from_millis(100),
            user: "test".into(),
            port: 0,
            tls: None,
        }
    }
}

/// What a fault does to a matching request.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer this status code with a `Status` body carrying the message.
    Status {
        /// HTTP code.
        code: u16,
        /// Status message.
        message: String,
    },
    /// Close the connection without answering.
    Reset,
    /// Send the headers and part of the body, then close the connection.
    ResetMidBody,
    /// Only delay (see [`Fault::latency`]), then handle normally.
    Delay,
}

/// A fault injected into matching requests, checked before normal handling.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// HTTP method to match (`None` = any).
    pub method: Option<String>,
    /// Substring of `path?query` to match (`None` = any).
    pub path_contains: Option<String>,
    /// What to do.
    pub action: FaultAction,
    /// How many more times it fires (`None` = always).
    pub remaining: Option<u32>,
    /// Delay before acting.
    pub latency: Option<Duration>,
    /// `Retry-After` seconds on status answers.
    pub retry_after: Option<u32>,
}

impl Fault {
    fn new(action: FaultAction) -> Self {
        Fault {
            method: None,
            path_contains: None,
            action,
            remaining: None,
            latency: None,
            retry_after: None,
        }
    }

    /// Answer `code` with a Status whose reason matches the code (409 Conflict, 429 TooManyRequests, …).
    pub fn status(code: u16, message: impl Into<String>) -> Self {
        Fault::new(FaultAction::Status {
            code,
            message: message.into(),
        })
    }

    /// Close the connection without a response.
    pub fn reset() -> Self {
        Fault::new(FaultAction::Reset)
    }

    /// Start a response and close the connection mid-body.
    pub fn reset_mid_body() -> Self {
        Fault::new(FaultAction::ResetMidBody)
    }

    /// Delay matching requests, then handle them normally.
    pub fn delay(d: Duration) -> Self {
        let mut f = Fault::new(FaultAction::Delay);
        f.latency = Some(d);
        f
    }

    /// Only requests with this method (`GET`, `PATCH`, …).
    pub fn method(mut self, m: &str) -> Self {
        self.method = Some(m.to_string());
        self
    }

    /// Only requests whose `path?query` contains this.
    pub fn path(mut self, p: &str) -> Self {
        self.path_contains = Some(p.to_string());
        self
    }

    /// Fire once.
    pub fn once(self) -> Self {
        self.times(1)
    }

    /// Fire `n` times.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Fire on every matching request (the default).
    pub fn always(mut self) -> Self {
        self.remaining = None;
        self
    }

    /// Delay before acting.
    pub fn latency(mut self, d: Duration) -> Self {
        self.latency = Some(d);
        self
    }

    /// Add a `Retry-After` header (and `details.retryAfterSeconds`).
    pub fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

/// One allowed RBAC rule; `"*"` is a wildcard; empty `namespaces` = all namespaces and cluster scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacRule {
    /// API groups (`""` for core).
    pub api_groups: Vec<String>,
    /// Resources, subresources as `pods/eviction`.
    pub resources: Vec<String>,
    /// Verbs: get, list, watch, create, update, patch, delete, deletecollection.
    pub verbs: Vec<String>,
    /// Namespaces the rule applies in (a Role); empty = everywhere (a ClusterRole).
    pub namespaces: Vec<String>,
}

impl RbacRule {
    /// A rule from string slices.
    pub fn new(api_groups: &[&str], resources: &[&str], verbs: &[&str], namespaces: &[&str]) -> Self {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        RbacRule {
            api_groups: v(api_groups),
            resources: v(resources),
            verbs: v(verbs),
            namespaces: v(namespaces),
        }
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// URL path.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// Content-Type header.
    pub content_type: String,
    /// Status code answered (0 when the connection was reset).
    pub status: u16,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `watch=true`.
    pub watch: bool,
    /// Request body, if any.
    pub body: Option<String>,
    /// Response body bytes sent (whole LIST pages included; for a watch or a broken stream, what was sent
    /// before it ended; 0 for a reset connection and for the 101 of a port-forward upgrade).
    pub response_bytes: u64,
    /// When the request arrived, measured from the server's start.
    pub started: Duration,
    /// When the answer was handed to the connection (a watch: when its stream ended), from the server's
    /// start. Two requests overlap unless one finished before the other started.
    pub finished: Duration,
}

impl RequestRecord {
    /// Whether the request could change state (not GET/HEAD, not a watch).
    pub fn is_write(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS") && !self.watch
    }
}

/// Sequential round trips of a set of requests: the longest chain in which each request started after the
/// previous one finished. Requests a client issues concurrently count once; a client that waits for each
/// answer before the next request counts every one. Watches are left out (they last as long as the client
/// wants).
pub fn sequential_round_trips(records: &[RequestRecord]) -> usize {
    let mut by_start: Vec<usize> = (0..records.len()).filter(|&i| !records[i].watch).collect();
    by_start.sort_by_key(|&i| (records[i].started, records[i].finished));
    let mut by_finish = by_start.clone();
    by_finish.sort_by_key(|&i| records[i].finished);
    // chain[i]: the longest chain ending with request i; `best`: the longest ending before the current start.
    let mut chain = vec![0usize; records.len()];
    let (mut best, mut done) = (0, 0);
    for &i in &by_start {
        while done < by_finish.len() && records[by_finish[done]].finished <= records[i].started {
            best = best.max(chain[by_finish[done]]);
            done += 1;
        }
        chain[i] = best + 1;
    }
    chain.into_iter().max().unwrap_or(0)
}

/// Errors of the in-process API (loading YAML, scenarios).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A YAML document could not be parsed.
    #[error("invalid YAML: {0}")]
    Yaml(#[source] serde_saphyr::DeserializeError),
    /// The API server refused an object.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// Reading a file or binding a socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Cloneable handle to a running sandbox: direct store access for tests and scenarios.
#[derive(Clone)]
pub struct Sandbox {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tls: Option<Arc<tls::TlsState>>,
}

impl Sandbox {
    /// Base URL, e.g. `http://127.0.0.1:40123` (`https://…` when serving TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The CA that signed the server's certificate, PEM encoded (`None` in plain HTTP mode).
    pub fn server_ca_pem(&self) -> Option<String> {
        self.tls.as_ref().map(|t| t.server_ca.cert_pem().to_string())
    }

    /// Issue a client certificate the server accepts as `user` (CN) in `groups` (O); `None` in plain HTTP
    /// mode.
    pub fn issue_client_cert(&self, user: &str, groups: &[&str], validity: Validity) -> Option<io::Result<ClientCert>> {
        self.tls
            .as_ref()
            .map(|t| t.client_ca.issue_client(user, groups, validity))
    }

    /// Write a kubeconfig with these credentials (see [`Credentials`]); `path` may be a directory (the file is
    /// then `path/kubeconfig`). An exec plugin's script is written next to the file. In plain HTTP mode the
    /// trust settings are left out.
    pub fn write_kubeconfig_with(
        &self,
        path: &Path,
        namespace: Option<&str>,
        credentials: &Credentials,
    ) -> io::Result<PathBuf> {
        kubeconfig::write(path, &self.url(), namespace, self.tls.as_deref(), credentials)
    }

    /// Socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Run `f` with the store locked (escape hatch for tests that need more than the helpers).
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let mut store = lock(&self.shared.store);
        f(&mut store)
    }

    /// Write a kubeconfig (cluster, context and user named `sandbox`). `path` may be a directory (the file
    /// is then `path/kubeconfig`). Returns the file path. In TLS mode it is what k3d writes: the server's CA
    /// and a client certificate for [`ServerOptions::user`].
    pub fn write_kubeconfig(&self, path: &Path, namespace: Option<&str>) -> io::Result<PathBuf> {
        if self.tls.is_some() {
            return self.write_kubeconfig_with(path, namespace, &Credentials::client_cert(&self.shared.user));
        }
        let file = if path.is_dir() {
            path.join("kubeconfig")
        } else {
            path.to_path_buf()
        };
        std::fs::write(&file, kubeconfig_yaml(&self.url(), namespace))?;
        Ok(file)
    }

    /// Create or update every document of a multi-document YAML, as `kubectl apply` would
    /// (objects without a namespace go to `default` when namespaced). Returns the stored objects.
    pub fn load_yaml(&self, yaml: &str) -> Result<Vec<Value>, SandboxError> {
        self.load_yaml_in(yaml, None)
    }

    /// Like [`Sandbox::load_yaml`], with namespaced objects that name no namespace going to `namespace`
    /// (as `kubectl apply -n NAMESPACE -f FILE`).
    pub fn load_yaml_in(&self, yaml: &str, namespace: Option<&str>) -> Result<Vec<Value>, SandboxError> {
        let docs = parse_yaml_docs(yaml)?;
        let mut out = Vec::new();
        let mut store = lock(&self.shared.store);
        for doc in docs {
            for mut obj in expand_lists(doc) {
                if let Some(ns) = namespace {
                    let namespaced = store.type_of(&obj).map(|(rt, _)| rt.namespaced).unwrap_or(false);
                    if namespaced && obj["metadata"]["namespace"].is_null() && obj["metadata"].is_object() {
                        obj["metadata"]["namespace"] = Value::String(ns.to_string());
                    }
                }
                out.push(apply_object(&mut store, obj)?);
            }
        }
        Ok(out)
    }

    /// Build a scenario's state through the store and controllers.
    pub fn apply_scenario(&self, s: &Scenario) -> Result<(), SandboxError> {
        let mut store = lock(&self.shared.store);
        s.build(&mut store)
    }

    /// Build a scale scenario (see [`scale`]) in this server's store; same as
    /// `self.with_store(|s| scenario.build(s))`.
    pub fn apply_scale(&self, scenario: &ScaleScenario) -> Result<ScaleSummary, SandboxError> {
        let mut store = lock(&self.shared.store);
        scenario.build(&mut store)
    }

    /// One object by resource name (plural, singular, kind or short name, optionally `.group`).
    pub fn get(&self, resource: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let store = lock(&self.shared.store);
        let rt = store.registry.resolve(resource)?.clone();
        store.get(&rt, namespace, name).ok()
    }

    /// Whether every pod has condition Ready (the fake kubelet readies them `ready_delay` after they start).
    pub fn pods_ready(&self) -> bool {
        let store = lock(&self.shared.store);
        let ready = store.all("", "pods").all(store::pod_ready);
        ready
    }

    /// Objects of a resource in a namespace (`None` = all namespaces).
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        self.list_selected(resource, namespace, "")
    }

    /// Objects of a resource matching a label selector (`app=reviews,version!=v1`).
    pub fn list_selected(&self, resource: &str, namespace: Option<&str>, label_selector: &str) -> Vec<Value> {
        let store = lock(&self.shared.store);
        let Some(rt) = store.registry.resolve(resource).cloned() else {
            return vec![];
        };
        let q = ListQuery {
            labels: LabelSelector::parse(label_selector).unwrap_or_default(),
            ..Default::default()
        };
        match store.list(&rt, namespace, &q) {
            Ok(mut l) => match l.get_mut("items").map(Value::take) {
                Some(Value::Array(items)) => items,
                _ => vec![],
            },
            Err(_) => vec![],
        }
    }

    /// Create or replace an object as given (status kept), then run controllers.
    pub fn insert(&self, obj: Value) -> Result<Value, ApiError> {
        lock(&self.shared.store).insert(obj)
    }

    /// Replace an existing object (404 if absent), keeping what `insert` keeps.
    pub fn update(&self, obj: Value) -> Result<Value, ApiError> {
        let mut store = lock(&self.shared.store);
        let (rt, ns) = store.type_of(&obj)?;
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
        store.get(&rt, ns.as_deref(), &name)?;
        store.insert(obj)
    }

    /// Delete an object (and what it owns).
    pub fn delete(&self, resource: &str, namespace: Option<&str>, name: &str) -> Result<Value, ApiError> {
        let mut store = lock(&self.shared.store);
        let rt = store
            .registry
            .resolve(resource)
            .cloned()
            .ok_or_else(ApiError::no_route)?;
        store.delete(&rt, namespace, name, &WriteOpts::default(), false)
    }

    /// Add a fault.
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    /// Remove all faults.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).records().to_vec()
    }

    /// Writes so far (not GET, not watch), excluding `dryRun=All`.
    pub fn writes(&self) -> Vec<RequestRecord> {
        self.requests()
            .into_iter()
            .filter(|r| r.is_write() && !r.dry_run)
            .collect()
    }

    /// Writes so far including dry runs.
    pub fn writes_including_dry_run(&self) -> Vec<RequestRecord> {
        self.requests().into_iter().filter(RequestRecord::is_write).collect()
    }

    /// Forget the request log.
    pub fn clear_log(&self) {
        lock(&self.shared.log).clear();
    }

    /// Restrict requests to these rules (`None` = everything allowed, the default).
    pub fn set_rbac(&self, rules: Option<Vec<RbacRule>>) {
        *lock(&self.shared.rbac) = rules;
    }

    /// Fix the server clock (`None` = real time).
    pub fn set_clock(&self, now: Option<jiff::Timestamp>) {
        lock(&self.shared.store).clock = now;
    }

    /// Current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        lock(&self.shared.store).resource_version()
    }

    /// Expire all continue tokens handed out so far (their next use answers 410).
    pub fn expire_continue_tokens(&self) {
        lock(&self.shared.store).expire_continue_tokens();
    }

    /// Forget watch history (watches from older resourceVersions get a 410 ERROR event).
    pub fn compact(&self) {
        lock(&self.shared.store).compact();
    }

    /// How the route-status controller (istiod's part) answers every mesh route from now on (see
    /// [`route_status`]); the default is [`RouteStatusMode::accept`].
    pub fn set_route_status(&self, mode: RouteStatusMode) {
        let mut store = lock(&self.shared.store);
        store.route_status.default = mode;
        store.route_status.reset(None);
    }

    /// How the route-status controller answers one route (`kind`: `httproutes`, `HTTPRoute`, `grpcroute`, …).
    pub fn set_route_status_for(&self, kind: &str, namespace: &str, name: &str, mode: RouteStatusMode) {
        let mut store = lock(&self.shared.store);
        let plural = store
            .registry
            .resolve(kind)
            .map(|rt| rt.plural.clone())
            .unwrap_or_else(|| kind.to_lowercase());
        let key = (plural, namespace.to_string(), name.to_string());
        store.route_status.reset(Some(&key));
        store.route_status.per_route.insert(key, mode);
    }

    /// Time since the server started, on the clock of [`RequestRecord::started`].
    pub fn elapsed(&self) -> Duration {
        self.shared.started.elapsed()
    }

    /// Turn Istio's ambient mode on or off for route status (`ResolvedWaypoints` conditions).
    pub fn set_ambient(&self, ambient: bool) {
        lock(&self.shared.store).settings.ambient = ambient;
    }
}

/// The sandbox API server running on the caller's tokio runtime. Stops on [`ApiServer::shutdown`] or drop.
pub struct ApiServer {
    sandbox: Sandbox,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::ops::Deref for ApiServer {
    type Target = Sandbox;
    fn deref(&self) -> &Sandbox {
        &self.sandbox
    }
}

impl ApiServer {
    /// Bind 127.0.0.1 on a free port and serve.
    pub async fn start(opts: ServerOptions) -> io::Result<ApiServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
        let addr = listener.local_addr()?;
        let notify = Arc::new(Notify::new());
        let settings = StoreSettings {
            istio_version: opts.istio_version.clone(),
            native_sidecars: opts.native_sidecars,
            ready_delay_ms: opts.ready_delay.map(|d| d.as_millis() as u64).unwrap_or(0),
            ambient: false,
            termination_delay_ms: opts.termination_delay.as_millis() as u64,
        };
        let store = Store::new(settings, notify.clone());
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            notify,
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(server::RequestLog::default()),
            started: std::time::Instant::now(),
            rbac: Mutex::new(None),
            user: opts.user.clone(),
            address: Mutex::new(addr.to_string()),
        });
        let tls = match &opts.tls {
            Some(t) => {
                // The kube-rs clients of in-process tests need a process-wide provider, as main() installs.
                let _ = rustls::crypto::ring::default_provider().install_default();
                Some(Arc::new(tls::TlsState::new(t)?))
            }
            None => None,
        };
        let mut tasks = vec![match &tls {
            Some(t) => tokio::spawn(tls::serve_tls(listener, shared.clone(), t.clone())),
            None => tokio::spawn(server::serve(listener, shared.clone())),
        }];
        // istiod's part: route status for mesh routes, written after the writes that need it (never in them).
        {
            let shared = shared.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                loop {
                    tick.tick().await;
                    let mut store = lock(&shared.store);
                    route_status::route_status(&mut store, std::time::Instant::now());
                }
            }));
        }
        if !opts.termination_delay.is_zero() {
            // The kubelets' side of graceful deletion: terminating pods go once their delay passed.
            let shared = shared.clone();
            let delay = opts.termination_delay;
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                loop {
                    tick.tick().await;
                    let mut store = lock(&shared.store);
                    let cutoff = store
                        .now()
                        .checked_sub(jiff::SignedDuration::from_millis(delay.as_millis() as i64))
                        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                    for ns in lifecycle::namespaces_terminating_pods(&store, cutoff) {
                        let pods = lifecycle::finish_terminating(&mut store, &ns, cutoff);
                        let namespace = store.namespace_deletion_started.contains_key(&ns);
                        if pods || namespace {
                            controllers::reconcile(&mut store, &ns);
                        }
                    }
                }
            }));
        }
        if let Some(delay) = opts.ready_delay {
            let shared = shared.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                loop {
                    tick.tick().await;
                    let mut store = lock(&shared.store);
                    let cutoff = store
                        .now()
                        .checked_sub(jiff::SignedDuration::from_millis(delay.as_millis() as i64))
                        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                    controllers::mark_pods_ready(&mut store, cutoff);
                }
            }));
        }
        Ok(ApiServer {
            sandbox: Sandbox { shared, addr, tls },
            tasks,
        })
    }

    /// A cloneable handle.
    pub fn sandbox(&self) -> Sandbox {
        self.sandbox.clone()
    }

    /// Stop serving (open connections are closed).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The sandbox server on its own thread and tokio runtime, for synchronous `#[test]`s.
pub struct TestServer {
    sandbox: Sandbox,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::ops::Deref for TestServer {
    type Target = Sandbox;
    fn deref(&self) -> &Sandbox {
        &self.sandbox
    }
}

impl TestServer {
    /// Start the server on a background thread.
    pub fn start(opts: ServerOptions) -> io::Result<TestServer> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<Sandbox>>();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sandbox-apiserver".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    match ApiServer::start(opts).await {
                        Ok(server) => {
                            let _ = ready_tx.send(Ok(server.sandbox()));
                            let _ = tokio::task::spawn_blocking(move || stop_rx.recv()).await;
                            server.shutdown();
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(200));
            })?;
        let sandbox = ready_rx
            .recv()
            .map_err(|_| io::Error::other("sandbox server thread exited"))??;
        Ok(TestServer {
            sandbox,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// A cloneable handle.
    pub fn sandbox(&self) -> Sandbox {
        self.sandbox.clone()
    }

    /// Stop the server and join its thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A kubeconfig for the sandbox (cluster/context/user `sandbox`).
pub fn kubeconfig_yaml(url: &str, namespace: Option<&str>) -> String {
    let ns = namespace.map(|n| format!("\n    namespace: {n}")).unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n    server: {url}\ncontexts:\n- name: sandbox\n  context:\n    cluster: sandbox\n    user: sandbox{ns}\ncurrent-context: sandbox\npreferences: {{}}\nusers:\n- name: sandbox\n  user: {{}}\n"
    )
}

/// Split a multi-document YAML stream and parse each non-empty document.
pub fn parse_yaml_docs(yaml: &str) -> Result<Vec<Value>, SandboxError> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, docs: &mut Vec<Value>| -> Result<(), SandboxError> {
        let text = std::mem::take(cur);
        let meaningful = text
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        if meaningful {
            let mut v: Value = serde_saphyr::from_str(&text).map_err(SandboxError::Yaml)?;
            store::drop_nulls(&mut v);
            if !v.is_null() {
                docs.push(v);
            }
        }
        Ok(())
    };
    for line in yaml.lines() {
        if line == "---" || line.starts_with("--- ") || line == "..." {
            flush(&mut cur, &mut docs)?;
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    flush(&mut cur, &mut docs)?;
    Ok(docs)
}

fn expand_lists(doc: Value) -> Vec<Value> {
    if doc["kind"].as_str().is_some_and(|k| k == "List" || k.ends_with("List")) && doc["items"].is_array() {
        doc["items"].as_array().cloned().unwrap_or_default()
    } else {
        vec![doc]
    }
}

/// Create or update one object through the write pipeline, like `kubectl apply`.
fn apply_object(store: &mut Store, obj: Value) -> Result<Value, SandboxError> {
    let (rt, ns) = store.type_of(&obj)?;
    let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let ns = if rt.namespaced {
        Some(ns.unwrap_or_else(|| "default".to_string()))
    } else {
        None
    };
    let opts = WriteOpts {
        field_manager: Some("kubectl-client-side-apply".into()),
        ..Default::default()
    };
    let exists = !name.is_empty() && store.get(&rt, ns.as_deref(), &name).is_ok();
    if exists {
        let body = serde_json::to_vec(&obj).unwrap_or_default();
        let ptype = if rt.is_custom() {
            PatchType::Merge
        } else {
            PatchType::Strategic
        };
        Ok(store.patch(&rt, ns.as_deref(), &name, ptype, &body, &opts, false)?.0)
    } else {
        Ok(store.create(&rt, ns.as_deref(), obj, &opts)?)
    }
}
