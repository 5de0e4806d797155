//! `kubectl mesh doctor`: read the cluster once, run pure checks, report findings like `linkerd check`.
//!
//! Exit 0 when no check has status error, 1 otherwise — in `-o json` too (unlike `istioctl analyze`). Skipped
//! checks (data we may not read) never change the exit code.

use clap::Args;

use crate::cli::{AllNamespacesArg, OutputArgs, OutputFormat};
use crate::cluster::doctor_io::read_raw_lists;
use crate::cluster::Cluster;
use crate::cmd::{Ctx, Scope};
use crate::doctor::{render_check_list, render_json, render_table, run_checks, success, Finding, Snapshot, CHECKS};
use crate::error::{MeshError, Result};

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub all: AllNamespacesArg,

    /// Only run these checks (ids from --list-checks); repeatable
    #[arg(long = "check", value_name = "ID")]
    pub checks: Vec<String>,

    /// List the checks and exit
    #[arg(long = "list-checks")]
    pub list_checks: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// The doctor scope for a command scope: the context's (or `-n`) namespace plus cluster-wide prerequisites, or
/// every namespace.
pub fn doctor_scope(scope: &Scope, cluster: &Cluster) -> crate::doctor::Scope {
    match scope.resolve(cluster) {
        None => crate::doctor::Scope::All,
        Some(ns) => crate::doctor::Scope::Namespaces(vec![ns.to_string()]),
    }
}

/// Read and check: shared with `recover`, which acts on the same findings.
pub async fn diagnose(cluster: &Cluster, scope: &Scope) -> Result<(Snapshot, Vec<Finding>)> {
    let raw = read_raw_lists(cluster, &doctor_scope(scope, cluster)).await?;
    let snapshot = Snapshot::from_raw(&raw);
    let findings = run_checks(&snapshot, jiff::Timestamp::now());
    Ok((snapshot, findings))
}

fn check_ids(ids: &[String]) -> Result<()> {
    for id in ids {
        if !CHECKS.iter().any(|c| c.id == id) {
            return Err(MeshError::usage_hint(
                format!("unknown check {id:?}"),
                "list the check ids with: kubectl mesh doctor --list-checks",
            ));
        }
    }
    Ok(())
}

pub async fn run(ctx: Ctx, args: DoctorArgs) -> Result<u8> {
    if args.list_checks {
        ctx.out.print(&render_check_list())?;
        return Ok(0);
    }
    check_ids(&args.checks)?;
    let scope = ctx.scope(args.all.all_namespaces)?;
    let cluster = ctx.cluster().await?;
    let (_, mut findings) = diagnose(&cluster, &scope).await?;
    if !args.checks.is_empty() {
        findings.retain(|f| args.checks.iter().any(|id| id == f.id));
    }
    let text = match ctx.out.format {
        OutputFormat::Json => render_json(&findings),
        OutputFormat::Yaml => {
            let doc: serde_json::Value = serde_json::from_str(&render_json(&findings))
                .map_err(|e| MeshError::io("rendering YAML", std::io::Error::other(e)))?;
            crate::output::to_format(&doc, OutputFormat::Yaml)?
        }
        _ => render_table(&findings, ctx.out.color),
    };
    ctx.out.print(&text)?;
    Ok(if success(&findings) { 0 } else { 1 })
}
