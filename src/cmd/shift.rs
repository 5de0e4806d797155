//! `kubectl mesh shift SERVICE VERSION=PERCENT...`: weighted traffic shifting on the Service's mesh route
//! (HTTPRoute or GRPCRoute).
//!
//! Validation happens before connecting (bad input exits 2 having sent nothing); the plan is pure
//! ([`mesh_core::route::plan_shift`]); the write carries the resourceVersion read and is re-planned on conflict
//! (`mesh_kube::apply::route::plan_and_write`), with the route's history entry in the same request. `--wait`
//! waits for the mesh controller's verdict; `--step` walks there progressively ([`run_steps`]).

use std::time::Duration;

use clap::Args;
use serde_json::Value;

use crate::cli::{OutputArgs, PatchArgs, RouteArgs, StepArgs, WaitArgs, WriteArgs};
use crate::cmd::traffic::{check_flags, emit, judge, printable, run_change, with_history, Change, Judged};
use crate::cmd::Ctx;
use crate::error::{MeshError, Result};
use crate::output::StepProgress;
use mesh_core::duration::format_duration;
use mesh_core::opts::{DryRun, OutputFormat};
use mesh_core::render::to_format;
use mesh_core::route::render::render_shares_table;
use mesh_core::route::{
    plan_shift, plan_split, plan_steps, render_shift_table, render_steps_table, ShiftPlan, ShiftRequest, SplitRequest,
    Steps,
};
use mesh_kube::apply::route::{plan_and_write, plan_only};
use mesh_kube::{Stop, WriteOpts};

#[derive(Debug, Clone, Args)]
pub struct ShiftArgs {
    /// The Service whose traffic to shift (the parentRef of its mesh route)
    #[arg(value_name = "SERVICE")]
    pub service: String,

    /// Target split, e.g. v1=90 v3=10; a sum below 100 keeps the other backends' proportions for the rest
    #[arg(value_name = "VERSION=PERCENT", required = true, num_args = 1..)]
    pub weights: Vec<String>,

    #[command(flatten)]
    pub route: RouteArgs,

    /// Proceed even when a backend has no ready endpoints, the route is owned by a controller or a GitOps tool, or Istio would ignore the route (ambient mode without a usable waypoint, a parentRef group other than "", a headless parent Service)
    #[arg(long)]
    pub force: bool,

    /// Create missing per-version Services (SERVICE-VERSION) from the pods' app/version labels
    #[arg(long = "create-backends")]
    pub create_backends: bool,

    #[command(flatten)]
    pub steps: StepArgs,

    #[command(flatten)]
    pub wait: WaitArgs,

    #[command(flatten)]
    pub patch: PatchArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub write: WriteArgs,
}

impl TryFrom<&ShiftArgs> for ShiftRequest {
    type Error = MeshError;

    fn try_from(args: &ShiftArgs) -> Result<ShiftRequest> {
        let mut req = ShiftRequest::new(&args.service, &args.weights)?;
        req.route_name = crate::cmd::route_flag(args.route.route.as_deref())?;
        req.force = args.force;
        req.create_backends = args.create_backends;
        req.kind = args.route.kind.map(Into::into);
        req.gitops_ok = args.patch.emit_patch;
        Ok(req)
    }
}

pub async fn run(ctx: Ctx, args: ShiftArgs) -> Result<u8> {
    check_flags(&args.write, &args.wait, &args.patch, Some(&args.steps))?;
    let req = ShiftRequest::try_from(&args)?;
    let change = Change {
        ctx: &ctx,
        service: &req.service,
        write: &args.write,
        wait: &args.wait,
        patch: &args.patch,
        route: &args.route,
        force: args.force,
    };
    if let Some(step) = args.steps.step {
        return run_steps(&change, &req, step, args.steps.interval()).await;
    }
    if args.patch.emit_patch {
        return emit(&change, |snap| plan_shift(snap, &req)).await;
    }
    run_change(
        &change,
        |snap| plan_shift(snap, &req),
        // The kubectl line, a blank line, then the before/after table.
        |p: &ShiftPlan, outcome, dry_run| {
            format!(
                "{}\n\n{}",
                outcome.line(p.edit.kind, &p.edit.route_name, dry_run),
                render_shift_table(p)
            )
        },
    )
    .await
}

/// `reviews-v1 50%, reviews-v3 50%`.
fn split_text(steps: &Steps, percents: &[u64]) -> String {
    steps
        .backends
        .iter()
        .zip(percents)
        .filter(|(_, p)| **p > 0)
        .map(|(b, p)| format!("{b} {p}%"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `shift … --step N`: walk from the current split to the target, one conflict-safe write per step, each recorded
/// in the history. Before each step the backends' readiness is checked on a fresh read (and the route must still
/// hold the previous step's split); after each step the mesh controller must accept it (as `--wait`). A failed
/// check stops at the last good step (a rejected step is reverted to it); `--rollback-on-failure` returns to the
/// start. SIGINT/SIGTERM stop between writes.
async fn run_steps(c: &Change<'_>, req: &ShiftRequest, step: u32, interval: Duration) -> Result<u8> {
    let ctx = c.ctx;
    let dry_run = c.write.dry_run();
    let stop = c.stop(dry_run == DryRun::None)?;
    let cluster = ctx.cluster().await?;
    let ns = cluster.namespace.clone();
    let planned = plan_only(&cluster, &ns, c.service, |snap| {
        plan_steps(snap, req, step).map_err(MeshError::from)
    });
    let (_, steps, warnings) = tokio::select! {
        signal = stop.wait() => {
            return Err(MeshError::Interrupted {
                signal,
                detail: "stopped while reading; nothing was written".into(),
                hint: None,
            })
        }
        planned = planned => planned?,
    };
    for w in warnings {
        ctx.out.info(&format!("warning: {w}"));
    }
    let kind = steps.kind;
    let name = steps.route_name.clone();
    let n = steps.steps.len();
    if steps.noop() {
        ctx.out.print(&format!(
            "{}/{name} unchanged: already at the target split ({})\n",
            kind.qualified(),
            split_text(&steps, &steps.start.percents)
        ))?;
        return Ok(0);
    }
    if dry_run == DryRun::Client {
        let text = if ctx.out.format.is_structured() {
            to_format(&steps.document(), ctx.out.format)?
        } else {
            format!(
                "{}(dry run) {n} step{}, {} apart; nothing was written\n",
                render_steps_table(&steps),
                if n == 1 { "" } else { "s" },
                format_duration(interval)
            )
        };
        ctx.out.print(&text)?;
        return Ok(0);
    }
    let opts = c.opts();
    if dry_run == DryRun::Server {
        // Each step is a whole split: each is validated alone against the live route.
        for s in &steps.steps {
            let split = SplitRequest {
                service: c.service.to_string(),
                kind,
                route_name: name.clone(),
                expect: steps.start.refs.clone(),
                target: s.refs.clone(),
                force: req.force,
                skip_ready: false,
                at_step: 0,
            };
            plan_and_write(&cluster, &ns, c.service, &opts, &stop, |snap| {
                plan_split(snap, &split).map_err(MeshError::from)
            })
            .await?;
            ctx.out.info(&format!(
                "step {}/{n}: {} (server dry run: valid)",
                s.step,
                split_text(&steps, &s.percents)
            ));
        }
        ctx.out.print(&format!(
            "{}(server dry run) {n} step{}; nothing was written\n",
            render_steps_table(&steps),
            if n == 1 { "" } else { "s" }
        ))?;
        return Ok(0);
    }
    Walk {
        c,
        cluster: &cluster,
        ns: &ns,
        steps: &steps,
        opts: &opts,
        stop: &stop,
        req,
        step,
        interval,
    }
    .run()
    .await
}

struct Walk<'a> {
    c: &'a Change<'a>,
    cluster: &'a mesh_kube::Cluster,
    ns: &'a str,
    steps: &'a Steps,
    opts: &'a WriteOpts,
    stop: &'a Stop,
    req: &'a ShiftRequest,
    step: u32,
    interval: Duration,
}

/// Where the walk stands.
struct At {
    /// The last step the controller accepted (0: the start).
    good: usize,
    /// The refs the route holds now.
    refs: Vec<Value>,
    /// The revision of the start state (known after the first write).
    start_revision: Option<u64>,
    /// The revision of the last good step.
    good_revision: Option<u64>,
    /// The route as last written.
    object: Option<Value>,
}

impl Walk<'_> {
    fn resume_command(&self) -> String {
        let mut s = format!("kubectl mesh shift {}", self.c.service);
        for (v, p) in &self.req.weights {
            s.push_str(&format!(" {v}={p}"));
        }
        s.push_str(&format!(" --step {} -n {}", self.step, self.ns));
        s
    }

    /// Write one split (`expect` → `target`), recorded with `suffix` on the command.
    async fn write(
        &self,
        expect: &[Value],
        target: &[Value],
        at_step: usize,
        skip_ready: bool,
        suffix: &str,
    ) -> Result<(Value, Option<mesh_core::route::Recorded>)> {
        let split = SplitRequest {
            service: self.c.service.to_string(),
            kind: self.steps.kind,
            route_name: self.steps.route_name.clone(),
            expect: expect.to_vec(),
            target: target.to_vec(),
            force: self.req.force,
            skip_ready,
            at_step,
        };
        let recorded = std::cell::RefCell::new(None);
        let written = plan_and_write(
            self.cluster,
            self.ns,
            self.c.service,
            self.opts,
            self.stop,
            with_history(self.c.meta(suffix), &recorded, |snap| plan_split(snap, &split)),
        )
        .await?;
        let object = written.object.unwrap_or_else(|| written.plan.edit.route.clone());
        Ok((object, recorded.into_inner()))
    }

    fn where_text(&self, at: &At) -> String {
        let n = self.steps.steps.len();
        let percents = if at.good == 0 {
            &self.steps.start.percents
        } else {
            &self.steps.steps[at.good - 1].percents
        };
        format!(
            "{}/{} stays at step {}/{n}: {}{}",
            self.steps.kind.singular(),
            self.steps.route_name,
            at.good,
            split_text(self.steps, percents),
            at.good_revision.map(|r| format!(", revision {r}")).unwrap_or_default()
        )
    }

    fn hint(&self, at: &At) -> String {
        let mut h = String::new();
        if let Some(r0) = at.start_revision {
            h.push_str(&format!(
                "go back with: {}; ",
                self.c.undo_command(self.ns, self.steps.kind, Some(r0))
            ));
        }
        h.push_str(&format!("resume with: {}", self.resume_command()));
        h
    }

    fn interrupted(&self, signal: i32, at: &At, written_unconfirmed: Option<usize>) -> MeshError {
        let detail = match written_unconfirmed {
            Some(k) => format!(
                "step {k}/{} was written but not confirmed; nothing more was written; the last accepted step is {}",
                self.steps.steps.len(),
                at.good
            ),
            None => format!("{}; nothing more was written", self.where_text(at)),
        };
        MeshError::Interrupted {
            signal,
            detail,
            hint: Some(self.hint(at)),
        }
    }

    /// Stop at the last good step: `--rollback-on-failure` returns to the start first.
    async fn fail(&self, progress: &StepProgress, at: &mut At, why: String) -> MeshError {
        let mut message = why;
        if self.c.wait.rollback_on_failure && at.good > 0 && self.stop.signalled().is_none() {
            let suffix = " (automatic rollback to the start of the progressive shift)";
            match self
                .write(&at.refs.clone(), &self.steps.start.refs, at.good, true, suffix)
                .await
            {
                Ok((object, _)) => {
                    at.good = 0;
                    at.refs = self.steps.start.refs.clone();
                    at.good_revision = at.start_revision;
                    at.object = Some(object);
                    let line = format!(
                        "{}/{} rolled back to the start: {}",
                        self.steps.kind.qualified(),
                        self.steps.route_name,
                        split_text(self.steps, &self.steps.start.percents)
                    );
                    progress.event(&line);
                    let _ = self.c.ctx.out.print(&format!("{line}\n"));
                }
                Err(e) => message.push_str(&format!("; the rollback to the start failed: {e}")),
            }
        }
        progress.finish();
        MeshError::StepsStopped {
            message: format!("{message}; {}", self.where_text(at)),
            hint: self.hint(at),
        }
    }

    async fn run(&self) -> Result<u8> {
        let ctx = self.c.ctx;
        let steps = self.steps;
        let n = steps.steps.len();
        let kind = steps.kind;
        let progress = StepProgress::new(&ctx.out, n);
        let mut at = At {
            good: 0,
            refs: steps.start.refs.clone(),
            start_revision: None,
            good_revision: None,
            object: None,
        };
        let timeout = self.c.wait.timeout();
        for s in &steps.steps {
            let k = s.step;
            if let Some(signal) = self.stop.signalled() {
                progress.finish();
                return Err(self.interrupted(signal, &at, None));
            }
            progress.status(&format!("writing step {k}/{n}: {}", split_text(steps, &s.percents)));
            let (object, recorded) = match self
                .write(&at.refs, &s.refs, k - 1, false, &format!(" (step {k}/{n})"))
                .await
            {
                Ok(w) => w,
                Err(MeshError::Kube(mesh_kube::KubeError::Interrupted { signal })) => {
                    progress.finish();
                    return Err(self.interrupted(signal, &at, None));
                }
                Err(MeshError::Plan(e)) => {
                    let why = format!("step {k}/{n} not taken: {e}");
                    let hint = e.hint();
                    let mut err = self.fail(&progress, &mut at, why).await;
                    if let (MeshError::StepsStopped { hint: h, .. }, Some(extra)) = (&mut err, hint) {
                        *h = format!("{extra}; {h}");
                    }
                    return Err(err);
                }
                Err(e) => {
                    progress.finish();
                    return Err(e);
                }
            };
            if let Some(r) = &recorded {
                if at.start_revision.is_none() {
                    at.start_revision = r.previous;
                    at.good_revision = r.previous;
                }
            }
            let generation = object
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            progress.event(&format!(
                "step {k}/{n}: {} ({}/{} configured, generation {generation})",
                split_text(steps, &s.percents),
                kind.qualified(),
                steps.route_name
            ));
            at.refs = s.refs.clone();
            at.object = Some(object.clone());
            progress.status(&format!("step {k}/{n}: waiting for acceptance"));
            let judged = judge(
                self.cluster,
                self.c.service,
                kind,
                &object,
                timeout,
                self.stop,
                &mut |why| progress.status(&format!("step {k}/{n}: waiting: {why}")),
            )
            .await?;
            match judged {
                Judged::Accepted { controller, notes, .. } => {
                    at.good = k;
                    at.good_revision = recorded.as_ref().map(|r| r.revision);
                    progress.set_step(k);
                    progress.event(&format!("step {k}/{n}: accepted by {controller}"));
                    for note in notes {
                        ctx.out.info(&format!("warning: {note} (kubectl mesh doctor explains)"));
                    }
                }
                Judged::Interrupted { signal } => {
                    progress.finish();
                    return Err(self.interrupted(signal, &at, Some(k)));
                }
                Judged::Gone => {
                    progress.finish();
                    return Err(MeshError::StepsStopped {
                        message: format!(
                            "{}/{} was deleted or replaced during step {k}/{n}",
                            kind.singular(),
                            steps.route_name
                        ),
                        hint: format!("see what is there now: kubectl get {} -n {}", kind.plural(), self.ns),
                    });
                }
                Judged::Failed { reason, short } => {
                    // The step's effect is unknown or refused: back to the last accepted split.
                    let back_to = if at.good == 0 {
                        steps.start.refs.clone()
                    } else {
                        steps.steps[at.good - 1].refs.clone()
                    };
                    let mut why = format!("step {k}/{n}: {reason}");
                    if self.stop.signalled().is_none() {
                        let suffix = format!(" (revert of step {k}/{n}: {short})");
                        match self.write(&s.refs, &back_to, k, true, &suffix).await {
                            Ok((object, _)) => {
                                at.refs = back_to;
                                at.object = Some(object.clone());
                                let line = format!(
                                    "step {k}/{n} reverted to step {}/{n} ({})",
                                    at.good,
                                    split_text(
                                        steps,
                                        if at.good == 0 {
                                            &steps.start.percents
                                        } else {
                                            &steps.steps[at.good - 1].percents
                                        }
                                    )
                                );
                                progress.event(&line);
                                match judge(
                                    self.cluster,
                                    self.c.service,
                                    kind,
                                    &object,
                                    timeout,
                                    self.stop,
                                    &mut |_| {},
                                )
                                .await?
                                {
                                    Judged::Accepted { .. } => progress.event("the revert was accepted"),
                                    Judged::Failed { reason, .. } => {
                                        why.push_str(&format!("; the revert is not accepted either: {reason}"))
                                    }
                                    _ => {}
                                }
                            }
                            Err(e) => {
                                at.refs = s.refs.clone();
                                why.push_str(&format!("; reverting it failed: {e}"));
                            }
                        }
                    }
                    return Err(self.fail(&progress, &mut at, why).await);
                }
            }
            if k < n && !self.interval.is_zero() {
                let line = format!("waiting {} before step {}/{n}", format_duration(self.interval), k + 1);
                if ctx.out.fancy_progress() {
                    progress.status(&line);
                } else {
                    progress.event(&line);
                }
                tokio::select! {
                    signal = self.stop.wait() => {
                        progress.finish();
                        return Err(self.interrupted(signal, &at, None));
                    }
                    _ = tokio::time::sleep(self.interval) => {}
                }
            }
        }
        progress.finish();
        let text = match ctx.out.format {
            OutputFormat::Json | OutputFormat::Yaml => to_format(
                &printable(
                    at.object.as_ref().unwrap_or(&Value::Null),
                    self.c.patch.show_managed_fields,
                ),
                ctx.out.format,
            )?,
            _ => format!(
                "{}/{} configured in {n} step{}{}\n\n{}",
                kind.qualified(),
                steps.route_name,
                if n == 1 { "" } else { "s" },
                match (at.start_revision, at.good_revision) {
                    (Some(a), Some(b)) => format!(", revisions {}–{b}", a + 1),
                    _ => String::new(),
                },
                render_shares_table(&steps.last.before, &steps.last.after)
            ),
        };
        ctx.out.print(&text)?;
        Ok(0)
    }
}
