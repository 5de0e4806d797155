//! The checks issue 18 adds, on live snapshots: `route-backend-port`, `backend-selector-unmatched`,
//! `route-rule-shadowed`; and the cross-cluster facts a snapshot gives.

mod doctor_common;

use doctor_common::*;
use mesh_core::doctor::cross::ClusterFacts;
use mesh_core::doctor::{run_checks, Finding, Status};
use serde_json::json;

fn run(c: &Cluster) -> Vec<Finding> {
    run_checks(&c.snapshot(), now())
}

fn of(findings: &[Finding], id: &str) -> Vec<Finding> {
    findings.iter().filter(|f| f.id == id).cloned().collect()
}

fn status_of(findings: &[Finding], id: &str) -> Vec<Status> {
    of(findings, id).iter().map(|f| f.status).collect()
}

#[test]
fn a_backend_port_that_is_the_target_port_is_named_as_such() {
    let mut c = healthy();
    {
        let svc = c.get_mut("Service", "reviews-v3");
        svc["spec"]["ports"] = json!([{"name": "http", "port": 80, "targetPort": 9080}]);
    }
    let f = run(&c);
    let port = of(&f, "route-backend-port");
    assert_eq!(port.len(), 1, "{port:#?}");
    assert_eq!(port[0].status, Status::Error);
    assert!(
        port[0].message.contains("Service istio-demo/reviews-v3 port 9080 is not a port of the Service (ports: 80): its 10% of requests fail"),
        "{}",
        port[0].message
    );
    assert!(
        port[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("9080 is the targetPort of the Service's port 80"),
        "{:?}",
        port[0].hint
    );
    let names: Vec<&str> = port[0].resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["reviews", "reviews-v3"]);
}

#[test]
fn a_backend_without_port_is_an_error_even_when_the_service_is_unknown() {
    let mut c = healthy();
    {
        let route = c.get_mut("HTTPRoute", "reviews");
        route["spec"]["rules"][0]["backendRefs"][0]
            .as_object_mut()
            .unwrap()
            .remove("port");
    }
    let f = run(&c);
    let port = of(&f, "route-backend-port");
    assert_eq!(status_of(&f, "route-backend-port"), vec![Status::Error]);
    assert!(
        port[0].message.contains("reviews-v1 has no port"),
        "{}",
        port[0].message
    );
    assert!(
        port[0].hint.as_deref().unwrap().contains("add port: 9080"),
        "{:?}",
        port[0].hint
    );
}

#[test]
fn a_version_service_whose_selector_no_template_carries_is_an_error() {
    let mut c = healthy();
    {
        let svc = c.get_mut("Service", "reviews-v3");
        svc["spec"]["selector"] = json!({"app": "reviews-v3", "version": "v3"});
    }
    let f = run(&c);
    let sel = of(&f, "backend-selector-unmatched");
    assert_eq!(sel.len(), 1, "{sel:#?}");
    assert_eq!(sel[0].status, Status::Error);
    assert!(
        sel[0].message.contains("Service istio-demo/reviews-v3 selects app=reviews-v3,version=v3, but no Deployment, StatefulSet or DaemonSet template and no bare pod carries those labels"),
        "{}",
        sel[0].message
    );
    assert!(
        sel[0].message.contains("HTTPRoute istio-demo/reviews rules[0] (10%)"),
        "{}",
        sel[0].message
    );
    assert!(
        sel[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("deployment reviews-v3 (app=reviews-v3)"),
        "the workload meant: {:?}",
        sel[0].hint
    );

    // A bare pod with the labels serves it: no finding.
    let mut bare = pod("istio-demo", "reviews-v3-debug");
    bare["metadata"]["labels"] = json!({"app": "reviews-v3", "version": "v3"});
    c.push(bare);
    assert_eq!(status_of(&run(&c), "backend-selector-unmatched"), vec![Status::Ok]);
}

#[test]
fn weight_zero_and_selectorless_backends_are_not_judged() {
    let mut c = healthy();
    {
        let svc = c.get_mut("Service", "reviews-v3");
        svc["spec"].as_object_mut().unwrap().remove("selector");
    }
    assert_eq!(status_of(&run(&c), "backend-selector-unmatched"), vec![Status::Ok]);
    let mut c = healthy();
    {
        let route = c.get_mut("HTTPRoute", "reviews");
        route["spec"]["rules"][0]["backendRefs"][1]["weight"] = json!(0);
        let svc = c.get_mut("Service", "reviews-v3");
        svc["spec"]["selector"] = json!({"app": "nothing"});
    }
    assert_eq!(status_of(&run(&c), "backend-selector-unmatched"), vec![Status::Ok]);
}

#[test]
fn a_second_catch_all_rule_and_a_duplicated_user_rule_are_shadowed() {
    let mut c = healthy();
    {
        let route = c.get_mut("HTTPRoute", "reviews");
        let rules = route["spec"]["rules"].as_array_mut().unwrap();
        let jason = json!({"matches": [{"headers": [{"name": "end-user", "value": "jason"}]}],
            "backendRefs": [{"name": "reviews-v2", "port": 9080}]});
        rules.insert(0, jason.clone());
        // The same user rule again (header name in another case, path defaulted): never reached.
        let mut again = jason.clone();
        again["matches"][0]["headers"][0]["name"] = json!("End-User");
        again["matches"][0]["path"] = json!({"type": "PathPrefix", "value": "/"});
        rules.push(again);
        // A second default rule appended after the first.
        rules.push(json!({"backendRefs": [{"name": "reviews-v2", "port": 9080}]}));
    }
    let f = run(&c);
    let sh = of(&f, "route-rule-shadowed");
    let msgs: Vec<&str> = sh.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(sh.len(), 2, "{msgs:#?}");
    assert!(sh.iter().all(|f| f.status == Status::Warning));
    assert!(
        msgs[0].contains("rules[2] for Service istio-demo/reviews never gets a request: rules[0] already matches"),
        "{}",
        msgs[0]
    );
    assert!(
        msgs[1].contains("rules[3]") && msgs[1].contains("rules[1] already matches path PathPrefix /"),
        "{}",
        msgs[1]
    );
}

#[test]
fn an_older_route_with_the_same_match_shadows_a_newer_one_but_not_a_more_specific_one() {
    let mut c = healthy();
    let mut newer = mesh_route("istio-demo", "reviews-canary", "reviews", &[("reviews-v2", 1)]);
    newer["metadata"]["creationTimestamp"] = json!("2026-11-22T00:00:00Z");
    c.get_mut("HTTPRoute", "reviews")["metadata"]["creationTimestamp"] = json!("2026-11-01T00:00:00Z");
    c.push(newer.clone());
    let f = run(&c);
    let sh = of(&f, "route-rule-shadowed");
    assert_eq!(sh.len(), 1, "{sh:#?}");
    assert!(
        sh[0].message.contains("HTTPRoute istio-demo/reviews-canary rules[0]")
            && sh[0].message.contains("HTTPRoute istio-demo/reviews rules[0]"),
        "{}",
        sh[0].message
    );
    let names: Vec<&str> = sh[0].resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["reviews-canary", "reviews"]);

    // A more specific match is never hidden by a general one.
    let mut c = healthy();
    newer["spec"]["rules"][0]["matches"] = json!([{"path": {"type": "PathPrefix", "value": "/v2"}}]);
    c.push(newer);
    assert_eq!(status_of(&run(&c), "route-rule-shadowed"), vec![Status::Ok]);
}

#[test]
fn cluster_facts_come_from_istio_system() {
    let c = healthy();
    let facts = ClusterFacts::from_snapshot("east", &c.snapshot());
    assert_eq!(facts.context, "east");
    assert_eq!(facts.root_pem.as_deref(), Some(new_root().as_str()));
    assert_eq!(facts.istiod_versions.iter().collect::<Vec<_>>(), vec!["1.26.2"]);
}
