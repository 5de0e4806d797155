//! `kubectl mesh history SERVICE`: the traffic history kubectl-mesh keeps on a Service's mesh route (the
//! `mesh.kubectl.io/history` annotation), oldest first; the last entry is the current state. One round trip of
//! reads (the namespace's route lists), nothing written.

use clap::Args;

use crate::cli::{OutputArgs, RouteArgs};
use crate::cmd::Ctx;
use crate::error::{MeshError, Result};
use mesh_core::opts::OutputFormat;
use mesh_core::render::to_format;
use mesh_core::route::history::history_document;
use mesh_core::route::{history_view, render_history_table, route_for_history, RouteKind, RouteSnapshot};
use mesh_kube::read::route::{load_states, Purpose};

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// The Service whose mesh route's history to show
    #[arg(value_name = "SERVICE")]
    pub service: String,

    #[command(flatten)]
    pub route: RouteArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

pub async fn run(ctx: Ctx, args: HistoryArgs) -> Result<u8> {
    mesh_core::route::validate_dns_label(&args.service)?;
    let route_name = crate::cmd::route_flag(args.route.route.as_deref())?;
    let kind: Option<RouteKind> = args.route.kind.map(Into::into);
    let cluster = ctx.cluster().await?;
    let ns = cluster.namespace.clone();
    let loaded = load_states(&cluster, Some(&ns), Purpose::Status).await?;
    for w in &loaded.warnings {
        ctx.out.info(&format!("warning: {w}"));
    }
    let state = loaded
        .states
        .into_iter()
        .find(|s| s.namespace == ns)
        .unwrap_or_else(|| mesh_core::route::NamespaceState {
            namespace: ns.clone(),
            grpc_served: loaded.grpc_served,
            ..Default::default()
        });
    let snap = RouteSnapshot {
        service: args.service.clone(),
        state,
        parent_port_supported: false,
        // history reads no namespace or waypoint: it plans no write.
        namespace_labels: None,
        gateways: None,
    };
    let route = route_for_history(&snap, kind, route_name.as_deref())?;
    let (revisions, notes) = history_view(route, false).map_err(MeshError::from)?;
    for n in notes {
        ctx.out.info(&format!("warning: {n}"));
    }
    let text = match ctx.out.format {
        OutputFormat::Json | OutputFormat::Yaml => {
            to_format(&history_document(&args.service, &ns, route, &revisions), ctx.out.format)?
        }
        format => render_history_table(
            RouteKind::of(route),
            &ns,
            &revisions,
            jiff::Timestamp::now(),
            format == OutputFormat::Wide,
        ),
    };
    ctx.out.print(&text)?;
    Ok(0)
}
