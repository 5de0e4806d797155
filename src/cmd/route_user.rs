//! `kubectl mesh route-user SERVICE USER VERSION`: one user's requests (header `end-user`) to one version, on the
//! Service's mesh HTTPRoute or GRPCRoute (a gRPC header match there).

use clap::Args;

use crate::cli::{OutputArgs, PatchArgs, RouteArgs, WaitArgs, WriteArgs};
use crate::cmd::traffic::{check_flags, emit, run_change, Change};
use crate::cmd::Ctx;
use crate::error::{MeshError, Result};
use mesh_core::route::{plan_route_user, render_user_plan, RouteUserPlan, RouteUserRequest};

#[derive(Debug, Clone, Args)]
pub struct RouteUserArgs {
    /// The Service whose mesh route gets the rule
    #[arg(value_name = "SERVICE")]
    pub service: String,

    /// The header value to match (the user name Bookinfo sends as end-user)
    #[arg(id = "user_name", value_name = "USER")]
    pub user: String,

    /// The version to send this user to (backend Service SERVICE-VERSION); omit with --remove
    #[arg(
        id = "target_version",
        value_name = "VERSION",
        required_unless_present = "remove",
        conflicts_with = "remove"
    )]
    pub version: Option<String>,

    /// The request header that carries the user
    #[arg(long, value_name = "NAME", default_value = "end-user")]
    pub header: String,

    /// Remove this user's rule instead of setting it
    #[arg(long)]
    pub remove: bool,

    #[command(flatten)]
    pub route: RouteArgs,

    /// Proceed even when the backend has no ready endpoints, the route is owned by a controller or a GitOps tool, or Istio would ignore the route (ambient mode without a usable waypoint, a parentRef group other than "", a headless parent Service)
    #[arg(long)]
    pub force: bool,

    /// Create the missing per-version Service from the pods' app/version labels
    #[arg(long = "create-backends")]
    pub create_backends: bool,

    #[command(flatten)]
    pub wait: WaitArgs,

    #[command(flatten)]
    pub patch: PatchArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub write: WriteArgs,
}

impl TryFrom<&RouteUserArgs> for RouteUserRequest {
    type Error = MeshError;

    fn try_from(args: &RouteUserArgs) -> Result<RouteUserRequest> {
        let mut req = RouteUserRequest::new(
            &args.service,
            &args.user,
            args.version.as_deref(),
            Some(&args.header),
            args.remove,
        )?;
        req.route_name = crate::cmd::route_flag(args.route.route.as_deref())?;
        req.force = args.force;
        req.create_backends = args.create_backends;
        req.kind = args.route.kind.map(Into::into);
        req.gitops_ok = args.patch.emit_patch;
        Ok(req)
    }
}

pub async fn run(ctx: Ctx, args: RouteUserArgs) -> Result<u8> {
    check_flags(&args.write, &args.wait, &args.patch, None)?;
    let req = RouteUserRequest::try_from(&args)?;
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
        return emit(&change, |snap| plan_route_user(snap, &req)).await;
    }
    run_change(
        &change,
        |snap| plan_route_user(snap, &req),
        |p: &RouteUserPlan, outcome, dry_run| {
            format!(
                "{}\n{}",
                outcome.line(p.edit.kind, &p.edit.route_name, dry_run),
                render_user_plan(p)
            )
        },
    )
    .await
}
