//! Reading doctor's snapshot: one paginated LIST per kind and namespace in scope, at most 8 at a time, decoded
//! page by page into the small model doctor checks (never a whole list of JSON held at once), each
//! failure recorded per kind (a forbidden list makes its checks `skipped`, never a crash). Only an unreachable
//! server, a timeout or rejected credentials abort: nothing can be checked then.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cluster::{Cluster, ListParams, PageSink};
use crate::error::{KubeError, Result};
use mesh_core::doctor::{Input, Kind, ListFailure, RawLists, Scope, Snapshot, SnapshotDecoder, Unavailable};
use mesh_core::wire::{ListMeta, Page};

const PARALLEL_LISTS: usize = 8;

/// Feeds one LIST's pages of `kind` into a decoder of its own; with `raw`, also keeps the items as JSON.
struct KindSink {
    kind: Kind,
    decoder: SnapshotDecoder,
    raw: Option<Vec<Value>>,
}

impl PageSink for KindSink {
    fn page(&mut self, body: &[u8]) -> std::result::Result<ListMeta, serde_json::Error> {
        match &mut self.raw {
            None => Ok(self.decoder.push(self.kind, Input::Page(body))?.unwrap_or_default()),
            Some(raw) => {
                let page: Page<Value> = serde_json::from_slice(body)?;
                let _ = self.decoder.push(self.kind, Input::Items(&page.items));
                raw.extend(page.items);
                Ok(page.metadata)
            }
        }
    }

    fn restart(&mut self) {
        self.decoder.clear(self.kind);
        if let Some(raw) = &mut self.raw {
            raw.clear();
        }
    }
}

/// LIST every kind doctor needs within `scope`, decoding each page as it arrives (while the next one is
/// fetched, see [`Cluster::list_pages`]), so the JSON is never held beyond two pages per LIST in flight.
pub async fn read_snapshot(cluster: &Cluster, scope: &Scope) -> Result<Snapshot> {
    Ok(read_snapshot_keeping(cluster, scope, &BTreeSet::new()).await?.0)
}

/// [`read_snapshot`], also keeping the items of the kinds in `keep` as JSON (the same LISTs: nothing more is
/// requested). `doctor -f` needs them to put the files' objects in place of the live ones.
pub async fn read_snapshot_keeping(
    cluster: &Cluster,
    scope: &Scope,
    keep: &BTreeSet<Kind>,
) -> Result<(Snapshot, RawLists)> {
    let limit = Arc::new(Semaphore::new(PARALLEL_LISTS));
    let mut tasks = JoinSet::new();
    for kind in Kind::ALL {
        for req in kind.list_requests(scope) {
            let cluster = cluster.clone();
            let limit = limit.clone();
            let keep_raw = keep.contains(&kind);
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let params = ListParams {
                    field_selector: kind.field_selector().map(str::to_string),
                    ..Default::default()
                };
                let sink = KindSink {
                    kind,
                    decoder: SnapshotDecoder::default(),
                    raw: keep_raw.then(Vec::new),
                };
                let result = cluster
                    .list_pages(kind.res(), req.namespace.as_deref(), &params, sink)
                    .await;
                (kind, req.namespace, result.map(|(_, sink)| (sink.decoder, sink.raw)))
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
    let mut raw = RawLists::new();
    for (kind, namespace, result) in results {
        let why = match result {
            Ok((decoder, items)) => {
                snapshot.merge(decoder);
                if let Some(items) = items {
                    raw.merge(kind, Ok(items));
                }
                continue;
            }
            Err(KubeError::Forbidden { .. }) => Unavailable::forbidden_list(kind, namespace.as_deref()),
            Err(KubeError::NotServed { .. }) => Unavailable::NotServed,
            Err(e) => Unavailable::Failed(ListFailure::new(e)),
        };
        if keep.contains(&kind) {
            raw.merge(kind, Err(why.clone()));
        }
        snapshot.fail(kind, why);
    }
    Ok((snapshot.finish().with_scope(scope.clone()), raw))
}
