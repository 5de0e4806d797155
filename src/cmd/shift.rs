//! `kubectl mesh shift SERVICE VERSION=PERCENT...`: weighted traffic shifting on the Service's mesh HTTPRoute.
//!
//! Validation happens before connecting (bad input exits 2 having sent nothing); the plan is pure
//! ([`mesh_core::route::plan_shift`]); the write carries the resourceVersion read and is re-planned on conflict
//! (`mesh_kube::apply::route::plan_and_write`).

use clap::Args;

use crate::cli::{OutputArgs, WriteArgs};
use crate::cmd::{run_route_write, Ctx};
use crate::error::Result;
use mesh_core::route::{plan_shift, render_shift_table, ShiftPlan, ShiftRequest};

#[derive(Debug, Clone, Args)]
pub struct ShiftArgs {
    /// The Service whose traffic to shift (the parentRef of its mesh HTTPRoute)
    #[arg(value_name = "SERVICE")]
    pub service: String,

    /// Target split, e.g. v1=90 v3=10; a sum below 100 keeps the other backends' proportions for the rest
    #[arg(value_name = "VERSION=PERCENT", required = true, num_args = 1..)]
    pub weights: Vec<String>,

    /// The HTTPRoute to edit when several target the Service
    #[arg(long, value_name = "NAME")]
    pub route: Option<String>,

    /// Proceed even when a backend has no ready endpoints, the route is owned by a controller, or Istio would ignore the route (ambient mode without a usable waypoint, a parentRef group other than "", a headless parent Service)
    #[arg(long)]
    pub force: bool,

    /// Create missing per-version Services (SERVICE-VERSION) from the pods' app/version labels
    #[arg(long = "create-backends")]
    pub create_backends: bool,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub write: WriteArgs,
}

impl TryFrom<&ShiftArgs> for ShiftRequest {
    type Error = crate::error::MeshError;

    fn try_from(args: &ShiftArgs) -> Result<ShiftRequest> {
        let mut req = ShiftRequest::new(&args.service, &args.weights)?;
        req.route_name = crate::cmd::route_flag(args.route.as_deref())?;
        req.force = args.force;
        req.create_backends = args.create_backends;
        Ok(req)
    }
}

pub async fn run(ctx: Ctx, args: ShiftArgs) -> Result<u8> {
    let req = ShiftRequest::try_from(&args)?;
    run_route_write(
        &ctx,
        &req.service,
        &args.write,
        |snap| Ok(plan_shift(snap, &req)?),
        // A blank line, then the before/after table.
        |p: &ShiftPlan| format!("\n{}", render_shift_table(p)),
    )
    .await
}
