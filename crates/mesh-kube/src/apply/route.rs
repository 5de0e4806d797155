//! Writes, at the edge: read a fresh snapshot, plan, write with the resourceVersion that was read; on a 409
//! (another writer got there first) read the route again (one GET: it is what changed), plan again, and retry —
//! bounded — so nobody's change is lost.
//!
//! Nothing is written when the plan is a no-op or `--dry-run=client`; `--dry-run=server` sends the same writes
//! with `dryRun=All`.

use serde_json::Value;

use crate::cluster::{Cluster, WriteOpts};
use crate::error::{KubeError, Result};
use crate::read::route::{load_plan_context, load_state, parent_port_supported};
use crate::stop::Stop;
use mesh_core::opts::DryRun;
use mesh_core::resource::SERVICES;
use mesh_core::route::{RouteEdit, RouteKind, RouteSnapshot, WriteOutcome as Outcome};

/// How many times we re-read and re-plan after a conflict before giving up.
pub const MAX_WRITE_ATTEMPTS: u32 = 5;

/// The result of [`plan_and_write`]: the plan that was finally written, what the server returned, and what
/// happened.
pub struct Written<P> {
    pub plan: P,
    /// The route as the server stored it (`None` for a no-op or `--dry-run=client`).
    pub object: Option<Value>,
    pub outcome: Outcome,
    /// Things the reads want said (`warning:` lines).
    pub warnings: Vec<String>,
}

/// Read what the planners need for `service` in `namespace` (one round trip, concurrently: the HTTPRoute CRD (does
/// parentRefs[].port exist?), the namespace's lists, and the namespace and its Gateways (ambient mode and
/// waypoints)).
pub async fn read_snapshot(cluster: &Cluster, namespace: &str, service: &str) -> Result<(RouteSnapshot, Vec<String>)> {
    let (port_supported, state, context) = tokio::join!(
        parent_port_supported(cluster),
        load_state(cluster, namespace),
        load_plan_context(cluster, namespace)
    );
    let port_supported = port_supported?;
    let (state, warnings) = state?;
    let (namespace_labels, gateways) = context?;
    Ok((
        RouteSnapshot {
            service: service.to_string(),
            state,
            parent_port_supported: port_supported,
            namespace_labels,
            gateways,
        },
        warnings,
    ))
}

/// Read and plan, and write nothing (`--emit-patch`): the snapshot the plan was made from, and the plan.
pub async fn plan_only<P, E, F>(
    cluster: &Cluster,
    namespace: &str,
    service: &str,
    plan: F,
) -> Result<(RouteSnapshot, P, Vec<String>), E>
where
    E: From<KubeError>,
    F: FnOnce(&RouteSnapshot) -> Result<P, E>,
{
    let (snapshot, warnings) = read_snapshot(cluster, namespace, service).await?;
    let planned = plan(&snapshot)?;
    Ok((snapshot, planned, warnings))
}

/// Re-read only the route a conflict was about: the other writer changed the route, not the Services, endpoints or
/// pods read a moment ago (which still back the safety checks). One GET instead of the namespace's lists keeps the
/// window between read and write short enough to win against a writer that patches many times a second.
async fn reread_route(cluster: &Cluster, snapshot: &mut RouteSnapshot, kind: RouteKind, name: &str) -> Result<()> {
    let ns = snapshot.state.namespace.clone();
    let fresh = cluster.get_opt(kind.res(), Some(&ns), name).await?.map(|mut r| {
        if r.get("kind").and_then(Value::as_str).is_none() {
            r["kind"] = Value::from(kind.kind());
        }
        r
    });
    snapshot.state.replace_route(kind, name, fresh);
    Ok(())
}

/// Read → plan → write, retrying on conflicts. `plan` is pure and returns a plan holding its [`RouteEdit`] (its
/// error, say a `PlanError`, comes back as is in the caller's error type `E`). `stop` is checked right before each
/// request that writes: after a signal nothing more is sent.
pub async fn plan_and_write<P, E, F>(
    cluster: &Cluster,
    namespace: &str,
    service: &str,
    opts: &WriteOpts,
    stop: &Stop,
    mut plan: F,
) -> Result<Written<P>, E>
where
    P: AsRef<RouteEdit>,
    E: From<KubeError>,
    F: FnMut(&RouteSnapshot) -> Result<P, E>,
{
    // One round trip of reads: the CRD (does parentRefs[].port exist?) and the namespace's lists, concurrently.
    // Reads are safe to abandon: a stop during them ends here.
    let (mut snapshot, warnings) = tokio::select! {
        signal = stop.wait() => return Err(KubeError::Interrupted { signal }.into()),
        read = read_snapshot(cluster, namespace, service) => read?,
    };
    let mut last = (RouteKind::Http, service.to_string());
    for attempt in 1..=MAX_WRITE_ATTEMPTS {
        let planned = plan(&snapshot)?;
        let w = planned.as_ref();
        last = (w.kind, w.route_name.clone());
        if w.noop {
            return Ok(Written {
                plan: planned,
                object: None,
                outcome: Outcome::Unchanged,
                warnings,
            });
        }
        if opts.dry_run == DryRun::Client {
            let object = Some(w.route.clone());
            return Ok(Written {
                plan: planned,
                object,
                outcome: Outcome::Planned,
                warnings,
            });
        }
        // The per-version Services the route needs, all in one round trip.
        if !w.services_to_create.is_empty() {
            stop.check()?;
            let created = futures::future::join_all(
                w.services_to_create
                    .iter()
                    .map(|svc| cluster.create(&SERVICES, Some(namespace), svc, opts)),
            )
            .await;
            for result in created {
                match result {
                    Ok(_) => {}
                    Err(e) if e.is_already_exists() => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        stop.check()?;
        let res = w.kind.res();
        let result = if w.create {
            cluster.create(res, Some(namespace), &w.route, opts).await
        } else {
            cluster
                .replace(res, Some(namespace), &w.route_name, &w.route, opts)
                .await
        };
        match result {
            Ok(object) => {
                let outcome = if w.create {
                    Outcome::Created
                } else {
                    Outcome::Configured
                };
                return Ok(Written {
                    plan: planned,
                    object: Some(object),
                    outcome,
                    warnings,
                });
            }
            Err(e) if e.is_conflict() || e.is_already_exists() => {
                cluster.log(2, || {
                    format!(
                        "{} {namespace}/{} changed while we wrote it (attempt {attempt}); re-reading it",
                        w.kind.singular(),
                        w.route_name
                    )
                });
                let (kind, name) = (w.kind, w.route_name.clone());
                tokio::select! {
                    signal = stop.wait() => return Err(KubeError::Interrupted { signal }.into()),
                    read = reread_route(cluster, &mut snapshot, kind, &name) => read?,
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(E::from(KubeError::ConflictStorm {
        kind: last.0.singular().into(),
        name: last.1,
        attempts: MAX_WRITE_ATTEMPTS,
    }))
}
