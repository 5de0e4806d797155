//! The traffic history of a mesh route, kept on the route itself in the annotation [`HISTORY_ANNOTATION`], written
//! in the same request as each traffic change (no extra request, atomic with the change).
//!
//! A revision is a *traffic state* (the default rule and the user rules, whole, as they stood) tagged with the
//! write that produced it — kubectl's model for `rollout history`, where a revision is a template plus its
//! change-cause. A write first appends the route's previous state when it is not already the newest entry (the
//! first write, or a change made by another tool since), then the new state. So undo always has the previous
//! state to go back to, states made by other tools are kept (with the manager and time their managedFields
//! give), and the newest entry is the current state. Numbers increase by one per state and are never reused, even
//! when old entries are dropped: the newest [`HISTORY_MAX_ENTRIES`] are kept, within [`HISTORY_MAX_BYTES`].
//!
//! Planned and stored forms of a rule differ by what the API server defaults (HTTP path matches, header match
//! types, backendRef group/kind/weight), so states compare through [`RouteKind::canonical_rule`].

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{backend_key, backend_weight, route_name, PlanError, RouteKind};

/// The annotation holding the history (JSON).
pub const HISTORY_ANNOTATION: &str = "mesh.kubectl.io/history";
/// Revisions kept.
pub const HISTORY_MAX_ENTRIES: usize = 10;
/// The most the annotation's value may take (bytes of compact JSON).
pub const HISTORY_MAX_BYTES: usize = 16 * 1024;
/// The format this version writes and reads.
const FORMAT_VERSION: u64 = 1;
/// Longest command recorded (characters).
const MAX_COMMAND_CHARS: usize = 256;

/// One rule at its position in `spec.rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexedRule {
    pub index: usize,
    pub rule: Value,
}

/// What undo restores: the default rule and the user rules, whole.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficState {
    pub default_rule: Option<IndexedRule>,
    #[serde(default)]
    pub user_rules: Vec<IndexedRule>,
}

impl TrafficState {
    /// The default rule's backendRefs (objects only).
    pub fn default_refs(&self) -> Vec<Value> {
        self.default_rule
            .as_ref()
            .and_then(|d| d.rule.get("backendRefs"))
            .and_then(Value::as_array)
            .map(|refs| refs.iter().filter(|r| r.is_object()).cloned().collect())
            .unwrap_or_default()
    }

    /// Same traffic: equal default-rule backendRefs (absent = none) and equal user rules at equal positions, once
    /// the API server's defaults are filled in on both sides.
    pub fn equivalent(&self, other: &TrafficState, kind: RouteKind) -> bool {
        let refs = |s: &TrafficState| -> Option<Value> {
            s.default_rule.as_ref().map(|d| {
                let canonical = kind
                    .canonical_rule(&json!({"backendRefs": d.rule.get("backendRefs").cloned().unwrap_or(json!([]))}));
                canonical["backendRefs"].clone()
            })
        };
        let users = |s: &TrafficState| -> Vec<(usize, Value)> {
            s.user_rules
                .iter()
                .map(|u| (u.index, kind.canonical_rule(&u.rule)))
                .collect()
        };
        refs(self) == refs(other) && users(self) == users(other)
    }
}

/// The traffic state of a route (its kind decides what the default and user rules are).
pub fn traffic_state(route: &Value) -> TrafficState {
    let kind = RouteKind::of(route);
    let rules = route
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let default = kind.default_rule_index(route);
    TrafficState {
        default_rule: default.map(|i| IndexedRule {
            index: i,
            rule: rules[i].clone(),
        }),
        user_rules: rules
            .iter()
            .enumerate()
            .filter(|(i, r)| Some(*i) != default && kind.user_rule_of(r).is_some())
            .map(|(i, r)| IndexedRule {
                index: i,
                rule: r.clone(),
            })
            .collect(),
    }
}

/// One revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    pub revision: u64,
    /// RFC 3339, UTC, seconds (`None` when unknown).
    pub time: Option<String>,
    /// The field manager that made the change.
    pub manager: Option<String>,
    /// The kubectl-mesh command that made it; `None` for other tools.
    pub command: Option<String>,
    /// The write created the route (undo cannot go before it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub created: bool,
    pub state: TrafficState,
}

/// The annotation's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryDoc {
    pub version: u64,
    /// The newest number ever given (kept when old entries drop, so numbers are never reused).
    pub last_revision: u64,
    pub revisions: Vec<Revision>,
}

impl Default for HistoryDoc {
    fn default() -> Self {
        HistoryDoc {
            version: FORMAT_VERSION,
            last_revision: 0,
            revisions: Vec::new(),
        }
    }
}

/// Who is writing, for the entry the write adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteMeta {
    /// RFC 3339, UTC, seconds.
    pub time: String,
    /// `--field-manager`.
    pub manager: String,
    /// `kubectl mesh shift reviews v3=100 -n istio-demo` (truncated to 256 characters).
    pub command: String,
    /// `--force`: a history in a newer format is replaced instead of refusing.
    pub force: bool,
}

/// What [`record_history`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recorded {
    /// The revision of the state the write replaced (`None` when it created the route).
    pub previous: Option<u64>,
    /// The revision of the state written.
    pub revision: u64,
    /// Things to say on stderr (an unreadable history, entries dropped for size).
    pub notes: Vec<String>,
}

fn annotation(route: &Value) -> Option<&str> {
    route
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(HISTORY_ANNOTATION))
        .and_then(Value::as_str)
}

/// The stored history of a route: empty when there is none; an unreadable one is dropped with a note; a newer
/// format is refused unless `force`.
pub fn read_history(route: &Value, force: bool) -> Result<(HistoryDoc, Vec<String>), PlanError> {
    let kind = RouteKind::of(route);
    let Some(text) = annotation(route) else {
        return Ok((HistoryDoc::default(), Vec::new()));
    };
    let what = format!("{}/{}", kind.singular(), route_name(route));
    let raw: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => {
            return Ok((
                HistoryDoc::default(),
                vec![format!(
                    "ignoring the unreadable {HISTORY_ANNOTATION} annotation on {what}; starting a new history"
                )],
            ))
        }
    };
    let version = raw.get("version").and_then(Value::as_u64).unwrap_or(0);
    if version > FORMAT_VERSION {
        if force {
            return Ok((
                HistoryDoc::default(),
                vec![format!(
                    "replacing the {HISTORY_ANNOTATION} annotation on {what} (format version {version}) with a new history (--force)"
                )],
            ));
        }
        return Err(PlanError::HistoryNewerFormat {
            kind,
            route: route_name(route).to_string(),
            version,
        });
    }
    match serde_json::from_value::<HistoryDoc>(raw) {
        Ok(mut doc) => {
            doc.revisions.sort_by_key(|r| r.revision);
            let newest = doc.revisions.last().map_or(0, |r| r.revision);
            doc.last_revision = doc.last_revision.max(newest);
            Ok((doc, Vec::new()))
        }
        Err(_) => Ok((
            HistoryDoc::default(),
            vec![format!(
                "ignoring the unreadable {HISTORY_ANNOTATION} annotation on {what}; starting a new history"
            )],
        )),
    }
}

/// Who last changed the route's spec, and when, from its managedFields: the newest entry of the main resource
/// (not `/status`) that owns part of `spec` (any such entry when fieldsV1 says nothing).
pub fn last_spec_change(route: &Value) -> (Option<String>, Option<String>) {
    let entries: Vec<&Value> = route
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("subresource").and_then(Value::as_str).is_none_or(str::is_empty))
        .collect();
    let spec: Vec<&Value> = entries
        .iter()
        .copied()
        .filter(|e| e.pointer("/fieldsV1/f:spec").is_some())
        .collect();
    let pool = if spec.is_empty() { entries } else { spec };
    let newest = pool.into_iter().max_by(|a, b| {
        let t = |e: &Value| e.get("time").and_then(Value::as_str).unwrap_or("").to_string();
        t(a).cmp(&t(b))
    });
    match newest {
        Some(e) => (
            e.get("manager").and_then(Value::as_str).map(str::to_string),
            e.get("time").and_then(Value::as_str).map(str::to_string),
        ),
        None => (None, None),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn encoded(doc: &HistoryDoc) -> String {
    serde_json::to_string(doc).unwrap_or_default()
}

/// Keep the newest [`HISTORY_MAX_ENTRIES`], then drop the oldest while the value is over [`HISTORY_MAX_BYTES`].
fn bound(doc: &mut HistoryDoc, what: &str, notes: &mut Vec<String>) {
    let excess = doc.revisions.len().saturating_sub(HISTORY_MAX_ENTRIES);
    doc.revisions.drain(..excess);
    while encoded(doc).len() > HISTORY_MAX_BYTES && doc.revisions.len() > 2 {
        doc.revisions.remove(0);
    }
    if encoded(doc).len() > HISTORY_MAX_BYTES {
        let keep = doc.revisions.len().saturating_sub(1);
        doc.revisions.drain(..keep);
        notes.push(format!(
            "the traffic state of {what} is too big to keep an earlier one within {HISTORY_MAX_BYTES} bytes: undo will not be able to go back from this change"
        ));
    }
    if encoded(doc).len() > HISTORY_MAX_BYTES {
        doc.revisions.clear();
        notes.push(format!(
            "the traffic state of {what} alone is over {HISTORY_MAX_BYTES} bytes: no history is kept for it"
        ));
    }
}

/// Record a write in `after`'s history annotation, from the route as it was read (`before`; `None` when the write
/// creates the route): the previous state when it is not the newest entry yet, then the state `after` holds.
pub fn record_history(before: Option<&Value>, after: &mut Value, meta: &WriteMeta) -> Result<Recorded, PlanError> {
    let kind = RouteKind::of(after);
    let what = format!("{}/{}", kind.singular(), route_name(after));
    let (mut doc, mut notes) = match before {
        Some(b) => read_history(b, meta.force)?,
        None => (HistoryDoc::default(), Vec::new()),
    };
    doc.version = FORMAT_VERSION;
    let mut previous = None;
    if let Some(b) = before {
        let state = traffic_state(b);
        match doc.revisions.last() {
            Some(last) if last.state.equivalent(&state, kind) => previous = Some(last.revision),
            _ => {
                doc.last_revision += 1;
                let (manager, time) = last_spec_change(b);
                doc.revisions.push(Revision {
                    revision: doc.last_revision,
                    time,
                    manager,
                    command: None,
                    created: false,
                    state,
                });
                previous = Some(doc.last_revision);
            }
        }
    }
    doc.last_revision += 1;
    let revision = doc.last_revision;
    doc.revisions.push(Revision {
        revision,
        time: Some(meta.time.clone()),
        manager: Some(meta.manager.clone()),
        command: Some(truncate(&meta.command, MAX_COMMAND_CHARS)),
        created: before.is_none(),
        state: traffic_state(after),
    });
    bound(&mut doc, &what, &mut notes);
    set_annotation(after, encoded(&doc));
    Ok(Recorded {
        previous,
        revision,
        notes,
    })
}

fn set_annotation(route: &mut Value, value: String) {
    if !route["metadata"].is_object() {
        route["metadata"] = json!({});
    }
    if !route["metadata"]["annotations"].is_object() {
        route["metadata"]["annotations"] = Value::Object(Map::new());
    }
    route["metadata"]["annotations"][HISTORY_ANNOTATION] = Value::String(value);
}

/// The history as `kubectl mesh history` shows it, oldest first: the stored revisions and, when the route's live
/// traffic differs from the newest one (or nothing is stored), the live state as the next number. The last entry
/// is always the current state.
pub fn history_view(route: &Value, force: bool) -> Result<(Vec<Revision>, Vec<String>), PlanError> {
    let kind = RouteKind::of(route);
    let (doc, notes) = read_history(route, force)?;
    let mut revisions = doc.revisions;
    let live = traffic_state(route);
    if !revisions.last().is_some_and(|r| r.state.equivalent(&live, kind)) {
        let (manager, time) = last_spec_change(route);
        revisions.push(Revision {
            revision: doc.last_revision + 1,
            time,
            manager,
            command: None,
            created: false,
            state: live,
        });
    }
    Ok((revisions, notes))
}

/// `kubectl mesh history -o json|yaml`: `{"service","namespace","route","revisions":[{"revision","time","manager",
/// "command","backends":[{"service","weight"}],"userRules":[{"header","value","service"}]}]}`.
pub fn history_document(service: &str, namespace: &str, route: &Value, revisions: &[Revision]) -> Value {
    let kind = RouteKind::of(route);
    let revs: Vec<Value> = revisions
        .iter()
        .map(|r| {
            let backends: Vec<Value> = r
                .state
                .default_refs()
                .iter()
                .map(|b| json!({"service": backend_key(b, namespace), "weight": backend_weight(b)}))
                .collect();
            let users: Vec<Value> = r
                .state
                .user_rules
                .iter()
                .filter_map(|u| {
                    let (header, value) = kind.user_rule_of(&u.rule)?;
                    let service = u
                        .rule
                        .get("backendRefs")
                        .and_then(Value::as_array)
                        .and_then(|b| b.first())
                        .map(|b| backend_key(b, namespace));
                    Some(json!({"header": header, "value": value, "service": service}))
                })
                .collect();
            json!({
                "revision": r.revision,
                "time": r.time,
                "manager": r.manager,
                "command": r.command,
                "backends": backends,
                "userRules": users,
            })
        })
        .collect();
    json!({"service": service, "namespace": namespace, "route": route_name(route), "revisions": revs})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::testutil::*;

    fn meta(command: &str) -> WriteMeta {
        WriteMeta {
            time: "2026-08-22T10:00:00Z".into(),
            manager: "kubectl-mesh".into(),
            command: command.into(),
            force: false,
        }
    }

    fn with_refs(route: &Value, refs: Value) -> Value {
        let mut r = route.clone();
        r["spec"]["rules"][0]["backendRefs"] = refs;
        r
    }

    fn doc_of(route: &Value) -> HistoryDoc {
        read_history(route, false).unwrap().0
    }

    #[test]
    fn the_first_write_records_the_state_it_replaced_then_its_own() {
        let mut before = route_v1();
        before["metadata"]["managedFields"] = json!([
            {"manager": "kubectl-client-side-apply", "operation": "Update", "time": "2026-08-01T09:00:00Z", "fieldsV1": {"f:spec": {}}},
            {"manager": "istio.io/gateway-controller", "operation": "Update", "subresource": "status", "time": "2026-08-21T09:00:00Z", "fieldsV1": {"f:status": {}}}]);
        let mut after = with_refs(&before, json!([{"name": "reviews-v3", "port": 9080, "weight": 100}]));
        let rec = record_history(Some(&before), &mut after, &meta("kubectl mesh shift reviews v3=100")).unwrap();
        assert_eq!(
            rec,
            Recorded {
                previous: Some(1),
                revision: 2,
                notes: vec![]
            }
        );
        let doc = doc_of(&after);
        assert_eq!(doc.last_revision, 2);
        assert_eq!(doc.revisions.len(), 2);
        let first = &doc.revisions[0];
        assert_eq!(first.command, None);
        assert_eq!(
            first.manager.as_deref(),
            Some("kubectl-client-side-apply"),
            "the status writer is not the author"
        );
        assert_eq!(first.time.as_deref(), Some("2026-08-01T09:00:00Z"));
        assert_eq!(first.state, traffic_state(&before));
        assert_eq!(
            doc.revisions[1].command.as_deref(),
            Some("kubectl mesh shift reviews v3=100")
        );
        // The write after it finds its own state newest: only the new state is added.
        let mut third = with_refs(&after, json!([{"name": "reviews-v1", "port": 9080, "weight": 100}]));
        let rec = record_history(Some(&after), &mut third, &meta("kubectl mesh undo reviews")).unwrap();
        assert_eq!((rec.previous, rec.revision), (Some(2), 3));
        assert_eq!(doc_of(&third).revisions.len(), 3);
    }

    #[test]
    fn a_change_by_another_tool_is_kept_as_its_own_revision() {
        let before = route_v1();
        let mut a = with_refs(&before, json!([{"name": "reviews-v2", "port": 9080, "weight": 100}]));
        record_history(Some(&before), &mut a, &meta("one")).unwrap();
        // kubectl edit changes the weights; the annotation stays as we left it.
        let mut edited = with_refs(
            &a,
            json!([{"name": "reviews-v1", "port": 9080, "weight": 70},
            {"name": "reviews-v2", "port": 9080, "weight": 30}]),
        );
        edited["metadata"]["managedFields"] =
            json!([{"manager": "kubectl-edit", "operation": "Update", "time": "2026-08-22T11:00:00Z"}]);
        let mut b = with_refs(&edited, json!([{"name": "reviews-v3", "port": 9080, "weight": 100}]));
        let rec = record_history(Some(&edited), &mut b, &meta("two")).unwrap();
        assert_eq!((rec.previous, rec.revision), (Some(3), 4));
        let doc = doc_of(&b);
        let cmds: Vec<Option<&str>> = doc.revisions.iter().map(|r| r.command.as_deref()).collect();
        assert_eq!(cmds, vec![None, Some("one"), None, Some("two")]);
        assert_eq!(doc.revisions[2].manager.as_deref(), Some("kubectl-edit"));
    }

    #[test]
    fn server_defaults_do_not_look_like_a_change() {
        // What route-user writes and what the API server stores differ only by defaults.
        let before = route_v1();
        let mut after = before.clone();
        let user = RouteKind::Http.user_rule(
            "end-user",
            "jason",
            json!({"name": "reviews-v2", "port": 9080, "weight": 100}),
        );
        after["spec"]["rules"].as_array_mut().unwrap().insert(0, user);
        record_history(Some(&before), &mut after, &meta("route-user")).unwrap();
        let mut stored = after.clone();
        stored["spec"]["rules"][0]["matches"][0]["path"] = json!({"type": "PathPrefix", "value": "/"});
        stored["spec"]["rules"][0]["backendRefs"][0]["group"] = json!("");
        stored["spec"]["rules"][0]["backendRefs"][0]["kind"] = json!("Service");
        let (view, _) = history_view(&stored, false).unwrap();
        assert_eq!(view.len(), 2, "no synthesized entry: {view:?}");
        assert_eq!(view.last().unwrap().command.as_deref(), Some("route-user"));
    }

    #[test]
    fn the_view_ends_with_the_live_state() {
        let route = route_v1();
        let (view, notes) = history_view(&route, false).unwrap();
        assert!(notes.is_empty());
        assert_eq!(view.len(), 1);
        assert_eq!(view[0].revision, 1);
        assert_eq!(view[0].state, traffic_state(&route));
    }

    #[test]
    fn ten_entries_and_numbers_never_reused() {
        let mut route = route_v1();
        for i in 0..12u64 {
            let mut next = with_refs(
                &route,
                json!([{"name": "reviews-v1", "port": 9080, "weight": 100 - i},
                {"name": "reviews-v3", "port": 9080, "weight": i + 1}]),
            );
            record_history(Some(&route), &mut next, &meta(&format!("shift {i}"))).unwrap();
            route = next;
        }
        let doc = doc_of(&route);
        assert_eq!(doc.revisions.len(), HISTORY_MAX_ENTRIES);
        assert_eq!(doc.last_revision, 13);
        let numbers: Vec<u64> = doc.revisions.iter().map(|r| r.revision).collect();
        assert_eq!(numbers, (4..=13).collect::<Vec<_>>());
        assert!(annotation(&route).unwrap().len() <= HISTORY_MAX_BYTES);
    }

    #[test]
    fn big_states_push_old_entries_out_within_16_kib() {
        let mut route = route_v1();
        let add_user = |route: &Value, i: usize, size: usize| -> (Value, Recorded) {
            let mut next = route.clone();
            let user = RouteKind::Http.user_rule(
                "end-user",
                &format!("{i}{}", "u".repeat(size)),
                json!({"name": "reviews-v2", "port": 9080, "weight": 100}),
            );
            next["spec"]["rules"].as_array_mut().unwrap().insert(0, user);
            let rec = record_history(Some(route), &mut next, &meta("route-user")).unwrap();
            assert!(annotation(&next).unwrap().len() <= HISTORY_MAX_BYTES);
            (next, rec)
        };
        for i in 0..6 {
            let (next, rec) = add_user(&route, i, 2500);
            let doc = doc_of(&next);
            assert_eq!(
                doc.revisions.last().unwrap().revision,
                rec.revision,
                "the newest is kept"
            );
            if i == 0 {
                assert_eq!(doc.revisions.len(), 2);
            }
            if i == 5 {
                // Six users of 2.5 KB: the newest state alone takes most of the 16 KiB.
                assert_eq!(doc.revisions.len(), 1, "{:?}", rec);
                assert!(!rec.notes.is_empty(), "undo cannot go back from here, and it says so");
            }
            route = next;
        }
        assert_eq!(doc_of(&route).last_revision, 7);
        // A state bigger than the bound alone: nothing is kept, and numbering goes on.
        let (next, rec) = add_user(&route, 6, 4000);
        assert!(doc_of(&next).revisions.is_empty());
        assert!(
            rec.notes.iter().any(|n| n.contains("no history is kept")),
            "{:?}",
            rec.notes
        );
        assert_eq!(doc_of(&next).last_revision, 8);
    }

    #[test]
    fn unreadable_and_newer_histories() {
        let mut route = route_v1();
        route["metadata"]["annotations"] = json!({HISTORY_ANNOTATION: "{not json"});
        let mut after = route.clone();
        let rec = record_history(Some(&route), &mut after, &meta("x")).unwrap();
        assert_eq!(rec.notes.len(), 1);
        assert_eq!(doc_of(&after).revisions.len(), 2);

        route["metadata"]["annotations"] =
            json!({HISTORY_ANNOTATION: r#"{"version":2,"lastRevision":9,"revisions":[]}"#});
        let mut after = route.clone();
        let err = record_history(Some(&route), &mut after, &meta("x")).unwrap_err();
        assert!(
            matches!(err, PlanError::HistoryNewerFormat { version: 2, .. }),
            "{err:?}"
        );
        let mut forced = meta("x");
        forced.force = true;
        let rec = record_history(Some(&route), &mut after, &forced).unwrap();
        assert_eq!(rec.revision, 2);
    }

    #[test]
    fn creating_a_route_is_revision_one_marked_created() {
        let mut route = route_v1();
        let rec = record_history(None, &mut route, &meta("kubectl mesh shift reviews v1=100")).unwrap();
        assert_eq!((rec.previous, rec.revision), (None, 1));
        let doc = doc_of(&route);
        assert!(doc.revisions[0].created);
    }

    #[test]
    fn the_json_document_has_the_issues_shape() {
        let mut route = route_with_user_rule();
        route["metadata"]["namespace"] = json!("bookinfo");
        let (view, _) = history_view(&route, false).unwrap();
        let doc = history_document("reviews", "bookinfo", &route, &view);
        assert_eq!(
            doc,
            json!({"service": "reviews", "namespace": "bookinfo", "route": "reviews", "revisions": [
                {"revision": 1, "time": null, "manager": null, "command": null,
                 "backends": [{"service": "reviews-v1", "weight": 1}],
                 "userRules": [{"header": "end-user", "value": "jason", "service": "reviews-v2"}]}]})
        );
    }
}
