//! Reading doctor's snapshot: one paginated LIST per kind and namespace in scope, at most 8 at a time, each
//! failure recorded per kind (a forbidden list makes its checks `skipped`, never a crash). Only an unreachable
//! server, a timeout or rejected credentials abort: nothing can be checked then.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cluster::{Cluster, ListParams, Res};
use crate::doctor::{Kind, RawLists, Scope, Unavailable};
use crate::error::{MeshError, Result};

const PARALLEL_LISTS: usize = 8;

fn res_of(kind: Kind) -> Res {
    Res {
        group: kind.group(),
        version: kind.version(),
        plural: kind.plural(),
        kind: kind.kind_name(),
        namespaced: kind.namespaced(),
    }
}

/// LIST every kind doctor needs within `scope`.
pub async fn read_raw_lists(cluster: &Cluster, scope: &Scope) -> Result<RawLists> {
    let limit = Arc::new(Semaphore::new(PARALLEL_LISTS));
    let mut tasks = JoinSet::new();
    for kind in Kind::ALL {
        for req in kind.list_requests(scope) {
            let cluster = cluster.clone();
            let limit = limit.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let res = res_of(kind);
                let params = ListParams {
                    field_selector: kind.field_selector().map(str::to_string),
                    ..Default::default()
                };
                let result = cluster.list(&res, req.namespace.as_deref(), &params).await;
                (kind, req.namespace, result)
            });
        }
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (kind, namespace, result) =
            joined.map_err(|e| MeshError::io("reading the cluster", std::io::Error::other(e)))?;
        // Nothing can be checked when the server is unreachable or rejects us: stop at once.
        if let Err(e @ (MeshError::Unreachable { .. } | MeshError::Timeout { .. } | MeshError::Unauthorized { .. })) =
            result
        {
            tasks.abort_all();
            return Err(e);
        }
        results.push((kind, namespace, result));
    }
    // Deterministic merge order, whatever order the answers came in.
    results.sort_by(|a, b| (a.0 as u8, &a.1).cmp(&(b.0 as u8, &b.1)));
    let mut raw = RawLists::new();
    for (kind, namespace, result) in results {
        let entry = match result {
            Ok(list) => Ok(list.items),
            Err(MeshError::Forbidden { .. }) => Err(Unavailable::forbidden_list(kind, namespace.as_deref())),
            Err(MeshError::NotServed { .. }) => Err(Unavailable::NotServed),
            Err(e) => Err(Unavailable::Failed(e.to_string())),
        };
        raw.merge(kind, entry);
    }
    Ok(raw)
}
