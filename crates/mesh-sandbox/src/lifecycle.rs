//! Graceful deletion, as kube-apiserver, the kubelet and the namespace controller do it:
//!
//! - deleting a pod that is scheduled and not finished sets `metadata.deletionTimestamp` (now + the grace
//!   period: `gracePeriodSeconds` of the request, else `spec.terminationGracePeriodSeconds`, else 30) and
//!   `deletionGracePeriodSeconds`: the pod is Terminating, still listed, until its kubelet has stopped it. The
//!   fake kubelet finishes [`StoreSettings::termination_delay_ms`](crate::StoreSettings) after the deletion
//!   began (as kwok does, without waiting out the grace period) with a last update (grace 0) and the removal;
//!   a delay of 0 finishes at once, in the same reconcile. Pods never scheduled, finished pods and
//!   `gracePeriodSeconds=0` go at once;
//! - deleting a namespace sets its `deletionTimestamp` and `status.phase: Terminating` (`spec.finalizers`
//!   keeps `kubernetes`); creating anything in it is then 403 `NamespaceTerminating`; the namespace controller
//!   deletes its contents (pods gracefully) and removes the namespace once nothing is left.

use serde_json::{json, Value};

use crate::registry::ResourceType;
use crate::status::{ApiError, Cause};
use crate::store::{format_ts, Store};

/// Default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE: i64 = 30;

/// Whether an object is being deleted (`metadata.deletionTimestamp` set).
pub fn terminating(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"].is_string()
}

/// Delete a pod as kube-apiserver does: Terminating first when it runs on a node, gone at once otherwise or
/// with a grace period of 0. Returns the pod as the DELETE answers it.
pub(crate) fn delete_pod(store: &mut Store, ns: &str, name: &str, grace: Option<i64>) -> Option<Value> {
    let mut pod = store.raw("", "pods", ns, name)?.clone();
    let finished = matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"));
    let unscheduled = pod["spec"]["nodeName"].as_str().unwrap_or_default().is_empty();
    let grace = grace
        .or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(DEFAULT_GRACE)
        .max(0);
    if grace == 0 || finished || unscheduled {
        let rt = store.builtin_type("", "pods")?;
        return store.delete_raw(&rt, ns, name, false);
    }
    let now = store.now();
    if let Some(current) = pod["metadata"]["deletionGracePeriodSeconds"].as_i64() {
        // Already terminating: a second DELETE may only shorten the grace period.
        if grace >= current {
            return Some(pod);
        }
    }
    let at = now.checked_add(jiff::SignedDuration::from_secs(grace)).unwrap_or(now);
    pod["metadata"]["deletionTimestamp"] = json!(format_ts(at));
    pod["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
    // When the kubelet saw the deletion (kept by the store, not in the pod); a shorter grace period asked for
    // later does not restart it.
    store
        .termination_started
        .entry((ns.to_string(), name.to_string()))
        .or_insert(now);
    store.commit("", "pods", ns, name, pod);
    let out = store.raw("", "pods", ns, name).cloned();
    if store.settings.termination_delay_ms == 0 {
        finish_terminating(store, ns, now);
    }
    out
}

/// The kubelet's side: stop Terminating pods whose termination began at or before `cutoff` (their last update,
/// grace 0, then removal). Returns whether anything changed.
pub(crate) fn finish_terminating(store: &mut Store, ns: &str, cutoff: jiff::Timestamp) -> bool {
    let due: Vec<String> = store
        .termination_started
        .iter()
        .filter(|((n, _), started)| n == ns && **started <= cutoff)
        .map(|((_, name), _)| name.clone())
        .collect();
    let Some(rt) = store.builtin_type("", "pods") else {
        return false;
    };
    let mut changed = false;
    for name in due {
        store.termination_started.remove(&(ns.to_string(), name.clone()));
        let Some(mut pod) = store.raw("", "pods", ns, &name).cloned() else {
            continue;
        };
        pod["metadata"]["deletionTimestamp"] = json!(store.now_str());
        pod["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        store.commit("", "pods", ns, &name, pod);
        store.delete_raw(&rt, ns, &name, false);
        changed = true;
    }
    changed
}

/// Namespaces with pods still terminating (for the kubelet's tick), and the Terminating namespaces whose
/// deletion began at or before `cutoff` (for the namespace controller's).
pub(crate) fn namespaces_terminating_pods(store: &Store, cutoff: jiff::Timestamp) -> Vec<String> {
    let mut v: Vec<String> = store.termination_started.keys().map(|(ns, _)| ns.clone()).collect();
    v.extend(
        store
            .namespace_deletion_started
            .iter()
            .filter(|(_, at)| **at <= cutoff)
            .map(|(ns, _)| ns.clone()),
    );
    v.sort();
    v.dedup();
    v
}

/// Start deleting a namespace: Terminating, then emptied by [`namespace_controller`].
pub(crate) fn delete_namespace(store: &mut Store, name: &str) -> Option<Value> {
    let mut ns = store.raw("", "namespaces", "", name)?.clone();
    if !terminating(&ns) {
        ns["metadata"]["deletionTimestamp"] = json!(store.now_str());
        ns["status"]["phase"] = json!("Terminating");
        store.commit("", "namespaces", "", name, ns);
        let now = store.now();
        store.namespace_deletion_started.insert(name.to_string(), now);
    }
    namespace_controller(store, name);
    store.raw("", "namespaces", "", name).cloned()
}

/// The 403 for a create in a Terminating namespace.
pub(crate) fn refuse_create(store: &Store, rt: &ResourceType, ns: &str, name: &str) -> Result<(), ApiError> {
    let Some(namespace) = store.raw("", "namespaces", "", ns) else {
        return Ok(());
    };
    if !terminating(namespace) {
        return Ok(());
    }
    let mut e = ApiError::new(
        403,
        "Forbidden",
        format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
            rt.qualified()
        ),
    );
    e.details = Some(Box::new(json!({"name": name, "kind": rt.plural, "causes": [
        Cause::new("NamespaceTerminating", "metadata.namespace", format!("namespace {ns} is being terminated"))]})));
    Err(e)
}

/// The namespace controller: delete what a Terminating namespace holds (pods gracefully), and the namespace
/// itself once it is empty.
pub(crate) fn namespace_controller(store: &mut Store, name: &str) {
    let Some(ns) = store.raw("", "namespaces", "", name) else {
        store.namespace_deletion_started.remove(name);
        return;
    };
    if !terminating(ns) {
        return;
    }

    let types: Vec<ResourceType> = store
        .registry
        .types()
        .iter()
        .filter(|t| t.namespaced)
        .cloned()
        .collect();
    let mut seen = Vec::new();
    let mut left = 0usize;
    for t in types {
        if seen.contains(&(t.group.clone(), t.plural.clone())) {
            continue;
        }
        seen.push((t.group.clone(), t.plural.clone()));
        let names: Vec<(String, bool)> = store
            .in_namespace(&t.group, &t.plural, name)
            .map(|o| {
                (
                    o["metadata"]["name"].as_str().unwrap_or_default().to_string(),
                    terminating(o),
                )
            })
            .collect();
        for (n, already) in names {
            if t.group.is_empty() && t.plural == "pods" {
                if !already {
                    delete_pod(store, name, &n, None);
                }
                if store.raw("", "pods", name, &n).is_some() {
                    left += 1;
                }
            } else {
                store.remove(&t.group, &t.plural, name, &n);
            }
        }
    }
    // The namespace itself goes once empty, but not before the controller's delay (the fake kubelet's) has
    // passed since the deletion began: kube-apiserver leaves even an empty namespace Terminating until its
    // (asynchronous) namespace controller has removed the `kubernetes` finalizer.
    let due = store.namespace_deletion_started.get(name).is_none_or(|at| {
        let delay = jiff::SignedDuration::from_millis(store.settings.termination_delay_ms as i64);
        at.checked_add(delay).is_ok_and(|due| store.now() >= due)
    });
    if left == 0 && due {
        if let Some(rt) = store.builtin_type("", "namespaces") {
            store.delete_raw(&rt, "", name, false);
        }
        store.namespace_deletion_started.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminating_means_a_deletion_timestamp() {
        assert!(terminating(
            &json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}})
        ));
        assert!(!terminating(&json!({"metadata": {}})));
    }
}
