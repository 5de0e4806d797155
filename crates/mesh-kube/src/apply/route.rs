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

/// How many conflicts that touch the traffic (the route's spec or its history changed, or nothing visible did) we
/// re-read and re-plan after before giving up.
pub const MAX_WRITE_ATTEMPTS: u32 = 5;

/// How many writes at most, counting conflicts caused only by other writers' metadata or status changes (labels,
/// annotations, a controller's status): those do not touch what we plan from, so they do not count towards
/// [`MAX_WRITE_ATTEMPTS`], but a route rewritten without end still ends the command.
pub const MAX_WRITES: u32 = 50;

/// What a conflict is judged by: the route's resourceVersion, spec and history annotation.
fn traffic_of(route: Option<&Value>) -> Option<(Option<&Value>, Option<&Value>, Option<&Value>)> {
    route.map(|r| {
        (
            r.pointer("/metadata/resourceVersion"),
            r.get("spec"),
            r.pointer("/metadata/annotations")
                .and_then(|a| a.get(mesh_core::route::HISTORY_ANNOTATION)),
        )
    })
}

/// Whether a conflict counts towards [`MAX_WRITE_ATTEMPTS`]: someone changed the traffic (spec or history), the
/// route appeared or went, or nothing visible changed at all (a 409 no write explains).
fn touches_traffic(before: Option<&Value>, after: Option<&Value>) -> bool {
    match (traffic_of(before), traffic_of(after)) {
        (Some((rv_a, spec_a, hist_a)), Some((rv_b, spec_b, hist_b))) => {
            rv_a == rv_b || spec_a != spec_b || hist_a != hist_b
        }
        _ => true,
    }
}

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
    // Conflicts that touched the traffic (see `touches_traffic`).
    let mut counted = 0u32;
    for attempt in 1..=MAX_WRITES {
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
                let before = snapshot.state.route_of(kind, &name).cloned();
                tokio::select! {
                    signal = stop.wait() => return Err(KubeError::Interrupted { signal }.into()),
                    read = reread_route(cluster, &mut snapshot, kind, &name) => read?,
                }
                if touches_traffic(before.as_ref(), snapshot.state.route_of(kind, &name)) {
                    counted += 1;
                }
                if counted >= MAX_WRITE_ATTEMPTS {
                    return Err(E::from(KubeError::ConflictStorm {
                        kind: kind.singular().into(),
                        name,
                        attempts: attempt,
                    }));
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(E::from(KubeError::ConflictStorm {
        kind: last.0.singular().into(),
        name: last.1,
        attempts: MAX_WRITES,
    }))
}

#[cfg(test)]
mod tests {
    use super::touches_traffic;
    use serde_json::json;

    fn route(rv: &str, weight: u32, history: Option<&str>, other: &str) -> serde_json::Value {
        let mut r = json!({"metadata": {"resourceVersion": rv, "annotations": {"e2e/other": other}},
            "spec": {"rules": [{"backendRefs": [{"name": "web-v1", "weight": weight}]}]}});
        if let Some(h) = history {
            r["metadata"]["annotations"]["mesh.kubectl.io/history"] = json!(h);
        }
        r
    }

    #[test]
    fn only_conflicts_about_the_traffic_count() {
        let before = route("10", 100, Some("h1"), "a");
        // Another writer's annotation (or a controller's status): not about the traffic.
        assert!(!touches_traffic(
            Some(&before),
            Some(&route("11", 100, Some("h1"), "b"))
        ));
        // The rules changed, or the history did (another kubectl-mesh): counted.
        assert!(touches_traffic(Some(&before), Some(&route("11", 50, Some("h1"), "a"))));
        assert!(touches_traffic(Some(&before), Some(&route("11", 100, Some("h2"), "a"))));
        assert!(touches_traffic(Some(&before), Some(&route("11", 100, None, "a"))));
        // A 409 that no write explains (same resourceVersion), or a route created or deleted meanwhile: counted.
        assert!(touches_traffic(Some(&before), Some(&before.clone())));
        assert!(touches_traffic(None, Some(&before)));
        assert!(touches_traffic(Some(&before), None));
    }
}
