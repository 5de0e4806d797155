//! `--suppress` and the `mesh.kubectl.io/suppress` annotation: which resources count, the every-resource rule,
//! what a suppressed finding looks like, that the annotation survives the slim decoders, and that recover
//! skips suppressed fixes.

mod doctor_common;

use doctor_common::*;
use mesh_core::doctor::suppress::{self, parse_selector, Selector, ANNOTATION};
use mesh_core::doctor::{run_checks, success, FailOn, Finding, Input, Kind, Snapshot, SnapshotDecoder, Status};
use mesh_core::recover::plan_recover;
use serde_json::{json, Value};

fn sel(s: &[&str]) -> Vec<Selector> {
    s.iter().map(|s| parse_selector(s).unwrap()).collect()
}

fn annotate(obj: &mut Value, value: &str) {
    obj["metadata"]["annotations"] = json!({ ANNOTATION: value });
}

/// Two Deployments with stale sidecars (reviews-v2, ratings-v1), a sidecar-less caller under mesh-wide STRICT
/// mTLS (details-v1), and a not-ready pod in each of two Deployments.
fn broken() -> Cluster {
    let mut c = healthy();
    c.objects
        .retain(|o| !(o["kind"] == "ConfigMap" && o["metadata"]["namespace"] == "istio-demo"));
    c.push(root_cert_cm("istio-demo", &new_root()));
    for dep in ["reviews-v2", "ratings-v1", "details-v1"] {
        c.objects
            .retain(|o| !(o["kind"] == "Pod" && o["metadata"]["name"] == format!("{dep}-5d8f9c-x1")));
    }
    c.push(with_sidecar(
        deploy_pod("istio-demo", "reviews-v2", "a"),
        "2026-11-10T09:00:00Z",
        "1.26.2",
    ));
    c.push(with_sidecar(
        deploy_pod("istio-demo", "ratings-v1", "a"),
        "2026-11-10T09:00:00Z",
        "1.26.2",
    ));
    c.push(deploy_pod("istio-demo", "details-v1", "plain"));
    for dep in ["productpage-v1", "reviews-v1"] {
        let mut p = with_sidecar(deploy_pod("istio-demo", dep, "slow"), "2026-11-20T00:00:10Z", "1.26.2");
        p["status"]["conditions"] = json!([{"type": "Ready", "status": "False"}]);
        c.push(p);
    }
    c
}

fn run(c: &Cluster, selectors: &[Selector]) -> (Vec<Finding>, Vec<String>, Snapshot) {
    let snapshot = c.snapshot();
    let mut findings = run_checks(&snapshot, now());
    let notes = suppress::apply(&mut findings, &snapshot, selectors);
    (findings, notes, snapshot)
}

fn of<'a>(findings: &'a [Finding], id: &str) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.id == id).collect()
}

fn about<'a>(findings: &'a [Finding], id: &str, needle: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.id == id && f.message.contains(needle))
        .unwrap_or_else(|| panic!("no {id} finding about {needle}: {findings:#?}"))
}

#[test]
fn without_suppression_the_cluster_fails() {
    let (findings, notes, _) = run(&broken(), &[]);
    assert!(notes.is_empty());
    assert_eq!(of(&findings, "stale-sidecar-cert").len(), 2);
    assert!(!success(&findings));
    assert!(findings.iter().all(|f| f.status != Status::Suppressed));
}

#[test]
fn a_selector_less_code_silences_every_finding_of_the_code_and_keeps_the_entries() {
    let (findings, _, _) = run(&broken(), &sel(&["KM2030"]));
    let stale = of(&findings, "stale-sidecar-cert");
    assert_eq!(stale.len(), 2, "entries stay");
    for f in stale {
        assert_eq!(f.status, Status::Suppressed);
        let s = f.suppressed.as_ref().unwrap();
        assert_eq!(s.status, Status::Error);
        assert_eq!(s.by, ["--suppress KM2030"]);
        let json = serde_json::to_value(f).unwrap();
        assert_eq!(json["status"], "suppressed");
        assert_eq!(
            json["suppressed"],
            json!({"status": "error", "by": ["--suppress KM2030"]})
        );
    }
    // The other errors still fail the run; suppressing them all passes it.
    assert!(!success(&findings));
    let (findings, _, _) = run(
        &broken(),
        &sel(&["stale-sidecar-cert", "KM2020", "KM3070", "pods-not-ready"]),
    );
    assert!(success(&findings), "{findings:#?}");
    assert!(
        !FailOn::Warning.failed(&findings),
        "suppressed warnings do not fail --fail-on warning"
    );
}

#[test]
fn an_annotation_on_a_deployment_covers_its_pods_only() {
    let mut c = broken();
    annotate(c.get_mut("Deployment", "reviews-v2"), "KM2030");
    let (findings, _, _) = run(&c, &[]);
    let v2 = about(&findings, "stale-sidecar-cert", "reviews-v2");
    assert_eq!(v2.status, Status::Suppressed);
    assert_eq!(
        v2.suppressed.as_ref().unwrap().by,
        ["annotation on deployment istio-demo/reviews-v2"]
    );
    let ratings = about(&findings, "stale-sidecar-cert", "ratings-v1");
    assert_eq!(ratings.status, Status::Error, "the other Deployment's finding stays");
}

#[test]
fn a_selector_on_a_workload_or_namespace_covers_what_it_controls() {
    let (findings, _, _) = run(&broken(), &sel(&["KM2030=deploy/istio-demo/reviews-v2"]));
    assert_eq!(
        about(&findings, "stale-sidecar-cert", "reviews-v2").status,
        Status::Suppressed
    );
    assert_eq!(
        about(&findings, "stale-sidecar-cert", "ratings-v1").status,
        Status::Error
    );
    let (findings, _, _) = run(&broken(), &sel(&["KM2030=Pod/istio-demo/*"]));
    assert!(of(&findings, "stale-sidecar-cert")
        .iter()
        .all(|f| f.status == Status::Suppressed));
    let (findings, _, _) = run(&broken(), &sel(&["KM2030=Namespace/istio-demo"]));
    assert!(of(&findings, "stale-sidecar-cert")
        .iter()
        .all(|f| f.status == Status::Suppressed));
    let (findings, notes, _) = run(&broken(), &sel(&["KM2030=Namespace/other"]));
    assert!(of(&findings, "stale-sidecar-cert")
        .iter()
        .all(|f| f.status == Status::Error));
    assert_eq!(
        notes,
        ["--suppress KM2030=Namespace/other matched no error or warning of KM2030"]
    );
}

#[test]
fn a_finding_is_suppressed_only_when_every_resource_it_names_is_covered() {
    // pods-not-ready names the not-ready pods of two Deployments in one finding.
    let mut c = broken();
    annotate(c.get_mut("Deployment", "reviews-v1"), "pods-not-ready");
    let (findings, _, _) = run(&c, &[]);
    let f = of(&findings, "pods-not-ready");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].status, Status::Warning, "productpage-v1's pod is not covered");
    annotate(c.get_mut("Deployment", "productpage-v1"), "KM2060");
    let (findings, _, _) = run(&c, &[]);
    assert_eq!(of(&findings, "pods-not-ready")[0].status, Status::Suppressed);

    // mtls-plaintext-callers names the caller's pods and the PeerAuthentication.
    let mut c = broken();
    annotate(c.get_mut("Deployment", "details-v1"), "KM3070");
    let (findings, _, _) = run(&c, &[]);
    assert_eq!(of(&findings, "mtls-plaintext-callers")[0].status, Status::Error);
    annotate(c.get_mut("PeerAuthentication", "default"), "KM3070");
    let (findings, _, _) = run(&c, &[]);
    let f = &of(&findings, "mtls-plaintext-callers")[0];
    assert_eq!(f.status, Status::Suppressed);
    assert_eq!(
        f.suppressed.as_ref().unwrap().by,
        [
            "annotation on deployment istio-demo/details-v1",
            "annotation on peerauthentication istio-system/default"
        ]
    );
}

#[test]
fn a_namespace_annotation_and_star_cover_everything_in_it() {
    let mut c = broken();
    annotate(c.get_mut("Namespace", "istio-demo"), "*");
    annotate(c.get_mut("Namespace", "istio-system"), "KM3070");
    let (findings, notes, _) = run(&c, &[]);
    assert!(notes.is_empty(), "{notes:?}");
    assert!(success(&findings), "{findings:#?}");
    assert!(!FailOn::Warning.failed(&findings));
    let f = about(&findings, "stale-sidecar-cert", "reviews-v2");
    assert_eq!(
        f.suppressed.as_ref().unwrap().by,
        ["annotation on namespace istio-demo"]
    );
}

#[test]
fn only_problems_are_suppressed_and_resource_less_findings_need_a_plain_code() {
    let mut c = broken();
    c.forbid(Kind::PodDisruptionBudget, None);
    annotate(c.get_mut("Namespace", "istio-demo"), "*");
    let (findings, _, _) = run(&c, &[]);
    // api-access's warning names no resource: annotations cannot reach it.
    let access = &of(&findings, "api-access")[0];
    assert_eq!(access.status, Status::Warning);
    assert!(access.resources.is_empty());
    let (findings, _, _) = run(&c, &sel(&["KM0010"]));
    assert_eq!(of(&findings, "api-access")[0].status, Status::Suppressed);
    // ok findings stay ok whatever covers them.
    let (findings, _, _) = run(&healthy(), &sel(&["KM1030"]));
    assert_eq!(of(&findings, "istiod-ready")[0].status, Status::Ok);
}

#[test]
fn unknown_codes_in_annotations_are_notes_not_failures() {
    let mut c = broken();
    annotate(
        c.get_mut("Deployment", "reviews-v2"),
        " KM2030 , KM9999,route-backend-unready",
    );
    let (findings, notes, _) = run(&c, &[]);
    assert_eq!(
        about(&findings, "stale-sidecar-cert", "reviews-v2").status,
        Status::Suppressed
    );
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].contains("deployment istio-demo/reviews-v2") && notes[0].contains("\"KM9999\""),
        "{notes:?}"
    );
}

#[test]
fn recover_does_not_act_on_suppressed_findings() {
    let mut c = broken();
    annotate(c.get_mut("Deployment", "reviews-v2"), "KM2030");
    let (findings, _, snapshot) = run(&c, &[]);
    let plan = plan_recover(&findings, &snapshot);
    let targets: Vec<String> = plan.actions.iter().map(|a| a.target.to_string()).collect();
    assert!(
        targets.contains(&"deployment istio-demo/ratings-v1".to_string()),
        "{targets:?}"
    );
    assert!(!targets.iter().any(|t| t.contains("reviews-v2")), "{targets:?}");
    let skipped: Vec<(String, &str)> = plan
        .skipped
        .iter()
        .map(|(t, why)| (t.to_string(), why.as_str()))
        .collect();
    assert!(
        skipped.iter().any(|(t, why)| t == "deployment istio-demo/reviews-v2"
            && why.contains("suppressed by annotation on deployment istio-demo/reviews-v2")),
        "{skipped:?}"
    );
}

/// A list page as the API server sends it.
fn page(items: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items}),
    )
    .unwrap()
}

#[test]
fn the_slim_decoders_keep_the_annotation_for_every_kind_findings_name() {
    let objects: Vec<(Kind, Value)> = vec![
        (Kind::Namespace, namespace("istio-demo", &[])),
        (Kind::Pod, deploy_pod("istio-demo", "reviews-v2", "a")),
        (Kind::Deployment, deployment("istio-demo", "reviews-v2", "x")),
        (Kind::StatefulSet, deployment("istio-demo", "db", "x")),
        (Kind::DaemonSet, deployment("istio-system", "ztunnel", "x")),
        (Kind::Service, service("istio-demo", "reviews", &[9080])),
        (Kind::ConfigMap, root_cert_cm("istio-demo", "x")),
        (
            Kind::PeerAuthentication,
            peer_auth("istio-system", "default", "STRICT", None),
        ),
        (Kind::Gateway, gateway("istio-demo", "gw", ("True", "Programmed"))),
        (
            Kind::HttpRoute,
            mesh_route("istio-demo", "reviews", "reviews", &[("reviews-v1", 1)]),
        ),
        (
            Kind::CustomResourceDefinition,
            crd("httproutes.gateway.networking.k8s.io", "v1.0.0"),
        ),
        (Kind::MutatingWebhookConfiguration, injector_webhook("x")),
    ];
    let mut decoder = SnapshotDecoder::default();
    for (kind, mut obj) in objects.clone() {
        // Other annotations around it, as real objects have (and a large one doctor must not keep).
        obj["metadata"]["annotations"] = json!({
            "kubectl.kubernetes.io/last-applied-configuration": "{\"big\": true}",
            ANNOTATION: format!("KM2030,{}", kind),
            "sidecar.istio.io/status": "{\"initContainers\":[\"istio-init\"]}",
        });
        decoder.push(kind, Input::Page(&page(vec![obj]))).unwrap();
    }
    let snapshot = decoder.finish();
    assert_eq!(snapshot.suppress_annotations.len(), objects.len());
    for (kind, obj) in &objects {
        let a = snapshot
            .suppress_annotations
            .iter()
            .find(|a| a.kind == *kind)
            .unwrap_or_else(|| panic!("{kind}: annotation lost by the decoder"));
        assert_eq!(a.name, obj["metadata"]["name"].as_str().unwrap());
        assert_eq!(a.namespace.as_deref(), obj["metadata"]["namespace"].as_str());
        assert_eq!(a.value, format!("KM2030,{kind}"));
    }
    // Also on the per-item fallback path (a null where an object belongs), and cleared when a LIST restarts.
    let mut decoder = SnapshotDecoder::default();
    let mut p = deploy_pod("istio-demo", "reviews-v2", "b");
    annotate(&mut p, "KM2030");
    p["spec"]["nodeSelector"] = Value::Null;
    p["status"]["conditions"] = Value::Null;
    decoder.push(Kind::Pod, Input::Page(&page(vec![p]))).unwrap();
    let mut d = deployment("istio-demo", "reviews-v2", "x");
    annotate(&mut d, "KM2030");
    decoder.push(Kind::Deployment, Input::Page(&page(vec![d]))).unwrap();
    decoder.clear(Kind::Deployment);
    let snapshot = decoder.finish();
    let kinds: Vec<Kind> = snapshot.suppress_annotations.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [Kind::Pod]);
}
