//! The planners change only what they own: on a route carrying rule names, timeouts, filters,
//! annotations and other rules (tests/fixtures/routes/reviews-extras.yaml), everything but
//! the default rule's backendRefs (shift) or the user's rule (route-user) stays byte-identical.

use std::collections::BTreeMap;

use mesh_core::route::{
    plan_route_user, plan_shift, render_shift_table, route_status, NamespaceState, RouteSnapshot, RouteUserRequest,
    ServiceInfo, ServicePort, ShiftRequest,
};
use mesh_sandbox::schema::CrdSchema;
use serde_json::Value;

const EXTRAS: &str = include_str!("fixtures/routes/reviews-extras.yaml");

fn route() -> Value {
    serde_saphyr::from_str(EXTRAS).unwrap()
}

fn snapshot(route: Value) -> RouteSnapshot {
    let svc = |name: &str, version: Option<&str>| {
        let mut labels = BTreeMap::from([("app".to_string(), "reviews".to_string())]);
        if let Some(v) = version {
            labels.insert("version".into(), v.into());
        }
        ServiceInfo {
            name: name.into(),
            selector: labels.clone(),
            labels,
            ports: vec![ServicePort {
                name: Some("http".into()),
                port: 9080,
            }],
            ..Default::default()
        }
    };
    RouteSnapshot {
        service: "reviews".into(),
        state: NamespaceState {
            namespace: "bookinfo".into(),
            routes: vec![route],
            services: vec![
                svc("reviews", None),
                svc("reviews-v1", Some("v1")),
                svc("reviews-v2", Some("v2")),
                svc("reviews-v3", Some("v3")),
            ],
            ready_endpoints: BTreeMap::from([
                ("reviews-v1".to_string(), 2),
                ("reviews-v2".to_string(), 1),
                ("reviews-v3".to_string(), 1),
            ]),
            pods: vec![],
            ..Default::default()
        },
        parent_port_supported: true,
        namespace_labels: Some(BTreeMap::new()),
        gateways: Some(Vec::new()),
    }
}

fn text(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

/// The v1.6.1 server accepts it (v1.0.0 has no rule names or timeouts, so this route only
/// exists on newer servers).
fn assert_valid_on_v1_6_1(route: &Value) {
    let Some(dir) = mesh_sandbox::fixtures::shared_fixtures() else {
        return;
    };
    let p = dir.join("gateway-api/latest/gateway.networking.k8s.io_httproutes.yaml");
    let crd = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let schema = CrdSchema::from_crd_yaml(&crd, "v1").unwrap();
    assert!(schema.unknown_fields(route).is_empty());
    let mut stored = route.clone();
    schema.default(&mut stored);
    assert_eq!(schema.validate(&stored), vec![]);
}

#[test]
fn shift_keeps_rule_names_timeouts_filters_and_other_rules() {
    let before = route();
    assert_valid_on_v1_6_1(&before);
    let req = ShiftRequest::new("reviews", &["v3=20".to_string()]).unwrap();
    let plan = plan_shift(&snapshot(before.clone()), &req).unwrap();
    let after = &plan.edit.route;
    assert_valid_on_v1_6_1(after);
    assert_eq!(text(&after["metadata"]), text(&before["metadata"]));
    assert_eq!(text(&after["spec"]["parentRefs"]), text(&before["spec"]["parentRefs"]));
    for i in 0..2 {
        assert_eq!(text(&after["spec"]["rules"][i]), text(&before["spec"]["rules"][i]));
    }
    // In the default rule only backendRefs changed, keeping key order.
    let (mut a, mut b) = (after["spec"]["rules"][2].clone(), before["spec"]["rules"][2].clone());
    let new_refs = a["backendRefs"].take();
    b["backendRefs"] = Value::Null;
    assert_eq!(text(&a), text(&b));
    // 3:1 gets the remaining 80 in proportion: 60/20, then v3 20.
    let weights: Vec<(String, u64)> = new_refs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_string(), r["weight"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        weights,
        vec![
            ("reviews-v1".to_string(), 60),
            ("reviews-v2".to_string(), 20),
            ("reviews-v3".to_string(), 20)
        ]
    );
    let table = render_shift_table(&plan);
    assert!(table.contains("reviews-v1   v1        3 (75%)   60 (60%)"), "{table}");
}

#[test]
fn route_user_leaves_other_rules_alone() {
    let before = route();
    let req = RouteUserRequest::new("reviews", "vijay", Some("v3"), None, false).unwrap();
    let plan = plan_route_user(&snapshot(before.clone()), &req).unwrap();
    assert_valid_on_v1_6_1(&plan.edit.route);
    let rules = plan.edit.route["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 4);
    // Inserted right before the default rule, after the path rule.
    assert_eq!(rules[2]["backendRefs"][0]["name"], "reviews-v3");
    for (got, want) in [(0, 0), (1, 1), (3, 2)] {
        assert_eq!(text(&rules[got]), text(&before["spec"]["rules"][want]));
    }
    // Re-pointing jason keeps the rule's name and matches.
    let req = RouteUserRequest::new("reviews", "jason", Some("v3"), None, false).unwrap();
    let plan = plan_route_user(&snapshot(before.clone()), &req).unwrap();
    let r0 = &plan.edit.route["spec"]["rules"][0];
    assert_eq!(r0["name"], "jason");
    assert_eq!(r0["backendRefs"][0]["name"], "reviews-v3");
    assert_eq!(text(&r0["matches"]), text(&before["spec"]["rules"][0]["matches"]));
}

#[test]
fn status_reports_every_rule_of_the_route() {
    let st = route_status(&[snapshot(route()).state]);
    assert_eq!(st.len(), 1);
    let rules = &st[0].rules;
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0].matches[0].header.as_deref(), Some("end-user"));
    assert_eq!(rules[0].matches[0].value.as_deref(), Some("jason"));
    assert_eq!(rules[1].matches[0].other, vec!["path PathPrefix /api"]);
    assert!(rules[2].matches.is_empty());
    let pct: Vec<f64> = rules[2].backends.iter().map(|b| b.percent).collect();
    assert_eq!(pct, vec![75.0, 25.0]);
    assert_eq!(rules[2].backends[0].ready_endpoints, 2);
}
