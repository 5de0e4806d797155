//! `kubectl mesh shift SERVICE VERSION=PERCENT...`: weighted traffic shifting on the Service's mesh HTTPRoute.
//!
//! Validation happens before connecting (bad input exits 2 having sent nothing); the plan is pure
//! ([`crate::route::plan_shift`]); the write carries the resourceVersion read and is re-planned on conflict
//! ([`crate::apply::plan_and_write`]).

use clap::Args;

use crate::apply::{plan_and_write, RouteWrite};
use crate::cli::{OutputArgs, OutputFormat, WriteArgs};
use crate::cluster::WriteOpts;
use crate::cmd::{target_namespace, Ctx};
use crate::error::Result;
use crate::output::to_format;
use crate::route::{plan_shift, render_shift_table, ShiftPlan, ShiftRequest};

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

    /// Proceed even when a backend has no ready endpoints or the route is owned by a controller
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
        if let Some(route) = &args.route {
            crate::names::check_dns1123_subdomain(route)
                .map_err(|why| crate::error::MeshError::usage(format!("invalid --route {route:?}: {why}")))?;
        }
        req.route_name = args.route.clone();
        req.force = args.force;
        req.create_backends = args.create_backends;
        Ok(req)
    }
}

pub async fn run(ctx: Ctx, args: ShiftArgs) -> Result<u8> {
    let req = ShiftRequest::try_from(&args)?;
    ctx.namespace_flag()?;
    let cluster = ctx.cluster().await?;
    let namespace = target_namespace(&ctx, &cluster)?;
    let opts = WriteOpts {
        dry_run: args.write.dry_run,
        field_manager: args.write.field_manager.clone(),
    };
    let written = plan_and_write(
        &cluster,
        &namespace,
        &req.service,
        &opts,
        |snap| Ok(plan_shift(snap, &req)?),
        |p: &ShiftPlan| RouteWrite {
            route_name: &p.route_name,
            route: &p.route,
            create: p.create,
            services_to_create: &p.services_to_create,
            noop: p.noop,
        },
    )
    .await?;
    let text = match ctx.out.format {
        OutputFormat::Json | OutputFormat::Yaml => {
            let object = written.object.as_ref().unwrap_or(&written.plan.route);
            to_format(object, ctx.out.format)?
        }
        _ => {
            let mut s = String::new();
            for svc in &written.plan.services_to_create {
                let name = svc
                    .pointer("/metadata/name")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("?");
                s.push_str(&format!("service/{name} created{}\n", dry_suffix(args.write.dry_run)));
            }
            s.push_str(&format!(
                "{}\n\n",
                written.outcome.line(&written.plan.route_name, args.write.dry_run)
            ));
            s.push_str(&render_shift_table(&written.plan));
            s
        }
    };
    ctx.out.print(&text)?;
    Ok(0)
}

pub(crate) fn dry_suffix(d: crate::cli::DryRun) -> &'static str {
    match d {
        crate::cli::DryRun::None => "",
        crate::cli::DryRun::Client => " (dry run)",
        crate::cli::DryRun::Server => " (server dry run)",
    }
}
