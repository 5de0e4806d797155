//! What the user typed, as clap parses it: the flag groups the subcommands share. The root parser
//! ([`crate::cmd::Cli`]) sits with the dispatcher, above the commands, so nothing here imports a command.
//!
//! kubectl does not hand its global flags to plugins, so the plugin declares `--kubeconfig`, `--context`,
//! `-n`, `--request-timeout`, … itself, with kubectl's spelling and meaning. Values that clap cannot check (weights,
//! DNS-1123 names, flag combinations) are validated once when each command turns its args into a request.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use mesh_core::duration::parse_duration;
use mesh_core::opts::{ColorChoice, DryRun, OutputFormat};

/// kubectl's connection and presentation flags, accepted before or after the subcommand.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Kubectl flags")]
pub struct GlobalArgs {
    /// Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// The name of the kubeconfig context to use (doctor: repeat it to check several clusters)
    #[arg(long, global = true, value_name = "NAME", action = clap::ArgAction::Append)]
    pub context: Vec<String>,

    /// The name of the kubeconfig cluster to use
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,

    /// The name of the kubeconfig user to use
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,

    /// The namespace scope for this request (default: the context's namespace)
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    /// How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever
    #[arg(long = "request-timeout", global = true, value_name = "DURATION", default_value = "0",
          value_parser = parse_request_timeout)]
    pub request_timeout: Duration,

    /// When to colour output; NO_COLOR in the environment means never
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoiceOpt::Auto)]
    pub color: ColorChoiceOpt,

    /// Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)
    #[arg(short = 'v', long = "v", global = true, value_name = "LEVEL", default_value_t = 0,
          value_parser = clap::value_parser!(u8).range(0..=10))]
    pub verbosity: u8,
}

fn parse_request_timeout(s: &str) -> Result<Duration, String> {
    parse_duration(s, true)
}

/// The API server's rule: 1 to 128 printable characters.
fn parse_field_manager(s: &str) -> Result<String, String> {
    if s.is_empty() || s.chars().count() > 128 || s.chars().any(char::is_control) {
        return Err("must be 1 to 128 printable characters".into());
    }
    Ok(s.to_string())
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    parse_duration(s, false)
}

// The flags' value enums. clap derives their help and completions; the rest of the program sees the plain
// `crate::opts` enums they convert into.

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoiceOpt {
    Auto,
    Always,
    Never,
}

/// `-o/--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormatOpt {
    #[default]
    Table,
    Wide,
    Json,
    Yaml,
}

/// `--dry-run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DryRunOpt {
    /// Write for real
    #[default]
    None,
    /// Write nothing; print what would be sent
    Client,
    /// Send the writes with dryRun=All: the server validates them and stores nothing
    Server,
}

impl From<ColorChoiceOpt> for ColorChoice {
    fn from(c: ColorChoiceOpt) -> Self {
        match c {
            ColorChoiceOpt::Auto => ColorChoice::Auto,
            ColorChoiceOpt::Always => ColorChoice::Always,
            ColorChoiceOpt::Never => ColorChoice::Never,
        }
    }
}

impl From<OutputFormatOpt> for OutputFormat {
    fn from(f: OutputFormatOpt) -> Self {
        match f {
            OutputFormatOpt::Table => OutputFormat::Table,
            OutputFormatOpt::Wide => OutputFormat::Wide,
            OutputFormatOpt::Json => OutputFormat::Json,
            OutputFormatOpt::Yaml => OutputFormat::Yaml,
        }
    }
}

impl From<DryRunOpt> for DryRun {
    fn from(d: DryRunOpt) -> Self {
        match d {
            DryRunOpt::None => DryRun::None,
            DryRunOpt::Client => DryRun::Client,
            DryRunOpt::Server => DryRun::Server,
        }
    }
}

/// `-o/--output`.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, value_name = "FORMAT", default_value_t = OutputFormatOpt::Table)]
    pub output: OutputFormatOpt,
}

impl OutputArgs {
    pub fn format(&self) -> OutputFormat {
        self.output.into()
    }
}

/// Flags of every command that writes to the cluster.
#[derive(Debug, Clone, Args)]
pub struct WriteArgs {
    /// none writes; client prints what would be written; server asks the API server to validate it only
    #[arg(long = "dry-run", value_enum, value_name = "MODE", default_value_t = DryRunOpt::None,
          num_args = 0..=1, require_equals = true, default_missing_value = "client")]
    pub dry_run: DryRunOpt,

    /// Name of the manager recorded in managedFields for our writes
    #[arg(long = "field-manager", value_name = "NAME", default_value = "kubectl-mesh", value_parser = parse_field_manager)]
    pub field_manager: String,
}

impl WriteArgs {
    pub fn dry_run(&self) -> DryRun {
        self.dry_run.into()
    }
}

/// `-A/--all-namespaces` for the commands where it makes sense.
#[derive(Debug, Clone, Args)]
pub struct AllNamespacesArg {
    /// Act on every namespace (cannot be combined with -n)
    #[arg(short = 'A', long = "all-namespaces")]
    pub all_namespaces: bool,
}

/// `--suppress`, shared by doctor and recover (recover skips the fixes of suppressed findings).
#[derive(Debug, Clone, Args)]
pub struct SuppressArgs {
    /// Silence a known finding: CODE (or check id) everywhere, or CODE=KIND/NAMESPACE/NAME (KIND/NAME when
    /// cluster-scoped; * for any namespace or name); repeatable. The annotation mesh.kubectl.io/suppress: CODE,CODE
    /// on a resource, its workload or its namespace does the same
    #[arg(long = "suppress", value_name = "CODE[=KIND/NS/NAME]", value_parser = parse_suppress)]
    pub suppress: Vec<mesh_core::doctor::suppress::Selector>,
}

fn parse_suppress(s: &str) -> Result<mesh_core::doctor::suppress::Selector, String> {
    mesh_core::doctor::suppress::parse_selector(s).map_err(|e| {
        if e.starts_with("unknown code") {
            format!("{e} (kubectl mesh doctor --list-checks lists them)")
        } else {
            e
        }
    })
}

/// `--timeout` for waiting commands.
pub fn timeout_arg_parser(s: &str) -> Result<Duration, String> {
    parse_timeout(s)
}

/// `--interval` of a progressive shift: a duration, `0` allowed.
fn interval_arg_parser(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_timeout(s)
}

/// `--kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindOpt {
    /// HTTPRoute
    Http,
    /// GRPCRoute (gateway.networking.k8s.io/v1, Gateway API v1.1.0 and newer)
    Grpc,
}

impl From<KindOpt> for mesh_core::route::RouteKind {
    fn from(k: KindOpt) -> Self {
        match k {
            KindOpt::Http => mesh_core::route::RouteKind::Http,
            KindOpt::Grpc => mesh_core::route::RouteKind::Grpc,
        }
    }
}

/// Which route the traffic commands work on.
#[derive(Debug, Clone, Args)]
pub struct RouteArgs {
    /// The route to edit when several of one kind target the Service
    #[arg(long, value_name = "NAME")]
    pub route: Option<String>,

    /// The route kind: http (HTTPRoute) or grpc (GRPCRoute); by default the kind whose mesh route attaches to the
    /// Service (an HTTPRoute is created when none does)
    #[arg(long, value_enum, value_name = "KIND")]
    pub kind: Option<KindOpt>,
}

/// `--wait` and what goes with it, for the commands that change traffic.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// After the write, wait until the mesh controller accepts the route at the written generation (Accepted and
    /// ResolvedRefs True in the status of the Service parent)
    #[arg(long)]
    pub wait: bool,

    /// How long --wait waits (per step with --step) [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = timeout_arg_parser)]
    pub timeout: Option<Duration>,

    /// When the controller rejects the change or does not confirm it in time, restore the previous state at once
    #[arg(long = "rollback-on-failure")]
    pub rollback_on_failure: bool,
}

impl WaitArgs {
    /// `--timeout`, else 60 seconds.
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(Duration::from_secs(60))
    }
}

/// `--emit-patch` and `--show-managed-fields`.
#[derive(Debug, Clone, Args)]
pub struct PatchArgs {
    /// Write nothing; print the change as a JSON merge patch (-o yaml for YAML) to commit to the repository a GitOps
    /// tool syncs the route from
    #[arg(long = "emit-patch")]
    pub emit_patch: bool,

    /// If true, keep the managedFields when printing objects in JSON or YAML format (as kubectl)
    #[arg(long = "show-managed-fields")]
    pub show_managed_fields: bool,
}

/// `--step` and `--interval` of a progressive shift.
#[derive(Debug, Clone, Args)]
pub struct StepArgs {
    /// Walk to the target in steps of at most this many percentage points, checking readiness before and acceptance
    /// after each step
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub step: Option<u32>,

    /// How long to wait between steps (needs --step) [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = interval_arg_parser)]
    pub interval: Option<Duration>,
}

impl StepArgs {
    /// `--interval`, else 60 seconds (Flagger's default).
    pub fn interval(&self) -> Duration {
        self.interval.unwrap_or(Duration::from_secs(60))
    }
}
