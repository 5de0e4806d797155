//! What the user typed, as clap parses it.
//!
//! kubectl does not hand its global flags to plugins, so the plugin declares `--kubeconfig`, `--context`,
//! `-n`, `--request-timeout`, … itself, with kubectl's spelling and meaning. Values that clap cannot check (weights,
//! DNS-1123 names, flag combinations) are validated once when each command turns its args into a request.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::duration::parse_duration;

const ROOT_EXAMPLES: &str = "\
Examples:
  # Send 10% of reviews traffic to v3, the rest stays where it is
  kubectl mesh shift reviews v3=10 -n istio-demo

  # Send user vijay to reviews v2 (header end-user: vijay)
  kubectl mesh route-user reviews vijay v2 -n istio-demo

  # Where does traffic go now?
  kubectl mesh status -A

  # Why do requests fail? Then fix exactly what was found
  kubectl mesh doctor -A
  kubectl mesh recover -A --yes

  # Try everything against a sandbox cluster
  kubectl mesh demo";

/// Traffic shifting, per-user routing, diagnosis and targeted recovery for Istio with the Gateway API.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-mesh",
    bin_name = "kubectl mesh",
    version,
    about = "Traffic shifting, per-user routing, diagnosis and recovery for Istio with the Kubernetes Gateway API",
    after_help = ROOT_EXAMPLES,
    max_term_width = 110
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The command as parsed: like kubectl (pflag), a flag given twice takes its last value
    /// (`kubectl mesh status -n a -n b` looks at b).
    pub fn command_for_parsing() -> clap::Command {
        use clap::CommandFactory;
        fn override_self(cmd: clap::Command) -> clap::Command {
            cmd.args_override_self(true).mut_subcommands(override_self)
        }
        override_self(Cli::command())
    }

    /// Parse an argument list (the first item is the program name).
    pub fn parse_from_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::FromArgMatches;
        let mut cmd = Cli::command_for_parsing();
        let matches = cmd.try_get_matches_from_mut(args)?;
        Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
    }
}

/// kubectl's connection and presentation flags, accepted before or after the subcommand.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Kubectl flags")]
pub struct GlobalArgs {
    /// Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// The name of the kubeconfig context to use
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

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
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Wide,
    Json,
    Yaml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DryRun {
    /// Write for real
    #[default]
    None,
    /// Write nothing; print what would be sent
    Client,
    /// Send the writes with dryRun=All: the server validates them and stores nothing
    Server,
}

/// `-o/--output`.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// Flags of every command that writes to the cluster.
#[derive(Debug, Clone, Args)]
pub struct WriteArgs {
    /// none writes; client prints what would be written; server asks the API server to validate it only
    #[arg(long = "dry-run", value_enum, value_name = "MODE", default_value_t = DryRun::None,
          num_args = 0..=1, require_equals = true, default_missing_value = "client")]
    pub dry_run: DryRun,

    /// Name of the manager recorded in managedFields for our writes
    #[arg(long = "field-manager", value_name = "NAME", default_value = "kubectl-mesh", value_parser = parse_field_manager)]
    pub field_manager: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Shift traffic between versions of a Service by editing its mesh HTTPRoute
    #[command(after_help = "\
Examples:
  # Route every reviews request to v3
  kubectl mesh shift reviews v3=100 -n istio-demo

  # 50/50 between v1 and v3
  kubectl mesh shift reviews v1=50 v3=50 -n istio-demo

  # Canary: 10% to v3, the other 90% keeps its current split
  kubectl mesh shift reviews v3=10 -n istio-demo

  # Preview the route without writing it
  kubectl mesh shift reviews v3=100 --dry-run=client -o yaml")]
    Shift(crate::cmd::shift::ShiftArgs),

    /// Send one user's requests (header end-user) to a version
    #[command(
        name = "route-user",
        after_help = "\
Examples:
  # Requests with header end-user: vijay go to reviews-v2
  kubectl mesh route-user reviews vijay v2 -n istio-demo

  # Undo it
  kubectl mesh route-user reviews vijay --remove -n istio-demo"
    )]
    RouteUser(crate::cmd::route_user::RouteUserArgs),

    /// Show where traffic goes now: every mesh route, its rules, backends and weights
    #[command(after_help = "\
Examples:
  kubectl mesh status -n istio-demo
  kubectl mesh status reviews -o wide
  kubectl mesh status -A -o json")]
    Status(crate::cmd::status::StatusArgs),

    /// Find why mesh requests fail (stale sidecar certificates, missing sidecars, broken routes, prerequisites)
    #[command(after_help = "\
Examples:
  kubectl mesh doctor -n istio-demo
  kubectl mesh doctor -A -o json
  kubectl mesh doctor --list-checks")]
    Doctor(crate::cmd::doctor::DoctorArgs),

    /// Fix what doctor found by restarting exactly the affected workloads
    #[command(after_help = "\
Examples:
  # Review the plan without changing anything
  kubectl mesh recover -A --dry-run=client

  # Restart the affected workloads and wait for their rollouts
  kubectl mesh recover -n istio-demo --yes --wait")]
    Recover(crate::cmd::recover::RecoverArgs),

    /// Print shell completion scripts, or install kubectl's plugin completion helper
    Completion(crate::cmd::completion::CompletionArgs),

    /// Print the plugin version (and the cluster's, unless --client)
    Version(crate::cmd::version::VersionArgs),

    /// Start a sandbox API server with Bookinfo and walk through the plugin against it
    Demo(crate::cmd::demo::DemoArgs),
}

/// `-A/--all-namespaces` for the commands where it makes sense.
#[derive(Debug, Clone, Args)]
pub struct AllNamespacesArg {
    /// Act on every namespace (cannot be combined with -n)
    #[arg(short = 'A', long = "all-namespaces")]
    pub all_namespaces: bool,
}

/// `--timeout` for waiting commands.
pub fn timeout_arg_parser(s: &str) -> Result<Duration, String> {
    parse_timeout(s)
}
