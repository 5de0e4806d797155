//! `--wait`: follow one route until the mesh controller's status for our Service parent judges the generation we
//! wrote ([`mesh_core::route::judge_route_status`]), the deadline passes, or a signal stops us.
//!
//! The answer to our write is judged first (it may already carry the status); then the route is watched from
//! that answer's resourceVersion (fieldSelector on its name), each event judged, the watch re-established when the
//! server ends it or answers 410 (after a GET); where watching is forbidden, a GET every second.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::Cluster;
use crate::error::{KubeError, Result};
use crate::stop::Stop;
use mesh_core::route::{judge_route_status, RouteKind, Verdict};

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Accepted or rejected at the generation.
    Judged(Verdict),
    /// The deadline passed; the last reason it was pending.
    NotConfirmed { last: String },
    /// A signal stopped the wait.
    Interrupted { signal: i32 },
    /// The route was deleted or replaced by another object of the same name.
    Gone,
}

/// What to follow.
#[derive(Debug, Clone)]
pub struct WaitFor<'a> {
    pub kind: RouteKind,
    pub namespace: &'a str,
    pub name: &'a str,
    /// The parent Service.
    pub service: &'a str,
    /// The generation written.
    pub generation: i64,
}

fn rv_of(v: &Value) -> String {
    v.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn uid_of(v: &Value) -> Option<String> {
    v.pointer("/metadata/uid").and_then(Value::as_str).map(str::to_string)
}

/// Follow the route from `written` (our write's answer, or the route as read for a no-op) until judged.
/// `progress` gets each new pending reason.
pub async fn wait_route_accepted(
    cluster: &Cluster,
    what: &WaitFor<'_>,
    written: &Value,
    deadline: Instant,
    stop: &Stop,
    mut progress: impl FnMut(&str),
) -> Result<WaitOutcome> {
    let res = what.kind.res();
    let uid = uid_of(written);
    let mut last = String::new();
    let mut judge = |obj: &Value, last: &mut String| -> Option<WaitOutcome> {
        if uid.is_some() && uid_of(obj).is_some() && uid_of(obj) != uid {
            return Some(WaitOutcome::Gone);
        }
        match judge_route_status(obj, what.service, what.generation) {
            Verdict::Pending(why) => {
                if why != *last {
                    progress(&why);
                    *last = why;
                }
                None
            }
            v => Some(WaitOutcome::Judged(v)),
        }
    };
    if let Some(done) = judge(written, &mut last) {
        return Ok(done);
    }
    let until = tokio::time::Instant::from_std(deadline);
    let mut rv = rv_of(written);
    let mut poll = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(WaitOutcome::NotConfirmed { last });
        }
        if poll {
            tokio::select! {
                s = stop.wait() => return Ok(WaitOutcome::Interrupted { signal: s }),
                _ = tokio::time::sleep_until(until) => return Ok(WaitOutcome::NotConfirmed { last }),
                _ = tokio::time::sleep(Duration::from_secs(1).min(left)) => {}
            }
            let obj = tokio::select! {
                s = stop.wait() => return Ok(WaitOutcome::Interrupted { signal: s }),
                r = cluster.get_opt(res, Some(what.namespace), what.name) => r?,
            };
            match obj {
                None => return Ok(WaitOutcome::Gone),
                Some(obj) => {
                    if let Some(done) = judge(&obj, &mut last) {
                        return Ok(done);
                    }
                }
            }
            continue;
        }
        let timeout_secs = left.as_secs().clamp(1, 60);
        let opened = tokio::select! {
            s = stop.wait() => return Ok(WaitOutcome::Interrupted { signal: s }),
            r = cluster.watch_one(res, Some(what.namespace), what.name, &rv, timeout_secs) => r,
        };
        let mut stream = match opened {
            Ok(s) => s,
            Err(KubeError::Forbidden { .. }) | Err(KubeError::Api { code: 405, .. }) => {
                cluster.log(2, || format!("cannot watch {}; polling every second", res.qualified()));
                poll = true;
                continue;
            }
            Err(KubeError::Api { code: 410, .. }) => {
                rv = String::new();
                continue;
            }
            Err(e) => return Err(e),
        };
        loop {
            let ev = tokio::select! {
                s = stop.wait() => return Ok(WaitOutcome::Interrupted { signal: s }),
                _ = tokio::time::sleep_until(until) => return Ok(WaitOutcome::NotConfirmed { last }),
                ev = stream.next_event() => ev,
            };
            match ev {
                Ok(Some(ev)) => match ev.get("type").and_then(Value::as_str) {
                    Some("ADDED") | Some("MODIFIED") => {
                        if let Some(done) = judge(&ev["object"], &mut last) {
                            return Ok(done);
                        }
                    }
                    Some("DELETED") => return Ok(WaitOutcome::Gone),
                    Some("BOOKMARK") => {}
                    // ERROR (410 Gone: our resourceVersion is too old): read the route and watch from it.
                    _ => break,
                },
                // The server ended the watch or the stream broke: read the route, then watch again.
                Ok(None) | Err(_) => break,
            }
        }
        let obj = tokio::select! {
            s = stop.wait() => return Ok(WaitOutcome::Interrupted { signal: s }),
            r = cluster.get_opt(res, Some(what.namespace), what.name) => r?,
        };
        match obj {
            None => return Ok(WaitOutcome::Gone),
            Some(obj) => {
                rv = rv_of(&obj);
                if let Some(done) = judge(&obj, &mut last) {
                    return Ok(done);
                }
            }
        }
    }
}
