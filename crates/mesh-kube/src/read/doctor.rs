//! Reading doctor's snapshot: one paginated LIST per kind and namespace in scope, at most 8 at a time, decoded
//! page by page into the small model doctor checks (never a whole list of JSON held at once), each
//! failure recorded per kind (a forbidden list makes its checks `skipped`, never a crash). Only an unreachable
//! server, a timeout or rejected credentials abort: nothing can be checked then.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cluster::{Cluster, ListParams, PageSink};
use crate::error::{KubeError, Result};
use mesh_core::doctor::{Input, Kind, ListFailure, Scope, Snapshot, SnapshotDecoder, Unavailable};
use mesh_core::wire::ListMeta;

const PARALLEL_LISTS: usize = 8;

/// Feeds one LIST's pages of `kind` into a decoder of its own.
struct KindSink {
    kind: Kind,
    decoder: SnapshotDecoder,
}

impl PageSink for KindSink {
    fn page(&mut self, body: &[u8]) -> std::result::Result<ListMeta, serde_json::Error> {
        Ok(self.decoder.push(self.kind, Input::Page(body))?.unwrap_or_default())
    }

    fn restart(&mut self) {
        self.decoder.clear(self.kind);
    }
}

/// LIST every kind doctor needs within `scope`, decoding each page as it arrives (while the next one is
/// fetched, see [`Cluster::list_pages`]), so the JSON is never held beyond two pages per LIST in flight.
pub async fn read_snapshot(cluster: &Cluster, scope: &Scope) -> Result<Snapshot> {
    let limit = Arc::new(Semaphore::new(PARALLEL_LISTS));
    let mut tasks = JoinSet::new();
    for kind in Kind::ALL {
        for req in kind.list_requests(scope) {
            let cluster = cluster.clone();
            let limit = limit.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let params = ListParams {
                    field_selector: kind.field_selector().map(str::to_string),
                    ..Default::default()
                };
                let sink = KindSink {
                    kind,
                    decoder: SnapshotDecoder::default(),
                };
                let result = cluster
                    .list_pages(kind.res(), req.namespace.as_deref(), &params, sink)
                    .await;
                (kind, req.namespace, result.map(|(_, sink)| sink.decoder))
            });
        }
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (kind, namespace, result) = joined.map_err(|source| KubeError::Task {
            context: "reading the cluster",
            source,
        })?;
        // Nothing can be checked when the server is unreachable or rejects us: stop at once.
        if let Err(e @ (KubeError::Unreachable { .. } | KubeError::Timeout { .. } | KubeError::Unauthorized { .. })) =
            result
        {
            tasks.abort_all();
            return Err(e);
        }
        results.push((kind, namespace, result));
    }
    // Deterministic merge order, whatever order the answers came in.
    results.sort_by(|a, b| (a.0 as u8, &a.1).cmp(&(b.0 as u8, &b.1)));
    let mut snapshot = SnapshotDecoder::default();
    for (kind, namespace, result) in results {
        match result {
            Ok(decoder) => snapshot.merge(decoder),
            Err(KubeError::Forbidden { .. }) => {
                snapshot.fail(kind, Unavailable::forbidden_list(kind, namespace.as_deref()))
            }
            Err(KubeError::NotServed { .. }) => snapshot.fail(kind, Unavailable::NotServed),
            Err(e) => snapshot.fail(kind, Unavailable::Failed(ListFailure::new(e))),
        }
    }
    Ok(snapshot.finish().with_scope(scope.clone()))
}
