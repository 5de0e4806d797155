//! One module per subcommand. Each has its clap `Args`, validates them into a request, and `run`s:
//! read a snapshot through [`crate::cluster`], plan with pure functions, apply, render.

pub mod completion;
pub mod demo;
pub mod doctor;
pub mod recover;
pub mod route_user;
pub mod shift;
pub mod status;
pub mod version;

use crate::cli::{Cli, Command, GlobalArgs, OutputFormat};
use crate::cluster::{Cluster, ConnectOptions};
use crate::error::{MeshError, Result};
use crate::names::check_dns1123_label;
use crate::output::Output;

/// What every command gets: the global flags, and the output decided once.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub global: GlobalArgs,
    pub out: Output,
}

impl Ctx {
    pub fn new(global: GlobalArgs, format: OutputFormat) -> Self {
        let out = Output::detect(format, global.color, global.verbosity);
        Ctx { global, out }
    }

    pub fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            kubeconfig: self.global.kubeconfig.clone(),
            context: self.global.context.clone(),
            cluster: self.global.cluster.clone(),
            user: self.global.user.clone(),
            namespace: self.global.namespace.clone(),
            request_timeout: Some(self.global.request_timeout).filter(|t| !t.is_zero()),
            verbosity: self.global.verbosity,
        }
    }

    /// Connect using the kubectl flags.
    pub async fn cluster(&self) -> Result<Cluster> {
        Cluster::connect(&self.connect_options()).await
    }

    /// `-n` validated (DNS-1123 label) when given.
    pub fn namespace_flag(&self) -> Result<Option<&str>> {
        match self.global.namespace.as_deref() {
            Some(ns) => {
                check_dns1123_label(ns).map_err(|why| {
                    MeshError::usage_hint(
                        format!("invalid namespace {ns:?}: {why}"),
                        "namespaces look like istio-demo",
                    )
                })?;
                Ok(Some(ns))
            }
            None => Ok(None),
        }
    }

    /// Resolve `-n`/`-A` into a scope; both together is a usage error, as in kubectl.
    pub fn scope(&self, all_namespaces: bool) -> Result<Scope> {
        let ns = self.namespace_flag()?;
        match (ns, all_namespaces) {
            (Some(_), true) => Err(MeshError::usage_hint(
                "-n/--namespace and -A/--all-namespaces cannot be used together",
                "pass one of them",
            )),
            (_, true) => Ok(Scope::All),
            (Some(ns), false) => Ok(Scope::Namespace(ns.to_string())),
            (None, false) => Ok(Scope::ContextDefault),
        }
    }
}

/// Which namespaces a command looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Namespace(String),
    /// The kubeconfig context's namespace (known after connecting).
    ContextDefault,
}

impl Scope {
    /// The namespace to use, `None` for all.
    pub fn resolve<'a>(&'a self, cluster: &'a Cluster) -> Option<&'a str> {
        match self {
            Scope::All => None,
            Scope::Namespace(ns) => Some(ns),
            Scope::ContextDefault => Some(&cluster.namespace),
        }
    }
}

/// Run a parsed command line. Returns the process exit code on success paths (doctor exits 1 on findings).
pub async fn run(cli: Cli) -> Result<u8> {
    let Cli { global, command } = cli;
    match command {
        Command::Shift(args) => shift::run(Ctx::new(global, args.output.output), args).await,
        Command::RouteUser(args) => route_user::run(Ctx::new(global, args.output.output), args).await,
        Command::Status(args) => status::run(Ctx::new(global, args.output.output), args).await,
        Command::Doctor(args) => doctor::run(Ctx::new(global, args.output.output), args).await,
        Command::Recover(args) => recover::run(Ctx::new(global, args.output.output), args).await,
        Command::Completion(args) => completion::run(Ctx::new(global, OutputFormat::Table), args).await,
        Command::Version(args) => version::run(Ctx::new(global, args.output.output), args).await,
        Command::Demo(args) => demo::run(Ctx::new(global, OutputFormat::Table), args).await,
    }
}

impl From<crate::route::UsageError> for MeshError {
    fn from(e: crate::route::UsageError) -> Self {
        MeshError::Usage {
            hint: e.hint(),
            message: e.to_string(),
        }
    }
}

impl From<crate::route::PlanError> for MeshError {
    fn from(e: crate::route::PlanError) -> Self {
        MeshError::Refused {
            hint: e.hint(),
            message: e.to_string(),
        }
    }
}

/// `--route NAME` of shift and route-user, validated as an object name before anything is sent.
pub fn route_flag(route: Option<&str>) -> Result<Option<String>> {
    match route {
        Some(r) => {
            crate::names::check_dns1123_subdomain(r)
                .map_err(|why| MeshError::usage(format!("invalid --route {r:?}: {why}")))?;
            Ok(Some(r.to_string()))
        }
        None => Ok(None),
    }
}

/// The namespace a single-namespace command acts in: `-n`, else the context's.
pub fn target_namespace(ctx: &Ctx, cluster: &Cluster) -> Result<String> {
    Ok(ctx
        .namespace_flag()?
        .map(str::to_string)
        .unwrap_or_else(|| cluster.namespace.clone()))
}

/// `shift` and `route-user` end to end: connect, read-plan-write with conflict retries, then print kubectl-style
/// lines (`service/… created`, `httproute…/reviews configured`) and the plan's own table, or the written route
/// for `-o json|yaml`.
pub async fn run_route_write<P>(
    ctx: &Ctx,
    service: &str,
    write: &crate::cli::WriteArgs,
    plan: impl FnMut(&crate::route::RouteSnapshot) -> Result<P>,
    view: impl Fn(&P) -> crate::apply::RouteWrite<'_>,
    render: impl Fn(&P) -> String,
) -> Result<u8> {
    use crate::apply::{dry_suffix, plan_and_write};
    ctx.namespace_flag()?;
    let cluster = ctx.cluster().await?;
    let namespace = target_namespace(ctx, &cluster)?;
    let opts = crate::cluster::WriteOpts {
        dry_run: write.dry_run,
        field_manager: write.field_manager.clone(),
    };
    let written = plan_and_write(&cluster, &namespace, service, &opts, plan, &view).await?;
    let w = view(&written.plan);
    let text = match ctx.out.format {
        OutputFormat::Json | OutputFormat::Yaml => {
            crate::output::to_format(written.object.as_ref().unwrap_or(w.route), ctx.out.format)?
        }
        _ => {
            let mut s = String::new();
            for svc in w.services_to_create {
                let name = svc
                    .pointer("/metadata/name")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("?");
                s.push_str(&format!("service/{name} created{}\n", dry_suffix(write.dry_run)));
            }
            s.push_str(&format!("{}\n", written.outcome.line(w.route_name, write.dry_run)));
            s.push_str(&render(&written.plan));
            s
        }
    };
    ctx.out.print(&text)?;
    Ok(0)
}
