//! `kubectl mesh doctor`: find why requests in an Istio + Gateway API mesh fail.
//!
//! Pure: `mesh_kube::read::doctor` lists each [`Kind`] once per namespace in scope and feeds every page to a
//! [`SnapshotDecoder`], which keeps only what the checks read (tests build the same [`Snapshot`] from
//! [`RawLists`] with [`Snapshot::from_raw`]); [`run_checks`] turns the snapshot into [`Finding`]s, which
//! [`render_table`] / [`render_json`] render and `recover` acts on.

pub mod certs;
mod checks;
pub mod cross;
pub mod deep;
pub mod files;
pub mod finding;
pub mod model;
pub mod raw;
pub mod registry;
mod render;
pub mod suppress;
pub mod symptom;

pub use checks::CHECKS;
pub use finding::{Category, Change, Finding, Fix, OwnerKind, ResourceRef, Status, Suppressed};
pub use model::{Input, PodOwner, Snapshot, SnapshotDecoder, SnapshotSource};
pub use raw::{Kind, ListFailure, ListRequest, RawLists, Scope, Unavailable};
pub use registry::{CheckInfo, Offline, Run};
pub use render::{render_check_list, render_json, render_short, render_table, report, report_fail_on, success, FailOn};

use jiff::Timestamp;

/// "1 object", "3 objects".
pub(crate) fn checks_plural(n: usize, word: &str) -> String {
    checks::plural(n, word)
}

/// The entry of check `id`.
pub fn check_info(id: &str) -> Option<&'static CheckInfo> {
    CHECKS.iter().find(|c| c.id == id)
}

/// Run every check on `snapshot` in [`CHECKS`] order, except the opt-in ones ([`CheckInfo::opt_in`]:
/// `stale-sidecar-cert-deep` needs `--deep` and IO of its own). `now` only feeds ages in messages, keeping output
/// deterministic.
pub fn run_checks(snapshot: &Snapshot, now: Timestamp) -> Vec<Finding> {
    checks::run_selected(snapshot, now, |_| true)
}

/// Run only the checks `wanted` selects (ids of [`CHECKS`]; opt-in checks are never run here).
pub fn run_some(snapshot: &Snapshot, now: Timestamp, wanted: &[&str]) -> Vec<Finding> {
    checks::run_selected(snapshot, now, |c| wanted.contains(&c.id))
}
