//! `kubectl mesh demo`: a sandbox API server with Bookinfo, and a guided tour of the plugin against it.
//!
//! The sandbox is the same test API server the test-suite uses, started in this process on 127.0.0.1 with the
//! users' guide state (Istio, Gateway API CRDs, Bookinfo in istio-demo with the reviews route to v1) plus the two
//! failures the guide ends with: sidecars holding a root certificate from before istiod was reinstalled, and a
//! workload running without sidecars. The tour runs the real subcommands against it over HTTP.

//!
//! The sandbox comes with the `demo` cargo feature (on by default). A binary built without it
//! (`cargo build --no-default-features`) keeps the subcommand, so help, completions and the man page are the same
//! in every build, and answers that it is not built in (exit 1).

#[cfg(feature = "demo")]
use std::path::PathBuf;

use clap::Args;

#[cfg(feature = "demo")]
use crate::cmd::Cli;
use crate::cmd::Ctx;
use crate::error::{MeshError, Result};
#[cfg(feature = "demo")]
use mesh_core::render::Style;
#[cfg(feature = "demo")]
use mesh_sandbox::scenario::bookinfo;
#[cfg(feature = "demo")]
use mesh_sandbox::{ApiServer, ServerOptions};

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Keep the sandbox API server running until Ctrl-C (use it from another shell with the printed kubeconfig)
    #[arg(long)]
    pub serve: bool,

    /// Skip the guided tour (with --serve: just start the sandbox)
    #[arg(long = "no-tour")]
    pub no_tour: bool,
}

#[cfg(feature = "demo")]
/// The tour: (what it shows, the command line after `kubectl mesh`, the exit code it should have).
const TOUR: &[(&str, &str, u8)] = &[
    (
        "Where does traffic go now? The reviews route sends everything to v1, as in the guide.",
        "status -n istio-demo",
        0,
    ),
    (
        "Why do requests fail? doctor names the pods behind CERTIFICATE_VERIFY_FAILED and the 503s.",
        "doctor -n istio-demo",
        1,
    ),
    (
        "What would recover do? Review the plan without changing anything.",
        "recover -n istio-demo --dry-run=client",
        0,
    ),
    (
        "Fix exactly those workloads and wait for their rollouts.",
        "recover -n istio-demo --yes --wait --timeout 60s",
        0,
    ),
    ("Check again: clean.", "doctor -n istio-demo", 0),
    (
        "Feature 2 of the guide, traffic shifting: 50/50 between v1 and v3 ...",
        "shift reviews v1=50 v3=50 -n istio-demo",
        0,
    ),
    ("... then everything to v3.", "shift reviews v3=100 -n istio-demo", 0),
    (
        "Feature 1a, request routing: user vijay goes to v2 (header end-user).",
        "route-user reviews vijay v2 -n istio-demo",
        0,
    ),
    ("Where does traffic go now?", "status reviews -n istio-demo -o wide", 0),
];

#[cfg(feature = "demo")]
fn split_words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

#[cfg(feature = "demo")]
async fn run_step(ctx: &Ctx, kubeconfig: &std::path::Path, line: &str) -> Result<u8> {
    let mut argv = vec!["kubectl-mesh".to_string()];
    argv.extend(split_words(line));
    argv.push("--kubeconfig".into());
    argv.push(kubeconfig.display().to_string());
    argv.push("--color".into());
    argv.push(if ctx.out.color { "always".into() } else { "never".into() });
    let cli = Cli::parse_from_args(&argv).map_err(|e| MeshError::usage(format!("demo step {line:?}: {e}")))?;
    match Box::pin(crate::cmd::run(cli)).await {
        Ok(code) => Ok(code),
        Err(e) => {
            ctx.out.info(&format!("error: {e}"));
            if let Some(h) = e.hint() {
                ctx.out.info(&format!("hint: {h}"));
            }
            Ok(e.exit_code())
        }
    }
}

/// Without the `demo` feature there is no sandbox to start.
#[cfg(not(feature = "demo"))]
pub async fn run(_ctx: Ctx, _args: DemoArgs) -> Result<u8> {
    Err(MeshError::NotBuiltIn {
        command: "demo",
        feature: "demo",
    })
}

#[cfg(feature = "demo")]
pub async fn run(ctx: Ctx, args: DemoArgs) -> Result<u8> {
    let opts = ServerOptions {
        ready_delay: Some(std::time::Duration::from_millis(400)),
        ..ServerOptions::default()
    };
    let server = ApiServer::start(opts)
        .await
        .map_err(|e| MeshError::io("starting the sandbox API server", e))?;
    let sandbox = server.sandbox();
    let scenario = bookinfo().stale_root_cert().missing_sidecar();
    sandbox
        .apply_scenario(&scenario)
        .map_err(|e| MeshError::io("loading the Bookinfo scenario", std::io::Error::other(e.to_string())))?;
    let dir = std::env::temp_dir().join(format!("kubectl-mesh-demo-{}", sandbox.addr().port()));
    std::fs::create_dir_all(&dir).map_err(|e| MeshError::io(format!("creating {}", dir.display()), e))?;
    let kubeconfig: PathBuf = sandbox
        .write_kubeconfig(&dir, Some("istio-demo"))
        .map_err(|e| MeshError::io(format!("writing a kubeconfig in {}", dir.display()), e))?;

    let bold = |s: &str| ctx.out.paint(s, Style::Bold);
    let dim = |s: &str| ctx.out.paint(s, Style::Dim);
    let mut text = format!(
        "{}\n  API server: {}\n  kubeconfig: {}\n  Bookinfo runs in namespace istio-demo; two things are broken, as in the guide's troubleshooting.\n",
        bold("kubectl-mesh demo: a sandbox Kubernetes API server with Istio, the Gateway API and Bookinfo"),
        sandbox.url(),
        kubeconfig.display()
    );
    ctx.out.print(&text)?;

    let mut unexpected = Vec::new();
    if !args.no_tour {
        for (what, line, expected) in TOUR {
            ctx.out.print(&format!(
                "\n{}\n{}\n",
                dim(&format!("# {what}")),
                bold(&format!("$ kubectl mesh {line}"))
            ))?;
            let code = run_step(&ctx, &kubeconfig, line).await?;
            if code != *expected {
                unexpected.push(format!("`kubectl mesh {line}` exited {code}, expected {expected}"));
            }
        }
    }

    text = format!(
        "\n{}\n  kubectl --kubeconfig {k} get httproutes,pods -n istio-demo\n  kubectl mesh status -A --kubeconfig {k}\n  kubectl mesh shift reviews v1=90 v3=10 -n istio-demo --kubeconfig {k}\n",
        bold(if args.serve { "The sandbox keeps running. From another shell:" } else { "Next: keep a sandbox running with `kubectl mesh demo --serve` and try, from another shell:" }),
        k = kubeconfig.display()
    );
    ctx.out.print(&text)?;

    if args.serve {
        ctx.out.info("Serving until Ctrl-C ...");
        let _ = tokio::signal::ctrl_c().await;
        ctx.out.info("Stopping the sandbox.");
    }
    server.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    if unexpected.is_empty() {
        Ok(0)
    } else {
        Err(MeshError::refused(
            format!("the demo did not go as expected: {}", unexpected.join("; ")),
            Some("please report this with the output above".into()),
        ))
    }
}
