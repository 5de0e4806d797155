//! Text renderers for route plans and status, kubectl style (no borders, columns three
//! spaces apart, upper-case headers). They return `String` so every table can be
//! snapshot-tested; printing is the command layer's job.

use super::{BackendShare, RouteStatus, RouteUserPlan, ShiftPlan};

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
    let mut names: Vec<&BackendShare> = plan.before.iter().collect();
    for a in &plan.after {
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
                share_cell(plan.before.iter().find(|x| x.service == b.service)),
                share_cell(plan.after.iter().find(|x| x.service == b.service)),
            ]
        })
        .collect();
    kubectl_table(vec!["BACKEND", "VERSION", "BEFORE", "AFTER"], rows)
}

/// One line for a route-user plan (its message), newline-terminated.
pub fn render_user_plan(plan: &RouteUserPlan) -> String {
    format!("{}\n", plan.message)
}

/// One row per backend: `NAMESPACE SERVICE ROUTE MATCH BACKEND WEIGHT READY`; `wide` adds
/// `VERSION` and `CONDITIONS` (`Accepted=True,…`; `ResolvedWaypoints` by its effect,
/// `ResolvedWaypoints=False(MissingUseWaypointLabel)`). A catch-all rule shows MATCH `*`.
pub fn render_status_table(statuses: &[RouteStatus], wide: bool) -> String {
    let mut header = vec!["NAMESPACE", "SERVICE", "ROUTE", "MATCH", "BACKEND"];
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
                .map(super::ConditionStatus::cell)
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
