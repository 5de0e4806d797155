//! The root parser and the dispatcher, above one module per subcommand. Each command has its clap `Args`,
//! validates them into a request, and `run`s: read a snapshot through `mesh_kube`, plan with pure
//! functions, apply, render.

pub mod completion;
pub mod demo;
pub mod doctor;
pub mod doctor_error;
pub mod doctor_files;
pub mod doctor_multi;
pub mod explain;
pub mod history;
pub mod recover;
pub mod route_user;
pub mod shift;
pub mod status;
pub mod traffic;
pub mod undo;
pub mod version;

use clap::{Parser, Subcommand};

use crate::cli::GlobalArgs;
use crate::error::{MeshError, Result};
use crate::output::Output;
use mesh_core::names::check_dns1123_label;
use mesh_core::opts::OutputFormat;
use mesh_core::scope::Scope;
use mesh_kube::{Cluster, ConnectOptions};

const ROOT_EXAMPLES: &str = "\
Examples:
  # Send 10% of reviews traffic to v3, the rest stays where it is
  kubectl mesh shift reviews v3=10 -n istio-demo

  # Send user vijay to reviews v2 (header end-user: vijay)
  kubectl mesh route-user reviews vijay v2 -n istio-demo

  # Walk to v3 in steps of 25 points, checking that Istio accepts each step; take it back
  kubectl mesh shift reviews v3=100 --step 25 --interval 30s -n istio-demo
  kubectl mesh undo reviews -n istio-demo

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

    /// The command line as given (recorded in the traffic history of the routes it changes).
    #[arg(skip)]
    pub argv: Vec<String>,
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
        let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        let mut cmd = Cli::command_for_parsing();
        let matches = cmd.try_get_matches_from_mut(args.iter().cloned())?;
        let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))?;
        // clap hands a subcommand's global flag the subcommand's values only, so `--context a doctor --context b`
        // would lose `a`; doctor checks every context given, wherever it was typed.
        let all = contexts_typed(&args);
        if all.len() > cli.global.context.len() {
            cli.global.context = all;
        }
        cli.argv = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        Ok(cli)
    }
}

/// Every `--context` value on the command line, in order (up to a `--`). Every value clap accepted for the
/// flag is one of these: `--context` always takes a value, and no flag of ours takes values starting with `-`.
fn contexts_typed(args: &[std::ffi::OsString]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--context" {
            if let Some(v) = it.next() {
                out.push(v.into_owned());
            }
        } else if let Some(v) = a.strip_prefix("--context=") {
            out.push(v.to_string());
        }
    }
    out
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
  kubectl mesh shift reviews v3=100 --dry-run=client -o yaml

  # Write, then wait until Istio accepts it; put the previous split back if it does not
  kubectl mesh shift reviews v3=100 --wait --rollback-on-failure

  # Progressive: 25 points at a time, 30s apart, readiness checked before and acceptance after each step
  kubectl mesh shift reviews v3=100 --step 25 --interval 30s

  # A route managed by Argo CD or Flux: print the change as a merge patch to commit instead
  kubectl mesh shift reviews v3=100 --emit-patch > patch.json

  # A GRPCRoute (found by itself when no HTTPRoute attaches to the Service)
  kubectl mesh shift grpc-echo v2=20 --kind grpc")]
    Shift(shift::ShiftArgs),

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
    RouteUser(route_user::RouteUserArgs),

    /// Show the traffic history of a Service's mesh route (kept in an annotation on the route)
    #[command(after_help = "\
Examples:
  kubectl mesh history reviews -n istio-demo
  kubectl mesh history reviews -o json")]
    History(history::HistoryArgs),

    /// Put back an earlier traffic state of a Service's mesh route (the previous one by default)
    #[command(after_help = "\
Examples:
  # Back to the state before the last change (twice: forth again)
  kubectl mesh undo reviews -n istio-demo

  # Back to revision 3 of kubectl mesh history reviews
  kubectl mesh undo reviews --to-revision 3 --wait")]
    Undo(undo::UndoArgs),

    /// Show where traffic goes now: every mesh route, its rules, backends and weights
    #[command(after_help = "\
Examples:
  kubectl mesh status -n istio-demo
  kubectl mesh status reviews -o wide
  kubectl mesh status -A -o json")]
    Status(status::StatusArgs),

    /// Tell which mesh route, rule and backends a request to a Service takes (Gateway API precedence)
    #[command(after_help = "\
Examples:
  # Where does jason's request to reviews go?
  kubectl mesh explain reviews -H end-user=jason -n istio-demo

  # A path, a method and a query param; every candidate match with -o wide
  kubectl mesh explain reviews --path '/reviews/0?page=2' --method POST -o wide

  # For scripts: exit 1 when the mesh rejects the request (no rule matches)
  kubectl mesh explain reviews --path /admin -o json")]
    Explain(explain::ExplainArgs),

    /// Find why mesh requests fail (stale sidecar certificates, missing sidecars, broken routes, prerequisites)
    #[command(after_help = "\
Examples:
  kubectl mesh doctor -n istio-demo
  kubectl mesh doctor -A -o json
  kubectl mesh doctor --list-checks

  # Before applying: what would these manifests break (or fix) on the cluster? Exit 1 only for new errors
  kubectl mesh doctor -f manifests/ -R

  # The manifests alone, without a cluster (CI)
  kubectl mesh doctor -f manifests/ --offline

  # Two clusters of one mesh: each checked, plus shared root and istiod versions
  kubectl mesh doctor --context east --context west")]
    Doctor(doctor::DoctorArgs),

    /// Fix what doctor found by restarting exactly the affected workloads
    #[command(after_help = "\
Examples:
  # Review the plan without changing anything
  kubectl mesh recover -A --dry-run=client

  # Restart the affected workloads and wait for their rollouts
  kubectl mesh recover -n istio-demo --yes --wait")]
    Recover(recover::RecoverArgs),

    /// Print shell completion scripts, or install kubectl's plugin completion helper
    Completion(completion::CompletionArgs),

    /// Print the plugin version (and the cluster's, unless --client)
    Version(version::VersionArgs),

    /// Start a sandbox API server with Bookinfo and walk through the plugin against it
    Demo(demo::DemoArgs),
}

/// What every command gets: the global flags, and the output decided once.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub global: GlobalArgs,
    pub out: Output,
    /// The command line as given (see [`Cli::argv`]).
    pub argv: Vec<String>,
}

impl Ctx {
    pub fn new(global: GlobalArgs, format: OutputFormat) -> Self {
        let out = Output::detect(format, global.color.into(), global.verbosity);
        Ctx {
            global,
            out,
            argv: Vec::new(),
        }
    }

    /// With the command line it came from.
    pub fn with_argv(mut self, argv: Vec<String>) -> Self {
        self.argv = argv;
        self
    }

    /// `-n` as a request: validated here (a DNS-1123 label), the one check of the flag. Once connected, the
    /// namespace is `cluster.namespace`: `-n`, else the kubeconfig context's.
    pub fn connect_options(&self) -> Result<ConnectOptions> {
        let namespace = match &self.global.namespace {
            Some(ns) => {
                check_dns1123_label(ns).map_err(|reason| MeshError::InvalidName {
                    what: "namespace",
                    name: ns.clone(),
                    reason,
                    hint: Some("namespaces look like istio-demo"),
                })?;
                Some(ns.clone())
            }
            None => None,
        };
        Ok(ConnectOptions {
            kubeconfig: self.global.kubeconfig.clone(),
            // kubectl's rule: the last --context wins (doctor alone reads several, see `contexts`).
            context: self.global.context.last().cloned(),
            cluster: self.global.cluster.clone(),
            user: self.global.user.clone(),
            namespace,
            request_timeout: Some(self.global.request_timeout).filter(|t| !t.is_zero()),
            log: self.out.kube_log(),
        })
    }

    /// Connect using the kubectl flags (does not contact the server yet).
    pub async fn cluster(&self) -> Result<Cluster> {
        Ok(Cluster::connect(&self.connect_options()?).await?)
    }

    /// Every distinct `--context`, in the order given (doctor checks each cluster).
    pub fn contexts(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in &self.global.context {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
        out
    }

    /// `-A`: every namespace. With `-n` it is a usage error, as in kubectl; checked before connecting.
    pub fn all_namespaces(&self, all: bool) -> Result<bool> {
        if all && self.global.namespace.is_some() {
            return Err(MeshError::usage_hint(
                "-n/--namespace and -A/--all-namespaces cannot be used together",
                "pass one of them",
            ));
        }
        Ok(all)
    }
}

/// The namespaces a listing command looks at once connected: every one (`-A`), or the one `-n` (else the
/// context) names.
pub fn scope(all_namespaces: bool, cluster: &Cluster) -> Scope {
    if all_namespaces {
        Scope::All
    } else {
        Scope::namespace(&cluster.namespace)
    }
}

/// Run a parsed command line. Returns the process exit code on success paths (doctor exits 1 on findings).
pub async fn run(cli: Cli) -> Result<u8> {
    let Cli { global, command, argv } = cli;
    match command {
        Command::Shift(args) => shift::run(Ctx::new(global, args.output.format()).with_argv(argv), args).await,
        Command::RouteUser(args) => route_user::run(Ctx::new(global, args.output.format()).with_argv(argv), args).await,
        Command::History(args) => history::run(Ctx::new(global, args.output.format()), args).await,
        Command::Undo(args) => undo::run(Ctx::new(global, args.output.format()).with_argv(argv), args).await,
        Command::Status(args) => status::run(Ctx::new(global, args.output.format()), args).await,
        Command::Explain(args) => explain::run(Ctx::new(global, args.output.format()), args).await,
        Command::Doctor(args) => doctor::run(Ctx::new(global, args.output.format()), args).await,
        Command::Recover(args) => recover::run(Ctx::new(global, args.output.format()), args).await,
        Command::Completion(args) => completion::run(Ctx::new(global, OutputFormat::Table), args).await,
        Command::Version(args) => version::run(Ctx::new(global, args.output.format()), args).await,
        Command::Demo(args) => demo::run(Ctx::new(global, OutputFormat::Table), args).await,
    }
}

/// `--route NAME` of shift and route-user, validated as an object name before anything is sent.
pub fn route_flag(route: Option<&str>) -> Result<Option<String>> {
    match route {
        Some(r) => {
            mesh_core::names::check_dns1123_subdomain(r).map_err(|reason| MeshError::InvalidName {
                what: "--route",
                name: r.to_string(),
                reason,
                hint: None,
            })?;
            Ok(Some(r.to_string()))
        }
        None => Ok(None),
    }
}
