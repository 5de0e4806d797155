//! Rollout progress by kubectl's rules (`kubectl rollout status`), pure so it can be tested on objects.
//!
//! kube-runtime's `is_deployment_completed()` skips the generation check; kubectl does not, and neither do we:
//! a status that has not observed the latest spec says nothing about the new pods.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Finished: kubectl's success line.
    Done(String),
    /// Still going: kubectl's waiting line.
    Waiting(String),
    /// It will not finish by itself (ProgressDeadlineExceeded).
    Failed(String),
}

fn int(v: &Value, path: &str) -> i64 {
    v.pointer(path).and_then(Value::as_i64).unwrap_or(0)
}

/// The rollout state of a Deployment, StatefulSet or DaemonSet object.
pub fn rollout_status(kind: &str, obj: &Value) -> Rollout {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let generation = int(obj, "/metadata/generation");
    let observed = int(obj, "/status/observedGeneration");
    let lower = kind.to_ascii_lowercase();
    if generation > observed {
        return Rollout::Waiting(format!("Waiting for {lower} spec update to be observed..."));
    }
    match kind {
        "Deployment" => {
            let conditions = obj
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let deadline = conditions.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Progressing")
                    && c.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded")
            });
            if deadline {
                return Rollout::Failed(format!("deployment \"{name}\" exceeded its progress deadline"));
            }
            let replicas = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            let updated = int(obj, "/status/updatedReplicas");
            let total = int(obj, "/status/replicas");
            let available = int(obj, "/status/availableReplicas");
            if updated < replicas {
                Rollout::Waiting(format!(
                    "Waiting for deployment \"{name}\" rollout to finish: {updated} out of {replicas} new replicas have been updated..."
                ))
            } else if total > updated {
                Rollout::Waiting(format!(
                    "Waiting for deployment \"{name}\" rollout to finish: {} old replicas are pending termination...",
                    total - updated
                ))
            } else if available < updated {
                Rollout::Waiting(format!(
                    "Waiting for deployment \"{name}\" rollout to finish: {available} of {updated} updated replicas are available..."
                ))
            } else {
                Rollout::Done(format!("deployment \"{name}\" successfully rolled out"))
            }
        }
        "StatefulSet" => {
            let replicas = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            let ready = int(obj, "/status/readyReplicas");
            let updated = int(obj, "/status/updatedReplicas");
            let current = obj
                .pointer("/status/currentRevision")
                .and_then(Value::as_str)
                .unwrap_or("");
            let update = obj
                .pointer("/status/updateRevision")
                .and_then(Value::as_str)
                .unwrap_or("");
            if ready < replicas {
                Rollout::Waiting(format!("Waiting for {} pods to be ready...", replicas - ready))
            } else if !update.is_empty() && update != current {
                Rollout::Waiting(format!(
                    "waiting for statefulset rolling update to complete {updated} pods at revision {update}..."
                ))
            } else {
                Rollout::Done(format!(
                    "statefulset rolling update complete {replicas} pods at revision {current}..."
                ))
            }
        }
        "DaemonSet" => {
            let desired = int(obj, "/status/desiredNumberScheduled");
            let updated = int(obj, "/status/updatedNumberScheduled");
            let available = int(obj, "/status/numberAvailable");
            if updated < desired {
                Rollout::Waiting(format!(
                    "Waiting for daemon set \"{name}\" rollout to finish: {updated} out of {desired} new pods have been updated..."
                ))
            } else if available < desired {
                Rollout::Waiting(format!(
                    "Waiting for daemon set \"{name}\" rollout to finish: {available} of {desired} updated pods are available..."
                ))
            } else {
                Rollout::Done(format!("daemon set \"{name}\" successfully rolled out"))
            }
        }
        other => Rollout::Failed(format!("no rollout status for kind {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(generation: i64, observed: i64, replicas: i64, updated: i64, total: i64, available: i64) -> Value {
        json!({"metadata": {"name": "reviews-v2", "generation": generation},
               "spec": {"replicas": replicas},
               "status": {"observedGeneration": observed, "updatedReplicas": updated, "replicas": total,
                          "availableReplicas": available}})
    }

    #[test]
    fn deployment_rollout_follows_kubectl_rules() {
        assert_eq!(
            rollout_status("Deployment", &deploy(3, 2, 2, 2, 2, 2)),
            Rollout::Waiting("Waiting for deployment spec update to be observed...".into()),
            "a stale status proves nothing"
        );
        assert!(
            matches!(rollout_status("Deployment", &deploy(3, 3, 2, 1, 3, 1)), Rollout::Waiting(m) if m.contains("1 out of 2 new replicas"))
        );
        assert!(
            matches!(rollout_status("Deployment", &deploy(3, 3, 2, 2, 3, 2)), Rollout::Waiting(m) if m.contains("1 old replicas are pending termination"))
        );
        assert_eq!(
            rollout_status("Deployment", &deploy(3, 3, 2, 2, 2, 1)),
            Rollout::Waiting(
                "Waiting for deployment \"reviews-v2\" rollout to finish: 1 of 2 updated replicas are available..."
                    .into()
            )
        );
        assert!(matches!(
            rollout_status("Deployment", &deploy(3, 3, 2, 2, 2, 2)),
            Rollout::Done(_)
        ));
        let mut stuck = deploy(3, 3, 2, 1, 2, 1);
        stuck["status"]["conditions"] =
            json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]);
        assert!(matches!(rollout_status("Deployment", &stuck), Rollout::Failed(_)));
    }

    #[test]
    fn statefulset_and_daemonset_rollouts() {
        let sts = json!({"metadata": {"name": "db", "generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 1, "currentRevision": "a", "updateRevision": "b"}});
        assert!(matches!(rollout_status("StatefulSet", &sts), Rollout::Waiting(_)));
        let ds = json!({"metadata": {"name": "agent", "generation": 1},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}});
        assert!(matches!(rollout_status("DaemonSet", &ds), Rollout::Done(_)));
    }
}
