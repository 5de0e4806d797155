//! `kubectl mesh recover`: restart exactly the workloads doctor found broken, safely.
//!
//! The seeds' fixes are "delete and recreate the pods" (CERTIFICATE_VERIFY_FAILED) and "delete everything and
//! reinstall" (503). recover runs doctor's checks, plans one restart per owner of an affected pod (bare pods are
//! evicted), shows the plan, checks every permission it needs before writing anything, asks (or requires
//! `--yes`), then acts with bounded parallelism: the restart is `kubectl rollout restart`'s patch, evictions
//! respect PodDisruptionBudgets (429 → retried until `--timeout`, never forced). `--wait` follows the rollouts
//! by kubectl's rules and checks again. Re-running only acts on what is still broken.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cli::{timeout_arg_parser, AllNamespacesArg, OutputArgs, WriteArgs};
use crate::cluster::{Cluster, PatchType, Res, WriteOpts};
use crate::cmd::doctor::diagnose;
use crate::cmd::Ctx;
use crate::error::{MeshError, Result};
use crate::output::Output;
use mesh_core::doctor::{OwnerKind, Snapshot};
use mesh_core::opts::{DryRun, OutputFormat};
use mesh_core::recover::plan::{plan_recover, render_plan_table, required_permissions, Action, RecoverPlan, Target};
use mesh_core::recover::rollout::{rollout_status, Rollout};
use mesh_core::resource::{DAEMONSETS, DEPLOYMENTS, PODS, STATEFULSETS};

/// kubectl's restart annotation (kube-rs's `Api::restart()` writes `kube.kubernetes.io/restartedAt` instead).
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

#[derive(Debug, Clone, Args)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub all: AllNamespacesArg,

    /// Do not ask for confirmation (required when stdin or stderr is not a terminal)
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Wait for each restarted workload's rollout, then check again
    #[arg(long)]
    pub wait: bool,

    /// How long to wait for rollouts and for evictions blocked by a PodDisruptionBudget
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = timeout_arg_parser)]
    pub timeout: Duration,

    /// How many restarts or evictions run at once
    #[arg(long = "max-parallel", value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_parallel: u16,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub write: WriteArgs,
}

/// What happened to one planned action.
#[derive(Debug, Clone, Serialize)]
pub struct ActionResult {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub pods: Vec<String>,
    pub reasons: Vec<String>,
    /// done | failed | skipped | planned
    pub result: &'static str,
    pub detail: String,
}

fn res_of(kind: OwnerKind) -> &'static Res {
    match kind {
        OwnerKind::Deployment => &DEPLOYMENTS,
        OwnerKind::StatefulSet => &STATEFULSETS,
        OwnerKind::DaemonSet => &DAEMONSETS,
    }
}

fn result_of(action: &Action, result: &'static str, detail: impl Into<String>) -> ActionResult {
    ActionResult {
        kind: action.target.kind(),
        namespace: action.target.namespace().to_string(),
        name: action.target.name().to_string(),
        pods: action.pods.clone(),
        reasons: action.reasons.clone(),
        result,
        detail: detail.into(),
    }
}

/// Ask a person, only when one can answer (stdin and stderr are terminals).
fn confirm(out: &Output, plan: &RecoverPlan) -> Result<bool> {
    let restarts = plan
        .actions
        .iter()
        .filter(|a| matches!(a.target, Target::Restart { .. }))
        .count();
    let evictions = plan.actions.len() - restarts;
    let prompt = match (restarts, evictions) {
        (r, 0) => format!("Restart {r} workload{}?", if r == 1 { "" } else { "s" }),
        (0, e) => format!("Evict {e} pod{}?", if e == 1 { "" } else { "s" }),
        (r, e) => format!("Restart {r} workload{} and evict {e} pod{}?", plural(r), plural(e)),
    };
    if !out.can_prompt() {
        return Err(MeshError::refused(
            "recover needs confirmation, and there is no terminal to ask on; nothing was changed",
            Some("pass --yes to confirm without a terminal (review the plan first with --dry-run=client)".into()),
        ));
    }
    dialoguer::Confirm::new()
        .with_prompt(prompt)
        .default(false)
        .interact_on(&dialoguer::console::Term::stderr())
        .map_err(|e| MeshError::io("reading the confirmation", std::io::Error::other(e)))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Fail before any write when a permission the plan needs is denied.
async fn preflight(cluster: &Cluster, plan: &RecoverPlan) -> Result<()> {
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
    if denied.is_empty() {
        return Ok(());
    }
    let first = &denied[0];
    let list: Vec<String> = denied.iter().map(|p| p.to_string()).collect();
    Err(MeshError::Forbidden {
        verb: first.verb.to_string(),
        resource: match first.subresource {
            Some(sub) => format!("{}/{sub}", first.resource),
            None => first.resource.to_string(),
        },
        namespace: Some(first.namespace.clone()),
        message: format!("recover would need: {}; nothing was changed", list.join(", ")),
    })
}

/// `kubectl rollout restart` for one workload, unless it is paused or already restarted after its pods started.
async fn restart(
    cluster: &Cluster,
    snapshot: &Snapshot,
    action: &Action,
    kind: OwnerKind,
    opts: &WriteOpts,
) -> ActionResult {
    let ns = action.target.namespace();
    let name = action.target.name();
    let res = res_of(kind);
    let current = match cluster.get(res, Some(ns), name).await {
        Ok(obj) => obj,
        Err(MeshError::NotFound { .. }) => return result_of(action, "skipped", "it no longer exists"),
        Err(e) => return result_of(action, "failed", e.to_string()),
    };
    if current.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
        return result_of(action, "skipped", mesh_core::recover::plan::PAUSED_REASON);
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
            return result_of(
                action,
                "skipped",
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
            Ok(_) => return result_of(action, "done", "restarted"),
            // Priority and fairness rejected it unprocessed: safe to send again after Retry-After.
            Err(MeshError::Api { code: 429, .. }) if attempt < 4 => {
                tokio::time::sleep(Duration::from_secs(attempt)).await;
            }
            Err(e) => return result_of(action, "failed", e.to_string()),
        }
    }
}

/// Evict a bare pod through policy/v1; a PodDisruptionBudget saying no (429) is retried until `deadline`.
async fn evict(cluster: &Cluster, action: &Action, opts: &WriteOpts, deadline: Instant) -> ActionResult {
    let ns = action.target.namespace();
    let name = action.target.name();
    let mut body = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}});
    if opts.dry_run == DryRun::Server {
        body["deleteOptions"] = json!({"dryRun": ["All"]});
    }
    let mut backoff = Duration::from_millis(500);
    loop {
        match cluster
            .create_subresource(&PODS, Some(ns), name, "eviction", &body, opts)
            .await
        {
            Ok(_) => return result_of(action, "done", "evicted"),
            Err(MeshError::NotFound { .. }) => return result_of(action, "done", "already gone"),
            Err(MeshError::Api { code: 429, message, .. }) => {
                if Instant::now() + backoff > deadline {
                    return result_of(
                        action,
                        "failed",
                        format!("a PodDisruptionBudget allows no disruption until the timeout: {message}"),
                    );
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => return result_of(action, "failed", e.to_string()),
        }
    }
}

/// Where rollout progress goes: an indicatif spinner on a terminal, kubectl-style lines otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    out: Output,
    last: String,
}

impl Progress {
    fn new(out: &Output, what: &str) -> Progress {
        let bar = out.fancy_progress().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar.set_message(format!("Waiting for {what}..."));
            bar
        });
        Progress {
            bar,
            out: out.clone(),
            last: String::new(),
        }
    }

    fn update(&mut self, line: &str) {
        if line == self.last {
            return;
        }
        self.last = line.to_string();
        match &self.bar {
            Some(bar) => bar.set_message(line.to_string()),
            None => self.out.info(line),
        }
    }

    fn finish(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.finish_with_message(line.to_string()),
            None => self.out.info(line),
        }
    }
}

/// Follow one workload's rollout until done or `deadline`, showing progress.
async fn wait_rollout(
    cluster: &Cluster,
    out: &Output,
    kind: OwnerKind,
    ns: &str,
    name: &str,
    deadline: Instant,
) -> Result<String> {
    let mut progress = Progress::new(out, &format!("{} \"{name}\"", kind.as_str().to_lowercase()));
    let result = follow_rollout(cluster, &mut progress, kind, ns, name, deadline).await;
    match &result {
        Ok(msg) => progress.finish(msg),
        Err(e) => progress.finish(&e.to_string()),
    }
    result
}

/// Read the workload, then watch it (re-established when the server ends the watch or the stream breaks),
/// judging each state by kubectl's rollout rules.
async fn follow_rollout(
    cluster: &Cluster,
    progress: &mut Progress,
    kind: OwnerKind,
    ns: &str,
    name: &str,
    deadline: Instant,
) -> Result<String> {
    let res = res_of(kind);
    loop {
        let obj = cluster.get(res, Some(ns), name).await?;
        let rv = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match rollout_status(kind.as_str(), &obj) {
            Rollout::Done(msg) => return Ok(msg),
            Rollout::Failed(msg) => return Err(MeshError::refused(msg, None)),
            Rollout::Waiting(msg) => progress.update(&msg),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(MeshError::refused(
                format!(
                    "timed out waiting for the rollout of {} {ns}/{name}: {}",
                    kind.as_str().to_lowercase(),
                    progress.last
                ),
                Some("raise --timeout, or check the new pods: kubectl get pods".into()),
            ));
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
                        Rollout::Failed(msg) => return Err(MeshError::refused(msg, None)),
                        Rollout::Waiting(msg) => progress.update(&msg),
                    }
                }
                Ok(Ok(Some(_))) => {}
                // The server ended the watch, the stream broke, or our deadline passed: re-read.
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => break,
            }
        }
    }
}

fn render_results(results: &[ActionResult]) -> String {
    let rows = results
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.kind.to_string(),
                r.namespace.clone(),
                r.result.to_string(),
                r.detail.clone(),
            ]
        })
        .collect();
    mesh_core::render::table(vec!["OWNER", "KIND", "NAMESPACE", "RESULT", "DETAIL"], rows)
}

pub async fn run(ctx: Ctx, args: RecoverArgs) -> Result<u8> {
    let scope = ctx.scope(args.all.all_namespaces)?;
    let cluster = ctx.cluster().await?;
    let opts = WriteOpts {
        dry_run: args.write.dry_run(),
        field_manager: args.write.field_manager.clone(),
    };
    let structured = matches!(ctx.out.format, OutputFormat::Json | OutputFormat::Yaml);

    let (snapshot, findings) = diagnose(&cluster, &scope).await?;
    // A plan from a half-read cluster could call it healthy: refuse instead.
    if let Some(f) = findings
        .iter()
        .find(|f| f.id == "api-access" && f.status == mesh_core::doctor::Status::Error)
    {
        return Err(MeshError::refused(
            format!("cannot plan a recovery: {}", f.message),
            f.hint.clone().or_else(|| Some("retry in a moment".into())),
        ));
    }
    let plan = plan_recover(&findings, &snapshot);
    let mut results: Vec<ActionResult> = plan
        .skipped
        .iter()
        .map(|(target, why)| ActionResult {
            kind: target.kind(),
            namespace: target.namespace().to_string(),
            name: target.name().to_string(),
            pods: Vec::new(),
            reasons: Vec::new(),
            result: "skipped",
            detail: why.clone(),
        })
        .collect();

    if plan.is_empty() {
        if structured {
            let doc = json!({"success": true, "results": results});
            ctx.out.print(&mesh_core::render::to_format(&doc, ctx.out.format)?)?;
        } else {
            let mut s = "Nothing to recover: no check found a workload to restart or a pod to evict.\n".to_string();
            if !results.is_empty() {
                s.push('\n');
                s.push_str(&render_results(&results));
            }
            ctx.out.print(&s)?;
        }
        return Ok(0);
    }
    if !structured {
        ctx.out.print(&render_plan_table(&plan))?;
    }
    if args.write.dry_run() == DryRun::Client {
        let planned: Vec<ActionResult> = plan
            .actions
            .iter()
            .map(|a| result_of(a, "planned", "dry run: nothing was changed"))
            .collect();
        results.extend(planned);
        if structured {
            ctx.out.print(&mesh_core::render::to_format(
                &json!({"success": true, "results": results}),
                ctx.out.format,
            )?)?;
        } else {
            ctx.out.print("\n(dry run) nothing was changed\n")?;
        }
        return Ok(0);
    }

    preflight(&cluster, &plan).await?;
    if !args.yes && args.write.dry_run() == DryRun::None && !confirm(&ctx.out, &plan)? {
        ctx.out.info("Aborted: nothing was changed.");
        return Ok(1);
    }

    let deadline = Instant::now() + args.timeout;
    let limit = Arc::new(Semaphore::new(usize::from(args.max_parallel)));
    let snapshot = Arc::new(snapshot);
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
    let mut done: Vec<(usize, ActionResult)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined.map_err(|e| MeshError::io("running recover", std::io::Error::other(e)))?;
        let verb = match (result.result, result.kind) {
            ("done", "Pod") => "evicted",
            ("done", _) => "restarted",
            (other, _) => other,
        };
        let dry = args.write.dry_run().suffix();
        ctx.out
            .info(&format!("{}/{} {verb}{dry}", result.kind.to_lowercase(), result.name));
        done.push((index, result));
    }
    done.sort_by_key(|(i, _)| *i);
    let mut acted: Vec<ActionResult> = done.into_iter().map(|(_, r)| r).collect();

    if args.wait && args.write.dry_run() == DryRun::None {
        for r in acted.iter_mut().filter(|r| r.result == "done" && r.kind != "Pod") {
            let kind = match r.kind {
                "Deployment" => OwnerKind::Deployment,
                "StatefulSet" => OwnerKind::StatefulSet,
                _ => OwnerKind::DaemonSet,
            };
            match wait_rollout(&cluster, &ctx.out, kind, &r.namespace, &r.name, deadline).await {
                Ok(_) => {
                    r.detail = "restarted; rollout complete".into();
                }
                Err(e) => {
                    r.result = "failed";
                    r.detail = format!("restarted, but {e}");
                }
            }
        }
        // Check again: what is healthy now, what is not.
        let (after_snapshot, after) = diagnose(&cluster, &scope).await?;
        let remaining = plan_recover(&after, &after_snapshot);
        for r in acted.iter_mut().filter(|r| r.result == "done") {
            let still = remaining
                .actions
                .iter()
                .any(|a| a.target.namespace() == r.namespace && a.target.name() == r.name);
            if still {
                r.result = "failed";
                r.detail = format!("{}; still broken after the rollout", r.detail);
            } else {
                r.detail = format!("{}; healthy now", r.detail);
            }
        }
    }
    results.extend(acted);
    let failed = results.iter().any(|r| r.result == "failed");
    let text = if structured {
        mesh_core::render::to_format(&json!({"success": !failed, "results": results}), ctx.out.format)?
    } else {
        format!("\n{}", render_results(&results))
    };
    ctx.out.print(&text)?;
    Ok(if failed { 1 } else { 0 })
}
