//! Kubeconfig loading the way kubectl does it.
//!
//! Order: `--kubeconfig PATH` (that file only; it must exist), else the files listed in `$KUBECONFIG` merged
//! (missing files skipped, first value wins), else `~/.kube/config`, else the in-cluster service account.
//! `--context`, `--cluster` and `--user` override the current context's choices; `-n` overrides its namespace.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::{KubeError, Result};
use crate::log::Log;

/// The connection flags as typed.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub cluster: Option<String>,
    pub user: Option<String>,
    pub namespace: Option<String>,
    /// `None` = no timeout (`--request-timeout=0`).
    pub request_timeout: Option<Duration>,
    /// Where `-v` logs go.
    pub log: Log,
}

/// Where the configuration came from, for `-v` logs and error messages.
#[derive(Debug, Clone)]
pub enum Source {
    File(Vec<PathBuf>),
    InCluster,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(paths) => {
                let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                write!(f, "kubeconfig {}", list.join(":"))
            }
            Source::InCluster => write!(f, "in-cluster service account"),
        }
    }
}

fn kubeconfig_error(message: impl Into<String>, hint: impl Into<String>) -> KubeError {
    KubeError::Kubeconfig {
        message: message.into(),
        hint: hint.into(),
        source: None,
    }
}

/// A kubeconfig problem kube found: its words in the message, and the error itself as the source.
fn kubeconfig_error_from(
    message: String,
    hint: impl Into<String>,
    source: impl std::error::Error + Send + Sync + 'static,
) -> KubeError {
    KubeError::Kubeconfig {
        message,
        hint: hint.into(),
        source: Some(Box::new(source)),
    }
}

fn read_one(path: &Path) -> Result<Kubeconfig> {
    Kubeconfig::read_from(path).map_err(|e| {
        kubeconfig_error_from(
            format!("cannot load kubeconfig {}: {e}", path.display()),
            "fix the file, or point --kubeconfig / KUBECONFIG at a valid one",
            e,
        )
    })
}

/// Resolve the kubeconfig files to read, kubectl's way.
fn locate(explicit: Option<&Path>) -> Result<Option<(Kubeconfig, Vec<PathBuf>)>> {
    if let Some(path) = explicit {
        if !path.exists() {
            return Err(kubeconfig_error(
                format!("kubeconfig file {} does not exist", path.display()),
                "pass an existing file to --kubeconfig",
            ));
        }
        return Ok(Some((read_one(path)?, vec![path.to_path_buf()])));
    }
    if let Some(value) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty() && p.exists())
            .collect();
        if paths.is_empty() {
            return Err(kubeconfig_error(
                format!("none of the files in KUBECONFIG exist ({})", value.to_string_lossy()),
                "set KUBECONFIG to existing files or pass --kubeconfig",
            ));
        }
        let mut merged = Kubeconfig::default();
        for p in &paths {
            merged = merged.merge(read_one(p)?).map_err(|e| {
                kubeconfig_error_from(
                    format!("cannot merge kubeconfig {}: {e}", p.display()),
                    "check the files in KUBECONFIG",
                    e,
                )
            })?;
        }
        return Ok(Some((merged, paths)));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(default) = home.map(|h| h.join(".kube").join("config")) {
        if default.exists() {
            return Ok(Some((read_one(&default)?, vec![default])));
        }
    }
    Ok(None)
}

/// Build a kube-rs `Config` from the flags. Errors are `KubeError::Kubeconfig` (exit 3).
pub async fn load(opts: &ConnectOptions) -> Result<(kube::Config, Source)> {
    let (mut config, source) = match locate(opts.kubeconfig.as_deref())? {
        Some((kc, paths)) => {
            check_names(&kc, opts)?;
            let options = KubeConfigOptions {
                context: opts.context.clone(),
                cluster: opts.cluster.clone(),
                user: opts.user.clone(),
            };
            let config = kube::Config::from_custom_kubeconfig(kc, &options).await.map_err(|e| {
                kubeconfig_error_from(
                    format!("cannot use kubeconfig {}: {e}", paths[0].display()),
                    "check the selected context's cluster and user entries (kubectl config view --minify)",
                    e,
                )
            })?;
            (config, Source::File(paths))
        }
        None => match kube::Config::incluster() {
            Ok(config) => (config, Source::InCluster),
            Err(_) => {
                return Err(kubeconfig_error(
                    "no kubeconfig found: --kubeconfig not given, KUBECONFIG not set, ~/.kube/config missing, and not running in a cluster",
                    "pass --kubeconfig PATH, or try the sandbox: kubectl mesh demo",
                ))
            }
        },
    };
    // Our own retry policy applies (reads only); kube-rs would otherwise replay writes on 429/503/504.
    config.default_retry = false;
    if let Some(t) = opts.request_timeout {
        config.connect_timeout = Some(t.min(config.connect_timeout.unwrap_or(t)));
        config.read_timeout = Some(t);
        config.write_timeout = Some(t);
    }
    if let Some(ns) = &opts.namespace {
        config.default_namespace = ns.clone();
    }
    Ok((config, source))
}

/// kube-rs reports a missing context vaguely; name it and list what exists, as users need.
fn check_names(kc: &Kubeconfig, opts: &ConnectOptions) -> Result<()> {
    let contexts: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
    let listing = |names: &[&str]| {
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    match (&opts.context, &kc.current_context) {
        (Some(ctx), _) if !contexts.contains(&ctx.as_str()) => {
            return Err(kubeconfig_error(
                format!("context \"{ctx}\" not found in the kubeconfig"),
                format!("available contexts: {}", listing(&contexts)),
            ))
        }
        (None, None) if opts.cluster.is_none() || opts.user.is_none() => {
            return Err(kubeconfig_error(
                "the kubeconfig has no current-context",
                format!("pass --context (available: {})", listing(&contexts)),
            ));
        }
        (None, Some(cur)) if !cur.is_empty() && !contexts.contains(&cur.as_str()) => {
            return Err(kubeconfig_error(
                format!("current-context \"{cur}\" is not defined in the kubeconfig"),
                format!("pass --context (available: {})", listing(&contexts)),
            ))
        }
        _ => {}
    }
    if let Some(cluster) = &opts.cluster {
        if !kc.clusters.iter().any(|c| &c.name == cluster) {
            let names: Vec<&str> = kc.clusters.iter().map(|c| c.name.as_str()).collect();
            return Err(kubeconfig_error(
                format!("cluster \"{cluster}\" not found in the kubeconfig"),
                format!("available clusters: {}", listing(&names)),
            ));
        }
    }
    if let Some(user) = &opts.user {
        if !kc.auth_infos.iter().any(|u| &u.name == user) {
            let names: Vec<&str> = kc.auth_infos.iter().map(|u| u.name.as_str()).collect();
            return Err(kubeconfig_error(
                format!("user \"{user}\" not found in the kubeconfig"),
                format!("available users: {}", listing(&names)),
            ));
        }
    }
    Ok(())
}

/// Every context of the kubeconfig, in file order (`doctor --all-contexts`). Without a kubeconfig (in a pod)
/// there are no contexts to list: an error, exit 3.
pub fn list_contexts(opts: &ConnectOptions) -> Result<Vec<String>> {
    match locate(opts.kubeconfig.as_deref())? {
        Some((kc, _)) => Ok(kc.contexts.iter().map(|c| c.name.clone()).collect()),
        None => Err(kubeconfig_error(
            "no kubeconfig found: --all-contexts lists the contexts of a kubeconfig",
            "pass --kubeconfig PATH or set KUBECONFIG",
        )),
    }
}

/// Check that every context in `names` exists, before any request (the message lists those that do).
pub fn check_contexts(opts: &ConnectOptions, names: &[String]) -> Result<()> {
    let Some((kc, _)) = locate(opts.kubeconfig.as_deref())? else {
        return Err(kubeconfig_error(
            "no kubeconfig found: --context needs a kubeconfig",
            "pass --kubeconfig PATH or set KUBECONFIG",
        ));
    };
    for name in names {
        let one = ConnectOptions {
            context: Some(name.clone()),
            ..opts.clone()
        };
        check_names(&kc, &one)?;
    }
    Ok(())
}

/// The namespace the selected context names, read from the kubeconfig file alone: no cluster is contacted and
/// no credential is loaded (`doctor -f --offline`). `None` when there is no usable kubeconfig or the context
/// names no namespace.
pub fn context_namespace(opts: &ConnectOptions) -> Option<String> {
    let (kc, _) = locate(opts.kubeconfig.as_deref()).ok()??;
    let name = opts.context.clone().or(kc.current_context.clone())?;
    kc.contexts
        .iter()
        .find(|c| c.name == name)?
        .context
        .as_ref()?
        .namespace
        .clone()
        .filter(|ns| !ns.is_empty())
}
