//! recover's writes: the permission check before anything is written, `kubectl rollout restart`'s patch, policy/v1
//! evictions that respect PodDisruptionBudgets, bounded parallelism, and following a rollout by kubectl's rules.
//!
//! A restart is skipped for a paused Deployment (kubectl refuses those) and for a workload already restarted
//! after its affected pods started (its rollout is replacing them: re-running recover resumes instead of
//! restarting again). A 429 on a restart patch is retried (priority and fairness rejected it unprocessed); a 429
//! on an eviction is a PodDisruptionBudget saying "not now", retried until the deadline and then reported, never
//! forced.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cluster::{Cluster, PatchType, WriteOpts};
use crate::error::{KubeError, Result};
use mesh_core::doctor::{OwnerKind, Snapshot};
use mesh_core::opts::DryRun;
use mesh_core::recover::plan::PAUSED_REASON;
use mesh_core::recover::{required_permissions, rollout_status, Action, ActionResult, ActionStatus, RecoverPlan};
use mesh_core::recover::{Rollout, Target};
use mesh_core::resource::PODS;

/// kubectl's restart annotation (kube-rs's `Api::restart()` writes `kube.kubernetes.io/restartedAt` instead).
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// Fail before any write when a permission the plan needs is denied (SelfSubjectAccessReviews), naming every
/// missing one.
pub async fn preflight(cluster: &Cluster, plan: &RecoverPlan) -> Result<()> {
    let mut denied = Vec::new();
    for p in required_permissions(plan) {
        let allowed = cluster
            .can_i(
                p.verb,
                p.group,
                p.resource,
                p.subresource.unwrap_or(""),
                Some(&p.namespace),
            )
            .await?;
        if !allowed {
            denied.push(p);
        }
    }
    let Some(first) = denied.first() else {
        return Ok(());
    };
    let list: Vec<String> = denied.iter().map(|p| p.to_string()).collect();
    Err(KubeError::Forbidden {
        verb: first.verb.to_string(),
        resource: match first.subresource {
            Some(sub) => format!("{}/{sub}", first.resource),
            None => first.resource.to_string(),
        },
        namespace: Some(first.namespace.clone()),
        message: format!("recover would need: {}; nothing was changed", list.join(", ")),
    })
}

/// Carry out every action of `plan`, at most `max_parallel` at once, telling `done` of each result as it
/// completes; the results come back in the plan's order.
pub async fn execute(
    cluster: &Cluster,
    plan: &RecoverPlan,
    snapshot: Arc<Snapshot>,
    opts: &WriteOpts,
    max_parallel: usize,
    deadline: Instant,
    mut done: impl FnMut(&ActionResult),
) -> Result<Vec<ActionResult>> {
    let limit = Arc::new(Semaphore::new(max_parallel.max(1)));
    let mut tasks = JoinSet::new();
    for (index, action) in plan.actions.iter().cloned().enumerate() {
        let cluster = cluster.clone();
        let opts = opts.clone();
        let limit = limit.clone();
        let snapshot = snapshot.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let result = match &action.target {
                Target::Restart { kind, .. } => restart(&cluster, &snapshot, &action, *kind, &opts).await,
                Target::Evict { .. } => evict(&cluster, &action, &opts, deadline).await,
            };
            (index, result)
        });
    }
    let mut results: Vec<(usize, ActionResult)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined.map_err(|source| KubeError::Task {
            context: "running recover",
            source,
        })?;
        done(&result);
        results.push((index, result));
    }
    results.sort_by_key(|(i, _)| *i);
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

/// `kubectl rollout restart` for one workload, unless it is paused or already restarted after its pods started.
pub async fn restart(
    cluster: &Cluster,
    snapshot: &Snapshot,
    action: &Action,
    kind: OwnerKind,
    opts: &WriteOpts,
) -> ActionResult {
    let ns = action.target.namespace();
    let name = action.target.name();
    let res = kind.res();
    let current = match cluster.get(res, Some(ns), name).await {
        Ok(obj) => obj,
        Err(KubeError::NotFound { .. }) => {
            return ActionResult::of(action, ActionStatus::Skipped, "it no longer exists")
        }
        Err(e) => return failed(action, &e),
    };
    if current.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
        return ActionResult::of(action, ActionStatus::Skipped, PAUSED_REASON);
    }
    // Resumable: a restart newer than every affected pod means a rollout is already replacing them.
    let restarted_at = current
        .pointer("/spec/template/metadata/annotations")
        .and_then(|a| a.get(RESTARTED_AT))
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    if let Some(at) = restarted_at {
        let newest_pod = action
            .pods
            .iter()
            .filter_map(|p| snapshot.pod(ns, p).and_then(|p| p.created))
            .max();
        if newest_pod.is_some_and(|created| created < at) {
            return ActionResult::of(
                action,
                ActionStatus::Skipped,
                format!("already restarted at {at}; its rollout is replacing the pods"),
            );
        }
    }
    let now = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now());
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now.to_string()}}}}});
    let mut attempt = 0;
    loop {
        attempt += 1;
        match cluster
            .patch(res, Some(ns), name, PatchType::Strategic, &patch, opts)
            .await
        {
            Ok(_) => return ActionResult::of(action, ActionStatus::Done, "restarted"),
            // Priority and fairness rejected it unprocessed: safe to send again after a pause.
            Err(KubeError::Api { code: 429, .. }) if attempt < 4 => {
                tokio::time::sleep(Duration::from_secs(attempt)).await;
            }
            Err(e) => return failed(action, &e),
        }
    }
}

/// Evict a bare pod through policy/v1; a PodDisruptionBudget saying no (429) is retried until `deadline`.
pub async fn evict(cluster: &Cluster, action: &Action, opts: &WriteOpts, deadline: Instant) -> ActionResult {
    let ns = action.target.namespace();
    let name = action.target.name();
    let mut body = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}});
    if opts.dry_run == DryRun::Server {
        body["deleteOptions"] = json!({"dryRun": ["All"]});
    }
    let mut backoff = Duration::from_millis(500);
    loop {
        match cluster
            .create_subresource(&PODS, Some(ns), name, "eviction", &body)
            .await
        {
            Ok(_) => return ActionResult::of(action, ActionStatus::Done, "evicted"),
            Err(KubeError::NotFound { .. }) => return ActionResult::of(action, ActionStatus::Done, "already gone"),
            Err(KubeError::Api { code: 429, message, .. }) => {
                if Instant::now() + backoff > deadline {
                    return ActionResult::of(
                        action,
                        ActionStatus::Failed,
                        format!("a PodDisruptionBudget allows no disruption until the timeout: {message}"),
                    );
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => return failed(action, &e),
        }
    }
}

/// A failed action's result: the error's own words are its detail.
fn failed(action: &Action, e: &KubeError) -> ActionResult {
    ActionResult::of(action, ActionStatus::Failed, format!("{e}"))
}

/// Why a rollout was not seen through.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// It will not finish by itself (kubectl: ProgressDeadlineExceeded).
    #[error("{0}")]
    Failed(String),
    /// Still going when the deadline passed; `last` is the last progress line.
    #[error("timed out waiting for the rollout of {} {namespace}/{name}: {last}", kind.as_str().to_lowercase())]
    TimedOut {
        kind: OwnerKind,
        namespace: String,
        name: String,
        last: String,
    },
    /// Reading the workload failed.
    #[error(transparent)]
    Kube(#[from] KubeError),
}

/// Follow one workload's rollout until done or `deadline`: read it, then watch it (re-established when the server
/// ends the watch or the stream breaks), judging each state by kubectl's rollout rules. `progress` gets each new
/// waiting line (kubectl's `Waiting for deployment "x" rollout to finish: …`).
pub async fn follow_rollout(
    cluster: &Cluster,
    kind: OwnerKind,
    ns: &str,
    name: &str,
    deadline: Instant,
    mut progress: impl FnMut(&str),
) -> Result<String, RolloutError> {
    let res = kind.res();
    let mut last = String::new();
    let mut report = |line: String, last: &mut String| {
        if line != *last {
            progress(&line);
            *last = line;
        }
    };
    loop {
        let obj = cluster.get(res, Some(ns), name).await?;
        let rv = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match rollout_status(kind.as_str(), &obj) {
            Rollout::Done(msg) => return Ok(msg),
            Rollout::Failed(msg) => return Err(RolloutError::Failed(msg)),
            Rollout::Waiting(msg) => report(msg, &mut last),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(RolloutError::TimedOut {
                kind,
                namespace: ns.to_string(),
                name: name.to_string(),
                last,
            });
        }
        let timeout_secs = left.as_secs().clamp(1, 60);
        let mut stream = match cluster.watch_one(res, Some(ns), name, &rv, timeout_secs).await {
            Ok(s) => s,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(500).min(left)).await;
                continue;
            }
        };
        let until = tokio::time::Instant::from_std(deadline);
        loop {
            match tokio::time::timeout_at(until, stream.next_event()).await {
                Ok(Ok(Some(ev))) if ev.get("type").and_then(Value::as_str) != Some("BOOKMARK") => {
                    if ev.get("type").and_then(Value::as_str) == Some("ERROR") {
                        break; // e.g. 410 Gone: re-read and watch again
                    }
                    match rollout_status(kind.as_str(), &ev["object"]) {
                        Rollout::Done(msg) => return Ok(msg),
                        Rollout::Failed(msg) => return Err(RolloutError::Failed(msg)),
                        Rollout::Waiting(msg) => report(msg, &mut last),
                    }
                }
                Ok(Ok(Some(_))) => {}
                // The server ended the watch, the stream broke, or our deadline passed: re-read.
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => break,
            }
        }
    }
}
