//! Shell completion.
//!
//! `kubectl mesh completion bash|zsh|fish|powershell` prints clap_complete scripts for `kubectl-mesh`.
//! kubectl (≥ 1.26) completes plugins by running `kubectl_complete-mesh` from PATH with the words typed after
//! `mesh`; that script calls the hidden `kubectl-mesh __complete WORDS…`, which answers one candidate per line
//! (`value<TAB>description`) and a last line `:4` (no file completion). Dynamic values (namespaces, Services with
//! mesh routes, VERSION= candidates) are read from the cluster with a short timeout so a shell never hangs.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Subcommand, ValueEnum};
use serde_json::Value;

use crate::cmd::{Cli, Ctx};
use crate::error::{MeshError, Result};
use mesh_core::resource::{GRPCROUTES, HTTPROUTES, NAMESPACES, PODS, SERVICES};
use mesh_kube::{Cluster, ListParams};

/// The helper kubectl runs for plugin completion.
pub const KUBECTL_COMPLETE_SCRIPT: &str = include_str!("../../completions/kubectl_complete-mesh");

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CompletionArgs {
    #[command(subcommand)]
    pub action: Option<CompletionAction>,

    /// The shell to print a completion script for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Option<Shell>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum CompletionAction {
    /// Put kubectl_complete-mesh next to the kubectl-mesh binary so `kubectl mesh <TAB>` completes
    Install {
        /// Directory to install into (default: the directory holding kubectl-mesh)
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

/// The script for `shell`, as checked into `completions/`.
pub fn script(shell: Shell) -> String {
    let mut cmd = Cli::command().bin_name("kubectl-mesh");
    let mut buf = Vec::new();
    let sh = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::Powershell => clap_complete::Shell::PowerShell,
    };
    clap_complete::generate(sh, &mut cmd, "kubectl-mesh", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

pub async fn run(ctx: Ctx, args: CompletionArgs) -> Result<u8> {
    match (args.action, args.shell) {
        (Some(CompletionAction::Install { dir }), _) => {
            let dir = match dir {
                Some(d) => d,
                None => std::env::current_exe()
                    .map_err(|e| MeshError::io("locating the kubectl-mesh binary", e))?
                    .parent()
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from(".")),
            };
            let path = dir.join("kubectl_complete-mesh");
            std::fs::write(&path, KUBECTL_COMPLETE_SCRIPT)
                .map_err(|e| MeshError::io(format!("writing {}", path.display()), e))?;
            set_executable(&path)?;
            ctx.out.print(&format!(
                "installed {}\nkubectl mesh <TAB> now completes when {} is on PATH (kubectl 1.26 or newer)\n",
                path.display(),
                dir.display()
            ))?;
            Ok(0)
        }
        (None, Some(shell)) => {
            ctx.out.print(&script(shell))?;
            Ok(0)
        }
        (None, None) => Err(MeshError::usage_hint(
            "completion needs a shell (bash, zsh, fish, powershell) or `install`",
            "kubectl mesh completion bash > /etc/bash_completion.d/kubectl-mesh",
        )),
    }
}

/// The man page (`man/kubectl-mesh.1`), rendered from the same clap definition as `--help`.
pub fn man_page() -> String {
    let cmd = Cli::command().name("kubectl-mesh");
    let mut buf = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = clap_mangen::Man::new(cmd).render(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(unix)]
fn set_executable(path: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| MeshError::io(format!("making {} executable", path.display()), e))
}

#[cfg(not(unix))]
fn set_executable(_path: &std::path::Path) -> Result<()> {
    Ok(())
}

/// What the words typed so far ask for.
#[derive(Debug, PartialEq, Eq)]
pub enum Want {
    Subcommands,
    Flags(Option<String>),
    FlagValue(String),
    Positional {
        subcommand: String,
        index: usize,
        previous: Vec<String>,
    },
}

/// Flags (of any subcommand) that take a value.
fn flag_takes_value(flag: &str) -> bool {
    let cmd = Cli::command();
    let matches = |a: &clap::Arg| {
        a.get_action().takes_values()
            && (a.get_long().is_some_and(|l| flag == format!("--{l}"))
                || a.get_short().is_some_and(|s| flag == format!("-{s}")))
    };
    cmd.get_arguments().any(matches) || cmd.get_subcommands().any(|s| s.get_arguments().any(matches))
}

/// Pure analysis of the words typed (last one partial).
pub fn analyse(words: &[String]) -> (Want, Option<String>) {
    let (done, _partial) = match words.split_last() {
        Some((last, rest)) => (rest, last.as_str()),
        None => (&[][..], ""),
    };
    let mut subcommand: Option<String> = None;
    let mut namespace: Option<String> = None;
    let mut positionals = Vec::new();
    let mut i = 0;
    while i < done.len() {
        let w = &done[i];
        if w.starts_with('-') && w.len() > 1 {
            if let Some((flag, value)) = w.split_once('=') {
                if flag == "--namespace" || flag == "-n" {
                    namespace = Some(value.to_string());
                }
            } else if flag_takes_value(w) {
                if let Some(v) = done.get(i + 1) {
                    if w == "-n" || w == "--namespace" {
                        namespace = Some(v.clone());
                    }
                    i += 1;
                } else {
                    return (Want::FlagValue(w.clone()), namespace);
                }
            }
        } else if subcommand.is_none() {
            subcommand = Some(w.clone());
        } else {
            positionals.push(w.clone());
        }
        i += 1;
    }
    let partial = words.last().map(String::as_str).unwrap_or("");
    let want = if partial.starts_with('-') {
        Want::Flags(subcommand)
    } else {
        match subcommand {
            None => Want::Subcommands,
            Some(sub) => Want::Positional {
                subcommand: sub,
                index: positionals.len(),
                previous: positionals,
            },
        }
    };
    (want, namespace)
}

fn flags_of(sub: Option<&str>) -> Vec<(String, String)> {
    let root = Cli::command();
    let mut out = Vec::new();
    let mut push = |a: &clap::Arg| {
        if a.is_hide_set() {
            return;
        }
        let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
        if let Some(l) = a.get_long() {
            out.push((format!("--{l}"), help.clone()));
        }
        if let Some(s) = a.get_short() {
            out.push((format!("-{s}"), help));
        }
    };
    root.get_arguments().for_each(&mut push);
    if let Some(sc) = sub.and_then(|s| root.find_subcommand(s)) {
        sc.get_arguments().for_each(&mut push);
    }
    out
}

/// The connection flags among the words typed, so dynamic candidates come from the cluster the user aims at.
fn globals_from_words(words: &[String]) -> crate::cli::GlobalArgs {
    let mut g = crate::cli::GlobalArgs {
        kubeconfig: None,
        context: Vec::new(),
        cluster: None,
        user: None,
        namespace: None,
        request_timeout: Duration::from_secs(1),
        color: crate::cli::ColorChoiceOpt::Never,
        verbosity: 0,
    };
    let mut it = words.iter().peekable();
    while let Some(w) = it.next() {
        let (flag, inline) = match w.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (w.as_str(), None),
        };
        let slot = match flag {
            "--kubeconfig" => 0,
            "--context" => 1,
            "--cluster" => 2,
            "--user" => 3,
            // `-n` is not taken here: each lookup names its namespace (see `analyse`), and the word may be the
            // one being completed (`-n istio-`), which is no namespace yet.
            _ => continue,
        };
        let Some(value) = inline.or_else(|| it.peek().map(|v| v.to_string())) else {
            continue;
        };
        match slot {
            0 => g.kubeconfig = Some(value.into()),
            1 => g.context = vec![value],
            2 => g.cluster = Some(value),
            _ => g.user = Some(value),
        }
    }
    g
}

/// Candidates for `words`, reading the cluster only when the position needs it (1 s per request at most).
pub async fn candidates(ctx: &Ctx, words: &[String]) -> Vec<(String, String)> {
    let (want, namespace) = analyse(words);
    let partial = words.last().cloned().unwrap_or_default();
    let mut out: Vec<(String, String)> = match want {
        Want::Subcommands => Cli::command()
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| {
                (
                    s.get_name().to_string(),
                    s.get_about().map(|a| a.to_string()).unwrap_or_default(),
                )
            })
            .collect(),
        Want::Flags(sub) => flags_of(sub.as_deref()),
        Want::FlagValue(flag) => match flag.as_str() {
            "-o" | "--output" => ["table", "wide", "json", "yaml"]
                .iter()
                .map(|s| (s.to_string(), String::new()))
                .collect(),
            "--color" => ["auto", "always", "never"]
                .iter()
                .map(|s| (s.to_string(), String::new()))
                .collect(),
            "--kind" => [("http", "HTTPRoute"), ("grpc", "GRPCRoute")]
                .iter()
                .map(|(k, d)| (k.to_string(), d.to_string()))
                .collect(),
            "-n" | "--namespace" => dynamic(ctx, None, Lookup::Namespaces).await,
            _ => Vec::new(),
        },
        Want::Positional {
            subcommand,
            index,
            previous,
        } => match (subcommand.as_str(), index) {
            ("shift" | "route-user" | "status" | "explain" | "history" | "undo", 0) => {
                dynamic(ctx, namespace.as_deref(), Lookup::RoutedServices).await
            }
            ("shift", _) => dynamic(ctx, namespace.as_deref(), Lookup::Versions(previous[0].clone()))
                .await
                .into_iter()
                .filter(|(v, _)| !previous[1..].iter().any(|p| p.split('=').next() == Some(v.as_str())))
                .map(|(v, d)| (format!("{v}="), d))
                .collect(),
            ("route-user", 2) => dynamic(ctx, namespace.as_deref(), Lookup::Versions(previous[0].clone())).await,
            ("completion", 0) => ["bash", "zsh", "fish", "powershell", "install"]
                .iter()
                .map(|s| (s.to_string(), String::new()))
                .collect(),
            _ => Vec::new(),
        },
    };
    out.retain(|(v, _)| v.starts_with(&partial));
    out
}

enum Lookup {
    Namespaces,
    RoutedServices,
    Versions(String),
}

async fn dynamic(ctx: &Ctx, namespace: Option<&str>, what: Lookup) -> Vec<(String, String)> {
    let Ok(mut opts) = ctx.connect_options() else {
        return Vec::new();
    };
    if let Some(ns) = namespace {
        opts.namespace = Some(ns.to_string());
    }
    opts.request_timeout = Some(Duration::from_secs(1));
    opts.log = mesh_kube::Log::silent();
    let Ok(cluster) = Cluster::connect(&opts).await else {
        return Vec::new();
    };
    let cluster = cluster.with_backoff_base(Duration::from_millis(50));
    let lookup = async {
        let ns = cluster.namespace.clone();
        let names = |items: Vec<Value>| -> Vec<String> {
            items
                .iter()
                .filter_map(|i| i.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string))
                .collect()
        };
        match what {
            Lookup::Namespaces => cluster
                .list(&NAMESPACES, None, &ListParams::default())
                .await
                .map(|l| names(l.items).into_iter().map(|n| (n, String::new())).collect())
                .unwrap_or_default(),
            Lookup::RoutedServices => {
                let all = ListParams::default();
                let (http, grpc) = tokio::join!(
                    cluster.list(&HTTPROUTES, Some(&ns), &all),
                    cluster.list(&GRPCROUTES, Some(&ns), &all),
                );
                let routes: Vec<Value> = [http, grpc]
                    .into_iter()
                    .flat_map(|l| l.map(|l| l.items).unwrap_or_default())
                    .collect();
                let mut set = BTreeSet::new();
                for r in &routes {
                    for p in r
                        .pointer("/spec/parentRefs")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let group = p
                            .get("group")
                            .and_then(Value::as_str)
                            .unwrap_or("gateway.networking.k8s.io");
                        if p.get("kind").and_then(Value::as_str) == Some("Service")
                            && (group.is_empty() || group == "core")
                        {
                            if let Some(n) = p.get("name").and_then(Value::as_str) {
                                set.insert(n.to_string());
                            }
                        }
                    }
                }
                set.into_iter()
                    .map(|s| (s, "Service with a mesh route".to_string()))
                    .collect()
            }
            Lookup::Versions(service) => {
                let mut set = BTreeSet::new();
                if let Ok(svcs) = cluster.list(&SERVICES, Some(&ns), &ListParams::default()).await {
                    for n in names(svcs.items) {
                        if let Some(v) = n.strip_prefix(&format!("{service}-")) {
                            set.insert(v.to_string());
                        }
                    }
                }
                let params = ListParams {
                    label_selector: Some(format!("app={service}")),
                    ..Default::default()
                };
                if let Ok(pods) = cluster.list(&PODS, Some(&ns), &params).await {
                    for p in pods.items {
                        if let Some(v) = p.pointer("/metadata/labels/version").and_then(Value::as_str) {
                            set.insert(v.to_string());
                        }
                    }
                }
                set.into_iter().map(|v| (v, format!("{service}-*"))).collect()
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(2), lookup)
        .await
        .unwrap_or_default()
}

/// The hidden entry point `kubectl-mesh __complete WORDS…`. It is handled before clap so that it never shows up
/// in help or in the generated shell scripts, and so that half-typed words never fail parsing.
pub async fn complete(words: Vec<String>) -> Result<u8> {
    let words = if words.is_empty() { vec![String::new()] } else { words };
    let ctx = Ctx::new(globals_from_words(&words), mesh_core::opts::OutputFormat::Table);
    let mut text = String::new();
    for (value, help) in candidates(&ctx, &words).await {
        if help.is_empty() {
            text.push_str(&format!("{value}\n"));
        } else {
            text.push_str(&format!("{value}\t{help}\n"));
        }
    }
    text.push_str(":4\n");
    ctx.out.print(&text)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn analyse_finds_what_the_cursor_needs() {
        assert_eq!(analyse(&w("sh")).0, Want::Subcommands);
        assert_eq!(analyse(&w("shift --")).0, Want::Flags(Some("shift".into())));
        assert_eq!(analyse(&w("-n ")).0, Want::FlagValue("-n".into()));
        let (want, ns) = analyse(&w("shift -n istio-demo reviews v"));
        assert_eq!(ns.as_deref(), Some("istio-demo"));
        assert_eq!(
            want,
            Want::Positional {
                subcommand: "shift".into(),
                index: 1,
                previous: vec!["reviews".into()]
            }
        );
        assert_eq!(analyse(&w("status -o ")).0, Want::FlagValue("-o".into()));
    }
}
