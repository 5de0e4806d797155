//! `kubectl mesh doctor`: read the cluster once, run pure checks, report findings like `linkerd check`.
//!
//! Exit 0 when no check has status error, 1 otherwise — in `-o json` too (unlike `istioctl analyze`). Skipped
//! checks (data we may not read) never change the exit code.
//!
//! `--deep` additionally reads each sidecar's Envoy admin `/certs` through the pod port-forward to confirm or
//! clear stale-certificate suspicions (see [`mesh_core::doctor::deep`]); without it doctor never port-forwards.

use clap::Args;

use crate::cli::{AllNamespacesArg, OutputArgs};
use crate::cmd::{scope, Ctx};
use crate::error::{MeshError, Result};
use mesh_core::doctor::{
    deep, render_check_list, render_json, render_table, report, run_checks, success, Finding, Snapshot, CHECKS,
};
use mesh_core::opts::OutputFormat;
use mesh_core::scope::Scope;
use mesh_kube::read::doctor::read_snapshot;
use mesh_kube::read::sidecar_certs::read_sidecar_certs;
use mesh_kube::Cluster;

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

    /// Also read each sidecar's Envoy admin /certs through a pod port-forward to confirm stale certificates
    /// (needs get and create on pods/portforward)
    #[arg(long)]
    pub deep: bool,

    /// Check manifests: a file or directory of YAML/JSON (several documents each), - for stdin; repeatable.
    /// Against the cluster, the files' objects replace the live ones and findings say what the files change
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub filenames: Vec<String>,

    /// Read directories given with -f recursively
    #[arg(short = 'R', long, requires = "filenames")]
    pub recursive: bool,

    /// With -f: check the files alone, contacting no cluster (checks that need live state are skipped)
    #[arg(long, requires = "filenames")]
    pub offline: bool,

    /// Check every context of the kubeconfig, concurrently (or repeat --context)
    #[arg(long = "all-contexts")]
    pub all_contexts: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Read and check: shared with `recover`, which acts on the same findings.
pub async fn diagnose(cluster: &Cluster, scope: &Scope) -> Result<(Snapshot, Vec<Finding>)> {
    let snapshot = read_snapshot(cluster, scope).await?;
    let findings = run_checks(&snapshot, jiff::Timestamp::now());
    Ok((snapshot, findings))
}

/// Confirm or clear stale-certificate findings from the sidecars' own Envoy admins (`--deep`).
pub async fn deepen(cluster: &Cluster, scope: &Scope, snapshot: &Snapshot, findings: Vec<Finding>) -> Vec<Finding> {
    let plan = deep::plan(snapshot, scope);
    cluster.log(1, || {
        format!(
            "--deep: reading the Envoy admin {} of {} sidecars",
            deep::CERTS_PATH,
            plan.targets.len()
        )
    });
    let evidence = read_sidecar_certs(cluster, &plan).await;
    deep::apply(snapshot, findings, &plan, &evidence)
}

pub(crate) fn check_ids(ids: &[String], deep: bool) -> Result<()> {
    if !deep && ids.iter().any(|id| id == deep::ID) {
        return Err(MeshError::usage_hint(
            format!("check {:?} only runs with --deep", deep::ID),
            "add --deep (it port-forwards to each sidecar's Envoy admin)",
        ));
    }
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
    if !args.filenames.is_empty() {
        return super::doctor_files::run(ctx, args).await;
    }
    if args.all_contexts || ctx.contexts().len() > 1 {
        return super::doctor_multi::run(ctx, args).await;
    }
    check_ids(&args.checks, args.deep)?;
    let all = ctx.all_namespaces(args.all.all_namespaces)?;
    let cluster = ctx.cluster().await?;
    let scope = scope(all, &cluster);
    let (snapshot, mut findings) = diagnose(&cluster, &scope).await?;
    let deep_wanted =
        args.checks.is_empty() || args.checks.iter().any(|id| id == deep::ID || id == deep::START_TIME_ID);
    if args.deep && deep_wanted {
        findings = deepen(&cluster, &scope, &snapshot, findings).await;
    }
    if !args.checks.is_empty() {
        findings.retain(|f| args.checks.iter().any(|id| id == f.id));
    }
    // The findings name what they need; the snapshot (every pod of the cluster with -A) goes before rendering.
    drop(snapshot);
    let text = match ctx.out.format {
        OutputFormat::Json => render_json(&findings),
        OutputFormat::Yaml => mesh_core::render::to_format(&report(&findings), OutputFormat::Yaml)?,
        _ => render_table(&findings, ctx.out.color),
    };
    ctx.out.print(&text)?;
    Ok(if success(&findings) { 0 } else { 1 })
}
