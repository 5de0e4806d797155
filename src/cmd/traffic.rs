//! What the commands that change traffic share (`shift`, `route-user`, `undo`): the flag checks, the write with
//! its history entry in the same request, `--wait` on the mesh controller's verdict with `--rollback-on-failure`,
//! `--emit-patch` for GitOps-managed routes, and the output (kubectl's result lines, or the route as written with
//! managedFields hidden as kubectl hides them).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::{PatchArgs, RouteArgs, StepArgs, WaitArgs, WriteArgs};
use crate::cmd::Ctx;
use crate::error::{MeshError, Result};
use crate::output::Progress;
use mesh_core::duration::format_duration;
use mesh_core::opts::{DryRun, OutputFormat};
use mesh_core::render::to_format;
use mesh_core::route::patch::emit_patch;
use mesh_core::route::{
    gitops_managers, plan_restore, record_history, PlanError, Recorded, RestoreRequest, RouteEdit, RouteKind,
    RouteSnapshot, Verdict, WriteMeta, WriteOutcome,
};
use mesh_kube::apply::route::{plan_and_write, plan_only};
use mesh_kube::wait::{wait_route_accepted, WaitFor, WaitOutcome};
use mesh_kube::{Cluster, Stop, WriteOpts};

/// Flag combinations that make no sense are usage errors (exit 2), found before anything is sent.
pub fn check_flags(write: &WriteArgs, wait: &WaitArgs, patch: &PatchArgs, steps: Option<&StepArgs>) -> Result<()> {
    let step = steps.and_then(|s| s.step).is_some();
    let dry = write.dry_run();
    if steps.is_some_and(|s| s.interval.is_some()) && !step {
        return Err(MeshError::usage_hint(
            "--interval needs --step",
            "walk in steps, for example: kubectl mesh shift reviews v3=100 --step 25 --interval 30s",
        ));
    }
    if wait.timeout.is_some() && !wait.wait && !step {
        return Err(MeshError::usage_hint(
            "--timeout needs --wait (or --step)",
            "add --wait to wait for the mesh controller to accept the change",
        ));
    }
    if wait.rollback_on_failure && !wait.wait && !step {
        return Err(MeshError::usage_hint(
            "--rollback-on-failure needs --wait (or --step)",
            "add --wait: the previous state is restored when the mesh controller rejects the change",
        ));
    }
    if wait.wait && dry != DryRun::None {
        return Err(MeshError::usage_hint(
            "--wait with --dry-run: a dry run writes nothing, so there is nothing to wait for",
            "leave out one of them",
        ));
    }
    if patch.emit_patch {
        let clash = if wait.wait {
            Some("--wait")
        } else if wait.rollback_on_failure {
            Some("--rollback-on-failure")
        } else if step {
            Some("--step")
        } else if dry != DryRun::None {
            Some("--dry-run")
        } else {
            None
        };
        if let Some(flag) = clash {
            return Err(MeshError::usage_hint(
                format!("--emit-patch cannot be combined with {flag}: it writes nothing and waits for nothing"),
                "leave out one of them",
            ));
        }
    }
    Ok(())
}

/// `kubectl mesh …` as typed, without the connection flags (`--kubeconfig`, `--context`, `--cluster`, `--user`,
/// `--request-timeout`, `-v`, `--color` and their values): what the history records as the change's command.
pub fn recorded_command(argv: &[String]) -> String {
    const WITH_VALUE: &[&str] = &[
        "--kubeconfig",
        "--context",
        "--cluster",
        "--user",
        "--request-timeout",
        "-v",
        "--v",
        "--color",
    ];
    let mut out = vec!["kubectl".to_string(), "mesh".to_string()];
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        let flag = a.split('=').next().unwrap_or(a);
        if WITH_VALUE.contains(&flag) {
            if !a.contains('=') {
                args.next();
            }
            continue;
        }
        if let Some(level) = a.strip_prefix("-v") {
            if !level.is_empty() && level.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
        }
        out.push(if a.is_empty() || a.contains(char::is_whitespace) {
            format!("{a:?}")
        } else {
            a.clone()
        });
    }
    out.join(" ")
}

/// Now, as history entries record it (RFC 3339, UTC, seconds).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// What a change command was given.
pub struct Change<'a> {
    pub ctx: &'a Ctx,
    pub service: &'a str,
    pub write: &'a WriteArgs,
    pub wait: &'a WaitArgs,
    pub patch: &'a PatchArgs,
    pub route: &'a RouteArgs,
    /// `--force`.
    pub force: bool,
}

impl Change<'_> {
    pub fn opts(&self) -> WriteOpts {
        WriteOpts {
            dry_run: self.write.dry_run(),
            field_manager: self.write.field_manager.clone(),
        }
    }

    /// The history entry of this command's writes.
    pub fn meta(&self, suffix: &str) -> WriteMeta {
        WriteMeta {
            time: now_rfc3339(),
            manager: self.write.field_manager.clone(),
            command: format!("{}{suffix}", recorded_command(&self.ctx.argv)),
            force: self.force,
        }
    }

    /// The signals are caught only when the command waits (between writes there is then something to stop).
    pub fn stop(&self, waits: bool) -> Result<Stop> {
        if waits {
            crate::signals::install().map_err(|e| MeshError::io("installing the SIGINT/SIGTERM handlers", e))
        } else {
            Ok(Stop::new())
        }
    }

    /// `kubectl mesh undo SERVICE -n NS [--to-revision R] [--kind grpc] [--route NAME] [--context C]`.
    pub fn undo_command(&self, namespace: &str, kind: RouteKind, revision: Option<u64>) -> String {
        let mut s = format!("kubectl mesh undo {} -n {namespace}", self.service);
        if let Some(r) = revision {
            s.push_str(&format!(" --to-revision {r}"));
        }
        if kind == RouteKind::Grpc {
            s.push_str(" --kind grpc");
        }
        if let Some(r) = &self.route.route {
            s.push_str(&format!(" --route {r}"));
        }
        let g = &self.ctx.global;
        if let Some(c) = g.context.last() {
            s.push_str(&format!(" --context {c}"));
        }
        if let Some(k) = &g.kubeconfig {
            s.push_str(&format!(" --kubeconfig {}", k.display()));
        }
        s
    }
}

/// The route as written, for `-o json|yaml`: managedFields hidden unless `--show-managed-fields` (kubectl's
/// printers do the same).
pub fn printable(object: &Value, show_managed_fields: bool) -> Value {
    let mut o = object.clone();
    if !show_managed_fields {
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.shift_remove("managedFields");
        }
    }
    o
}

/// Wrap a planner so that a write records its history entry in the same request: the previous state (when it is
/// not the newest entry yet) and the new one. Re-planned after a conflict, the history is rebuilt from the route
/// as it then is.
pub fn with_history<'a, P, F>(
    meta: WriteMeta,
    recorded: &'a std::cell::RefCell<Option<Recorded>>,
    mut plan: F,
) -> impl FnMut(&RouteSnapshot) -> Result<P> + 'a
where
    P: AsRef<RouteEdit> + AsMut<RouteEdit>,
    F: FnMut(&RouteSnapshot) -> std::result::Result<P, PlanError> + 'a,
{
    move |snap: &RouteSnapshot| {
        let mut p = plan(snap)?;
        let e = p.as_mut();
        if !e.noop {
            let before = if e.create {
                None
            } else {
                snap.state.route_of(e.kind, &e.route_name).cloned()
            };
            let rec = record_history(before.as_ref(), &mut e.route, &meta)?;
            *recorded.borrow_mut() = Some(rec);
        }
        Ok(p)
    }
}

/// `--emit-patch`: read, plan with every check but the GitOps refusal, print the JSON merge patch from the live
/// route to the planned one (the traffic change only), write nothing.
pub async fn emit<P, F>(c: &Change<'_>, plan: F) -> Result<u8>
where
    P: AsRef<RouteEdit>,
    F: FnOnce(&RouteSnapshot) -> std::result::Result<P, PlanError>,
{
    let ctx = c.ctx;
    let cluster = ctx.cluster().await?;
    let ns = cluster.namespace.clone();
    let (snap, planned, warnings) = plan_only(&cluster, &ns, c.service, |s| plan(s).map_err(MeshError::from)).await?;
    for w in warnings {
        ctx.out.info(&format!("warning: {w}"));
    }
    let e = planned.as_ref();
    let format = if ctx.out.format == OutputFormat::Yaml {
        OutputFormat::Yaml
    } else {
        OutputFormat::Json
    };
    let what = format!("{} {ns}/{}", e.kind.singular(), e.route_name);
    if e.noop {
        ctx.out.info(&format!(
            "# {what} already holds this traffic: the patch is empty, nothing to commit"
        ));
        ctx.out.print(&to_format(&serde_json::json!({}), format)?)?;
        return Ok(0);
    }
    if e.create {
        ctx.out.info(&format!(
            "# {what} does not exist yet, and a merge patch cannot create it: commit this manifest instead"
        ));
        ctx.out.print(&to_format(&e.route, format)?)?;
        return Ok(0);
    }
    let live = snap
        .state
        .route_of(e.kind, &e.route_name)
        .cloned()
        .unwrap_or(Value::Null);
    let managed: Vec<String> = gitops_managers(&live, e.kind).iter().map(|g| g.describe()).collect();
    let by = if managed.is_empty() {
        String::new()
    } else {
        format!(" (managed by {})", managed.join(" and "))
    };
    ctx.out.info(&format!(
        "# {} merge patch for {what}{by}: commit it to the source; check it with: kubectl patch {} {} -n {ns} --type merge --dry-run=server -p \"$(cat patch.{})\"",
        if format == OutputFormat::Yaml { "YAML" } else { "JSON" },
        e.kind.singular(),
        e.route_name,
        if format == OutputFormat::Yaml { "yaml" } else { "json" },
    ));
    ctx.out.print(&to_format(&emit_patch(&live, &e.route), format)?)?;
    Ok(0)
}

/// How a wait for the controller's verdict ended, worded.
pub enum Judged {
    Accepted {
        controller: String,
        generation: i64,
        notes: Vec<String>,
    },
    /// Rejected or not confirmed: the sentence, and the short form for history (`ResolvedRefs=False BackendNotFound`).
    Failed {
        reason: String,
        short: String,
    },
    Interrupted {
        signal: i32,
    },
    Gone,
}

/// Wait for the mesh controller's verdict on `object` (our write's answer, or the route as it is).
pub async fn judge(
    cluster: &Cluster,
    service: &str,
    kind: RouteKind,
    object: &Value,
    timeout: Duration,
    stop: &Stop,
    status_line: &mut dyn FnMut(&str),
) -> Result<Judged> {
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(&cluster.namespace)
        .to_string();
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let what = WaitFor {
        kind,
        namespace: &namespace,
        name: &name,
        service,
        generation,
    };
    let deadline = Instant::now() + timeout;
    let outcome = wait_route_accepted(cluster, &what, object, deadline, stop, |why| status_line(why)).await?;
    let route = format!("{} {namespace}/{name}", kind.singular());
    Ok(match outcome {
        WaitOutcome::Judged(Verdict::Accepted {
            controller,
            generation,
            notes,
        }) => Judged::Accepted {
            controller,
            generation,
            notes,
        },
        WaitOutcome::Judged(Verdict::Rejected {
            controller,
            condition,
            reason,
            message,
            generation,
        }) => Judged::Failed {
            reason: format!(
                "{controller} rejected {route} at generation {generation}: {condition}=False ({reason}): {message}"
            ),
            short: format!("{condition}=False {reason}"),
        },
        WaitOutcome::Judged(Verdict::Pending(last)) | WaitOutcome::NotConfirmed { last } => Judged::Failed {
            reason: format!(
                "not confirmed: no status for generation {generation} of {route} from {} within {}{}",
                mesh_core::route::MESH_CONTROLLER,
                format_duration(timeout),
                if last.is_empty() {
                    String::new()
                } else {
                    format!(" (last seen: {last})")
                }
            ),
            short: "not confirmed".into(),
        },
        WaitOutcome::Interrupted { signal } => Judged::Interrupted { signal },
        WaitOutcome::Gone => Judged::Gone,
    })
}

/// One change, end to end: write (with its history entry, or `--emit-patch`), print, and with `--wait` wait for
/// the controller's verdict, rolling back on failure when asked. `render` gives the text after the Service lines
/// for table output.
pub async fn run_change<P, F, R>(c: &Change<'_>, plan: F, render: R) -> Result<u8>
where
    P: AsRef<RouteEdit> + AsMut<RouteEdit>,
    F: FnMut(&RouteSnapshot) -> std::result::Result<P, PlanError>,
    R: Fn(&P, WriteOutcome, DryRun) -> String,
{
    let ctx = c.ctx;
    let stop = c.stop(c.wait.wait)?;
    let cluster = ctx.cluster().await?;
    let namespace = cluster.namespace.clone();
    let opts = c.opts();
    let recorded = std::cell::RefCell::new(None);
    let written = plan_and_write(
        &cluster,
        &namespace,
        c.service,
        &opts,
        &stop,
        with_history(c.meta(""), &recorded, plan),
    )
    .await?;
    let recorded = recorded.into_inner();
    for w in &written.warnings {
        ctx.out.info(&format!("warning: {w}"));
    }
    let e = written.plan.as_ref();
    // What --force overrode and what could not be checked (the planners add a GitOps warning only to a write).
    for w in &e.warnings {
        ctx.out.info(&format!("warning: {w}"));
    }
    if !e.noop {
        for n in recorded.iter().flat_map(|r| r.notes.iter()) {
            ctx.out.info(&format!("warning: {n}"));
        }
    }
    let dry_run = opts.dry_run;
    let text = match ctx.out.format {
        OutputFormat::Json | OutputFormat::Yaml => to_format(
            &printable(written.object.as_ref().unwrap_or(&e.route), c.patch.show_managed_fields),
            ctx.out.format,
        )?,
        _ => {
            let mut s = String::new();
            for svc in &e.services_to_create {
                let name = svc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
                s.push_str(&format!("service/{name} created{}\n", dry_run.suffix()));
            }
            s.push_str(&render(&written.plan, written.outcome, dry_run));
            s
        }
    };
    ctx.out.print(&text)?;
    if !c.wait.wait || dry_run != DryRun::None {
        return Ok(0);
    }

    // --wait: the controller's verdict on what we wrote (or, for a no-op, on the route as it is).
    let object = written.object.clone().unwrap_or_else(|| e.route.clone());
    let kind = e.kind;
    let name = e.route_name.clone();
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let mut progress = Progress::new(
        &ctx.out,
        &format!(
            "{} to accept {}/{name} generation {generation}",
            mesh_core::route::MESH_CONTROLLER,
            kind.singular()
        ),
    );
    let judged = judge(
        &cluster,
        c.service,
        kind,
        &object,
        c.wait.timeout(),
        &stop,
        &mut |why| progress.update(&format!("waiting: {why}")),
    )
    .await?;
    match judged {
        Judged::Accepted {
            controller,
            generation,
            notes,
        } => {
            progress.clear();
            for n in notes {
                ctx.out.info(&format!("warning: {n} (kubectl mesh doctor explains)"));
            }
            if !ctx.out.format.is_structured() {
                ctx.out.print(&format!(
                    "{}/{name} accepted by {controller} (generation {generation})\n",
                    kind.qualified()
                ))?;
            }
            Ok(0)
        }
        Judged::Interrupted { signal } => {
            progress.clear();
            Err(MeshError::Interrupted {
                signal,
                detail: format!(
                    "{}/{name} was written (generation {generation}) but not confirmed; nothing more was written",
                    kind.singular()
                ),
                hint: Some(format!(
                    "check it with kubectl mesh status {} -n {namespace} -o wide; go back with: {}",
                    c.service,
                    c.undo_command(&namespace, kind, recorded.as_ref().and_then(|r| r.previous))
                )),
            })
        }
        Judged::Gone => {
            progress.clear();
            Err(MeshError::refused(
                format!(
                    "{}/{name} was deleted or replaced while waiting for its status",
                    kind.singular()
                ),
                Some(format!(
                    "see what is there now: kubectl get {} -n {namespace}",
                    kind.plural()
                )),
            ))
        }
        Judged::Failed { reason, short } => {
            progress.clear();
            let previous = recorded.as_ref().and_then(|r| r.previous);
            let status_hint = format!(
                "see the route's status with: kubectl mesh status {} -n {namespace} -o wide",
                c.service
            );
            let not_confirmed_hint = if short == "not confirmed" {
                "is istiod running and writing Gateway API status (PILOT_ENABLE_GATEWAY_API_STATUS, and a parentRef group \"\" — Istio ignores group \"core\")? "
            } else {
                ""
            };
            if e.noop {
                return Err(MeshError::NotAccepted {
                    message: format!("{reason} (nothing was written: the route already said this)"),
                    hint: format!("{not_confirmed_hint}{status_hint}"),
                });
            }
            let Some(previous) = previous else {
                return Err(MeshError::NotAccepted {
                    message: reason,
                    hint: format!(
                        "{not_confirmed_hint}this command created the route; remove it with: kubectl delete {} {name} -n {namespace}",
                        kind.singular()
                    ),
                });
            };
            if !c.wait.rollback_on_failure {
                return Err(MeshError::NotAccepted {
                    message: reason,
                    hint: format!(
                        "{not_confirmed_hint}go back with: {}",
                        c.undo_command(&namespace, kind, Some(previous))
                    ),
                });
            }
            let req = RestoreRequest {
                service: c.service.to_string(),
                to_revision: Some(previous),
                route_name: Some(name.clone()),
                kind: Some(kind),
                force: c.force,
                gitops_ok: false,
                skip_ready: true,
            };
            let back = std::cell::RefCell::new(None);
            let rolled = plan_and_write(
                &cluster,
                &namespace,
                c.service,
                &opts,
                &stop,
                with_history(c.meta(&format!(" (automatic rollback: {short})")), &back, |snap| {
                    plan_restore(snap, &req)
                }),
            )
            .await;
            match rolled {
                Ok(_) => {
                    if !ctx.out.format.is_structured() {
                        ctx.out.print(&format!(
                            "{}/{name} rolled back to revision {previous}\n",
                            kind.qualified()
                        ))?;
                    }
                    Err(MeshError::NotAccepted {
                        message: format!("{reason}; rolled back to revision {previous} (--rollback-on-failure)"),
                        hint: format!("{not_confirmed_hint}{status_hint}"),
                    })
                }
                Err(err) => Err(MeshError::NotAccepted {
                    message: format!("{reason}; the rollback to revision {previous} failed too: {err}"),
                    hint: format!("go back with: {}", c.undo_command(&namespace, kind, Some(previous))),
                }),
            }
        }
    }
}
