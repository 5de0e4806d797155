//! PodDisruptionBudgets as the real cluster handles them: the disruption controller of
//! kube-controller-manager (`pkg/controller/disruption`, v1.37.2) writes each budget's status, and the eviction
//! subresource (`pkg/registry/core/pod/storage/eviction.go`) reads that status and decrements it.
//!
//! Controller: for the pods a budget selects, `expectedPods` (the pod count for an integer `minAvailable`, else
//! the summed scale of their controllers), `desiredHealthy` (`minAvailable`, or expected − `maxUnavailable`,
//! percentages rounded up), `currentHealthy` (Ready pods neither terminating nor in `disruptedPods`),
//! `disruptionsAllowed` (current − desired, at least 0, and 0 while no pod is expected), `disruptedPods` (pods an
//! eviction let go that are not yet terminating, kept 2 minutes), `observedGeneration`, and the
//! `DisruptionAllowed` condition (SufficientPods / InsufficientPods).
//!
//! Eviction: finished, pending and terminating pods are deleted without looking at budgets; more than one budget
//! is a 500; an unready pod goes without using up the budget when it is healthy enough (or with
//! `unhealthyPodEvictionPolicy: AlwaysAllow`); otherwise a budget whose status is older than its spec answers 429
//! "still being processed", one that allows no disruption 429 with the reason, and one that allows it is
//! decremented (the pod recorded in `disruptedPods`) before the pod is deleted gracefully with a
//! `DisruptionTarget` condition.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::lifecycle::{self, terminating};
use crate::select::LabelSelector;
use crate::status::ApiError;
use crate::store::{format_ts, pod_ready, Store};

/// How long a pod an eviction let go may stay in `disruptedPods` before the controller forgets it.
const DELETION_TIMEOUT_SECS: i64 = 120;

fn int_or_percent(v: &Value, total: i64) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => {
            let p: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            // intstr.GetScaledValueFromIntOrPercent(..., roundUp = true)
            (p * total + 99) / 100
        }
        _ => 0,
    }
}

/// The pods a budget selects (an empty or absent selector selects none), by reference.
fn selected<'a>(store: &'a Store, ns: &'a str, pdb: &Value) -> Vec<&'a Value> {
    let sel = LabelSelector::from_object(&pdb["spec"]["selector"]);
    if sel.is_empty() {
        return vec![];
    }
    store.in_namespace("", "pods", ns).filter(|p| sel.matches(p)).collect()
}

/// The replicas a pod's controller wants (ReplicaSets count their Deployment's), keyed by controller uid.
fn controller_scale(store: &Store, ns: &str, pod: &Value) -> Option<(String, i64)> {
    let owner = pod["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)?;
    let name = owner["name"].as_str()?;
    let replicas = |o: &Value| o["spec"]["replicas"].as_i64().unwrap_or(1);
    match owner["kind"].as_str()? {
        "ReplicaSet" => {
            let rs = store.raw("apps", "replicasets", ns, name)?;
            let deployment = rs["metadata"]["ownerReferences"]
                .as_array()
                .and_then(|refs| {
                    refs.iter()
                        .find(|r| r["controller"] == true && r["kind"] == "Deployment")
                })
                .and_then(|r| store.raw("apps", "deployments", ns, r["name"].as_str()?));
            match deployment {
                Some(d) => Some((d["metadata"]["uid"].as_str()?.to_string(), replicas(d))),
                None => Some((rs["metadata"]["uid"].as_str()?.to_string(), replicas(rs))),
            }
        }
        "StatefulSet" => {
            let s = store.raw("apps", "statefulsets", ns, name)?;
            Some((s["metadata"]["uid"].as_str()?.to_string(), replicas(s)))
        }
        _ => None,
    }
}

/// (expectedPods, desiredHealthy) as `getExpectedPodCount` computes them.
fn expected_and_desired(store: &Store, ns: &str, pdb: &Value, pods: &[&Value]) -> (i64, i64) {
    let spec = &pdb["spec"];
    let scale = || -> i64 {
        let mut by_controller: BTreeMap<String, i64> = BTreeMap::new();
        for p in pods {
            if let Some((uid, n)) = controller_scale(store, ns, p) {
                by_controller.insert(uid, n);
            }
        }
        by_controller.values().sum()
    };
    if let Some(max) = spec.get("maxUnavailable").filter(|v| !v.is_null()) {
        let expected = scale();
        (expected, (expected - int_or_percent(max, expected)).max(0))
    } else if let Some(min) = spec.get("minAvailable").filter(|v| !v.is_null()) {
        match min {
            Value::Number(n) => (pods.len() as i64, n.as_i64().unwrap_or(0)),
            _ => {
                let expected = scale();
                (expected, int_or_percent(min, expected))
            }
        }
    } else {
        (0, 0)
    }
}

/// Set the `DisruptionAllowed` condition for the status' `disruptionsAllowed` (meta.SetStatusCondition: the
/// transition time changes only when the status does).
fn set_condition(status: &mut Value, observed: &Value, now: &str) {
    let allowed = status["disruptionsAllowed"].as_i64().unwrap_or(0) > 0;
    let (st, reason) = if allowed {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    let prev = status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "DisruptionAllowed"))
        .cloned();
    let since = match &prev {
        Some(p) if p["status"] == st => p["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    let cond = json!({"type": "DisruptionAllowed", "status": st, "reason": reason, "message": "",
        "observedGeneration": observed, "lastTransitionTime": since});
    let mut others: Vec<Value> = status["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter(|c| c["type"] != "DisruptionAllowed")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    others.push(cond);
    status["conditions"] = Value::Array(others);
}

/// The disruption controller for one namespace: recompute and store every budget's status.
pub(crate) fn sync(store: &mut Store, ns: &str) {
    let pdbs: Vec<Value> = store
        .in_namespace("policy", "poddisruptionbudgets", ns)
        .cloned()
        .collect();
    if pdbs.is_empty() {
        return;
    }
    let now = store.now();
    let now_str = format_ts(now);
    for mut pdb in pdbs {
        let pods = selected(store, ns, &pdb);
        let (expected, desired) = expected_and_desired(store, ns, &pdb, &pods);
        // disruptedPods: entries for pods that still exist, are not terminating yet, and are recent.
        let mut disrupted = serde_json::Map::new();
        if let Some(old) = pdb["status"]["disruptedPods"].as_object() {
            for p in &pods {
                let name = p["metadata"]["name"].as_str().unwrap_or_default();
                if terminating(p) {
                    continue;
                }
                if let Some(at) = old.get(name) {
                    let fresh = at
                        .as_str()
                        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                        .is_some_and(|t| t.as_second() + DELETION_TIMEOUT_SECS > now.as_second());
                    if fresh {
                        disrupted.insert(name.to_string(), at.clone());
                    }
                }
            }
        }
        let healthy = pods
            .iter()
            .filter(|p| !terminating(p))
            .filter(|p| !disrupted.contains_key(p["metadata"]["name"].as_str().unwrap_or_default()))
            .filter(|p| pod_ready(p))
            .count() as i64;
        let mut allowed = healthy - desired;
        if expected <= 0 || allowed <= 0 {
            allowed = 0;
        }
        let generation = pdb["metadata"]["generation"].clone();
        let mut status = json!({"currentHealthy": healthy, "desiredHealthy": desired, "disruptionsAllowed": allowed,
            "expectedPods": expected, "observedGeneration": generation});
        if !disrupted.is_empty() {
            status["disruptedPods"] = Value::Object(disrupted);
        }
        status["conditions"] = pdb["status"]["conditions"].clone();
        set_condition(&mut status, &generation, &now_str);
        let Some(obj) = status.as_object_mut() else {
            continue;
        };
        // The controller's status, fields in the API's order.
        let mut ordered = serde_json::Map::new();
        for k in [
            "conditions",
            "currentHealthy",
            "desiredHealthy",
            "disruptedPods",
            "disruptionsAllowed",
            "expectedPods",
            "observedGeneration",
        ] {
            if let Some(v) = obj.remove(k) {
                ordered.insert(k.to_string(), v);
            }
        }
        if pdb["status"] == Value::Object(ordered.clone()) {
            continue;
        }
        pdb["status"] = Value::Object(ordered);
        let name = pdb["metadata"]["name"].as_str().unwrap_or_default().to_string();
        store.commit("policy", "poddisruptionbudgets", ns, &name, pdb);
    }
}

/// 429 for a budget the controller has not caught up with.
fn still_processing(pdb: &str) -> ApiError {
    let mut e = ApiError::new(
        429,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
    );
    e.retry_after = Some(10);
    e.details = Some(Box::new(json!({"causes": [{"reason": "DisruptionBudget",
        "message": format!("The disruption budget {pdb} is still being processed by the server.")}],
        "retryAfterSeconds": 10})));
    e
}

/// `checkAndDecrement`: refuse, or use up one allowed disruption (recording the pod) unless `dry_run`.
fn check_and_decrement(store: &mut Store, ns: &str, pod: &str, mut pdb: Value, dry_run: bool) -> Result<(), ApiError> {
    let name = pdb["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let status = &pdb["status"];
    let observed = status["observedGeneration"].as_i64().unwrap_or(0);
    if observed < pdb["metadata"]["generation"].as_i64().unwrap_or(0) {
        return Err(still_processing(&name));
    }
    let allowed = status["disruptionsAllowed"].as_i64().unwrap_or(0);
    if allowed < 0 {
        let mut e = ApiError::new(
            403,
            "Forbidden",
            format!("poddisruptionbudgets.policy \"{name}\" is forbidden: pdb disruptions allowed is negative"),
        );
        e.details = Some(Box::new(
            json!({"name": name, "group": "policy", "kind": "poddisruptionbudgets",
            "causes": [{"reason": "DisruptionBudget", "message": format!("The disruption budget {name} does not allow evicting pods currently: pdb disruptions allowed is negative")}]}),
        ));
        return Err(e);
    }
    if allowed == 0 {
        let current = status["currentHealthy"].as_i64().unwrap_or(0);
        let desired = status["desiredHealthy"].as_i64().unwrap_or(0);
        let message = if current <= desired {
            format!("The disruption budget {name} needs {desired} healthy pods and has {current} currently")
        } else {
            format!("The disruption budget {name} does not allow evicting pods currently")
        };
        let mut e = ApiError::new(
            429,
            "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
        );
        e.details = Some(Box::new(
            json!({"causes": [{"reason": "DisruptionBudget", "message": message}]}),
        ));
        return Err(e);
    }
    if dry_run {
        return Ok(());
    }
    let now = store.now_str();
    let mut status = pdb["status"].take();
    status["disruptionsAllowed"] = json!(allowed - 1);
    if allowed - 1 == 0 {
        let observed = status["observedGeneration"].clone();
        set_condition(&mut status, &observed, &now);
    }
    if !status["disruptedPods"].is_object() {
        status["disruptedPods"] = json!({});
    }
    status["disruptedPods"][pod] = json!(now);
    pdb["status"] = status;
    store.commit("policy", "poddisruptionbudgets", ns, &name, pdb);
    Ok(())
}

/// POST `pods/NAME/eviction`.
pub(crate) fn evict(store: &mut Store, ns: &str, name: &str, dry_run: bool) -> Result<Value, ApiError> {
    let Some(pod) = store.raw("", "pods", ns, name).cloned() else {
        return Err(ApiError::not_found("", "pods", name));
    };
    let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
    let ignore_budgets = matches!(phase, "Succeeded" | "Failed" | "Pending") || terminating(&pod);
    if !ignore_budgets {
        let pdbs: Vec<Value> = store
            .in_namespace("policy", "poddisruptionbudgets", ns)
            .filter(|b| {
                let sel = LabelSelector::from_object(&b["spec"]["selector"]);
                !sel.is_empty() && sel.matches(&pod)
            })
            .cloned()
            .collect();
        if pdbs.len() > 1 {
            return Err(ApiError::new(
                500,
                "InternalError",
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
        if let Some(pdb) = pdbs.into_iter().next() {
            let unhealthy_ok = !pod_ready(&pod)
                && (pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow" || {
                    let current = pdb["status"]["currentHealthy"].as_i64().unwrap_or(0);
                    let desired = pdb["status"]["desiredHealthy"].as_i64().unwrap_or(0);
                    current >= desired && desired > 0
                });
            if !unhealthy_ok {
                check_and_decrement(store, ns, name, pdb, dry_run)?;
            }
        }
    }
    if dry_run {
        return Ok(crate::status::success_status(201));
    }
    if !terminating(&pod) {
        // The DisruptionTarget condition first, then the (graceful) deletion.
        let mut marked = pod;
        let now = store.now_str();
        let cond = json!({"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
            "message": "Eviction API: evicting", "lastProbeTime": null, "lastTransitionTime": now});
        let mut conditions: Vec<Value> = marked["status"]["conditions"]
            .as_array()
            .map(|cs| cs.iter().filter(|c| c["type"] != "DisruptionTarget").cloned().collect())
            .unwrap_or_default();
        conditions.push(cond);
        marked["status"]["conditions"] = Value::Array(conditions);
        store.commit("", "pods", ns, name, marked);
    }
    lifecycle::delete_pod(store, ns, name, None);
    crate::controllers::reconcile(store, ns);
    Ok(crate::status::success_status(201))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_up() {
        assert_eq!(int_or_percent(&json!("50%"), 3), 2);
        assert_eq!(int_or_percent(&json!("100%"), 3), 3);
        assert_eq!(int_or_percent(&json!(2), 3), 2);
    }
}
