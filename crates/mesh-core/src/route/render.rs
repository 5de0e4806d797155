//! Text renderers for route plans and status, kubectl style (no borders, columns three
//! spaces apart, upper-case headers). They return `String` so every table can be
//! snapshot-tested; printing is the command layer's job.

use serde_json::Value;

use super::history::Revision;
use super::{
    backend_key, backend_weight, BackendShare, RestorePlan, RouteKind, RouteStatus, RouteUserPlan, ShiftPlan, Steps,
};

use crate::render::table as kubectl_table;

/// `90%`, `33.3%`.
pub fn format_percent(p: f64) -> String {
    let r = (p * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{r:.0}%")
    } else {
        format!("{r:.1}%")
    }
}

fn share_cell(s: Option<&BackendShare>) -> String {
    match s {
        Some(s) => format!("{} ({})", s.weight, format_percent(s.percent)),
        None => "-".to_string(),
    }
}

/// Before/after table of the default rule's backends:
/// `BACKEND  VERSION  BEFORE  AFTER` with `weight (percent)` cells, `-` where absent.
pub fn render_shift_table(plan: &ShiftPlan) -> String {
    render_shares_table(&plan.before, &plan.after)
}

/// The before/after table of any two lists of default-rule backends.
pub fn render_shares_table(before: &[BackendShare], after: &[BackendShare]) -> String {
    let mut names: Vec<&BackendShare> = before.iter().collect();
    for a in after {
        if !names.iter().any(|b| b.service == a.service) {
            names.push(a);
        }
    }
    let rows = names
        .iter()
        .map(|b| {
            vec![
                b.service.clone(),
                b.version.clone().unwrap_or_else(|| "-".into()),
                share_cell(before.iter().find(|x| x.service == b.service)),
                share_cell(after.iter().find(|x| x.service == b.service)),
            ]
        })
        .collect();
    kubectl_table(vec!["BACKEND", "VERSION", "BEFORE", "AFTER"], rows)
}

/// undo's table and one line per user rule restored or removed.
pub fn render_restore_plan(plan: &RestorePlan) -> String {
    let mut out = render_shares_table(&plan.before, &plan.after);
    for line in &plan.user_changes {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `--step … --dry-run=client`: one row per step, one column per backend.
pub fn render_steps_table(steps: &Steps) -> String {
    let mut header = vec!["STEP"];
    header.extend(steps.backends.iter().map(String::as_str));
    let row = |label: String, percents: &[u64]| {
        let mut r = vec![label];
        r.extend(
            percents
                .iter()
                .map(|p| if *p == 0 { "-".to_string() } else { format!("{p}%") }),
        );
        r
    };
    let mut rows = vec![row("0 (now)".into(), &steps.start.percents)];
    rows.extend(steps.steps.iter().map(|s| row(s.step.to_string(), &s.percents)));
    kubectl_table(header, rows)
}

/// "5d", "3h", "12m", "40s" since `time` (RFC 3339), `<unknown>` when there is none.
fn age_of(time: Option<&str>, now: jiff::Timestamp) -> String {
    let Some(t) = time.and_then(|t| t.parse::<jiff::Timestamp>().ok()) else {
        return "<unknown>".into();
    };
    let secs = (now.as_second() - t.as_second()).max(0);
    if secs >= 2 * 86_400 {
        format!("{}d", secs / 86_400)
    } else if secs >= 3_600 {
        format!("{}h", secs / 3_600)
    } else if secs >= 60 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// `kubectl mesh history`: `REVISION AGE MANAGER BACKENDS USER RULES COMMAND` (`wide` adds `TIME`), oldest first;
/// the last row is the current state. Backends in percents of the rule; `<external>` for a change another tool
/// made.
pub fn render_history_table(
    kind: RouteKind,
    namespace: &str,
    revisions: &[Revision],
    now: jiff::Timestamp,
    wide: bool,
) -> String {
    let mut header = vec!["REVISION", "AGE"];
    if wide {
        header.push("TIME");
    }
    header.extend(["MANAGER", "BACKENDS", "USER RULES", "COMMAND"]);
    let rows = revisions
        .iter()
        .map(|r| {
            let refs = r.state.default_refs();
            let total: u64 = refs.iter().map(backend_weight).sum();
            let backends = if refs.is_empty() {
                "-".to_string()
            } else {
                refs.iter()
                    .map(|b| {
                        let pct = if total == 0 {
                            0.0
                        } else {
                            backend_weight(b) as f64 * 100.0 / total as f64
                        };
                        format!("{} {}", backend_key(b, namespace), format_percent(pct))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let users: Vec<String> = r
                .state
                .user_rules
                .iter()
                .filter_map(|u| {
                    let (h, v) = kind.user_rule_of(&u.rule)?;
                    let to = u
                        .rule
                        .get("backendRefs")
                        .and_then(Value::as_array)
                        .and_then(|b| b.first())
                        .map(|b| backend_key(b, namespace))
                        .unwrap_or_else(|| "-".into());
                    Some(format!("{h}={v}→{to}"))
                })
                .collect();
            let mut row = vec![r.revision.to_string(), age_of(r.time.as_deref(), now)];
            if wide {
                row.push(r.time.clone().unwrap_or_else(|| "<unknown>".into()));
            }
            row.push(r.manager.clone().unwrap_or_else(|| "<unknown>".into()));
            row.push(backends);
            row.push(if users.is_empty() { "-".into() } else { users.join(", ") });
            row.push(r.command.clone().unwrap_or_else(|| "<external>".into()));
            row
        })
        .collect();
    kubectl_table(header, rows)
}

/// One line for a route-user plan (its message), newline-terminated.
pub fn render_user_plan(plan: &RouteUserPlan) -> String {
    format!("{}\n", plan.message)
}

/// One row per backend: `NAMESPACE SERVICE ROUTE KIND MATCH BACKEND WEIGHT READY`; `wide` adds
/// `VERSION` and `CONDITIONS` (`Accepted=True,…`; `ResolvedWaypoints` by its effect,
/// `ResolvedWaypoints=False(MissingUseWaypointLabel)`). A catch-all rule shows MATCH `*`.
pub fn render_status_table(statuses: &[RouteStatus], wide: bool) -> String {
    let mut header = vec!["NAMESPACE", "SERVICE", "ROUTE", "KIND", "MATCH", "BACKEND"];
    if wide {
        header.push("VERSION");
    }
    header.extend(["WEIGHT", "READY"]);
    if wide {
        header.push("CONDITIONS");
    }
    let mut rows = Vec::new();
    for st in statuses {
        let conditions = if st.conditions.is_empty() {
            "-".to_string()
        } else {
            st.conditions
                .iter()
                .map(|c| match &st.resolved_waypoints {
                    // By its effect, as read for the Service's data-plane mode (see `apply_dataplane_modes`).
                    Some(rw) if c.type_ == crate::ambient::RESOLVED_WAYPOINTS => {
                        if rw.resolved {
                            format!("{}=True", c.type_)
                        } else {
                            format!("{}=False({})", c.type_, rw.reason)
                        }
                    }
                    _ => c.cell(),
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        for rule in &st.rules {
            let m = if rule.matches.is_empty() {
                "*".to_string()
            } else {
                rule.matches
                    .iter()
                    .map(super::status::match_text)
                    .collect::<Vec<_>>()
                    .join(" | ")
            };
            let backends: Vec<Option<&super::BackendStatus>> = if rule.backends.is_empty() {
                vec![None]
            } else {
                rule.backends.iter().map(Some).collect()
            };
            for b in backends {
                let mut row = vec![
                    st.namespace.clone(),
                    st.service.clone(),
                    st.route.clone(),
                    st.kind.kind().to_string(),
                    m.clone(),
                    b.map_or("-".into(), |b| b.service.clone()),
                ];
                if wide {
                    row.push(b.and_then(|b| b.version.clone()).unwrap_or_else(|| "-".into()));
                }
                row.push(b.map_or("-".into(), |b| format!("{} ({})", b.weight, format_percent(b.percent))));
                row.push(b.map_or("-".into(), |b| b.ready_endpoints.to_string()));
                if wide {
                    row.push(conditions.clone());
                }
                rows.push(row);
            }
        }
    }
    kubectl_table(header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::testutil::*;
    use crate::route::{plan_shift, route_status, ShiftRequest};
    use serde_json::json;

    #[test]
    fn percent_formatting() {
        assert_eq!(format_percent(90.0), "90%");
        assert_eq!(format_percent(100.0 / 3.0), "33.3%");
        assert_eq!(format_percent(0.0), "0%");
    }

    #[test]
    fn shift_table_shows_before_and_after() {
        let snap = bookinfo(vec![route_split(&[("reviews-v1", 50), ("reviews-v2", 50)])], true);
        let req = ShiftRequest::new("reviews", &["v2=0".into(), "v3=20".into()]).unwrap();
        let plan = plan_shift(&snap, &req).unwrap();
        let out = render_shift_table(&plan);
        assert!(out.contains("reviews-v2   v2        50 (50%)   -"), "{out}");
        insta::assert_snapshot!(out);
    }

    #[test]
    fn status_table_plain_and_wide() {
        let mut route = route_with_user_rule();
        route["spec"]["rules"][1]["backendRefs"] = json!([
            {"name": "reviews-v1", "port": 9080, "weight": 2},
            {"name": "reviews-v3", "port": 9080, "weight": 1}]);
        route["status"] = json!({"parents": [{"parentRef": {"group": "", "kind": "Service", "name": "reviews"},
            "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": ""},
                           {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": ""}]}]});
        let mut snap = bookinfo(vec![route], true);
        snap.state.ready_endpoints.insert("reviews-v3".into(), 0);
        let st = route_status(&[snap.state]);
        insta::assert_snapshot!("status_plain", render_status_table(&st, false));
        insta::assert_snapshot!("status_wide", render_status_table(&st, true));
    }
}
