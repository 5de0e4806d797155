//! `kubectl mesh undo SERVICE [--to-revision N]`: put back a revision of the route's traffic history (the one
//! before the current state by default), through the same planner checks as shift, recorded as a new revision
//! itself — undo twice goes back and forth, as `kubectl rollout undo` does.

use clap::Args;

use crate::cli::{OutputArgs, PatchArgs, RouteArgs, WaitArgs, WriteArgs};
use crate::cmd::traffic::{check_flags, emit, run_change, Change};
use crate::cmd::Ctx;
use crate::error::{MeshError, Result};
use mesh_core::route::{plan_restore, render_restore_plan, RestorePlan, RestoreRequest, WriteOutcome};

#[derive(Debug, Clone, Args)]
pub struct UndoArgs {
    /// The Service whose mesh route to take back
    #[arg(value_name = "SERVICE")]
    pub service: String,

    /// The revision to go back to (see kubectl mesh history); default: the one before the current state
    #[arg(long = "to-revision", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub to_revision: Option<u64>,

    #[command(flatten)]
    pub route: RouteArgs,

    /// Restore even when a backend has no ready endpoints, or the route is owned by a controller or a GitOps tool
    /// (a backend Service that does not exist is always refused)
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub wait: WaitArgs,

    #[command(flatten)]
    pub patch: PatchArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub write: WriteArgs,
}

impl TryFrom<&UndoArgs> for RestoreRequest {
    type Error = MeshError;

    fn try_from(args: &UndoArgs) -> Result<RestoreRequest> {
        let mut req = RestoreRequest::new(&args.service, args.to_revision)?;
        req.route_name = crate::cmd::route_flag(args.route.route.as_deref())?;
        req.kind = args.route.kind.map(Into::into);
        req.force = args.force;
        req.gitops_ok = args.patch.emit_patch;
        Ok(req)
    }
}

pub async fn run(ctx: Ctx, args: UndoArgs) -> Result<u8> {
    check_flags(&args.write, &args.wait, &args.patch, None)?;
    let req = RestoreRequest::try_from(&args)?;
    let change = Change {
        ctx: &ctx,
        service: &req.service,
        write: &args.write,
        wait: &args.wait,
        patch: &args.patch,
        route: &args.route,
        force: args.force,
    };
    if args.patch.emit_patch {
        return emit(&change, |snap| plan_restore(snap, &req)).await;
    }
    run_change(
        &change,
        |snap| plan_restore(snap, &req),
        |p: &RestorePlan, outcome, dry_run| {
            let what = format!("{}/{}", p.edit.kind.qualified(), p.edit.route_name);
            match outcome {
                WriteOutcome::Unchanged => format!(
                    "{what} skipped rollback (current traffic already matches revision {})\n",
                    p.to_revision
                ),
                _ => format!(
                    "{what} rolled back to revision {}{}\n\n{}",
                    p.to_revision,
                    dry_run.suffix(),
                    render_restore_plan(p)
                ),
            }
        },
    )
    .await
}
