//! `kubectl mesh doctor --context A --context B` / `--all-contexts`: doctor on each cluster, concurrently (at
//! most [`PARALLEL_CLUSTERS`] read at once, each with doctor's own LISTs), then the cross-cluster checks
//! ([`mesh_core::doctor::cross`]) over the clusters that answered.
//!
//! A cluster that cannot be reached gets its own error entry and the others still run (exit 1); exit 3 only when
//! none could be reached. Each cluster's snapshot is dropped as soon as its findings and cross-cluster facts are
//! taken, so memory stays one snapshot per cluster being read.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cmd::doctor::{check_ids, deepen, diagnose, print_notes, DoctorArgs, Inputs};
use crate::cmd::{scope, Ctx};
use crate::error::{exit, MeshError, Result};
use mesh_core::doctor::cross::{cross_checks, ClusterFacts};
use mesh_core::doctor::{deep, render_short, render_table, suppress, Category, FailOn, Finding, Snapshot};
use mesh_core::opts::OutputFormat;
use mesh_kube::{Cluster, ConnectOptions};

/// Clusters read at the same time.
pub const PARALLEL_CLUSTERS: usize = 4;

/// What one cluster gave.
struct ClusterRun {
    context: String,
    server: Option<String>,
    /// Findings (suppressions applied), cross-cluster facts, suppression notes.
    outcome: std::result::Result<(Vec<Finding>, ClusterFacts), MeshError>,
    notes: Vec<String>,
}

/// One entry of `clusters` in the JSON document.
#[derive(Serialize)]
struct ClusterEntry<'a> {
    context: &'a str,
    server: Option<&'a str>,
    success: bool,
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
    checks: &'a [Finding],
}

async fn one_cluster(
    opts: ConnectOptions,
    all: bool,
    args: Arc<DoctorArgs>,
    wanted: Arc<Vec<&'static str>>,
) -> ClusterRun {
    let context = opts.context.clone().unwrap_or_default();
    let cluster = match Cluster::connect(&opts).await {
        Ok(c) => c,
        Err(e) => {
            return ClusterRun {
                context,
                server: None,
                outcome: Err(e.into()),
                notes: Vec::new(),
            }
        }
    };
    let server = Some(cluster.server.clone());
    let scope = scope(all, &cluster);
    let mut notes = Vec::new();
    let outcome = async {
        let (snapshot, mut findings) = diagnose(&cluster, &scope).await?;
        let deep_wanted = wanted.is_empty() || wanted.iter().any(|id| *id == deep::ID || *id == deep::START_TIME_ID);
        if args.deep && deep_wanted {
            findings = deepen(&cluster, &scope, &snapshot, findings).await;
        }
        if !wanted.is_empty() {
            findings.retain(|f| wanted.contains(&f.id));
        }
        notes = suppress::apply(&mut findings, &snapshot, &args.suppress.suppress)
            .into_iter()
            .map(|n| format!("{context}: {n}"))
            .collect();
        let facts = ClusterFacts::from_snapshot(&context, &snapshot);
        Ok((findings, facts))
    }
    .await;
    ClusterRun {
        context,
        server,
        outcome,
        notes,
    }
}

/// The contexts to check: every distinct `--context`, or every context of the kubeconfig.
fn contexts(ctx: &Ctx, args: &DoctorArgs, base: &ConnectOptions) -> Result<Vec<String>> {
    if !args.all_contexts {
        return Ok(ctx.contexts());
    }
    let names = mesh_kube::config::list_contexts(base)?;
    if names.is_empty() {
        return Err(MeshError::from(mesh_kube::KubeError::Kubeconfig {
            message: "the kubeconfig has no contexts".into(),
            hint: "add contexts (kubectl config set-context) or pass --kubeconfig".into(),
            source: None,
        }));
    }
    Ok(names)
}

pub async fn run(ctx: Ctx, args: DoctorArgs) -> Result<u8> {
    if args.all_contexts && !ctx.global.context.is_empty() {
        return Err(MeshError::usage_hint(
            "--all-contexts and --context cannot be used together",
            "pass --all-contexts, or name the contexts with --context A --context B",
        ));
    }
    if ctx.global.cluster.is_some() || ctx.global.user.is_some() {
        return Err(MeshError::usage_hint(
            "--cluster and --user pick one cluster; with several contexts each context's own are used",
            "drop --cluster/--user, or check one context",
        ));
    }
    let all = ctx.all_namespaces(args.all.all_namespaces)?;
    let wanted = Arc::new(check_ids(
        &args.checks,
        Inputs {
            deep: args.deep,
            clusters: true,
            ..Inputs::default()
        },
    )?);
    let fail_on = FailOn::from(args.fail_on);
    let base = ctx.connect_options()?;
    let names = contexts(&ctx, &args, &base)?;
    // Unknown names are exit 3 before any request, listing the contexts that exist.
    mesh_kube::config::check_contexts(&base, &names)?;

    let limit = Arc::new(Semaphore::new(PARALLEL_CLUSTERS));
    let args = Arc::new(args);
    let mut tasks = JoinSet::new();
    for (i, name) in names.iter().enumerate() {
        let opts = ConnectOptions {
            context: Some(name.clone()),
            ..base.clone()
        };
        let (limit, args, wanted) = (limit.clone(), args.clone(), wanted.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            (i, one_cluster(opts, all, args, wanted).await)
        });
    }
    let mut runs: Vec<(usize, ClusterRun)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (i, run) = joined.map_err(|source| {
            MeshError::from(mesh_kube::KubeError::Task {
                context: "checking a cluster",
                source,
            })
        })?;
        runs.push((i, run));
    }
    runs.sort_by_key(|(i, _)| *i);
    let runs: Vec<ClusterRun> = runs.into_iter().map(|(_, r)| r).collect();

    let facts: Vec<ClusterFacts> = runs
        .iter()
        .filter_map(|r| r.outcome.as_ref().ok().map(|(_, f)| f.clone()))
        .collect();
    let mut cross = cross_checks(&facts);
    if !wanted.is_empty() {
        cross.retain(|f| wanted.contains(&f.id));
    }
    // A cross-cluster finding is silenced by a code-wide --suppress (it names no resource of one cluster).
    let mut notes: Vec<String> = runs.iter().flat_map(|r| r.notes.iter().cloned()).collect();
    notes.extend(suppress::apply(
        &mut cross,
        &Snapshot::from_raw(&mesh_core::doctor::RawLists::default()),
        &args.suppress.suppress,
    ));
    let success = |findings: &[Finding]| !fail_on.failed(findings);
    let reached = facts.len();
    let all_ok = runs
        .iter()
        .all(|r| r.outcome.as_ref().is_ok_and(|(findings, _)| success(findings)))
        && success(&cross);
    print_notes(&ctx, &notes);

    let text = match ctx.out.format {
        OutputFormat::Json | OutputFormat::Yaml => {
            let clusters: Vec<ClusterEntry> = runs
                .iter()
                .map(|r| match &r.outcome {
                    Ok((findings, _)) => ClusterEntry {
                        context: &r.context,
                        server: r.server.as_deref(),
                        success: success(findings),
                        error: None,
                        hint: None,
                        checks: findings,
                    },
                    Err(e) => ClusterEntry {
                        context: &r.context,
                        server: r.server.as_deref(),
                        success: false,
                        error: Some(e.to_string()),
                        hint: e.hint(),
                        checks: &[],
                    },
                })
                .collect();
            let mut doc = serde_json::json!({
                "success": all_ok,
                "clusters": clusters,
                "crossCluster": cross,
            });
            if !notes.is_empty() {
                doc["notes"] = serde_json::json!(notes);
            }
            mesh_core::render::to_format(&doc, ctx.out.format)?
        }
        _ if args.output.short() => render_short(&labelled(&runs, cross)),
        _ => render_text(&runs, cross, ctx.out.color),
    };
    ctx.out.print(&text)?;
    Ok(if reached == 0 {
        exit::UNREACHABLE
    } else if all_ok {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// Every cluster's findings, each message led by its context (padded to one width: the CLUSTER column), an
/// unreachable cluster as an `api-access` error, then the cross-cluster findings (context `*`).
fn labelled(runs: &[ClusterRun], cross: Vec<Finding>) -> Vec<Finding> {
    let width = runs.iter().map(|r| r.context.chars().count()).max().unwrap_or(7).max(7);
    let mut all: Vec<Finding> = Vec::new();
    for r in runs {
        match &r.outcome {
            Ok((findings, _)) => all.extend(findings.iter().cloned().map(|mut f| {
                f.message = format!("{:width$}  {}", r.context, f.message);
                f
            })),
            Err(e) => {
                let mut f = Finding::error(
                    "api-access",
                    Category::KubernetesApi,
                    format!("{:width$}  could not be reached: {e}", r.context),
                );
                if let Some(h) = e.hint() {
                    f = f.with_hint(h);
                }
                all.push(f);
            }
        }
    }
    all.extend(cross.into_iter().map(|mut f| {
        f.message = format!("{:width$}  {}", "*", f.message);
        f
    }));
    all
}

/// One report for all clusters: each category lists every cluster's findings with a CLUSTER column, the
/// cross-cluster checks come last.
fn render_text(runs: &[ClusterRun], cross: Vec<Finding>, color: bool) -> String {
    let width = runs.iter().map(|r| r.context.chars().count()).max().unwrap_or(7).max(7);
    let mut header = String::from("clusters:");
    for r in runs {
        let server = r.server.as_deref().unwrap_or("-");
        header.push_str(&format!(" {} ({server})", r.context));
        header.push(if std::ptr::eq(r, runs.last().unwrap_or(r)) {
            '\n'
        } else {
            ','
        });
    }
    let mut all = labelled(runs, cross);
    // A stable order: by category, then cluster (the order of --context), keeping each cluster's check order.
    all.sort_by_key(|f| f.category);
    let columns = format!("  {:6} {:width$}  MESSAGE\n", "CODE", "CLUSTER");
    let table = render_table(&all, color);
    // The column header under each category heading ("----" line).
    let mut out = header;
    out.push('\n');
    for line in table.lines() {
        out.push_str(line);
        out.push('\n');
        if !line.is_empty() && line.chars().all(|c| c == '-') {
            out.push_str(&columns);
        }
    }
    out
}
