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
use serde_json::json;

use crate::cli::{timeout_arg_parser, AllNamespacesArg, OutputArgs, SuppressArgs, WriteArgs};
use crate::cmd::doctor::{diagnose, print_notes};
use crate::cmd::{scope, Ctx};
use crate::error::{MeshError, Result};
use crate::output::{Output, Progress};
use mesh_core::doctor::{suppress, OwnerKind, Status};
use mesh_core::opts::DryRun;
use mesh_core::recover::{
    plan_recover, render_plan_table, render_results, ActionResult, ActionStatus, RecoverPlan, Target,
};
use mesh_core::render::to_format;
use mesh_kube::apply::recover::{execute, follow_rollout, preflight, RolloutError};
use mesh_kube::{Cluster, WriteOpts};

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
    pub suppress: SuppressArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub write: WriteArgs,
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
        .map_err(|dialoguer::Error::IO(e)| MeshError::io("reading the confirmation", e))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
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
) -> std::result::Result<String, RolloutError> {
    let mut progress = Progress::new(out, &format!("{} \"{name}\"", kind.as_str().to_lowercase()));
    let result = follow_rollout(cluster, kind, ns, name, deadline, |line| progress.update(line)).await;
    match &result {
        Ok(msg) => progress.finish(msg),
        Err(e) => progress.finish(&e.to_string()),
    }
    result
}

pub async fn run(ctx: Ctx, args: RecoverArgs) -> Result<u8> {
    let all = ctx.all_namespaces(args.all.all_namespaces)?;
    let cluster = ctx.cluster().await?;
    let scope = scope(all, &cluster);
    let dry_run = args.write.dry_run();
    let opts = WriteOpts {
        dry_run,
        field_manager: args.write.field_manager.clone(),
    };
    let structured = ctx.out.format.is_structured();

    let (snapshot, mut findings) = diagnose(&cluster, &scope).await?;
    // What the user silenced (flag or annotation) is not acted on: its fix is listed as skipped.
    let notes = suppress::apply(&mut findings, &snapshot, &args.suppress.suppress);
    print_notes(&ctx, &notes);
    // A plan from a half-read cluster could call it healthy: refuse instead.
    if let Some(f) = findings
        .iter()
        .find(|f| f.id == "api-access" && f.status == Status::Error)
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
        .map(|(target, why)| ActionResult::skipped(target, why.clone()))
        .collect();

    if plan.is_empty() {
        if structured {
            let doc = json!({"success": true, "results": results});
            ctx.out.print(&to_format(&doc, ctx.out.format)?)?;
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
    if dry_run == DryRun::Client {
        results.extend(
            plan.actions
                .iter()
                .map(|a| ActionResult::of(a, ActionStatus::Planned, "dry run: nothing was changed")),
        );
        if structured {
            ctx.out.print(&to_format(
                &json!({"success": true, "results": results}),
                ctx.out.format,
            )?)?;
        } else {
            ctx.out.print("\n(dry run) nothing was changed\n")?;
        }
        return Ok(0);
    }

    preflight(&cluster, &plan).await?;
    if !args.yes && dry_run == DryRun::None && !confirm(&ctx.out, &plan)? {
        ctx.out.info("Aborted: nothing was changed.");
        return Ok(1);
    }

    let deadline = Instant::now() + args.timeout;
    let mut acted = execute(
        &cluster,
        &plan,
        Arc::new(snapshot),
        &opts,
        usize::from(args.max_parallel),
        deadline,
        |r| {
            ctx.out.info(&format!(
                "{}/{} {}{}",
                r.target.kind().to_lowercase(),
                r.target.name(),
                r.verb(),
                dry_run.suffix()
            ))
        },
    )
    .await?;

    if args.wait && dry_run == DryRun::None {
        for r in acted.iter_mut().filter(|r| r.status == ActionStatus::Done) {
            let Target::Restart { kind, namespace, name } = &r.target else {
                continue;
            };
            match wait_rollout(&cluster, &ctx.out, *kind, namespace, name, deadline).await {
                Ok(_) => r.detail = "restarted; rollout complete".into(),
                Err(e) => {
                    r.status = ActionStatus::Failed;
                    r.detail = format!("restarted, but {e}");
                }
            }
        }
        // Check again: what is healthy now, what is not.
        let (after_snapshot, mut after) = diagnose(&cluster, &scope).await?;
        suppress::apply(&mut after, &after_snapshot, &args.suppress.suppress);
        let remaining = plan_recover(&after, &after_snapshot);
        for r in acted.iter_mut().filter(|r| r.status == ActionStatus::Done) {
            let still = remaining
                .actions
                .iter()
                .any(|a| a.target.namespace() == r.target.namespace() && a.target.name() == r.target.name());
            if still {
                r.status = ActionStatus::Failed;
                r.detail = format!("{}; still broken after the rollout", r.detail);
            } else {
                r.detail = format!("{}; healthy now", r.detail);
            }
        }
    }
    results.extend(acted);
    let failed = results.iter().any(|r| r.status == ActionStatus::Failed);
    let text = if structured {
        to_format(&json!({"success": !failed, "results": results}), ctx.out.format)?
    } else {
        format!("\n{}", render_results(&results))
    };
    ctx.out.print(&text)?;
    Ok(if failed { 1 } else { 0 })
}
