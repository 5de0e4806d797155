//! Writes, at the edge: read a fresh snapshot, plan, write with the resourceVersion that was read; on a 409
//! (another writer got there first) read again, plan again, and retry — bounded — so nobody's change is lost.
//!
//! Nothing is written when the plan is a no-op or `--dry-run=client`; `--dry-run=server` sends the same writes
//! with `dryRun=All`.

use serde_json::Value;

use crate::cluster::{Cluster, WriteOpts};
use crate::error::{KubeError, Result};
use crate::read::route::{load_plan_context, load_state, parent_port_supported};
use mesh_core::opts::DryRun;
use mesh_core::resource::{HTTPROUTES, SERVICES};
use mesh_core::route::{NamespaceState, RouteEdit, RouteSnapshot, WriteOutcome as Outcome};

/// How many times we re-read and re-plan after a conflict before giving up.
pub const MAX_WRITE_ATTEMPTS: u32 = 5;

/// The result of [`plan_and_write`]: the plan that was finally written, what the server returned, and what
/// happened.
pub struct Written<P> {
    pub plan: P,
    pub object: Option<Value>,
    pub outcome: Outcome,
}

/// Read → plan → write, retrying on conflicts. `plan` is pure and returns a plan holding its [`RouteEdit`] (its
/// error, say a `PlanError`, comes back as is in the caller's error type `E`).
pub async fn plan_and_write<P, E, F>(
    cluster: &Cluster,
    namespace: &str,
    service: &str,
    opts: &WriteOpts,
    mut plan: F,
) -> Result<Written<P>, E>
where
    P: AsRef<RouteEdit>,
    E: From<KubeError>,
    F: FnMut(&RouteSnapshot) -> Result<P, E>,
{
    // One round trip of reads, concurrently: the CRD (does parentRefs[].port exist?), the namespace's lists, and
    // the namespace and its Gateways (ambient mode and waypoints).
    let (port_supported, first_state, context) = tokio::join!(
        parent_port_supported(cluster),
        load_state(cluster, namespace),
        load_plan_context(cluster, namespace)
    );
    let port_supported = port_supported?;
    let mut first_state = Some(first_state?);
    // A retry after a conflict re-reads the routes (what changed); the namespace and its waypoints are kept.
    let (namespace_labels, gateways) = context?;
    let mut last_name = service.to_string();
    for attempt in 1..=MAX_WRITE_ATTEMPTS {
        let state: NamespaceState = match first_state.take() {
            Some(state) => state,
            None => load_state(cluster, namespace).await?,
        };
        let snapshot = RouteSnapshot {
            service: service.to_string(),
            state,
            parent_port_supported: port_supported,
            namespace_labels: namespace_labels.clone(),
            gateways: gateways.clone(),
        };
        let planned = plan(&snapshot)?;
        let w = planned.as_ref();
        last_name = w.route_name.clone();
        if w.noop {
            return Ok(Written {
                plan: planned,
                object: None,
                outcome: Outcome::Unchanged,
            });
        }
        if opts.dry_run == DryRun::Client {
            let object = Some(w.route.clone());
            return Ok(Written {
                plan: planned,
                object,
                outcome: Outcome::Planned,
            });
        }
        // The per-version Services the route needs, all in one round trip.
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
        let result = if w.create {
            cluster.create(&HTTPROUTES, Some(namespace), &w.route, opts).await
        } else {
            cluster
                .replace(&HTTPROUTES, Some(namespace), &w.route_name, &w.route, opts)
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
                });
            }
            Err(e) if e.is_conflict() || e.is_already_exists() => {
                cluster.log(2, || {
                    format!(
                        "httproute {namespace}/{} changed while we wrote it (attempt {attempt}); re-reading",
                        w.route_name
                    )
                });
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(E::from(KubeError::ConflictStorm {
        kind: "httproute".into(),
        name: last_name,
        attempts: MAX_WRITE_ATTEMPTS,
    }))
}
