//! `kubectl mesh route-user SERVICE USER VERSION`: one user's requests (header `end-user`) to one version.

use clap::Args;

use crate::cli::{OutputArgs, WriteArgs};
use crate::cmd::{run_route_write, Ctx};
use crate::error::{MeshError, Result};
use mesh_core::route::{plan_route_user, render_user_plan, RouteUserRequest};

#[derive(Debug, Clone, Args)]
pub struct RouteUserArgs {
    /// The Service whose mesh HTTPRoute gets the rule
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

    /// The HTTPRoute to edit when several target the Service
    #[arg(long, value_name = "NAME")]
    pub route: Option<String>,

    /// Proceed even when the backend has no ready endpoints, the route is owned by a controller, or Istio would ignore the route (ambient mode without a usable waypoint, a parentRef group other than "", a headless parent Service)
    #[arg(long)]
    pub force: bool,

    /// Create the missing per-version Service from the pods' app/version labels
    #[arg(long = "create-backends")]
    pub create_backends: bool,

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
        req.route_name = crate::cmd::route_flag(args.route.as_deref())?;
        req.force = args.force;
        req.create_backends = args.create_backends;
        Ok(req)
    }
}

pub async fn run(ctx: Ctx, args: RouteUserArgs) -> Result<u8> {
    let req = RouteUserRequest::try_from(&args)?;
    run_route_write(
        &ctx,
        &req.service,
        &args.write,
        |snap| Ok(plan_route_user(snap, &req)?),
        render_user_plan,
    )
    .await
}
