//! `kubectl mesh status`: where traffic goes now, per mesh route. One LIST per kind (HTTPRoutes, GRPCRoutes,
//! Services, EndpointSlices; never Pods) and the namespaces' labels (ambient mode), concurrently, however many
//! routes there are.

use clap::Args;
use serde_json::json;

use crate::cli::{AllNamespacesArg, OutputArgs};
use crate::cmd::{scope, Ctx};
use crate::error::{MeshError, Result};
use mesh_core::opts::OutputFormat;
use mesh_core::render::to_format;
use mesh_core::route::{apply_dataplane_modes, ignored_service_parents, render_status_table, route_status};
use mesh_kube::read::route::{load_states, namespace_labels, Purpose};

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Only the routes of this Service
    #[arg(value_name = "SERVICE")]
    pub service: Option<String>,

    #[command(flatten)]
    pub all: AllNamespacesArg,

    #[command(flatten)]
    pub output: OutputArgs,
}

pub async fn run(ctx: Ctx, args: StatusArgs) -> Result<u8> {
    let all = ctx.all_namespaces(args.all.all_namespaces)?;
    if let Some(svc) = &args.service {
        mesh_core::names::check_dns1123_label(svc).map_err(|reason| MeshError::InvalidName {
            what: "Service name",
            name: svc.clone(),
            reason,
            hint: None,
        })?;
    }
    let cluster = ctx.cluster().await?;
    let scope = scope(all, &cluster);
    let ns = scope.single().map(str::to_string);
    // The namespaces' labels in the same round: ResolvedWaypoints means something only for ambient ones.
    let (loaded, labels) = tokio::join!(
        load_states(&cluster, ns.as_deref(), Purpose::Status),
        namespace_labels(&cluster, ns.as_deref())
    );
    let loaded = loaded?;
    let labels = labels?;
    for w in &loaded.warnings {
        ctx.out.info(&format!("warning: {w}"));
    }
    let mut routes = route_status(&loaded.states);
    apply_dataplane_modes(&mut routes, |namespace| {
        let labels = labels.as_ref()?;
        Some(
            labels
                .get(namespace)
                .is_some_and(mesh_core::ambient::namespace_in_ambient),
        )
    });
    if let Some(svc) = &args.service {
        routes.retain(|r| &r.service == svc);
    }
    // Routes meant for a Service that Istio ignores (the parentRef's group is not ""): not listed, but said.
    for (ns, route, service, group) in ignored_service_parents(&loaded.states) {
        if args.service.as_ref().is_none_or(|s| *s == service) {
            ctx.out.info(&format!(
                "note: HTTPRoute {ns}/{route} has a Service parentRef ({service}) with group {group:?}, which Istio ignores (see kubectl mesh doctor --check gamma-parent-group)"
            ));
        }
    }
    let text = match ctx.out.format {
        OutputFormat::Json | OutputFormat::Yaml => to_format(&json!({ "routes": routes }), ctx.out.format)?,
        format => {
            if routes.is_empty() {
                let where_ = ns
                    .map(|n| format!("namespace {n}"))
                    .unwrap_or_else(|| "any namespace".into());
                let what = args
                    .service
                    .as_deref()
                    .map(|s| format!(" for Service {s}"))
                    .unwrap_or_default();
                ctx.out
                    .info(&format!("No mesh HTTPRoutes or GRPCRoutes{what} found in {where_}."));
                String::new()
            } else {
                render_status_table(&routes, format == OutputFormat::Wide)
            }
        }
    };
    ctx.out.print(&text)?;
    Ok(0)
}
