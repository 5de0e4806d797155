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

use clap::Args;

use crate::cmd::Ctx;
use crate::error::{MeshError, Result};

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Keep the sandbox API server running until Ctrl-C (use it from another shell with the printed kubeconfig)
    #[arg(long)]
    pub serve: bool,

    /// Skip the guided tour (with --serve: just start the sandbox)
    #[arg(long = "no-tour")]
    pub no_tour: bool,
}

/// The guided tour: each step's command is built here as a typed [`Command`], not parsed from the line shown
/// (a test checks that every line shown parses to exactly that command).
#[cfg(feature = "demo")]
mod tour {
    use std::path::Path;
    use std::time::Duration;

    use crate::cli::{
        AllNamespacesArg, ColorChoiceOpt, DryRunOpt, GlobalArgs, OutputArgs, OutputFormatOpt, PatchArgs, RouteArgs,
        StepArgs, SuppressArgs, WaitArgs, WriteArgs,
    };
    use crate::cmd::doctor::{DoctorArgs, DoctorOutputArgs};
    use crate::cmd::history::HistoryArgs;
    use crate::cmd::recover::RecoverArgs;
    use crate::cmd::route_user::RouteUserArgs;
    use crate::cmd::shift::ShiftArgs;
    use crate::cmd::status::StatusArgs;
    use crate::cmd::undo::UndoArgs;
    use crate::cmd::{Cli, Command};

    /// The namespace the tour works in (the scenario's Bookinfo namespace).
    pub const NAMESPACE: &str = "istio-demo";
    /// The namespace of its ambient part.
    pub const AMBIENT: &str = "ambient-demo";

    /// One step: what it shows, the command line shown after `kubectl mesh`, the namespace it runs in, the exit
    /// code it should have, and the command itself.
    pub struct Step {
        pub what: &'static str,
        pub line: &'static str,
        pub namespace: &'static str,
        pub expected: u8,
        pub command: fn() -> Command,
    }

    fn output(format: OutputFormatOpt) -> OutputArgs {
        OutputArgs { output: format }
    }

    fn write(dry_run: DryRunOpt) -> WriteArgs {
        WriteArgs {
            dry_run,
            field_manager: "kubectl-mesh".into(),
        }
    }

    fn this_namespace() -> AllNamespacesArg {
        AllNamespacesArg { all_namespaces: false }
    }

    fn status(service: Option<&str>, format: OutputFormatOpt) -> Command {
        Command::Status(StatusArgs {
            service: service.map(str::to_string),
            all: this_namespace(),
            output: output(format),
        })
    }

    fn doctor() -> Command {
        Command::Doctor(DoctorArgs {
            all: this_namespace(),
            checks: Vec::new(),
            list_checks: false,
            deep: false,
            error: None,
            fail_on: Default::default(),
            suppress: SuppressArgs { suppress: Vec::new() },
            filenames: Vec::new(),
            recursive: false,
            offline: false,
            all_contexts: false,
            output: DoctorOutputArgs {
                output: Default::default(),
            },
        })
    }

    fn recover(yes: bool, wait: bool, timeout: Duration, dry_run: DryRunOpt) -> Command {
        Command::Recover(RecoverArgs {
            all: this_namespace(),
            yes,
            wait,
            timeout,
            max_parallel: 8,
            suppress: SuppressArgs { suppress: Vec::new() },
            output: output(OutputFormatOpt::Table),
            write: write(dry_run),
        })
    }

    fn any_route() -> RouteArgs {
        RouteArgs {
            route: None,
            kind: None,
        }
    }

    fn wait(wait: bool) -> WaitArgs {
        WaitArgs {
            wait,
            timeout: None,
            rollback_on_failure: false,
        }
    }

    fn no_patch() -> PatchArgs {
        PatchArgs {
            emit_patch: false,
            show_managed_fields: false,
        }
    }

    fn shift(weights: &[&str], waits: bool, steps: Option<(u32, Duration)>) -> Command {
        shift_service("reviews", weights, waits, steps)
    }

    fn shift_service(service: &str, weights: &[&str], waits: bool, steps: Option<(u32, Duration)>) -> Command {
        Command::Shift(ShiftArgs {
            service: service.into(),
            weights: weights.iter().map(|w| w.to_string()).collect(),
            route: any_route(),
            force: false,
            create_backends: false,
            steps: StepArgs {
                step: steps.map(|s| s.0),
                interval: steps.map(|s| s.1),
            },
            wait: wait(waits),
            patch: no_patch(),
            output: output(OutputFormatOpt::Table),
            write: write(DryRunOpt::None),
        })
    }

    fn route_user(user: &str, version: &str) -> Command {
        Command::RouteUser(RouteUserArgs {
            service: "reviews".into(),
            user: user.into(),
            version: Some(version.into()),
            header: "end-user".into(),
            remove: false,
            route: any_route(),
            force: false,
            create_backends: false,
            wait: wait(false),
            patch: no_patch(),
            output: output(OutputFormatOpt::Table),
            write: write(DryRunOpt::None),
        })
    }

    fn history() -> Command {
        Command::History(HistoryArgs {
            service: "reviews".into(),
            route: any_route(),
            output: output(OutputFormatOpt::Table),
        })
    }

    fn undo() -> Command {
        Command::Undo(UndoArgs {
            service: "reviews".into(),
            to_revision: None,
            route: any_route(),
            force: false,
            wait: wait(false),
            patch: no_patch(),
            output: output(OutputFormatOpt::Table),
            write: write(DryRunOpt::None),
        })
    }

    pub const STEPS: &[Step] = &[
        Step {
            what: "Where does traffic go now? The reviews route sends everything to v1, as in the guide.",
            line: "status -n istio-demo",
            namespace: NAMESPACE,
            expected: 0,
            command: || status(None, OutputFormatOpt::Table),
        },
        Step {
            what: "Why do requests fail? doctor names the pods behind CERTIFICATE_VERIFY_FAILED and the 503s.",
            line: "doctor -n istio-demo",
            namespace: NAMESPACE,
            expected: 1,
            command: doctor,
        },
        Step {
            what: "What would recover do? Review the plan without changing anything.",
            line: "recover -n istio-demo --dry-run=client",
            namespace: NAMESPACE,
            expected: 0,
            command: || recover(false, false, Duration::from_secs(300), DryRunOpt::Client),
        },
        Step {
            what: "Fix exactly those workloads and wait for their rollouts.",
            line: "recover -n istio-demo --yes --wait --timeout 60s",
            namespace: NAMESPACE,
            expected: 0,
            command: || recover(true, true, Duration::from_secs(60), DryRunOpt::None),
        },
        Step {
            what: "Check again: clean.",
            line: "doctor -n istio-demo",
            namespace: NAMESPACE,
            expected: 0,
            command: doctor,
        },
        Step {
            what: "Feature 2 of the guide, traffic shifting: 50/50 between v1 and v3, and wait until Istio accepts it.",
            line: "shift reviews v1=50 v3=50 -n istio-demo --wait",
            namespace: NAMESPACE,
            expected: 0,
            command: || shift(&["v1=50", "v3=50"], true, None),
        },
        Step {
            what: "Every change is recorded on the route itself (the last line is the current state).",
            line: "history reviews -n istio-demo",
            namespace: NAMESPACE,
            expected: 0,
            command: history,
        },
        Step {
            what: "Changed your mind? undo puts back the previous split (run it again to come back).",
            line: "undo reviews -n istio-demo",
            namespace: NAMESPACE,
            expected: 0,
            command: undo,
        },
        Step {
            what: "Now walk to v3 in steps of 50 points: readiness checked before, Istio's acceptance after each step.",
            line: "shift reviews v3=100 --step 50 --interval 2s -n istio-demo",
            namespace: NAMESPACE,
            expected: 0,
            command: || shift(&["v3=100"], false, Some((50, Duration::from_secs(2)))),
        },
        Step {
            what: "Feature 1a, request routing: user vijay goes to v2 (header end-user).",
            line: "route-user reviews vijay v2 -n istio-demo",
            namespace: NAMESPACE,
            expected: 0,
            command: || route_user("vijay", "v2"),
        },
        Step {
            what: "Where does traffic go now?",
            line: "status reviews -n istio-demo -o wide",
            namespace: NAMESPACE,
            expected: 0,
            command: || status(Some("reviews"), OutputFormatOpt::Wide),
        },
        Step {
            what: "Ambient mode: namespace ambient-demo has no sidecars; ztunnel carries mTLS, a waypoint applies HTTP routes. doctor finds the one route Istio ignores.",
            line: "doctor -n ambient-demo",
            namespace: AMBIENT,
            expected: 1,
            command: doctor,
        },
        Step {
            what: "shift refuses a route Istio would ignore: ratings has no waypoint.",
            line: "shift ratings v1=100 -n ambient-demo",
            namespace: AMBIENT,
            expected: 1,
            command: || shift_service("ratings", &["v1=100"], false, None),
        },
        Step {
            what: "reviews is enrolled in the waypoint: shifting works as in sidecar mode.",
            line: "shift reviews v2=100 -n ambient-demo",
            namespace: AMBIENT,
            expected: 0,
            command: || shift(&["v2=100"], false, None),
        },
        Step {
            what: "Istio says which routes a waypoint applies (ResolvedWaypoints).",
            line: "status -n ambient-demo -o wide",
            namespace: AMBIENT,
            expected: 0,
            command: || status(None, OutputFormatOpt::Wide),
        },
    ];

    /// A step's whole command: its own, against the sandbox's kubeconfig and namespace, coloured like the demo.
    pub fn cli(step: &Step, kubeconfig: &Path, color: bool) -> Cli {
        let mut argv: Vec<String> = vec!["kubectl-mesh".into()];
        argv.extend(step.line.split_whitespace().map(str::to_string));
        argv.extend([
            "--kubeconfig".to_string(),
            kubeconfig.display().to_string(),
            "--color".to_string(),
            if color { "always" } else { "never" }.to_string(),
        ]);
        Cli {
            argv,
            global: GlobalArgs {
                kubeconfig: Some(kubeconfig.to_path_buf()),
                context: Vec::new(),
                cluster: None,
                user: None,
                namespace: Some(step.namespace.into()),
                request_timeout: Duration::ZERO,
                color: if color {
                    ColorChoiceOpt::Always
                } else {
                    ColorChoiceOpt::Never
                },
                verbosity: 0,
            },
            command: (step.command)(),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn every_line_shown_is_the_command_the_tour_runs() {
            let kubeconfig = Path::new("/tmp/demo/kubeconfig");
            for step in STEPS {
                let mut argv = vec!["kubectl-mesh"];
                argv.extend(step.line.split_whitespace());
                argv.extend(["--kubeconfig", "/tmp/demo/kubeconfig", "--color", "never"]);
                let parsed = Cli::parse_from_args(argv).unwrap_or_else(|e| panic!("{}: {e}", step.line));
                assert_eq!(
                    format!("{parsed:?}"),
                    format!("{:?}", cli(step, kubeconfig, false)),
                    "{}",
                    step.line
                );
            }
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
    use mesh_core::render::Style;
    use mesh_sandbox::scenario::bookinfo;
    use mesh_sandbox::{ApiServer, ServerOptions};

    let opts = ServerOptions {
        ready_delay: Some(std::time::Duration::from_millis(400)),
        ..ServerOptions::default()
    };
    let server = ApiServer::start(opts)
        .await
        .map_err(|e| MeshError::io("starting the sandbox API server", e))?;
    let sandbox = server.sandbox();
    let scenario = bookinfo().stale_root_cert().missing_sidecar().ambient();
    sandbox.apply_scenario(&scenario).map_err(|source| MeshError::Sandbox {
        context: "loading the Bookinfo scenario",
        source: Box::new(source),
    })?;
    // The sandbox's kubelet readies pods `ready_delay` after they start, as a real one does: the tour begins once
    // the guide's pods are up (a few hundred milliseconds), so doctor finds what the guide finds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline && !sandbox.pods_ready() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let dir = std::env::temp_dir().join(format!("kubectl-mesh-demo-{}", sandbox.addr().port()));
    std::fs::create_dir_all(&dir).map_err(|e| MeshError::io(format!("creating {}", dir.display()), e))?;
    let kubeconfig: std::path::PathBuf = sandbox
        .write_kubeconfig(&dir, Some("istio-demo"))
        .map_err(|e| MeshError::io(format!("writing a kubeconfig in {}", dir.display()), e))?;

    let bold = |s: &str| ctx.out.paint(s, Style::Bold);
    let dim = |s: &str| ctx.out.paint(s, Style::Dim);
    let mut text = format!(
        "{}\n  API server: {}\n  kubeconfig: {}\n  Bookinfo runs in namespace istio-demo; two things are broken, as in the guide's troubleshooting.\n  Namespace ambient-demo runs in Istio's ambient mode (ztunnel and a waypoint, no sidecars).\n",
        bold("kubectl-mesh demo: a sandbox Kubernetes API server with Istio, the Gateway API and Bookinfo"),
        sandbox.url(),
        kubeconfig.display()
    );
    ctx.out.print(&text)?;

    let mut unexpected = Vec::new();
    if !args.no_tour {
        for step in tour::STEPS {
            ctx.out.print(&format!(
                "\n{}\n{}\n",
                dim(&format!("# {}", step.what)),
                bold(&format!("$ kubectl mesh {}", step.line))
            ))?;
            // Each step runs through the dispatcher like a command line would, and reports its own error the
            // way `main` does; the tour goes on.
            let code = match Box::pin(crate::cmd::run(tour::cli(step, &kubeconfig, ctx.out.color))).await {
                Ok(code) => code,
                Err(e) => crate::output::report_error(&e),
            };
            if code != step.expected {
                unexpected.push(format!(
                    "`kubectl mesh {}` exited {code}, expected {}",
                    step.line, step.expected
                ));
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
