//! `kubectl mesh doctor`: read the cluster once, run pure checks, report findings like `linkerd check`.
//!
//! Exit 0 when no check has status error, 1 otherwise — in `-o json` too (unlike `istioctl analyze`); `--fail-on
//! warning` makes warnings fail too. Skipped checks (data we may not read) and suppressed findings (`--suppress`,
//! annotation `mesh.kubectl.io/suppress`) never change the exit code.
//!
//! `--deep` additionally reads each sidecar's Envoy admin `/certs` through the pod port-forward to confirm or
//! clear stale-certificate suspicions (see [`mesh_core::doctor::deep`]); without it doctor never port-forwards.
//! `--error TEXT` starts from a pasted failure text instead (see [`super::doctor_error`]).

use clap::{Args, ValueEnum};

use crate::cli::{AllNamespacesArg, SuppressArgs};
use crate::cmd::{doctor_error, scope, Ctx};
use crate::error::{MeshError, Result};
use mesh_core::doctor::registry;
use mesh_core::doctor::{
    deep, render_check_list, render_short, render_table, report_fail_on, run_checks, run_some, suppress, FailOn,
    Finding, Snapshot,
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

    /// Only run these checks (ids or codes from --list-checks); repeatable
    #[arg(long = "check", value_name = "ID|CODE")]
    pub checks: Vec<String>,

    /// List the checks and exit
    #[arg(long = "list-checks")]
    pub list_checks: bool,

    /// Also read each sidecar's Envoy admin /certs through a pod port-forward to confirm stale certificates
    /// (needs get and create on pods/portforward)
    #[arg(long)]
    pub deep: bool,

    /// Start from a failure text (an Envoy 503 body, an access-log line, curl output; - reads stdin): say which
    /// failure it is, run only the checks it calls for, scoped to the Service and namespace it names
    #[arg(long = "error", value_name = "TEXT", conflicts_with_all = ["checks", "list_checks"])]
    pub error: Option<String>,

    /// What makes doctor exit 1: an error (default), or also a warning
    #[arg(long = "fail-on", value_enum, value_name = "LEVEL", default_value_t = FailOnOpt::Error)]
    pub fail_on: FailOnOpt,

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
    pub suppress: SuppressArgs,

    #[command(flatten)]
    pub output: DoctorOutputArgs,
}

/// `--fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum FailOnOpt {
    /// An unsuppressed error fails
    #[default]
    Error,
    /// An unsuppressed error or warning fails
    Warning,
}

impl From<FailOnOpt> for FailOn {
    fn from(f: FailOnOpt) -> Self {
        match f {
            FailOnOpt::Error => FailOn::Error,
            FailOnOpt::Warning => FailOn::Warning,
        }
    }
}

/// doctor's `-o`: the usual formats and `short`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DoctorFormat {
    #[default]
    Table,
    Wide,
    Json,
    Yaml,
    /// One line per error or warning (STATUS CODE ID: MESSAGE), nothing when all is well
    Short,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorOutputArgs {
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, value_name = "FORMAT", default_value_t = DoctorFormat::Table)]
    pub output: DoctorFormat,
}

impl DoctorOutputArgs {
    /// The format for everything but `short` (which prints like a table would, minus what is ok).
    pub fn format(&self) -> OutputFormat {
        match self.output {
            DoctorFormat::Table | DoctorFormat::Short => OutputFormat::Table,
            DoctorFormat::Wide => OutputFormat::Wide,
            DoctorFormat::Json => OutputFormat::Json,
            DoctorFormat::Yaml => OutputFormat::Yaml,
        }
    }

    pub fn short(&self) -> bool {
        self.output == DoctorFormat::Short
    }
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

/// `--check` values as registered ids (codes accepted), checked before anything is sent.
/// The inputs a doctor run has besides one cluster's snapshot: what opt-in checks `--check` may name.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Inputs {
    /// `--deep`.
    pub deep: bool,
    /// `-f` files.
    pub files: bool,
    /// Several contexts.
    pub clusters: bool,
}

impl Inputs {
    fn has(self, input: registry::Input) -> bool {
        match input {
            registry::Input::Deep => self.deep,
            registry::Input::Files => self.files,
            registry::Input::Clusters => self.clusters,
        }
    }
}

/// `--check` values as registered ids (codes accepted), checked before anything is sent. An opt-in check needs
/// its input (`--deep`, `-f`, several contexts).
pub(crate) fn check_ids(ids: &[String], inputs: Inputs) -> Result<Vec<&'static str>> {
    let mut out = Vec::new();
    for id in ids {
        let Some(check) = registry::find(id) else {
            return Err(MeshError::usage_hint(
                format!("unknown check {id:?}"),
                "list the check ids and codes with: kubectl mesh doctor --list-checks",
            ));
        };
        if let Some(input) = check.needs().filter(|i| !inputs.has(*i)) {
            return Err(MeshError::usage_hint(
                format!("check {:?} only runs with {}", check.id, input.flag()),
                input.hint(),
            ));
        }
        out.push(check.id);
    }
    Ok(out)
}

/// Print suppression notes: in the JSON document, or on stderr next to a table.
pub fn print_notes(ctx: &Ctx, notes: &[String]) {
    if !ctx.out.format.is_structured() {
        for n in notes {
            ctx.out.info(&format!("warning: {n}"));
        }
    }
}

/// The report: `-o short` lines, the JSON/YAML document, or the table.
pub fn render(
    ctx: &Ctx,
    args: &DoctorArgs,
    findings: &[Finding],
    doc: &serde_json::Value,
    table: impl FnOnce() -> String,
) -> Result<String> {
    Ok(match ctx.out.format {
        _ if args.output.short() => render_short(findings),
        OutputFormat::Json | OutputFormat::Yaml => mesh_core::render::to_format(doc, ctx.out.format)?,
        _ => table(),
    })
}

pub async fn run(ctx: Ctx, args: DoctorArgs) -> Result<u8> {
    if args.list_checks {
        ctx.out.print(&render_check_list())?;
        return Ok(0);
    }
    if let Some(text) = &args.error {
        return doctor_error::run(ctx, &args, text).await;
    }
    if !args.filenames.is_empty() {
        return super::doctor_files::run(ctx, args).await;
    }
    if args.all_contexts || ctx.contexts().len() > 1 {
        return super::doctor_multi::run(ctx, args).await;
    }
    let wanted = check_ids(
        &args.checks,
        Inputs {
            deep: args.deep,
            ..Inputs::default()
        },
    )?;
    let fail_on = FailOn::from(args.fail_on);
    let all = ctx.all_namespaces(args.all.all_namespaces)?;
    let cluster = ctx.cluster().await?;
    let scope = scope(all, &cluster);
    let snapshot = read_snapshot(&cluster, &scope).await?;
    let now = jiff::Timestamp::now();
    let mut findings = if wanted.is_empty() {
        run_checks(&snapshot, now)
    } else {
        run_some(&snapshot, now, &wanted)
    };
    let deep_wanted = wanted.is_empty() || wanted.iter().any(|id| *id == deep::ID || *id == deep::START_TIME_ID);
    if args.deep && deep_wanted {
        findings = deepen(&cluster, &scope, &snapshot, findings).await;
    }
    if !wanted.is_empty() {
        findings.retain(|f| wanted.contains(&f.id));
    }
    let notes = suppress::apply(&mut findings, &snapshot, &args.suppress.suppress);
    // The findings name what they need; the snapshot (every pod of the cluster with -A) goes before rendering.
    drop(snapshot);
    print_notes(&ctx, &notes);
    let mut doc = report_fail_on(&findings, fail_on);
    if !notes.is_empty() {
        doc["notes"] = serde_json::json!(notes);
    }
    let text = render(&ctx, &args, &findings, &doc, || render_table(&findings, ctx.out.color))?;
    ctx.out.print(&text)?;
    Ok(if fail_on.failed(&findings) { 1 } else { 0 })
}
