//! The object store behind the sandbox API server: objects as JSON keyed by (group, plural, namespace,
//! name), a global resourceVersion counter, a bounded event history for watches, and the write pipeline
//! (defaulting, schema, preconditions, status subresource rules, dry run, garbage collection) that makes
//! writes behave as on a real API server.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::Notify;

use super::patch;
use super::registry::{Registry, ResourceType};
use super::select::{FieldSelector, LabelSelector};
use super::status::{ApiError, Cause};

/// How many watch events are kept for resuming watches; older resourceVersions answer 410.
const HISTORY_CAP: usize = 10_000;

/// Watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object deleted.
    Deleted,
}

impl EventType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One stored change.
#[derive(Debug, Clone)]
pub struct Event {
    /// resourceVersion of the change.
    pub rv: u64,
    /// Group of the object.
    pub group: String,
    /// Plural of the object.
    pub plural: String,
    /// Namespace (`""` for cluster-scoped).
    pub namespace: String,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (before, for deletions); shared with the store, not copied.
    pub object: Arc<Value>,
    /// The object before a modification (lets selector watches turn transitions into ADDED/DELETED).
    pub previous: Option<Arc<Value>>,
}

/// Options of one write request.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    /// `dryRun=All`: compute and return, store nothing.
    pub dry_run: bool,
    /// `fieldValidation=Warn` (the server default): pruned unknown fields are reported in
    /// [`Store::warnings`].
    pub warn_unknown: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `fieldValidation=Strict`: unknown fields are an error instead of being pruned.
    pub strict: bool,
    /// `force` (server-side apply).
    pub force: bool,
    /// The write is a server-side apply (managedFields operation `Apply`).
    pub apply: bool,
    /// The write came over HTTP (status is dropped on create of kinds with a status subresource).
    pub from_http: bool,
    /// DELETE's `gracePeriodSeconds` (pods: 0 deletes at once).
    pub grace_period: Option<i64>,
}

/// Parameters of a list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `limit` (0 = none).
    pub limit: usize,
    /// `continue` token.
    pub continue_token: Option<String>,
    /// `resourceVersion` (only checked against a continue token: kube-apiserver refuses both together).
    pub resource_version: Option<String>,
}

/// The patch content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml`.
    Apply,
}

impl PatchType {
    /// From a Content-Type header value.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        match base {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// Settings the store and its controllers read.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Istio version used for injected sidecars (image `docker.io/istio/proxyv2:<v>`).
    pub istio_version: String,
    /// Inject native sidecars (init container with `restartPolicy: Always`).
    pub native_sidecars: bool,
    /// Pods become ready this many milliseconds after creation (0 = at once).
    pub ready_delay_ms: u64,
    /// Istio runs in ambient mode: route status gets a `ResolvedWaypoints` condition.
    pub ambient: bool,
    /// A deleted pod stays Terminating this many milliseconds before its kubelet removes it (0 = removed in the
    /// same request, after its Terminating state was stored and watched).
    pub termination_delay_ms: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            istio_version: "1.26.2".into(),
            native_sidecars: false,
            ready_delay_ms: 0,
            ambient: false,
            termination_delay_ms: 0,
        }
    }
}

/// Stored objects are shared with the watch history (an event holds the same allocation, not a copy).
type Objects = BTreeMap<(String, String), Arc<Value>>;

/// One page of a LIST: the stored objects it returns and what its metadata says.
struct Page<'a> {
    rv: u64,
    items: Vec<&'a Value>,
    continue_token: Option<String>,
    remaining: Option<usize>,
}

impl Page<'_> {
    fn metadata(&self) -> Value {
        let mut m = json!({"resourceVersion": self.rv.to_string()});
        if let Some(c) = &self.continue_token {
            m["continue"] = json!(c);
            if let Some(n) = self.remaining {
                m["remainingItemCount"] = json!(n);
            }
        }
        m
    }
}

/// The store.
pub struct Store {
    /// Served types.
    pub registry: Registry,
    rv: u64,
    objects: HashMap<(String, String), Objects>,
    history: VecDeque<Arc<Event>>,
    compacted_rv: u64,
    /// Continue tokens of lists older than this resourceVersion answer 410 (etcd compacted past them).
    token_min_rv: u64,
    seq: u64,
    /// Fixed server clock, if set.
    pub clock: Option<jiff::Timestamp>,
    /// Settings.
    pub settings: StoreSettings,
    notify: Arc<Notify>,
    /// Warnings of the last write (`unknown field "spec.parentRefs[0].port"`), sent as `Warning` headers.
    pub warnings: Vec<String>,
    /// While set, writes do not run controllers (bulk scenario building).
    pub(crate) defer_controllers: bool,
    /// While set, pods start at admission (the kubelet's work is done before the first store), so no Pending
    /// version of each pod is stored and copied: for building large scenarios nobody watches yet.
    pub(crate) start_pods_on_create: bool,
    /// The route-status controller's modes and decisions.
    pub route_status: super::route_status::RouteStatusState,
    /// Terminating pods (namespace, name) and when their kubelet saw the deletion (see [`crate::lifecycle`]).
    pub(crate) termination_started: BTreeMap<(String, String), jiff::Timestamp>,
    /// When each Terminating namespace's deletion began: the namespace controller takes it up
    /// `termination_delay_ms` later (it runs asynchronously on a real cluster, so even an empty namespace is
    /// Terminating for a while).
    pub(crate) namespace_deletion_started: BTreeMap<String, jiff::Timestamp>,
}

/// Validate a name as a lowercase RFC 1123 subdomain.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Content hash (FNV-1a 64) used for deterministic names and uids.
pub fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Kubernetes' "safe" alphabet for generated suffixes (no vowels, no confusable digits).
const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `n` safe characters from a hash.
pub fn safe_suffix(mut h: u64, n: usize) -> String {
    let mut s = String::with_capacity(n);
    for _ in 0..n {
        s.push(SAFE[(h % SAFE.len() as u64) as usize] as char);
        h /= SAFE.len() as u64;
        if h == 0 {
            h = fnv(s.as_bytes());
        }
    }
    s
}

/// Equality ignoring `metadata.resourceVersion` and `metadata.managedFields`, without cloning.
fn same_content(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let volatile = |k: &String| k == "resourceVersion" || k == "managedFields";
    let meta_eq =
        |x: Option<&Value>, y: Option<&Value>| match (x.and_then(Value::as_object), y.and_then(Value::as_object)) {
            (Some(x), Some(y)) => {
                x.iter().filter(|(k, _)| !volatile(k)).count() == y.iter().filter(|(k, _)| !volatile(k)).count()
                    && x.iter().filter(|(k, _)| !volatile(k)).all(|(k, v)| y.get(k) == Some(v))
            }
            (x, y) => x == y,
        };
    a.len() == b.len()
        && a.iter().all(|(k, v)| {
            if k == "metadata" {
                meta_eq(Some(v), b.get(k))
            } else {
                b.get(k) == Some(v)
            }
        })
}

/// Equality of two objects ignoring some top-level keys, without cloning.
fn eq_except(a: &Value, b: &Value, keys: &[&str]) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let kept = |k: &String| !keys.contains(&k.as_str());
    a.iter().filter(|(k, _)| kept(k)).count() == b.iter().filter(|(k, _)| kept(k)).count()
        && a.iter().filter(|(k, _)| kept(k)).all(|(k, v)| b.get(k) == Some(v))
}

fn ns_key(rt: &ResourceType, ns: Option<&str>) -> String {
    if rt.namespaced {
        ns.unwrap_or("default").to_string()
    } else {
        String::new()
    }
}

/// Built-in defaults for kinds the plugin reads (services, deployments, namespaces, pods).
fn default_builtin(kind: &str, obj: &mut Value, seq: u64) {
    match kind {
        // SetDefaults_Secret: an empty or missing type is Opaque.
        "Secret" if obj["type"].as_str().unwrap_or_default().is_empty() => obj["type"] = json!("Opaque"),
        "Service" => {
            let spec = &mut obj["spec"];
            if !spec.is_object() {
                *spec = json!({});
            }
            if spec["type"].is_null() {
                spec["type"] = json!("ClusterIP");
            }
            if spec["clusterIP"].is_null() && spec["type"] != "ExternalName" {
                let ip = format!("10.96.{}.{}", (seq / 250) % 250, seq % 250 + 2);
                spec["clusterIP"] = json!(ip);
                spec["clusterIPs"] = json!([ip]);
            }
            if spec["sessionAffinity"].is_null() {
                spec["sessionAffinity"] = json!("None");
            }
            if let Some(ports) = spec["ports"].as_array_mut() {
                for p in ports {
                    if p["protocol"].is_null() {
                        p["protocol"] = json!("TCP");
                    }
                    if p["targetPort"].is_null() {
                        p["targetPort"] = p["port"].clone();
                    }
                }
            }
        }
        "Deployment" | "StatefulSet" | "ReplicaSet" => {
            let spec = &mut obj["spec"];
            if spec.is_object() && spec["replicas"].is_null() {
                spec["replicas"] = json!(1);
            }
            if kind == "Deployment" && spec.is_object() {
                if spec["strategy"].is_null() {
                    spec["strategy"] =
                        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
                }
                if spec["revisionHistoryLimit"].is_null() {
                    spec["revisionHistoryLimit"] = json!(10);
                }
                if spec["progressDeadlineSeconds"].is_null() {
                    spec["progressDeadlineSeconds"] = json!(600);
                }
            }
        }
        "Namespace" => {
            let name = obj["metadata"]["name"].clone();
            if !obj["metadata"]["labels"].is_object() {
                obj["metadata"]["labels"] = json!({});
            }
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
        }
        "Pod" => {
            if obj["status"]["phase"].is_null() {
                obj["status"]["phase"] = json!("Pending");
            }
            if obj["spec"]["restartPolicy"].is_null() && obj["spec"].is_object() {
                obj["spec"]["restartPolicy"] = json!("Always");
            }
        }
        _ => {}
    }
}

impl Store {
    /// A store with the default namespaces and node.
    pub fn new(settings: StoreSettings, notify: Arc<Notify>) -> Self {
        let mut s = Store {
            registry: Registry::builtin(),
            rv: 1,
            objects: HashMap::new(),
            history: VecDeque::new(),
            compacted_rv: 1,
            token_min_rv: 0,
            seq: 0,
            clock: None,
            settings,
            notify,
            defer_controllers: false,
            start_pods_on_create: false,
            warnings: Vec::new(),
            route_status: Default::default(),
            termination_started: BTreeMap::new(),
            namespace_deletion_started: BTreeMap::new(),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let _ = s.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        }
        let _ = s.insert(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "sandbox-node",
            "labels": {"kubernetes.io/hostname": "sandbox-node", "kubernetes.io/os": "linux"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]}}));
        s
    }

    /// Current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Oldest resourceVersion a watch can resume from.
    pub fn compacted_rv(&self) -> u64 {
        self.compacted_rv
    }

    /// Make every continue token handed out so far expire (410 on use), like etcd compaction.
    ///
    /// kube-apiserver's compactor writes its own key before compacting, so the revision moves on: lists started
    /// afterwards get tokens that still work.
    pub fn expire_continue_tokens(&mut self) {
        self.rv += 1;
        self.token_min_rv = self.rv;
    }

    /// Forget the watch history (resuming from an older resourceVersion answers 410).
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted_rv = self.rv;
    }

    /// Server clock now.
    pub fn now(&self) -> jiff::Timestamp {
        self.clock.unwrap_or_else(jiff::Timestamp::now)
    }

    /// Server clock now as an RFC 3339 timestamp with second precision.
    pub fn now_str(&self) -> String {
        format_ts(self.now())
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn uid(&mut self) -> String {
        let n = self.next_seq();
        let a = fnv(format!("uid-{n}").as_bytes());
        let b = fnv(format!("uid-b-{n}").as_bytes());
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }

    /// Events after `rv` (for watches); `Err` when `rv` is older than the kept history.
    pub fn events_since(&self, rv: u64) -> Result<Vec<Arc<Event>>, ApiError> {
        if rv < self.compacted_rv {
            return Err(ApiError::gone(format!(
                "too old resource version: {rv} ({})",
                self.compacted_rv
            )));
        }
        let start = self.history.partition_point(|e| e.rv <= rv);
        Ok(self.history.iter().skip(start).cloned().collect())
    }

    /// All stored objects of a type, in (namespace, name) order.
    pub fn all(&self, group: &str, plural: &str) -> impl Iterator<Item = &Value> {
        self.objects
            .get(&(group.to_string(), plural.to_string()))
            .into_iter()
            .flat_map(|m| m.values())
            .map(|v| &**v)
    }

    /// Stored objects of a type in one namespace.
    pub fn in_namespace<'a>(&'a self, group: &str, plural: &str, ns: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .get(&(group.to_string(), plural.to_string()))
            .into_iter()
            .flat_map(move |m| {
                m.range((ns.to_string(), String::new())..)
                    .take_while(move |((n, _), _)| n == ns)
            })
            .map(|(_, v)| &**v)
    }

    /// One stored object, raw.
    pub fn raw(&self, group: &str, plural: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(group.to_string(), plural.to_string()))?
            .get(&(ns.to_string(), name.to_string()))
            .map(|v| &**v)
    }

    fn namespace_exists(&self, ns: &str) -> bool {
        self.raw("", "namespaces", "", ns).is_some()
    }

    /// Store an object exactly as given, bumping the resourceVersion and recording a watch event only if it
    /// changed. The object must already carry metadata. Used by controllers.
    pub(crate) fn commit(&mut self, group: &str, plural: &str, ns: &str, name: &str, mut new: Value) {
        let key = (group.to_string(), plural.to_string());
        let okey = (ns.to_string(), name.to_string());
        let map = self.objects.entry(key).or_default();
        let kind = match map.get(&okey) {
            Some(old) if same_content(old, &new) => return,
            Some(_) => EventType::Modified,
            None => EventType::Added,
        };
        self.rv += 1;
        new["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let new = Arc::new(new);
        let previous = map.insert(okey, new.clone());
        self.record(group, plural, ns, kind, new, previous);
    }

    /// Delete a stored object (no garbage collection), recording a DELETED event. Returns it as deleted.
    pub(crate) fn remove(&mut self, group: &str, plural: &str, ns: &str, name: &str) -> Option<Value> {
        let map = self.objects.get_mut(&(group.to_string(), plural.to_string()))?;
        let old = map.remove(&(ns.to_string(), name.to_string()))?;
        let mut old = Arc::unwrap_or_clone(old);
        self.rv += 1;
        old["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.record(group, plural, ns, EventType::Deleted, Arc::new(old.clone()), None);
        Some(old)
    }

    fn record(
        &mut self,
        group: &str,
        plural: &str,
        ns: &str,
        kind: EventType,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) {
        self.history.push_back(Arc::new(Event {
            rv: self.rv,
            group: group.into(),
            plural: plural.into(),
            namespace: ns.into(),
            kind,
            object,
            previous,
        }));
        while self.history.len() > HISTORY_CAP {
            if let Some(e) = self.history.pop_front() {
                self.compacted_rv = e.rv;
            }
        }
        self.notify.notify_waiters();
    }

    /// Metadata a create sets: uid, creationTimestamp, generation, namespace.
    pub(crate) fn init_metadata(&mut self, rt: &ResourceType, ns: &str, obj: &mut Value) {
        let uid = self.uid();
        let now = self.now_str();
        let md = &mut obj["metadata"];
        md["uid"] = json!(uid);
        if md["creationTimestamp"].as_str().is_none() {
            md["creationTimestamp"] = json!(now);
        }
        md["generation"] = json!(1);
        if rt.namespaced {
            md["namespace"] = json!(ns);
        }
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
    }

    fn with_version(rt: &ResourceType, mut obj: Value) -> Value {
        rt.present(&mut obj);
        obj
    }

    /// GET one object.
    pub fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> Result<Value, ApiError> {
        let nsk = ns_key(rt, ns);
        self.raw(&rt.group, &rt.plural, &nsk, name)
            .map(|o| Self::with_version(rt, o.clone()))
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    /// One page of a LIST, by reference (one namespace, or all with `ns = None`).
    ///
    /// A page costs what it returns: the ordered map is walked from the continue key (or the namespace's
    /// first key), selectors are applied lazily, and the walk stops at the first match past `limit`. As on
    /// kube-apiserver, `remainingItemCount` is only given for lists without selectors (then it is a count of
    /// keys; no object is looked at).
    fn page<'a>(&'a self, rt: &ResourceType, ns: Option<&str>, q: &ListQuery) -> Result<Page<'a>, ApiError> {
        use std::ops::Bound;
        let ns = if rt.namespaced { ns } else { None };
        let across = rt.namespaced && ns.is_none();
        let (list_rv, start) = match &q.continue_token {
            Some(tok) if !tok.is_empty() => {
                let (rv, key, exclusive) = self.decode_token(tok, ns, across)?;
                if q.resource_version.as_deref().is_some_and(|v| !v.is_empty() && v != "0") {
                    return Err(ApiError::bad_request(
                        "specifying resource version is not allowed when using continue",
                    ));
                }
                let rv = self.token_rv(rv, &key, across)?;
                let start = if exclusive {
                    Bound::Excluded(key)
                } else {
                    Bound::Included(key)
                };
                (rv.unwrap_or(self.rv), start)
            }
            _ => (
                self.rv,
                match ns {
                    Some(ns) => Bound::Included((ns.to_string(), String::new())),
                    None => Bound::Unbounded,
                },
            ),
        };
        let in_scope = move |k: &(String, String)| ns.is_none_or(|ns| k.0 == ns);
        let mut page = Page {
            rv: list_rv,
            items: Vec::new(),
            continue_token: None,
            remaining: None,
        };
        let Some(map) = self.objects.get(&(rt.group.clone(), rt.plural.clone())) else {
            return Ok(page);
        };
        let mut iter = map
            .range((start, Bound::Unbounded))
            .take_while(|(k, _)| in_scope(k))
            .filter(|(_, obj)| q.labels.matches(obj) && q.fields.matches(obj));
        let mut last = None;
        for (k, obj) in iter.by_ref() {
            page.items.push(obj);
            if q.limit > 0 && page.items.len() == q.limit {
                last = Some(k);
                break;
            }
        }
        let Some(last) = last else {
            return Ok(page);
        };
        let more = if q.labels.is_empty() && q.fields.0.is_empty() {
            let left = map
                .range((Bound::Excluded(last.clone()), Bound::Unbounded))
                .take_while(|(k, _)| in_scope(k))
                .count();
            page.remaining = Some(left).filter(|n| *n > 0);
            left > 0
        } else {
            iter.next().is_some()
        };
        if more {
            page.continue_token = Some(Self::encode_token(list_rv as i64, last, across));
        }
        Ok(page)
    }

    /// LIST objects (one namespace, or all with `ns = None`); see [`Store::list_json`] for the wire form.
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>, q: &ListQuery) -> Result<Value, ApiError> {
        let page = self.page(rt, ns, q)?;
        let mut out = json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": rt.api_version(),
            "metadata": page.metadata(),
        });
        // Moved in, not through `json!` (which would serialize every item again).
        out["items"] = Value::Array(
            page.items
                .into_iter()
                .map(|o| Self::with_version(rt, o.clone()))
                .collect(),
        );
        Ok(out)
    }

    /// A LIST answer serialized straight from the stored objects (same JSON as [`Store::list`], without
    /// cloning the page's objects first).
    pub fn list_json(&self, rt: &ResourceType, ns: Option<&str>, q: &ListQuery) -> Result<Vec<u8>, ApiError> {
        let page = self.page(rt, ns, q)?;
        let head =
            json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": page.metadata()});
        let mut out = serde_json::to_vec(&head).unwrap_or_default();
        out.pop(); // the closing brace
        out.extend_from_slice(b",\"items\":[");
        let api_version = rt.api_version();
        for (i, obj) in page.items.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if obj["apiVersion"] == api_version.as_str() {
                let _ = serde_json::to_writer(&mut out, obj);
            } else {
                let _ = serde_json::to_writer(&mut out, &Self::with_version(rt, obj.clone()));
            }
        }
        out.extend_from_slice(b"]}");
        Ok(out)
    }

    /// A continue token as kube-apiserver makes them: base64url (no padding) of
    /// `{"v":"meta.k8s.io/v1","rv":RV,"start":"KEY\u0000"}`, KEY being the next key after `key` relative to the
    /// listed prefix (`/name` in a namespace or for cluster-scoped kinds, `/ns/name` across namespaces). `rv` -1
    /// is the token of a 410: continue at the latest resourceVersion.
    fn encode_token(rv: i64, key: &(String, String), across_namespaces: bool) -> String {
        let start = if across_namespaces && !key.0.is_empty() {
            format!("/{}/{}\u{0}", key.0, key.1)
        } else {
            format!("/{}\u{0}", key.1)
        };
        let raw = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start}).to_string();
        base64url_encode(raw.as_bytes())
    }

    /// The list resourceVersion (None: the latest), the start key and whether it is exclusive (the token's key
    /// ends in NUL, as the tokens the server hands out do) of a continue token. Errors as
    /// k8s.io/apiserver's `DecodeContinue`/`ValidateListOptions` word them (400), 504 for a resourceVersion
    /// the server has not reached, 410 (with a token to continue at the latest version) for one from before
    /// the last compaction.
    fn decode_token(
        &self,
        tok: &str,
        ns: Option<&str>,
        across_namespaces: bool,
    ) -> Result<(i64, (String, String), bool), ApiError> {
        let invalid =
            |why: String| ApiError::bad_request(format!("invalid continue token: continue key is not valid{why}"));
        let bytes = base64url_decode(tok).map_err(|at| invalid(format!(": illegal base64 data at input byte {at}")))?;
        let token = go_json_token(&bytes).map_err(|e| invalid(format!(": {e}")))?;
        let (version, rv, start) = token;
        if version != "meta.k8s.io/v1" {
            return Err(invalid(format!(
                ": server does not recognize this encoded version {version}"
            )));
        }
        if rv == 0 {
            return Err(invalid(
                ": incorrect encoded start resourceVersion (version meta.k8s.io/v1)".into(),
            ));
        }
        if start.is_empty() {
            return Err(invalid(": encoded start key empty (version meta.k8s.io/v1)".into()));
        }
        let key = if start.starts_with('/') {
            start.clone()
        } else {
            format!("/{start}")
        };
        if go_path_clean(&key) != key {
            return Err(invalid(format!(": {start}")));
        }
        let rest = &key[1..];
        let (rest, exclusive) = match rest.strip_suffix('\u{0}') {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let key = match ns {
            Some(ns) => (ns.to_string(), rest.to_string()),
            None if across_namespaces => match rest.split_once('/') {
                Some((n, name)) => (n.to_string(), name.to_string()),
                None => (rest.to_string(), String::new()),
            },
            None => (String::new(), rest.to_string()),
        };
        Ok((rv, key, exclusive))
    }

    /// The resourceVersion a continued list reads at (None: the latest, a 410's token): 504 for one the server
    /// has not reached, 410 (with a token to continue at the latest version) for one from before the last
    /// compaction.
    fn token_rv(&self, rv: i64, key: &(String, String), across_namespaces: bool) -> Result<Option<u64>, ApiError> {
        let rv = u64::try_from(rv).ok();
        if let Some(rv) = rv {
            if rv > self.rv {
                let mut e = ApiError::new(
                    504,
                    "Timeout",
                    format!("Timeout: Too large resource version: {rv}, current: {}", self.rv),
                );
                e.details = Some(Box::new(
                    json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}]}),
                ));
                e.retry_after = Some(1);
                return Err(e);
            }
        }
        if rv.is_some_and(|rv| rv < self.token_min_rv) {
            let mut e = ApiError::gone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.");
            e.list_continue = Some(Self::encode_token(-1, key, across_namespaces));
            return Err(e);
        }
        Ok(rv)
    }

    /// Direct insert (tests, scenarios): create or replace, keeping `.status` as given, running controllers.
    pub fn insert(&mut self, obj: Value) -> Result<Value, ApiError> {
        let (rt, ns) = self.type_of(&obj)?;
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let nsk = ns_key(&rt, ns.as_deref());
        match self.raw(&rt.group, &rt.plural, &nsk, &name).cloned() {
            Some(old) => {
                let mut new = obj;
                new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
                let statusless = rt.has_status() && new.get("status").is_none();
                if statusless {
                    new["status"] = old["status"].clone();
                }
                self.write(&rt, &nsk, Some(old), new, &WriteOpts::default(), WriteMode::Raw)
            }
            None => self.write(&rt, &nsk, None, obj, &WriteOpts::default(), WriteMode::Raw),
        }
    }

    /// The type and namespace of an object from its apiVersion/kind.
    pub fn type_of(&self, obj: &Value) -> Result<(ResourceType, Option<String>), ApiError> {
        let av = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        let rt = self.registry.by_kind(av, kind).cloned().ok_or_else(|| {
            ApiError::new(
                404,
                "NotFound",
                format!("the server could not find the requested resource (kind {kind} in {av})"),
            )
        })?;
        let ns = obj["metadata"]["namespace"].as_str().map(str::to_string);
        Ok((rt, ns))
    }

    /// POST create.
    pub fn create(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        obj: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let nsk = ns_key(rt, ns);
        if let Some(body_ns) = obj["metadata"]["namespace"].as_str() {
            if rt.namespaced && ns.is_some() && body_ns != nsk {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        self.write(rt, &nsk, None, obj, opts, WriteMode::Create)
    }

    /// PUT update (main resource, or `/status` when `status_only`).
    pub fn update(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        obj: Value,
        opts: &WriteOpts,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        let nsk = ns_key(rt, ns);
        if obj["metadata"]["name"].as_str().is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
        let old = self.raw(&rt.group, &rt.plural, &nsk, name).cloned();
        let Some(old) = old else {
            return Err(ApiError::not_found(&rt.group, &rt.plural, name));
        };
        let rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or_default();
        if rv.is_empty() && rt.is_custom() {
            // kube-apiserver names the resource (plural.group) here, not the kind.
            let mut e = ApiError::invalid(
                "",
                &rt.qualified(),
                name,
                vec![Cause::new(
                    "FieldValueInvalid",
                    "metadata.resourceVersion",
                    "Invalid value: 0: must be specified for an update",
                )],
            );
            if let Some(d) = e.details.as_mut() {
                d["group"] = json!(rt.group);
                d["kind"] = json!(rt.plural);
            }
            return Err(e);
        }
        let mode = if status_only {
            WriteMode::Status
        } else {
            WriteMode::Update
        };
        self.write(rt, &nsk, Some(old), obj, opts, mode)
    }

    /// PATCH. Returns the result and whether it created the object (server-side apply).
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        ptype: PatchType,
        body: &[u8],
        opts: &WriteOpts,
        status_only: bool,
    ) -> Result<(Value, bool), ApiError> {
        let nsk = ns_key(rt, ns);
        if ptype == PatchType::Strategic && rt.is_custom() {
            return Err(ApiError::unsupported_patch_type());
        }
        let parse_json = |b: &[u8]| -> Result<Value, ApiError> {
            serde_json::from_slice(b).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
        };
        let patch_doc = match ptype {
            PatchType::Apply => {
                let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("apply patch is not UTF-8"))?;
                match serde_json::from_str::<Value>(text) {
                    Ok(v) => v,
                    Err(_) => serde_saphyr::from_str::<Value>(text)
                        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?,
                }
            }
            _ => parse_json(body)?,
        };
        if ptype == PatchType::Apply
            && !(patch_doc.is_object() && matches!(patch_doc["metadata"], Value::Null | Value::Object(_)))
        {
            return Err(ApiError::bad_request(
                "apply patch must be an object with object metadata",
            ));
        }
        if ptype == PatchType::Apply {
            // Server-side apply builds a typed patch first: a field the schema lacks fails it, whatever the
            // field validation (kube-apiserver: a 500 naming the first such field).
            if let Some(schema) = rt.crd.as_ref().and_then(|c| c.schema.as_ref()) {
                let unknown = schema.apply_unknown_fields(&patch_doc);
                if !unknown.is_empty() {
                    let errors = if unknown.len() == 1 {
                        format!(".{}: field not declared in schema", unknown[0])
                    } else {
                        let lines: Vec<String> = unknown
                            .iter()
                            .map(|f| format!("\n  .{f}: field not declared in schema"))
                            .collect();
                        format!("errors:{}", lines.concat())
                    };
                    return Err(ApiError::new(
                        500,
                        "",
                        format!(
                            "failed to create typed patch object (/{name}; {}, Kind={}): {errors}",
                            rt.api_version(),
                            rt.kind
                        ),
                    ));
                }
            }
        }
        let mut apply_opts = opts.clone();
        apply_opts.apply = ptype == PatchType::Apply;
        let opts = &apply_opts;
        let old = self.raw(&rt.group, &rt.plural, &nsk, name).cloned();
        let Some(old) = old else {
            if ptype == PatchType::Apply {
                let mut obj = patch_doc;
                if obj["metadata"]["name"].is_null() {
                    obj["metadata"]["name"] = json!(name);
                }
                let created = self.write(rt, &nsk, None, obj, opts, WriteMode::Create)?;
                return Ok((created, true));
            }
            return Err(ApiError::not_found(&rt.group, &rt.plural, name));
        };
        let mut new = Self::with_version(rt, old.clone());
        match ptype {
            PatchType::Merge => patch::merge_patch(&mut new, &patch_doc),
            PatchType::Strategic => patch::strategic_merge(&mut new, &patch_doc),
            PatchType::Json => patch::json_patch(&mut new, &patch_doc).map_err(|e| {
                // kube-apiserver hides the JSON-patch error (a failed `test` op included) behind this.
                let _ = e;
                let mut err = ApiError::new(
                    422,
                    "Invalid",
                    "the server rejected our request due to an error in our request",
                );
                err.details = Some(Box::new(json!({})));
                err
            })?,
            PatchType::Apply => {
                if !patch_doc.is_object() {
                    return Err(ApiError::bad_request("apply patch must be an object"));
                }
                let mut doc = patch_doc;
                if let Some(m) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.shift_remove("resourceVersion");
                }
                if rt.is_custom() {
                    patch::merge_patch(&mut new, &doc)
                } else {
                    patch::strategic_merge(&mut new, &doc)
                }
            }
        }
        let mode = if status_only {
            WriteMode::Status
        } else {
            WriteMode::Update
        };
        let out = self.write(rt, &nsk, Some(old), new, opts, mode)?;
        Ok((out, false))
    }

    /// DELETE one object (and, unless `orphan`, what it owns).
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        opts: &WriteOpts,
        orphan: bool,
    ) -> Result<Value, ApiError> {
        let nsk = ns_key(rt, ns);
        let Some(old) = self.raw(&rt.group, &rt.plural, &nsk, name).cloned() else {
            return Err(ApiError::not_found(&rt.group, &rt.plural, name));
        };
        if opts.dry_run {
            return Ok(Self::with_version(rt, old));
        }
        let out = match (rt.group.as_str(), rt.plural.as_str()) {
            ("", "pods") => super::lifecycle::delete_pod(self, &nsk, name, opts.grace_period),
            ("", "namespaces") => super::lifecycle::delete_namespace(self, name),
            _ => self.delete_raw(rt, &nsk, name, orphan),
        };
        super::controllers::reconcile(self, if rt.namespaced { &nsk } else { name });
        Ok(Self::with_version(rt, out.unwrap_or(old)))
    }

    /// Delete without controllers (GC of owned objects, namespace contents, CRD instances).
    pub(crate) fn delete_raw(&mut self, rt: &ResourceType, nsk: &str, name: &str, orphan: bool) -> Option<Value> {
        let old = self.remove(&rt.group, &rt.plural, nsk, name)?;
        let uid = old["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        match (rt.group.as_str(), rt.plural.as_str()) {
            ("", "namespaces") => {
                let types: Vec<ResourceType> = self.registry.types().iter().filter(|t| t.namespaced).cloned().collect();
                let mut seen = Vec::new();
                for t in types {
                    if seen.contains(&(t.group.clone(), t.plural.clone())) {
                        continue;
                    }
                    seen.push((t.group.clone(), t.plural.clone()));
                    let names: Vec<String> = self
                        .in_namespace(&t.group, &t.plural, name)
                        .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
                        .collect();
                    for n in names {
                        self.remove(&t.group, &t.plural, name, &n);
                    }
                }
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                let group = old["spec"]["group"].as_str().unwrap_or_default().to_string();
                let plural = old["spec"]["names"]["plural"].as_str().unwrap_or_default().to_string();
                let keys: Vec<(String, String)> = self
                    .objects
                    .get(&(group.clone(), plural.clone()))
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                for (ns, n) in keys {
                    self.remove(&group, &plural, &ns, &n);
                }
                self.sync_crds();
            }
            _ => {}
        }
        if !uid.is_empty() && rt.namespaced {
            self.collect_garbage(nsk, &uid, orphan);
        }
        Some(old)
    }

    fn collect_garbage(&mut self, ns: &str, owner_uid: &str, orphan: bool) {
        let types: Vec<ResourceType> = self.registry.types().iter().filter(|t| t.namespaced).cloned().collect();
        let mut seen = Vec::new();
        for t in types {
            if seen.contains(&(t.group.clone(), t.plural.clone())) {
                continue;
            }
            seen.push((t.group.clone(), t.plural.clone()));
            let owned: Vec<Value> = self
                .in_namespace(&t.group, &t.plural, ns)
                .filter(|o| {
                    o["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == owner_uid))
                })
                .cloned()
                .collect();
            for mut o in owned {
                let n = o["metadata"]["name"].as_str().unwrap_or_default().to_string();
                if orphan {
                    if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                        refs.retain(|r| r["uid"] != owner_uid);
                    }
                    self.commit(&t.group, &t.plural, ns, &n, o);
                } else if t.group.is_empty() && t.plural == "pods" {
                    // The garbage collector deletes through the API: pods terminate gracefully.
                    if !super::lifecycle::terminating(&o) {
                        super::lifecycle::delete_pod(self, ns, &n, None);
                    }
                } else {
                    self.delete_raw(&t, ns, &n, false);
                }
            }
        }
    }

    fn sync_crds(&mut self) {
        let crds: Vec<Value> = self
            .all("apiextensions.k8s.io", "customresourcedefinitions")
            .cloned()
            .collect();
        self.registry.sync_crds(crds.iter());
    }

    /// The write pipeline shared by create/update/patch/apply/insert.
    fn write(
        &mut self,
        rt: &ResourceType,
        nsk: &str,
        old: Option<Value>,
        mut new: Value,
        opts: &WriteOpts,
        mode: WriteMode,
    ) -> Result<Value, ApiError> {
        if !new.is_object() {
            return Err(ApiError::bad_request("the body of the request must be a JSON object"));
        }
        if !new["metadata"].is_object() {
            new["metadata"] = json!({});
        }
        if !rt.is_custom() {
            validate_shape(rt, &new)?;
        }
        new["apiVersion"] = json!(rt.api_version());
        new["kind"] = json!(rt.kind);
        if rt.namespaced {
            new["metadata"]["namespace"] = json!(nsk);
        } else if let Some(m) = new["metadata"].as_object_mut() {
            m.shift_remove("namespace");
        }
        // Name.
        if old.is_none() && new["metadata"]["name"].as_str().unwrap_or_default().is_empty() {
            match new["metadata"]["generateName"].as_str() {
                Some(prefix) if !prefix.is_empty() => {
                    let n = self.next_seq();
                    let name = format!("{prefix}{}", safe_suffix(fnv(format!("{prefix}{n}").as_bytes()), 5));
                    new["metadata"]["name"] = json!(name);
                }
                _ => {
                    return Err(ApiError::invalid(
                        &rt.group,
                        &rt.kind,
                        "",
                        vec![Cause::new(
                            "FieldValueRequired",
                            "metadata.name",
                            "Required value: name or generateName is required",
                        )],
                    ))
                }
            }
        }
        let name = new["metadata"]["name"].as_str().unwrap_or_default().to_string();
        if !valid_name(&name) && rt.plural != "selfsubjectaccessreviews" {
            return Err(ApiError::invalid(&rt.group, &rt.kind, &name, vec![Cause::new(
                "FieldValueInvalid",
                "metadata.name",
                format!("Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
            )]));
        }
        if rt.namespaced && !self.namespace_exists(nsk) {
            return Err(ApiError::not_found("", "namespaces", nsk));
        }
        if rt.namespaced && old.is_none() {
            super::lifecycle::refuse_create(self, rt, nsk, &name)?;
        }
        match &old {
            None => {
                if self.raw(&rt.group, &rt.plural, nsk, &name).is_some() {
                    return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
                }
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.shift_remove("resourceVersion");
                }
                if mode == WriteMode::Create && opts.from_http && rt.is_custom() && rt.has_status() {
                    if let Some(m) = new.as_object_mut() {
                        m.shift_remove("status");
                    }
                }
                self.init_metadata(rt, nsk, &mut new);
                if rt.group.is_empty() && rt.plural == "pods" {
                    super::controllers::inject_sidecar(self, nsk, &mut new);
                    super::controllers::ambient_capture(self, nsk, &mut new);
                    if self.start_pods_on_create {
                        super::controllers::start_pod(self, &mut new);
                    }
                }
            }
            Some(old) => {
                let want_rv = new["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let have_rv = old["metadata"]["resourceVersion"].as_str().unwrap_or_default();
                if !want_rv.is_empty() && want_rv != have_rv {
                    return Err(ApiError::conflict(&rt.group, &rt.plural, &name));
                }
                match mode {
                    WriteMode::Status => {
                        let status = new.get("status").cloned();
                        new = old.clone();
                        match status {
                            Some(s) => new["status"] = s,
                            None => {
                                if let Some(m) = new.as_object_mut() {
                                    m.shift_remove("status");
                                }
                            }
                        }
                    }
                    WriteMode::Update if rt.has_status() => match old.get("status") {
                        Some(s) => new["status"] = s.clone(),
                        None => {
                            if let Some(m) = new.as_object_mut() {
                                m.shift_remove("status");
                            }
                        }
                    },
                    _ => {}
                }
                // Immutable and server-owned metadata.
                for k in ["uid", "creationTimestamp", "generation", "deletionTimestamp"] {
                    match old["metadata"].get(k) {
                        Some(v) => new["metadata"][k] = v.clone(),
                        None => {
                            if let Some(m) = new["metadata"].as_object_mut() {
                                m.shift_remove(k);
                            }
                        }
                    }
                }
                new["metadata"]["resourceVersion"] = json!(have_rv);
                if new["metadata"]["managedFields"].is_null() {
                    match old["metadata"].get("managedFields") {
                        Some(mf) => new["metadata"]["managedFields"] = mf.clone(),
                        None => {
                            if let Some(m) = new["metadata"].as_object_mut() {
                                m.shift_remove("managedFields");
                            }
                        }
                    }
                }
            }
        }
        // Defaults and schema.
        if let Some(crd) = &rt.crd {
            if let Some(schema) = &crd.schema {
                let admission = schema.admit_update(&mut new, old.as_ref());
                self.warnings.extend(admission.warnings);
                let unknown = admission.unknown_fields;
                if opts.warn_unknown && !opts.strict {
                    self.warnings
                        .extend(unknown.iter().map(|p| format!("unknown field \"{p}\"")));
                }
                if opts.strict && !unknown.is_empty() {
                    let fields: Vec<String> = unknown.iter().map(|p| format!("unknown field \"{p}\"")).collect();
                    return Err(ApiError::bad_request(format!(
                        "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                        rt.kind,
                        rt.version,
                        rt.kind,
                        fields.join(", ")
                    )));
                }
                if !admission.causes.is_empty() {
                    return Err(ApiError::invalid(&rt.group, &rt.kind, &name, admission.causes));
                }
            }
        } else {
            let seq = self.seq;
            default_builtin(&rt.kind, &mut new, seq);
        }
        if let Some(old) = &old {
            let body_changed = !eq_except(old, &new, &["metadata", "status"]);
            if body_changed && (rt.is_custom() || new.get("spec").is_some()) {
                let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
                new["metadata"]["generation"] = json!(g + 1);
            }
            if same_content(old, &new) {
                return Ok(Self::with_version(rt, old.clone()));
            }
        }
        if let Some(manager) = &opts.field_manager {
            let op = if opts.apply { "Apply" } else { "Update" };
            let entry = json!({"manager": manager, "operation": op, "apiVersion": rt.api_version(),
                "time": self.now_str(), "fieldsType": "FieldsV1", "fieldsV1": {}});
            let mut mf: Vec<Value> = new["metadata"]["managedFields"].as_array().cloned().unwrap_or_default();
            mf.retain(|e| e["manager"] != manager.as_str());
            mf.push(entry);
            new["metadata"]["managedFields"] = Value::Array(mf);
        }
        if opts.dry_run {
            return Ok(new);
        }
        self.commit(&rt.group, &rt.plural, nsk, &name, new);
        if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
            self.sync_crds();
            self.mark_crd_established(&name);
        }
        if mode == WriteMode::RawNoControllers {
            // Controllers creating objects do not read the result back: spare the clone.
            return Ok(Value::Null);
        }
        super::controllers::reconcile(self, if rt.namespaced { nsk } else { &name });
        // As stored after the controllers ran; if they already deleted it, as it was last stored.
        let out = match self.raw(&rt.group, &rt.plural, nsk, &name) {
            Some(o) => o.clone(),
            None => self
                .history
                .iter()
                .rev()
                .find(|e| {
                    e.group == rt.group
                        && e.plural == rt.plural
                        && e.namespace == nsk
                        && e.object["metadata"]["name"] == name.as_str()
                })
                .map(|e| (*e.object).clone())
                .unwrap_or_default(),
        };
        Ok(Self::with_version(rt, out))
    }

    fn mark_crd_established(&mut self, name: &str) {
        let Some(mut crd) = self
            .raw("apiextensions.k8s.io", "customresourcedefinitions", "", name)
            .cloned()
        else {
            return;
        };
        if crd["status"]["conditions"].is_array() {
            return;
        }
        let now = self.now_str();
        let mut conditions = vec![
            json!({"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now}),
            json!({"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now}),
        ];
        // Groups under k8s.io / kubernetes.io must carry the API approval annotation (kube-apiserver's
        // KubernetesAPIApprovalPolicyConformant condition, first in its list).
        let group = crd["spec"]["group"].as_str().unwrap_or_default();
        let protected = ["k8s.io", "kubernetes.io"]
            .iter()
            .any(|d| group == *d || group.ends_with(&format!(".{d}")));
        if protected {
            let approval = crd["metadata"]["annotations"]["api-approved.kubernetes.io"]
                .as_str()
                .unwrap_or_default();
            let (status, reason, message) = if approval.starts_with("unapproved") {
                ("False", "UnapprovedAnnotation", format!("not approved: {approval:?}"))
            } else if approval.is_empty() {
                (
                    "False",
                    "MissingAnnotation",
                    "protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111".to_string(),
                )
            } else {
                ("True", "ApprovedAnnotation", format!("approved in {approval}"))
            };
            conditions.insert(
                0,
                json!({"type": "KubernetesAPIApprovalPolicyConformant", "status": status, "reason": reason,
                    "message": message, "lastTransitionTime": now}),
            );
        }
        crd["status"] = json!({
            "acceptedNames": crd["spec"]["names"].clone(),
            "conditions": conditions,
            "storedVersions": crd["spec"]["versions"].as_array().map(|vs| vs.iter().filter(|v| v["storage"] == true).map(|v| v["name"].clone()).collect::<Vec<_>>()).unwrap_or_default(),
        });
        self.commit("apiextensions.k8s.io", "customresourcedefinitions", "", name, crd);
    }

    /// Create through the full pipeline without running controllers (controllers creating objects).
    pub(crate) fn create_internal(&mut self, rt: &ResourceType, ns: &str, obj: Value) -> Result<(), ApiError> {
        self.write(rt, ns, None, obj, &WriteOpts::default(), WriteMode::RawNoControllers)
            .map(drop)
    }

    /// Look up a built-in type by group and plural.
    pub(crate) fn builtin_type(&self, group: &str, plural: &str) -> Option<ResourceType> {
        self.registry
            .types()
            .iter()
            .find(|t| t.group == group && t.plural == plural)
            .cloned()
    }

    /// Evict a pod (policy/v1 Eviction), as kube-apiserver's eviction subresource does (see
    /// [`crate::disruption`]): budgets read from the PodDisruptionBudgets' status and decremented, the pod
    /// deleted gracefully.
    pub fn evict(&mut self, ns: &str, name: &str, dry_run: bool) -> Result<Value, ApiError> {
        super::disruption::evict(self, ns, name, dry_run)
    }
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url without padding (Go's `base64.RawURLEncoding`).
fn base64url_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(BASE64URL[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
    }
    out
}

/// Decode base64url without padding; the error is the offset of the first bad byte (as Go reports it).
fn base64url_decode(s: &str) -> Result<Vec<u8>, usize> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for (i, c) in s.bytes().enumerate() {
        let v = BASE64URL.iter().position(|&x| x == c).ok_or(i)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if s.len() % 4 == 1 {
        return Err(s.len() - 1);
    }
    Ok(out)
}

/// Decode a continue token's JSON as Go's `json.Unmarshal` into k8s.io/apiserver's `continueToken{v, rv,
/// start}` does (field names matched case-insensitively, unknown fields ignored, `null` leaves the zero value),
/// with Go's error texts for the common failures. Returns (v, rv, start).
fn go_json_token(bytes: &[u8]) -> Result<(String, i64, String), String> {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let Some(first) = bytes.iter().find(|b| !is_ws(b)).copied() else {
        return Err("unexpected end of JSON input".into());
    };
    let v: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            if !matches!(first, b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') {
                return Err(format!(
                    "invalid character {} looking for beginning of value",
                    go_quote_char(first)
                ));
            }
            if e.is_eof() {
                return Err("unexpected end of JSON input".into());
            }
            if e.to_string().starts_with("trailing characters") {
                // A whole value followed by more: Go names the first byte after it.
                let mut de = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
                let _ = de.next();
                let at = de.byte_offset();
                let next = bytes[at..].iter().find(|b| !is_ws(b)).copied().unwrap_or(b' ');
                return Err(format!(
                    "invalid character {} after top-level value",
                    go_quote_char(next)
                ));
            }
            // Other syntax errors: Go's scanner words them by state ("after object key", "in string literal"…);
            // serde_json's position is the best we have.
            return Err(format!("invalid character at line {} column {}", e.line(), e.column()));
        }
    };
    let kind = |v: &Value| match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Object(_) => "object",
        Value::Null => "null",
    };
    let Value::Object(map) = &v else {
        if v.is_null() {
            return Ok((String::new(), 0, String::new()));
        }
        return Err(format!(
            "json: cannot unmarshal {} into Go value of type storage.continueToken",
            kind(&v)
        ));
    };
    let field = |name: &str| {
        map.iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let type_err = |name: &str, v: &Value, ty: &str| {
        let shown = match v {
            Value::Number(n) if ty == "int64" => format!("number {n}"),
            other => kind(other).to_string(),
        };
        format!("json: cannot unmarshal {shown} into Go struct field continueToken.{name} of type {ty}")
    };
    let string = |name: &str| match field(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(type_err(name, other, "string")),
    };
    let version = string("v")?;
    let rv = match field("rv") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| type_err("rv", &Value::Number(n.clone()), "int64"))?,
        Some(other) => return Err(type_err("rv", other, "int64")),
    };
    Ok((version, rv, string("start")?))
}

/// A byte as Go's JSON scanner quotes it in errors (`quoteChar`): `'x'`, `'\''`, `'"'`, or `strconv.Quote`'s escape.
fn go_quote_char(b: u8) -> String {
    match b {
        b'\'' => r"'\''".to_string(),
        b'"' => "'\"'".to_string(),
        0x07 => r"'\a'".into(),
        0x08 => r"'\b'".into(),
        0x0c => r"'\f'".into(),
        b'\n' => r"'\n'".into(),
        b'\r' => r"'\r'".into(),
        b'\t' => r"'\t'".into(),
        0x0b => r"'\v'".into(),
        b'\\' => r"'\\'".into(),
        0x20..=0x7e => format!("'{}'", b as char),
        0x00..=0x1f | 0x7f => format!("'\\x{b:02x}'"),
        // Go turns the byte into the rune U+00XX: printable from U+00A1 on, except the soft hyphen.
        0xa1..=0xff if b != 0xad => format!("'{}'", char::from(b)),
        _ => format!("'\\u{b:04x}'"),
    }
}

/// Go's `path.Clean` of an absolute path.
fn go_path_clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Whether a pod has condition Ready=True.
pub fn pod_ready(p: &Value) -> bool {
    p["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// RFC 3339 with second precision, `Z` suffix (as Kubernetes writes timestamps).
pub fn format_ts(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    Create,
    Update,
    Status,
    Raw,
    RawNoControllers,
}

/// Remove nulls from maps recursively (YAML `key:` with no value).
pub fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let keys: Vec<String> = m.iter().filter(|(_, v)| v.is_null()).map(|(k, _)| k.clone()).collect();
            for k in keys {
                m.shift_remove(&k);
            }
            for v in m.values_mut() {
                drop_nulls(v);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Reject bodies whose structure a Go client could not decode (a string where an object belongs, …),
/// with the API server's decode error, so later code can index objects safely.
fn validate_shape(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let fail = |path: &str, want: &str, got: &Value| {
        ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: json: cannot unmarshal {} into Go struct field {kind}.{path} of type {want}",
            type_name(got),
            kind = rt.kind,
            v = rt.version,
        ))
    };
    let object = |path: &str, v: &Value| -> Result<(), ApiError> {
        match v {
            Value::Null | Value::Object(_) => Ok(()),
            other => Err(fail(path, "object", other)),
        }
    };
    let array_of_objects = |path: &str, v: &Value| -> Result<(), ApiError> {
        match v {
            Value::Null => Ok(()),
            Value::Array(items) => match items.iter().find(|i| !i.is_object()) {
                Some(bad) => Err(fail(path, "object", bad)),
                None => Ok(()),
            },
            other => Err(fail(path, "array", other)),
        }
    };
    let string_map = |path: &str, v: &Value| -> Result<(), ApiError> {
        match v {
            Value::Null => Ok(()),
            Value::Object(m) => match m.values().find(|x| !x.is_string()) {
                Some(bad) => Err(fail(path, "string", bad)),
                None => Ok(()),
            },
            other => Err(fail(path, "map[string]string", other)),
        }
    };
    let meta = |path: &str, m: &Value| -> Result<(), ApiError> {
        object(path, m)?;
        string_map(&format!("{path}.labels"), &m["labels"])?;
        string_map(&format!("{path}.annotations"), &m["annotations"])?;
        array_of_objects(&format!("{path}.ownerReferences"), &m["ownerReferences"])
    };
    let pod_spec = |path: &str, s: &Value| -> Result<(), ApiError> {
        object(path, s)?;
        for k in [
            "containers",
            "initContainers",
            "ephemeralContainers",
            "volumes",
            "tolerations",
        ] {
            array_of_objects(&format!("{path}.{k}"), &s[k])?;
        }
        Ok(())
    };
    meta("metadata", &obj["metadata"])?;
    object("spec", &obj["spec"])?;
    object("status", &obj["status"])?;
    for k in ["containerStatuses", "initContainerStatuses", "conditions"] {
        array_of_objects(&format!("status.{k}"), &obj["status"][k])?;
    }
    match rt.kind.as_str() {
        "Pod" => pod_spec("spec", &obj["spec"])?,
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            let t = &obj["spec"]["template"];
            object("spec.template", t)?;
            object("spec.selector", &obj["spec"]["selector"])?;
            string_map("spec.selector.matchLabels", &obj["spec"]["selector"]["matchLabels"])?;
            array_of_objects(
                "spec.selector.matchExpressions",
                &obj["spec"]["selector"]["matchExpressions"],
            )?;
            meta("spec.template.metadata", &t["metadata"])?;
            pod_spec("spec.template.spec", &t["spec"])?;
        }
        "Service" => {
            array_of_objects("spec.ports", &obj["spec"]["ports"])?;
            string_map("spec.selector", &obj["spec"]["selector"])?;
        }
        "PodDisruptionBudget" => object("spec.selector", &obj["spec"]["selector"])?,
        "ConfigMap" | "Secret" => string_map("data", &obj["data"])?,
        _ => {}
    }
    Ok(())
}
