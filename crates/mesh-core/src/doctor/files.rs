//! `doctor -f PATH...`: checks on manifests.
//!
//! - Offline ([`run_offline`]): the files alone. Checks that read only specs and labels run (each declares it,
//!   [`super::CheckInfo::offline`]); the others are listed as skipped "needs a cluster". The snapshot is
//!   incomplete ([`super::SnapshotSource::Files`]): a reference to an object not in the files is unverified, never
//!   an error.
//! - Overlay ([`overlay`] + [`diff`]): the files' objects in place of the live ones of the same kind, namespace
//!   and name (taking the live object's `status` and `creationTimestamp`, since applying a spec changes neither
//!   until a controller acts), checks run before and after, and every finding says what the files change:
//!   `introduced`, `fixed` or `unchanged`. Only an introduced error fails the run: a pre-apply check for CI.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::Value;

use super::finding::{Change, Finding, Status};
use super::model::{Snapshot, SnapshotSource};
use super::raw::{Kind, RawLists};
use super::{run_checks, Offline, CHECKS};
use crate::manifest::FileSet;

/// The skipped line of a check that reads live state.
pub const NEEDS_CLUSTER: &str = "needs a cluster (--offline)";

/// Run the checks that make sense on manifests; list the others as skipped. Findings name `file:line`.
pub fn run_offline(files: &FileSet, now: Timestamp) -> Vec<Finding> {
    let snapshot = files.snapshot();
    let all = run_checks(&snapshot, now);
    let mut out = files.duplicate_findings();
    for c in CHECKS {
        match c.offline {
            Offline::NeedsCluster if !c.opt_in() => {
                out.push(Finding::skipped(c.id, c.category, format!("{}: {NEEDS_CLUSTER}", c.id)));
            }
            Offline::Runs => out.extend(all.iter().filter(|f| f.id == c.id).cloned()),
            _ => {}
        }
    }
    files.index().annotate(&mut out);
    out
}

fn key_of(v: &Value) -> (String, String) {
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    (s("/metadata/namespace"), s("/metadata/name"))
}

/// Put the files' objects in place of the live ones in `snapshot` (in place: no second copy of the cluster).
/// `live` holds the raw live items of the kinds the files have; a kind whose live list could not be read stays as
/// it was (its checks say why).
pub fn overlay(snapshot: &mut Snapshot, live: &RawLists, files: &FileSet) {
    for kind in files.kinds() {
        let Ok(items) = live.get(kind) else { continue };
        let mine: BTreeMap<(String, String), &Value> = files
            .objects
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| (key_of(&o.value), &o.value))
            .collect();
        let by_key: BTreeMap<(String, String), &Value> = items.iter().map(|v| (key_of(v), v)).collect();
        let mut merged: Vec<Value> = items
            .iter()
            .filter(|v| !mine.contains_key(&key_of(v)))
            .cloned()
            .collect();
        for (key, obj) in &mine {
            let mut v = (*obj).clone();
            if let Some(map) = v.as_object_mut() {
                map.remove("status");
            }
            if let Some(current) = by_key.get(key) {
                // The live status describes the live spec. When the files change the spec, the API server bumps
                // the generation and the controller judges the new spec afresh: its old verdict (a route's
                // ResolvedRefs about a backend the files no longer name) says nothing about the files.
                let same_spec = current.get("spec") == v.get("spec");
                if let Some(status) = current.get("status").filter(|_| same_spec) {
                    v["status"] = status.clone();
                }
                if let Some(generation) = current.pointer("/metadata/generation").and_then(Value::as_i64) {
                    v["metadata"]["generation"] = Value::from(if same_spec { generation } else { generation + 1 });
                }
                if let Some(created) = current.pointer("/metadata/creationTimestamp") {
                    v["metadata"]["creationTimestamp"] = created.clone();
                }
                // Pods keep their owner: the files describe the spec, the controller keeps owning it.
                if let Some(owners) = current.pointer("/metadata/ownerReferences") {
                    if v.pointer("/metadata/ownerReferences").is_none() {
                        v["metadata"]["ownerReferences"] = owners.clone();
                    }
                }
            }
            merged.push(v);
        }
        let mut one = RawLists::new();
        one.insert(kind, Ok(merged));
        snapshot.replace_kind(kind, Snapshot::from_raw(&one));
    }
    snapshot.source = SnapshotSource::Overlay;
}

/// The kinds whose raw live items [`overlay`] needs.
pub fn overlay_kinds(files: &FileSet) -> BTreeSet<Kind> {
    files.kinds()
}

fn is_problem(f: &Finding) -> bool {
    matches!(f.status, Status::Error | Status::Warning)
}

fn severity(s: Status) -> u8 {
    match s {
        Status::Error => 2,
        Status::Warning => 1,
        _ => 0,
    }
}

/// What identifies a finding across the two runs: check id and the objects it names (never file positions).
fn loose_key(f: &Finding) -> (String, Vec<(String, Option<String>, String)>) {
    let mut r: Vec<(String, Option<String>, String)> = f
        .resources
        .iter()
        .map(|r| (r.kind.clone(), r.namespace.clone(), r.name.clone()))
        .collect();
    r.sort();
    r.dedup();
    (f.id.to_string(), r)
}

/// Mark every finding of the run on the files with what the files change, and add the live problems they fix.
/// Problems are paired first by id, objects and message, then by id and objects (a message may change with a
/// count); a problem without a pair in the live run is introduced, a live problem without a pair is fixed.
pub fn diff(live: Vec<Finding>, after: Vec<Finding>) -> Vec<Finding> {
    let mut live_problems: Vec<Option<Finding>> = live.into_iter().filter(is_problem).map(Some).collect();
    let mut out: Vec<Finding> = after;
    let mut matched = vec![false; out.len()];
    let mut worse = vec![false; out.len()];
    // Pass 1: same message; pass 2: same objects.
    for exact in [true, false] {
        for i in 0..out.len() {
            if matched[i] || !is_problem(&out[i]) {
                continue;
            }
            let f = &out[i];
            let found = live_problems.iter().position(|l| {
                l.as_ref()
                    .is_some_and(|l| loose_key(l) == loose_key(f) && (!exact || l.message == f.message))
            });
            if let Some(l) = found.and_then(|j| live_problems[j].take()) {
                matched[i] = true;
                worse[i] = severity(f.status) > severity(l.status);
            }
        }
    }
    for (i, f) in out.iter_mut().enumerate() {
        f.change = Some(if is_problem(f) && (!matched[i] || worse[i]) {
            Change::Introduced
        } else {
            Change::Unchanged
        });
    }
    // Fixed problems go right after the findings of their check.
    for fixed in live_problems.into_iter().flatten() {
        let mut f = fixed;
        f.change = Some(Change::Fixed);
        let at = out.iter().rposition(|o| o.id == f.id).map_or(out.len(), |p| p + 1);
        out.insert(at, f);
    }
    out
}

/// Whether an overlay run passes: no error the files introduce.
pub fn overlay_success(findings: &[Finding], fail_on: super::FailOn) -> bool {
    !findings
        .iter()
        .any(|f| f.change == Some(Change::Introduced) && fail_on.fails(f.status))
}

/// "the files introduce 1 error and fix 2 problems".
pub fn overlay_summary(findings: &[Finding]) -> String {
    let introduced = |s: Status| {
        findings
            .iter()
            .filter(|f| f.change == Some(Change::Introduced) && f.status == s)
            .count()
    };
    let (errors, warnings) = (introduced(Status::Error), introduced(Status::Warning));
    let fixed = findings.iter().filter(|f| f.change == Some(Change::Fixed)).count();
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(super::checks::plural(errors, "error"));
    }
    if warnings > 0 {
        parts.push(super::checks::plural(warnings, "warning"));
    }
    let introduced = if parts.is_empty() {
        "introduce no problem".to_string()
    } else {
        format!("introduce {}", parts.join(" and "))
    };
    let fixed = match fixed {
        0 => String::new(),
        1 => " and fix 1 problem".to_string(),
        n => format!(" and fix {n} problems"),
    };
    format!("the files {introduced}{fixed}")
}

/// The `-o json|yaml` document of a run on files: doctor's report with `success` decided by `success`, the
/// `mode` (`offline` or `overlay`) and what each file held.
pub fn files_report(findings: &[Finding], mode: &str, files: &FileSet, success: bool) -> Value {
    let mut doc = super::report(findings);
    doc["success"] = Value::Bool(success);
    if let Some(map) = doc.as_object_mut() {
        map.insert("mode".into(), Value::from(mode));
        map.insert(
            "files".into(),
            serde_json::to_value(&files.files).unwrap_or(Value::Null),
        );
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{Category, ResourceRef};

    fn f(id: &'static str, status: Status, msg: &str, name: &str) -> Finding {
        Finding::new(id, Category::Routing, status, msg).with_resources(vec![ResourceRef::new("HTTPRoute", "ns", name)])
    }

    #[test]
    fn diff_marks_introduced_fixed_and_unchanged() {
        let live = vec![
            f("route-backend-missing", Status::Error, "a missing", "a"),
            f("route-backend-unready", Status::Error, "b: 3 pods", "b"),
            f("route-weights-zero", Status::Ok, "fine", "x"),
        ];
        let after = vec![
            f("route-backend-missing", Status::Error, "c missing", "c"),
            f("route-backend-unready", Status::Error, "b: 4 pods", "b"),
            f("route-weights-zero", Status::Ok, "fine", "x"),
        ];
        let out = diff(live, after);
        let got: Vec<(&str, Option<Change>)> = out.iter().map(|f| (f.resources[0].name.as_str(), f.change)).collect();
        assert_eq!(
            got,
            vec![
                ("c", Some(Change::Introduced)),
                ("a", Some(Change::Fixed)),
                ("b", Some(Change::Unchanged)),
                ("x", Some(Change::Unchanged)),
            ]
        );
    }

    #[test]
    fn two_findings_on_one_object_pair_by_message_first_and_a_worse_status_is_introduced() {
        let live = vec![
            f("route-backend-missing", Status::Error, "rules[0] v9", "r"),
            f("route-rule-shadowed", Status::Warning, "dup", "s"),
        ];
        let after = vec![
            f("route-backend-missing", Status::Error, "rules[1] v8", "r"),
            f("route-backend-missing", Status::Error, "rules[0] v9", "r"),
            f("route-rule-shadowed", Status::Error, "dup", "s"),
        ];
        let out = diff(live, after);
        let changes: Vec<(&str, Option<Change>)> = out.iter().map(|f| (f.message.as_str(), f.change)).collect();
        assert_eq!(
            changes,
            vec![
                ("rules[1] v8", Some(Change::Introduced)),
                ("rules[0] v9", Some(Change::Unchanged)),
                ("dup", Some(Change::Introduced)),
            ]
        );
        assert!(!overlay_success(&out, super::super::FailOn::Error));
        assert_eq!(overlay_summary(&out), "the files introduce 2 errors");
    }
}
