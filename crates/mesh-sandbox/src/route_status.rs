//! A route-status controller playing istiod's part for mesh routes: for every HTTPRoute and GRPCRoute with a mesh
//! parent (a Service, group `""`), it writes `status.parents[]` the way Istio does, asynchronously, after the
//! write that changed the route's generation — so `kubectl mesh shift --wait` meets what it meets on a cluster: a
//! PUT answer without the new status, then a MODIFIED watch event carrying it.
//!
//! How Istio writes it (istio `pilot/pkg/config/kube/gateway/conditions.go`, `gatewaycommon/conversion.go`):
//! one entry per parentRef, `parentRef` echoed verbatim from the spec (port included), `controllerName:
//! istio.io/gateway-controller` (for mesh parents too), conditions sorted by type (`Accepted`, `ResolvedRefs`, and
//! `ResolvedWaypoints` only with ambient on), each with `observedGeneration` = the generation judged; entries of
//! other controllers are left alone, ours for parents no longer in the spec are deleted; `group: core` is not a
//! Service to Istio (no entry). Failures it writes: a missing parent Service → `Accepted=False NoMatchingParent
//! "parent service: \"NAME\" not found"`; a missing backend Service → `ResolvedRefs=False BackendNotFound
//! "backend(NAME.NS.svc.cluster.local) not found"`. `ResolvedWaypoints` stays `True` even when the waypoint label
//! is missing; only its message says so.
//!
//! Tests choose how the controller answers with a [`RouteStatusMode`] (per server or per route): accept (the
//! real checks above, the default), reject with a condition/reason/message, slow (the verdict written a delay
//! after the generation was first seen), silent (never written); a script gives one verdict per new generation in
//! order. By hand, the annotation `sandbox.kubectl-mesh.dev/route-status` on a route says the same:
//! `accept`, `silent`, `slow=2s`, `reject=ResolvedRefs/BackendNotFound/message`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::store::Store;

/// The controller name Istio writes into route status.
pub const ISTIO_CONTROLLER: &str = "istio.io/gateway-controller";
/// The annotation that overrides the mode for one route.
pub const MODE_ANNOTATION: &str = "sandbox.kubectl-mesh.dev/route-status";
const GROUP: &str = "gateway.networking.k8s.io";
const KINDS: [(&str, &str); 2] = [("httproutes", "HTTPRoute"), ("grpcroutes", "GRPCRoute")];

/// What the controller answers for one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteVerdict {
    /// Judge as Istio does (parent and backend Services must exist).
    Accept,
    /// Write `condition` False with this reason and message, the others True.
    Reject {
        condition: String,
        reason: String,
        message: String,
    },
    /// Write nothing for the generation.
    Silent,
}

/// How the controller answers a route (or every route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteStatusMode {
    /// One verdict per new generation, in order.
    pub script: Vec<RouteVerdict>,
    /// Once the script is used up.
    pub then: RouteVerdict,
    /// How long after a generation is first seen its status is written.
    pub delay: Duration,
}

impl Default for RouteStatusMode {
    fn default() -> Self {
        RouteStatusMode::accept()
    }
}

impl RouteStatusMode {
    /// Istio's judgement, at once.
    pub fn accept() -> Self {
        RouteStatusMode {
            script: Vec::new(),
            then: RouteVerdict::Accept,
            delay: Duration::ZERO,
        }
    }

    /// Every generation rejected with this condition, reason and message.
    pub fn reject(condition: &str, reason: &str, message: &str) -> Self {
        RouteStatusMode {
            then: RouteVerdict::Reject {
                condition: condition.into(),
                reason: reason.into(),
                message: message.into(),
            },
            ..RouteStatusMode::accept()
        }
    }

    /// Nothing is ever written.
    pub fn silent() -> Self {
        RouteStatusMode {
            then: RouteVerdict::Silent,
            ..RouteStatusMode::accept()
        }
    }

    /// Istio's judgement, `delay` after the generation is first seen.
    pub fn slow(delay: Duration) -> Self {
        RouteStatusMode {
            delay,
            ..RouteStatusMode::accept()
        }
    }

    /// These verdicts for the next generations, then `then`.
    pub fn script(script: Vec<RouteVerdict>, then: RouteVerdict) -> Self {
        RouteStatusMode {
            script,
            then,
            delay: Duration::ZERO,
        }
    }

    /// The same, `delay` after each generation is first seen.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Parse the annotation's value.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text == "accept" {
            return Some(RouteStatusMode::accept());
        }
        if text == "silent" {
            return Some(RouteStatusMode::silent());
        }
        if let Some(d) = text.strip_prefix("slow=") {
            let d = d.trim();
            let (n, unit) = d.split_at(d.find(|c: char| !c.is_ascii_digit())?);
            let n: u64 = n.parse().ok()?;
            let delay = match unit {
                "ms" => Duration::from_millis(n),
                "s" => Duration::from_secs(n),
                "m" => Duration::from_secs(n * 60),
                _ => return None,
            };
            return Some(RouteStatusMode::slow(delay));
        }
        let r = text.strip_prefix("reject=")?;
        let mut parts = r.splitn(3, '/');
        let condition = parts.next().filter(|c| !c.is_empty())?;
        let reason = parts.next().unwrap_or("Rejected");
        let message = parts.next().unwrap_or("rejected by the sandbox");
        Some(RouteStatusMode::reject(condition, reason, message))
    }
}

/// Key of one route: (plural, namespace, name).
type RouteKey = (String, String, String);

/// What the controller decided for a route's current generation.
#[derive(Debug, Clone)]
struct Decision {
    generation: i64,
    verdict: RouteVerdict,
    first_seen: Instant,
    written: bool,
}

/// The controller's state, kept in the store.
#[derive(Debug, Default)]
pub struct RouteStatusState {
    /// Server-wide mode.
    pub(crate) default: RouteStatusMode,
    /// Per route (by plural, namespace, name).
    pub(crate) per_route: HashMap<RouteKey, RouteStatusMode>,
    /// Script positions used per route.
    used: HashMap<RouteKey, usize>,
    decisions: HashMap<RouteKey, Decision>,
    /// The store's resourceVersion at the last full pass.
    last_rv: u64,
    /// Passes so far (tests).
    pub passes: u64,
}

impl RouteStatusState {
    fn mode_for(&self, key: &RouteKey, route: &Value) -> RouteStatusMode {
        if let Some(m) = route
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(MODE_ANNOTATION))
            .and_then(Value::as_str)
            .and_then(RouteStatusMode::parse)
        {
            return m;
        }
        self.per_route.get(key).cloned().unwrap_or_else(|| self.default.clone())
    }

    /// Forget decisions and script positions (a new mode was set).
    pub(crate) fn reset(&mut self, key: Option<&RouteKey>) {
        match key {
            Some(k) => {
                self.used.remove(k);
                self.decisions.remove(k);
            }
            None => {
                self.used.clear();
                self.decisions.clear();
            }
        }
        self.last_rv = 0;
    }
}

/// Whether a parentRef is a mesh parent Istio writes status for: a Service (group `""`, not `core`) or a
/// ServiceEntry.
fn mesh_parent(p: &Value) -> bool {
    let group = p.get("group").and_then(Value::as_str);
    let kind = p.get("kind").and_then(Value::as_str);
    matches!(
        (group, kind),
        (Some(""), Some("Service")) | (Some("networking.istio.io"), Some("ServiceEntry"))
    )
}

fn ref_key(p: &Value, route_ns: &str) -> String {
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let ns = p.get("namespace").and_then(Value::as_str).unwrap_or(route_ns);
    format!(
        "{}/{}/{}/{}/{}.{ns}",
        s("group"),
        s("kind"),
        s("name"),
        s("sectionName"),
        p.get("port").map(|v| v.to_string()).unwrap_or_default()
    )
}

fn condition(ty: &str, ok: bool, reason: &str, message: &str, generation: i64, now: &str) -> Value {
    json!({"type": ty, "status": if ok { "True" } else { "False" }, "reason": reason, "message": message,
           "observedGeneration": generation, "lastTransitionTime": now})
}

/// The conditions Istio would write for one parent at `generation`.
fn judge(
    store: &Store,
    route: &Value,
    parent: &Value,
    verdict: &RouteVerdict,
    generation: i64,
    now: &str,
) -> Vec<Value> {
    let ns = route
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut accepted = (true, "Accepted".to_string(), "Route was valid".to_string());
    let mut refs = (true, "ResolvedRefs".to_string(), "All references resolved".to_string());
    match verdict {
        RouteVerdict::Reject {
            condition,
            reason,
            message,
        } => {
            let target = if condition == "Accepted" {
                &mut accepted
            } else {
                &mut refs
            };
            if condition == "Accepted" || condition == "ResolvedRefs" {
                *target = (false, reason.clone(), message.clone());
            }
        }
        _ => {
            let parent_name = parent.get("name").and_then(Value::as_str).unwrap_or("");
            let parent_ns = parent.get("namespace").and_then(Value::as_str).unwrap_or(ns);
            if parent.get("kind").and_then(Value::as_str) == Some("Service")
                && store.raw("", "services", parent_ns, parent_name).is_none()
            {
                accepted = (
                    false,
                    "NoMatchingParent".into(),
                    format!("parent service: {parent_name:?} not found"),
                );
            }
            let missing = route
                .pointer("/spec/rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|r| r.get("backendRefs").and_then(Value::as_array).into_iter().flatten())
                .find(|b| {
                    let kind = b.get("kind").and_then(Value::as_str).unwrap_or("Service");
                    let group = b.get("group").and_then(Value::as_str).unwrap_or("");
                    let bns = b.get("namespace").and_then(Value::as_str).unwrap_or(ns);
                    let name = b.get("name").and_then(Value::as_str).unwrap_or("");
                    kind == "Service" && group.is_empty() && store.raw("", "services", bns, name).is_none()
                });
            if let Some(b) = missing {
                let name = b.get("name").and_then(Value::as_str).unwrap_or("");
                let bns = b.get("namespace").and_then(Value::as_str).unwrap_or(ns);
                refs = (
                    false,
                    "BackendNotFound".into(),
                    format!("backend({name}.{bns}.svc.cluster.local) not found"),
                );
            }
        }
    }
    let mut out = vec![
        condition("Accepted", accepted.0, &accepted.1, &accepted.2, generation, now),
        condition("ResolvedRefs", refs.0, &refs.1, &refs.2, generation, now),
    ];
    if store.settings.ambient {
        let reject = match verdict {
            RouteVerdict::Reject {
                condition,
                reason,
                message,
            } if condition == "ResolvedWaypoints" => Some((reason.clone(), message.clone())),
            _ => None,
        };
        let labelled = |v: Option<&Value>| {
            v.and_then(|o| o.pointer("/metadata/labels/istio.io~1use-waypoint"))
                .is_some()
        };
        let parent_name = parent.get("name").and_then(Value::as_str).unwrap_or("");
        let has_waypoint =
            labelled(store.raw("", "services", ns, parent_name)) || labelled(store.raw("", "namespaces", "", ns));
        out.push(match reject {
            Some((reason, message)) => condition("ResolvedWaypoints", false, &reason, &message, generation, now),
            None if has_waypoint => condition(
                "ResolvedWaypoints",
                true,
                "ResolvedWaypoints",
                "All waypoints resolved",
                generation,
                now,
            ),
            None => condition(
                "ResolvedWaypoints",
                true,
                "ResolvedWaypoints",
                "istio.io/use-waypoint label missing from parent and parent namespace; in ambient mode, route will not be respected",
                generation,
                now,
            ),
        });
    }
    out
}

/// Whether our entries already say everything about `generation` for exactly the spec's mesh parents.
fn settled(route: &Value, parents: &[Value], generation: i64) -> bool {
    let ns = route
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let ours: Vec<&Value> = route
        .pointer("/status/parents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("controllerName").and_then(Value::as_str) == Some(ISTIO_CONTROLLER))
        .filter(|e| e.get("parentRef").is_some_and(mesh_parent))
        .collect();
    ours.len() == parents.len()
        && parents.iter().all(|p| {
            ours.iter().any(|e| {
                e.get("parentRef") == Some(p)
                    && e.get("conditions").and_then(Value::as_array).is_some_and(|cs| {
                        !cs.is_empty()
                            && cs
                                .iter()
                                .all(|c| c.get("observedGeneration").and_then(Value::as_i64) == Some(generation))
                    })
            })
        })
        && ours.iter().all(|e| {
            e.get("parentRef")
                .is_some_and(|pr| parents.iter().any(|p| ref_key(p, ns) == ref_key(pr, ns)))
        })
}

/// Write our entries for `generation` into the route's status, as Istio does.
fn write_status(
    store: &mut Store,
    plural: &str,
    route: &Value,
    parents: &[Value],
    verdict: &RouteVerdict,
    generation: i64,
) {
    let ns = route
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = route
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let now = store.now_str();
    let old: Vec<Value> = route
        .pointer("/status/parents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let is_ours = |e: &Value| e.get("controllerName").and_then(Value::as_str) == Some(ISTIO_CONTROLLER);
    let mut entries: Vec<Value> = Vec::new();
    let mut placed: Vec<bool> = vec![false; parents.len()];
    let fresh = |store: &Store, p: &Value, previous: Option<&Value>| -> Value {
        let mut conds = judge(store, route, p, verdict, generation, &now);
        for c in &mut conds {
            let prev = previous
                .and_then(|e| e.get("conditions"))
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|o| o.get("type") == c.get("type")));
            if let Some(prev) = prev {
                if prev.get("status") == c.get("status") {
                    c["lastTransitionTime"] = prev.get("lastTransitionTime").cloned().unwrap_or(json!(now));
                }
            }
        }
        json!({"parentRef": p, "controllerName": ISTIO_CONTROLLER, "conditions": conds})
    };
    for e in &old {
        if !is_ours(e) || !e.get("parentRef").is_some_and(mesh_parent) {
            entries.push(e.clone());
            continue;
        }
        let key = e.get("parentRef").map(|pr| ref_key(pr, &ns)).unwrap_or_default();
        match parents.iter().position(|p| ref_key(p, &ns) == key) {
            Some(i) if !placed[i] => {
                placed[i] = true;
                entries.push(fresh(store, &parents[i], Some(e)));
            }
            // Ours for a parent no longer in the spec: Istio deletes it.
            _ => {}
        }
    }
    for (i, p) in parents.iter().enumerate() {
        if !placed[i] {
            entries.push(fresh(store, p, None));
        }
    }
    let mut new = route.clone();
    if !new["status"].is_object() {
        new["status"] = json!({});
    }
    new["status"]["parents"] = Value::Array(entries);
    store.commit(GROUP, plural, &ns, &name, new);
}

/// One pass over every mesh route: decide each new generation's verdict, write the ones that are due. Cheap when
/// nothing changed since the last pass and nothing is waiting.
pub fn route_status(store: &mut Store, now: Instant) {
    let waiting = store
        .route_status
        .decisions
        .values()
        .any(|d| !d.written && d.verdict != RouteVerdict::Silent);
    if store.resource_version() == store.route_status.last_rv && !waiting {
        return;
    }
    store.route_status.passes += 1;
    let mut todo: Vec<(String, Value)> = Vec::new();
    for (plural, _) in KINDS {
        for r in store.all(GROUP, plural) {
            todo.push((plural.to_string(), r.clone()));
        }
    }
    let mut live_keys = Vec::new();
    for (plural, route) in todo {
        let ns = route
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let name = route
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let key: RouteKey = (plural.clone(), ns, name);
        live_keys.push(key.clone());
        let parents: Vec<Value> = route
            .pointer("/spec/parentRefs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|p| mesh_parent(p))
            .cloned()
            .collect();
        let has_ours = route
            .pointer("/status/parents")
            .and_then(Value::as_array)
            .is_some_and(|ps| {
                ps.iter().any(|e| {
                    e.get("controllerName").and_then(Value::as_str) == Some(ISTIO_CONTROLLER)
                        && e.get("parentRef").is_some_and(mesh_parent)
                })
            });
        if parents.is_empty() && !has_ours {
            continue;
        }
        let generation = route
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        if settled(&route, &parents, generation) {
            continue;
        }
        let state = &mut store.route_status;
        let decision = match state.decisions.get(&key) {
            Some(d) if d.generation == generation => d.clone(),
            _ => {
                let mode = state.mode_for(&key, &route);
                let used = state.used.entry(key.clone()).or_insert(0);
                let verdict = match mode.script.get(*used) {
                    Some(v) => {
                        *used += 1;
                        v.clone()
                    }
                    None => mode.then.clone(),
                };
                let d = Decision {
                    generation,
                    verdict,
                    first_seen: now,
                    written: false,
                };
                state.decisions.insert(key.clone(), d.clone());
                d
            }
        };
        let delay = store.route_status.mode_for(&key, &route).delay;
        if decision.written || decision.verdict == RouteVerdict::Silent || now < decision.first_seen + delay {
            continue;
        }
        write_status(store, &plural, &route, &parents, &decision.verdict, generation);
        if let Some(d) = store.route_status.decisions.get_mut(&key) {
            d.written = true;
        }
    }
    let rv = store.resource_version();
    let state = &mut store.route_status;
    state.decisions.retain(|k, _| live_keys.contains(k));
    state.last_rv = rv;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{bookinfo, GatewayApiBundle};
    use crate::store::{StoreSettings, WriteOpts};
    use std::sync::Arc;

    fn store(bundle: GatewayApiBundle) -> Store {
        let mut s = Store::new(StoreSettings::default(), Arc::new(tokio::sync::Notify::new()));
        bookinfo().crds(bundle).build(&mut s).unwrap();
        s
    }

    fn reviews(s: &Store) -> Value {
        s.raw(GROUP, "httproutes", "istio-demo", "reviews").unwrap().clone()
    }

    fn shift(s: &mut Store, backend: &str) -> i64 {
        let mut r = reviews(s);
        r["spec"]["rules"][0]["backendRefs"] = json!([{"name": backend, "port": 9080}]);
        let rt = s.registry.resolve("httproutes").unwrap().clone();
        let out = s
            .update(&rt, Some("istio-demo"), "reviews", r, &WriteOpts::default(), false)
            .unwrap();
        out["metadata"]["generation"].as_i64().unwrap()
    }

    fn ours(route: &Value) -> Vec<Value> {
        route["status"]["parents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["controllerName"] == ISTIO_CONTROLLER)
            .cloned()
            .collect()
    }

    #[test]
    fn the_scenario_is_settled_and_the_echo_keeps_the_port() {
        let mut s = store(GatewayApiBundle::V1_6);
        let rv = s.resource_version();
        route_status(&mut s, Instant::now());
        assert_eq!(s.resource_version(), rv, "nothing left to write after the scenario");
        let e = &ours(&reviews(&s))[0];
        assert_eq!(
            e["parentRef"],
            json!({"group": "", "kind": "Service", "name": "reviews", "port": 9080})
        );
        let s0 = store(GatewayApiBundle::V1_0);
        let e = &ours(&reviews(&s0))[0];
        assert_eq!(
            e["parentRef"],
            json!({"group": "", "kind": "Service", "name": "reviews"}),
            "v1.0.0 prunes port"
        );
    }

    #[test]
    fn a_new_generation_is_accepted_with_its_observed_generation() {
        let mut s = store(GatewayApiBundle::V1_6);
        let before = reviews(&s);
        let g = shift(&mut s, "reviews-v3");
        assert_eq!(g, 2);
        route_status(&mut s, Instant::now());
        let after = reviews(&s);
        assert_eq!(
            after["metadata"]["generation"], 2,
            "status writes never bump the generation"
        );
        let conds = ours(&after)[0]["conditions"].clone();
        assert_eq!(conds[0]["type"], "Accepted");
        assert_eq!(conds[1]["type"], "ResolvedRefs");
        assert!(conds
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["observedGeneration"] == 2 && c["status"] == "True"));
        // Unchanged status: lastTransitionTime kept.
        assert_eq!(
            conds[0]["lastTransitionTime"],
            ours(&before)[0]["conditions"][0]["lastTransitionTime"]
        );
        // A missing backend: what Istio says.
        shift(&mut s, "reviews-v9");
        route_status(&mut s, Instant::now());
        let c = &ours(&reviews(&s))[0]["conditions"][1];
        assert_eq!(c["status"], "False");
        assert_eq!(c["reason"], "BackendNotFound");
        assert_eq!(
            c["message"],
            "backend(reviews-v9.istio-demo.svc.cluster.local) not found"
        );
    }

    #[test]
    fn scripts_slow_and_silent_modes() {
        let mut s = store(GatewayApiBundle::V1_0);
        let key = (
            "httproutes".to_string(),
            "istio-demo".to_string(),
            "reviews".to_string(),
        );
        s.route_status.per_route.insert(
            key,
            RouteStatusMode::script(
                vec![
                    RouteVerdict::Accept,
                    RouteVerdict::Reject {
                        condition: "ResolvedRefs".into(),
                        reason: "BackendNotFound".into(),
                        message: "nope".into(),
                    },
                ],
                RouteVerdict::Silent,
            )
            .with_delay(Duration::from_millis(200)),
        );
        let t0 = Instant::now();
        shift(&mut s, "reviews-v2");
        route_status(&mut s, t0);
        assert_eq!(
            ours(&reviews(&s))[0]["conditions"][0]["observedGeneration"],
            1,
            "slow: not yet"
        );
        route_status(&mut s, t0 + Duration::from_millis(250));
        assert_eq!(ours(&reviews(&s))[0]["conditions"][0]["observedGeneration"], 2);
        shift(&mut s, "reviews-v3");
        route_status(&mut s, t0 + Duration::from_millis(300));
        route_status(&mut s, t0 + Duration::from_millis(600));
        let c = &ours(&reviews(&s))[0]["conditions"];
        assert_eq!(
            (c[1]["status"].as_str(), c[1]["observedGeneration"].as_i64()),
            (Some("False"), Some(3))
        );
        shift(&mut s, "reviews-v1");
        route_status(&mut s, t0 + Duration::from_secs(5));
        assert_eq!(
            ours(&reviews(&s))[0]["conditions"][0]["observedGeneration"],
            3,
            "silent"
        );
    }

    #[test]
    fn other_controllers_entries_stay_and_stale_parents_go() {
        let mut s = store(GatewayApiBundle::V1_0);
        let mut r = reviews(&s);
        r["status"]["parents"].as_array_mut().unwrap().push(json!({
            "parentRef": {"group": "", "kind": "Service", "name": "reviews"},
            "controllerName": "linkerd.io/policy-controller",
            "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "", "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}));
        r["status"]["parents"].as_array_mut().unwrap().push(json!({
            "parentRef": {"group": "", "kind": "Service", "name": "gone"},
            "controllerName": ISTIO_CONTROLLER,
            "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "", "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}));
        s.insert(r).unwrap();
        route_status(&mut s, Instant::now());
        let after = reviews(&s);
        let controllers: Vec<&str> = after["status"]["parents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["controllerName"].as_str().unwrap())
            .collect();
        assert_eq!(controllers, vec![ISTIO_CONTROLLER, "linkerd.io/policy-controller"]);
        assert_eq!(ours(&after).len(), 1);
    }

    #[test]
    fn the_annotation_sets_the_mode_by_hand() {
        assert_eq!(
            RouteStatusMode::parse("slow=2s"),
            Some(RouteStatusMode::slow(Duration::from_secs(2)))
        );
        assert_eq!(
            RouteStatusMode::parse("reject=ResolvedRefs/BackendNotFound/backend(x) not found"),
            Some(RouteStatusMode::reject(
                "ResolvedRefs",
                "BackendNotFound",
                "backend(x) not found"
            ))
        );
        assert_eq!(RouteStatusMode::parse("silent"), Some(RouteStatusMode::silent()));
        assert_eq!(RouteStatusMode::parse("bogus"), None);
        let mut s = store(GatewayApiBundle::V1_0);
        let mut r = reviews(&s);
        r["metadata"]["annotations"] = json!({MODE_ANNOTATION: "reject=Accepted/NotAllowedByListeners/no"});
        r["spec"]["rules"][0]["backendRefs"] = json!([{"name": "reviews-v2", "port": 9080}]);
        s.insert(r).unwrap();
        route_status(&mut s, Instant::now());
        let c = &ours(&reviews(&s))[0]["conditions"][0];
        assert_eq!(
            (c["status"].as_str(), c["reason"].as_str()),
            (Some("False"), Some("NotAllowedByListeners"))
        );
    }

    #[test]
    fn core_group_parents_get_no_entry_as_in_istio() {
        let mut s = store(GatewayApiBundle::V1_0);
        let mut r = reviews(&s);
        r["spec"]["parentRefs"] = json!([{"group": "core", "kind": "Service", "name": "reviews"}]);
        s.insert(r).unwrap();
        route_status(&mut s, Instant::now());
        assert!(ours(&reviews(&s)).is_empty(), "{}", reviews(&s)["status"]);
    }
}
