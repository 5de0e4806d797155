//! Each doctor check fires on the broken cluster it is about and stays quiet on a healthy one.

mod doctor_common;

use doctor_common::*;
use mesh_core::doctor::{run_checks, success, Category, Finding, Fix, Kind, OwnerKind, Status, Unavailable, CHECKS};
use serde_json::json;

fn run(c: &Cluster) -> Vec<Finding> {
    run_checks(&c.snapshot(), now())
}

fn of(findings: &[Finding], id: &str) -> Vec<Finding> {
    let v: Vec<Finding> = findings.iter().filter(|f| f.id == id).cloned().collect();
    assert!(!v.is_empty(), "check {id} emitted nothing: {findings:#?}");
    v
}

fn only_ok(findings: &[Finding], id: &str) {
    let v = of(findings, id);
    assert!(v.iter().all(|f| f.status == Status::Ok), "{id} should be ok: {v:#?}");
}

fn problems(findings: &[Finding], id: &str, status: Status) -> Vec<Finding> {
    let v: Vec<Finding> = of(findings, id).into_iter().filter(|f| f.status == status).collect();
    assert!(!v.is_empty(), "{id} has no {status:?} finding: {findings:#?}");
    v
}

fn pod_names(f: &Finding) -> Vec<String> {
    let mut v: Vec<String> = f
        .resources
        .iter()
        .filter(|r| r.kind == "Pod")
        .map(|r| r.name.clone())
        .collect();
    v.sort();
    v
}

#[test]
fn healthy_cluster_passes_every_check() {
    let findings = run(&healthy());
    for f in &findings {
        assert_eq!(f.status, Status::Ok, "unexpected: {f:#?}");
        assert!(
            CHECKS.iter().any(|c| c.id == f.id && c.category == f.category),
            "{} not documented in CHECKS with category {:?}",
            f.id,
            f.category
        );
    }
    for c in CHECKS.iter().filter(|c| !c.opt_in()) {
        of(&findings, c.id);
    }
    assert!(success(&findings));
    let crds = of(&findings, "gateway-api-crds");
    assert!(crds[0].message.contains("v1.0.0"), "{}", crds[0].message);
    let istiod = of(&findings, "istiod-ready");
    assert!(istiod[0].message.contains("1.26.2"), "{}", istiod[0].message);
}

#[test]
fn check_ids_are_unique_and_kebab_case() {
    let mut ids: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), CHECKS.len());
    assert!(ids
        .iter()
        .all(|id| id.chars().all(|c| c.is_ascii_lowercase() || c == '-')));
}

// ---------- stale-sidecar-cert ----------

/// istio-demo's ConfigMap holds the old and the new root (rotation), with text between.
fn rotated_cluster() -> Cluster {
    let mut c = healthy();
    let bundle = format!(
        "# previous root\n{}\nsome garbage between blocks\n{}",
        old_root(),
        new_root()
    );
    *c.get_mut("ConfigMap", "istio-ca-root-cert") = root_cert_cm("istio-system", &new_root());
    c.objects
        .retain(|o| !(o["kind"] == "ConfigMap" && o["metadata"]["namespace"] == "istio-demo"));
    c.push(root_cert_cm("istio-demo", &bundle));
    // reviews-v1: one pod before the new root (stale), one after.
    c.objects
        .retain(|o| !(o["kind"] == "Pod" && o["metadata"]["name"] == "reviews-v1-5d8f9c-x1"));
    c.push(with_sidecar(
        deploy_pod("istio-demo", "reviews-v1", "old"),
        "2026-11-10T09:00:00Z",
        "1.26.2",
    ));
    c.push(with_sidecar(
        deploy_pod("istio-demo", "reviews-v1", "new"),
        "2026-11-16T09:00:00Z",
        "1.26.2",
    ));
    // ratings: one second before the root's NotBefore.
    c.objects
        .retain(|o| !(o["kind"] == "Pod" && o["metadata"]["name"] == "ratings-v1-5d8f9c-x1"));
    c.push(with_sidecar(
        deploy_pod("istio-demo", "ratings-v1", "edge"),
        "2026-11-15T11:59:59Z",
        "1.26.2",
    ));
    // details: exactly at NotBefore is not stale.
    c.objects
        .retain(|o| !(o["kind"] == "Pod" && o["metadata"]["name"] == "details-v1-5d8f9c-x1"));
    c.push(with_sidecar(
        deploy_pod("istio-demo", "details-v1", "at"),
        NEW_ROOT_NOT_BEFORE,
        "1.26.2",
    ));
    // A bare pod with a native sidecar started long ago.
    c.push(with_native_sidecar(
        pod("istio-demo", "native-debug"),
        "2026-11-01T00:00:00Z",
        "1.26.2",
    ));
    // A namespace without its own ConfigMap falls back to istio-system's root.
    c.push(namespace("legacy", &[]));
    c.push(with_sidecar(
        pod("legacy", "old-proxy"),
        "2026-10-01T00:00:00Z",
        "1.26.2",
    ));
    c
}

#[test]
fn stale_sidecar_cert_names_exactly_the_pods_started_before_the_current_root() {
    let findings = run(&rotated_cluster());
    let stale = problems(&findings, "stale-sidecar-cert", Status::Error);
    let mut named: Vec<String> = stale.iter().flat_map(pod_names).collect();
    named.sort();
    assert_eq!(
        named,
        [
            "native-debug",
            "old-proxy",
            "ratings-v1-5d8f9c-edge",
            "reviews-v1-5d8f9c-old"
        ]
    );
    // One finding per owner; the Deployment gets a restart with exactly its stale pod.
    let reviews = stale
        .iter()
        .find(|f| f.message.contains("deployment istio-demo/reviews-v1"))
        .unwrap();
    assert_eq!(
        reviews.fix,
        Some(Fix::RestartOwner {
            kind: OwnerKind::Deployment,
            namespace: "istio-demo".into(),
            name: "reviews-v1".into(),
            pods: vec!["reviews-v1-5d8f9c-old".into()],
            reason: "istio-proxy started before the current root certificate".into(),
        })
    );
    assert!(reviews.message.contains("2026-11-15T12:00:00Z"), "{}", reviews.message);
    assert!(reviews.message.contains("8d ago"), "{}", reviews.message);
    assert!(reviews.hint.as_deref().unwrap().contains("CERTIFICATE_VERIFY_FAILED"));
    let native = stale.iter().find(|f| pod_names(f) == ["native-debug"]).unwrap();
    assert!(matches!(&native.fix, Some(Fix::EvictPod { name, .. }) if name == "native-debug"));
    assert!(!success(&findings));
}

#[test]
fn stale_sidecar_cert_quiet_when_sidecars_started_after_the_only_root() {
    let mut c = rotated_cluster();
    // Only the old root everywhere: every sidecar started after 2026-01-01.
    for o in c.objects.iter_mut().filter(|o| o["kind"] == "ConfigMap") {
        o["data"]["root-cert.pem"] = json!(old_root());
    }
    c.remove("MutatingWebhookConfiguration", "istio-sidecar-injector");
    let findings = run(&c);
    only_ok(&findings, "stale-sidecar-cert");
    let ok = of(&findings, "stale-sidecar-cert");
    assert!(ok[0].message.contains("all 10 sidecars"), "{}", ok[0].message);
}

#[test]
fn stale_sidecar_cert_unparsable_pem_is_a_warning_not_a_crash() {
    let mut c = healthy();
    c.objects
        .retain(|o| !(o["kind"] == "ConfigMap" && o["metadata"]["namespace"] == "istio-demo"));
    c.push(root_cert_cm(
        "istio-demo",
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
    ));
    let findings = run(&c);
    let w = problems(&findings, "stale-sidecar-cert", Status::Warning);
    assert!(
        w[0].message.contains("istio-demo/istio-ca-root-cert"),
        "{}",
        w[0].message
    );
    assert!(w[0].message.contains("not an X.509 certificate"), "{}", w[0].message);
}

// ---------- sidecar-missing / injection-label-conflict ----------

#[test]
fn sidecar_missing_fires_and_says_the_pod_predates_the_label() {
    let mut c = healthy();
    let mut p = deploy_pod("istio-demo", "ratings-v1", "plain");
    p["metadata"]["creationTimestamp"] = json!("2026-11-18T00:00:00Z"); // label set 2026-11-19
    c.push(p);
    c.push(pod("istio-demo", "bare-plain"));
    let findings = run(&c);
    let missing = problems(&findings, "sidecar-missing", Status::Error);
    assert_eq!(missing.len(), 2);
    let ratings = missing
        .iter()
        .find(|f| f.message.contains("deployment istio-demo/ratings-v1"))
        .unwrap();
    assert!(
        ratings
            .message
            .contains("created before label istio-injection was set on namespace istio-demo (2026-11-19T08:00:00Z, by kubectl-label)"),
        "{}",
        ratings.message
    );
    assert_eq!(pod_names(ratings), ["ratings-v1-5d8f9c-plain"]);
    assert!(matches!(
        &ratings.fix,
        Some(Fix::RestartOwner { kind: OwnerKind::Deployment, name, pods, .. })
            if name == "ratings-v1" && pods == &["ratings-v1-5d8f9c-plain"]
    ));
    let bare = missing.iter().find(|f| f.message.contains("bare-plain")).unwrap();
    assert!(!bare.message.contains("before label"), "{}", bare.message);
    assert!(matches!(&bare.fix, Some(Fix::EvictPod { name, .. }) if name == "bare-plain"));
}

#[test]
fn sidecar_missing_ignores_opted_out_completed_host_network_and_unlabelled_namespaces() {
    let mut c = healthy();
    let mut opted = pod("istio-demo", "opted-label");
    opted["metadata"]["labels"]["sidecar.istio.io/inject"] = json!("false");
    c.push(opted);
    let mut opted = pod("istio-demo", "opted-annotation");
    opted["metadata"]["annotations"] = json!({"sidecar.istio.io/inject": "false"});
    c.push(opted);
    let mut done = owned(pod("istio-demo", "migrate-x"), "Job", "migrate");
    done["status"]["phase"] = json!("Succeeded");
    c.push(done);
    let mut host = pod("istio-demo", "node-agent");
    host["spec"]["hostNetwork"] = json!(true);
    c.push(host);
    c.push(pod("default", "outside"));
    let findings = run(&c);
    only_ok(&findings, "sidecar-missing");
}

#[test]
fn sidecar_missing_counts_revision_labelled_namespaces_and_native_sidecars() {
    let mut c = healthy();
    c.push(namespace("canary", &[("istio.io/rev", "1-26-2")]));
    c.push(with_native_sidecar(
        pod("canary", "native-ok"),
        "2026-11-20T00:00:00Z",
        "1.26.2",
    ));
    c.push(pod("canary", "no-proxy"));
    let findings = run(&c);
    let missing = problems(&findings, "sidecar-missing", Status::Error);
    assert_eq!(missing.len(), 1);
    assert_eq!(pod_names(&missing[0]), ["no-proxy"]);
}

#[test]
fn injection_label_conflict_fires_only_with_both_labels() {
    let mut c = healthy();
    c.push(namespace(
        "both",
        &[("istio-injection", "enabled"), ("istio.io/rev", "canary")],
    ));
    let findings = run(&c);
    let w = problems(&findings, "injection-label-conflict", Status::Warning);
    assert!(w[0].message.contains("namespace both"));
    only_ok(&run(&healthy()), "injection-label-conflict");
}

// ---------- root-cert-mismatch / proxy-version-skew / pods-not-ready ----------

#[test]
fn root_cert_mismatch_fires_for_namespace_and_injector_ca_bundle() {
    let mut c = healthy();
    c.objects
        .retain(|o| !(o["kind"] == "ConfigMap" && o["metadata"]["namespace"] == "default"));
    c.push(root_cert_cm("default", &old_root()));
    *c.get_mut("MutatingWebhookConfiguration", "istio-sidecar-injector") = injector_webhook(&old_root());
    let findings = run(&c);
    let errors = problems(&findings, "root-cert-mismatch", Status::Error);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.contains("default/istio-ca-root-cert"));
    assert!(
        errors[0].message.contains("2026-01-01T00:00:00Z"),
        "{}",
        errors[0].message
    );
    let warn = problems(&findings, "root-cert-mismatch", Status::Warning);
    assert!(warn[0].message.contains("istio-sidecar-injector"));
}

#[test]
fn root_cert_mismatch_ignores_bundle_order() {
    let mut c = healthy();
    let both_a = format!("{}{}", old_root(), new_root());
    let both_b = format!("{}\n{}", new_root(), old_root());
    for o in c.objects.iter_mut().filter(|o| o["kind"] == "ConfigMap") {
        let ns = o["metadata"]["namespace"].as_str().unwrap().to_string();
        o["data"]["root-cert.pem"] = json!(if ns == "istio-system" { &both_a } else { &both_b });
    }
    only_ok(&run(&c), "root-cert-mismatch");
}

#[test]
fn proxy_version_skew_warns_about_old_sidecars() {
    let mut c = healthy();
    c.push(with_sidecar(
        deploy_pod("istio-demo", "reviews-v2", "old"),
        "2026-11-20T00:00:00Z",
        "1.25.1",
    ));
    let findings = run(&c);
    let w = problems(&findings, "proxy-version-skew", Status::Warning);
    assert!(
        w[0].message.contains("proxy 1.25.1 while istiod runs 1.26.2"),
        "{}",
        w[0].message
    );
    assert_eq!(pod_names(&w[0]), ["reviews-v2-5d8f9c-old"]);
    assert!(success(&findings), "a warning must not fail doctor");
}

#[test]
fn pods_not_ready_warns() {
    let mut c = healthy();
    let mut p = with_sidecar(deploy_pod("istio-demo", "details-v1", "crash"), STARTED_LATE, "1.26.2");
    p["status"]["conditions"] = json!([{"type": "Ready", "status": "False"}]);
    c.push(p);
    let w = problems(&run(&c), "pods-not-ready", Status::Warning);
    assert_eq!(pod_names(&w[0]), ["details-v1-5d8f9c-crash"]);
}

const STARTED_LATE: &str = "2026-11-21T00:00:00Z";

// ---------- prerequisites ----------

#[test]
fn istiod_ready_fails_without_available_replicas_or_deployment() {
    let mut c = healthy();
    let d = c.get_mut("Deployment", "istiod");
    d["status"]["availableReplicas"] = json!(0);
    d["status"]["conditions"] =
        json!([{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}]);
    let e = problems(&run(&c), "istiod-ready", Status::Error);
    assert!(e[0].message.contains("no available replica"));
    c.remove("Deployment", "istiod");
    let e = problems(&run(&c), "istiod-ready", Status::Error);
    assert!(e[0].message.contains("no istiod Deployment"));
}

#[test]
fn gateway_api_crds_reads_bundle_version_from_the_annotation() {
    let mut c = healthy();
    let route = c.get_mut("CustomResourceDefinition", "httproutes.gateway.networking.k8s.io");
    // Version only as a label: not where the bundle version lives.
    route["metadata"]["annotations"] = json!({});
    route["metadata"]["labels"] = json!({"gateway.networking.k8s.io/bundle-version": "v9.9.9"});
    let ok = of(&run(&c), "gateway-api-crds");
    assert_eq!(ok[0].status, Status::Ok);
    assert!(ok[0].message.contains("unknown version"), "{}", ok[0].message);
    assert!(!ok[0].message.contains("v9.9.9"));
}

#[test]
fn gateway_api_crds_missing_is_an_error_and_routing_checks_skip() {
    let mut c = healthy();
    c.remove("CustomResourceDefinition", "httproutes.gateway.networking.k8s.io");
    c.remove("CustomResourceDefinition", "gateways.gateway.networking.k8s.io");
    c.objects.retain(|o| o["kind"] != "HTTPRoute" && o["kind"] != "Gateway");
    c.unavailable.push((Kind::HttpRoute, Unavailable::NotServed));
    c.unavailable.push((Kind::Gateway, Unavailable::NotServed));
    let findings = run(&c);
    let e = problems(&findings, "gateway-api-crds", Status::Error);
    assert!(e[0].hint.as_deref().unwrap().contains("standard-install.yaml"));
    for id in [
        "route-parent-invalid",
        "route-backend-missing",
        "gateway-not-programmed",
    ] {
        assert_eq!(of(&findings, id)[0].status, Status::Skipped, "{id}");
    }
    // NotServed is not a permission problem.
    only_ok(&findings, "api-access");
}

#[test]
fn gateway_not_programmed_reports_the_reason() {
    let mut c = healthy();
    *c.get_mut("Gateway", "bookinfo-gateway") =
        gateway("istio-demo", "bookinfo-gateway", ("False", "AddressNotAssigned"));
    let e = problems(&run(&c), "gateway-not-programmed", Status::Error);
    assert!(e[0].message.contains("AddressNotAssigned"));
}

#[test]
fn gateway_no_address_points_at_metallb() {
    let mut c = healthy();
    *c.get_mut("Service", "bookinfo-gateway-istio") = gateway_service("istio-demo", "bookinfo-gateway", None);
    let w = problems(&run(&c), "gateway-no-address", Status::Warning);
    assert!(w[0].message.contains("bookinfo-gateway-istio"));
    assert!(w[0].hint.as_deref().unwrap().contains("MetalLB"));
}

#[test]
fn traefik_present_warns_only_next_to_an_istio_gateway() {
    let mut c = healthy();
    let mut t = service("kube-system", "traefik", &[80, 443]);
    t["spec"]["type"] = json!("LoadBalancer");
    c.push(t);
    c.push(deployment(
        "kube-system",
        "traefik",
        "rancher/mirrored-library-traefik:2.10.5",
    ));
    let w = problems(&run(&c), "traefik-present", Status::Warning);
    assert!(w[0].hint.as_deref().unwrap().contains("--disable=traefik@server:0"));
    assert!(w[0].hint.as_deref().unwrap().contains("delete helmchart traefik"));
    c.remove("Service", "bookinfo-gateway-istio");
    only_ok(&run(&c), "traefik-present");
}

// ---------- routing ----------

#[test]
fn route_parent_invalid_fires_for_missing_service_and_port() {
    let mut c = healthy();
    c.push(mesh_route("istio-demo", "ghost", "ghost", &[("reviews-v1", 1)]));
    let mut wrong_port = mesh_route("istio-demo", "ratings", "ratings", &[("ratings", 1)]);
    wrong_port["spec"]["parentRefs"][0]["port"] = json!(8080);
    c.push(wrong_port);
    let e = problems(&run(&c), "route-parent-invalid", Status::Error);
    assert_eq!(e.len(), 2);
    assert!(e
        .iter()
        .any(|f| f.message.contains("parent Service istio-demo/ghost does not exist")));
    assert!(e.iter().any(|f| f.message.contains("has no port 8080 (ports: 9080)")));
}

#[test]
fn route_backend_missing_says_which_share_gets_500s() {
    let mut c = healthy();
    c.remove("Service", "reviews-v3");
    let e = problems(&run(&c), "route-backend-missing", Status::Error);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].message
            .contains("reviews-v3 does not exist: its 10% of requests get HTTP 500"),
        "{}",
        e[0].message
    );
}

#[test]
fn route_backend_unready_counts_ready_or_absent_conditions() {
    let mut c = healthy();
    c.objects.retain(|o| {
        !(o["kind"] == "EndpointSlice" && o["metadata"]["labels"]["kubernetes.io/service-name"] == "reviews-v1")
    });
    c.push(endpoint_slice("istio-demo", "reviews-v1", 0, 2));
    let e = problems(&run(&c), "route-backend-unready", Status::Error);
    assert!(
        e[0].message
            .contains("reviews-v1 has no ready endpoints: its 90% of requests get 503 no healthy upstream"),
        "{}",
        e[0].message
    );
    // An endpoint without a ready condition counts as ready.
    c.objects.retain(|o| {
        !(o["kind"] == "EndpointSlice" && o["metadata"]["labels"]["kubernetes.io/service-name"] == "reviews-v1")
    });
    let mut s = endpoint_slice("istio-demo", "reviews-v1", 0, 0);
    s["endpoints"] = json!([{"addresses": ["10.0.0.9"]}]);
    c.push(s);
    only_ok(&run(&c), "route-backend-unready");
}

#[test]
fn route_not_accepted_reports_reason_and_message() {
    let mut c = healthy();
    let r = c.get_mut("HTTPRoute", "reviews");
    r["status"]["parents"][0]["conditions"][1] = json!({"type": "ResolvedRefs", "status": "False",
        "reason": "BackendNotFound", "message": "backend(reviews-v9.istio-demo.svc.cluster.local) not found"});
    let e = problems(&run(&c), "route-not-accepted", Status::Error);
    assert!(
        e[0].message
            .contains("ResolvedRefs is False: BackendNotFound: backend(reviews-v9"),
        "{}",
        e[0].message
    );
}

#[test]
fn route_weights_zero_fires_when_every_backend_is_zero() {
    let mut c = healthy();
    c.push(mesh_route("istio-demo", "ratings", "ratings", &[("ratings", 0)]));
    let e = problems(&run(&c), "route-weights-zero", Status::Error);
    assert!(e[0].message.contains("HTTPRoute istio-demo/ratings rules[0]"));
    // A zero weight next to a non-zero one is a normal split.
    only_ok(&run(&healthy()), "route-weights-zero");
}

#[test]
fn route_weights_default_to_one_when_absent() {
    let mut c = healthy();
    let mut r = mesh_route("istio-demo", "details", "details", &[("details", 1)]);
    r["spec"]["rules"][0]["backendRefs"][0]
        .as_object_mut()
        .unwrap()
        .remove("weight");
    c.push(r);
    only_ok(&run(&c), "route-weights-zero");
}

#[test]
fn mtls_plaintext_callers_fires_for_sidecarless_pods_under_strict() {
    let mut c = healthy();
    c.push(deploy_pod("istio-demo", "ratings-v1", "plain"));
    let findings = run(&c);
    let e = problems(&findings, "mtls-plaintext-callers", Status::Error);
    assert!(e[0].message.contains("503 connection termination"));
    assert!(
        e[0].message
            .contains("mesh-wide (PeerAuthentication istio-system/default)"),
        "{}",
        e[0].message
    );
    assert!(e[0].resources.iter().any(|r| r.kind == "PeerAuthentication"));
    assert!(matches!(&e[0].fix, Some(Fix::RestartOwner { name, .. }) if name == "ratings-v1"));
}

#[test]
fn mtls_plaintext_callers_quiet_under_permissive() {
    let mut c = healthy();
    c.push(deploy_pod("istio-demo", "ratings-v1", "plain"));
    *c.get_mut("PeerAuthentication", "default") = peer_auth("istio-system", "default", "PERMISSIVE", None);
    only_ok(&run(&c), "mtls-plaintext-callers");
}

#[test]
fn mtls_plaintext_callers_in_uninjected_namespace_get_no_fix() {
    let mut c = healthy();
    c.remove("PeerAuthentication", "default");
    c.push(namespace("legacy", &[]));
    c.push(peer_auth("legacy", "strict", "STRICT", None));
    c.push(pod("legacy", "plain"));
    let e = problems(&run(&c), "mtls-plaintext-callers", Status::Error);
    assert_eq!(pod_names(&e[0]), ["plain"]);
    assert!(e[0].message.contains("namespace legacy"));
    assert_eq!(e[0].fix, None);
}

// ---------- permissions ----------

#[test]
fn forbidden_pods_skip_pod_checks_and_name_the_permission() {
    let mut c = healthy();
    c.push(pod("istio-demo", "bare-plain")); // would fire if pods were readable
    c.forbid(Kind::Pod, Some("istio-demo"));
    let findings = run(&c);
    for id in [
        "sidecar-missing",
        "stale-sidecar-cert",
        "proxy-version-skew",
        "mtls-plaintext-callers",
    ] {
        let f = of(&findings, id);
        assert_eq!(f.len(), 1, "{id}");
        assert_eq!(f[0].status, Status::Skipped, "{id}");
        assert_eq!(f[0].message, "needs list pods in istio-demo", "{id}");
    }
    let api = problems(&findings, "api-access", Status::Warning);
    assert!(api[0].message.contains("needs list pods in istio-demo"));
    assert!(success(&findings), "skipped checks never fail doctor");
}

#[test]
fn forbidden_crds_fall_back_to_served_httproutes() {
    let mut c = healthy();
    c.forbid(Kind::CustomResourceDefinition, None);
    let f = of(&run(&c), "gateway-api-crds");
    assert_eq!(f[0].status, Status::Ok);
    assert!(
        f[0].message
            .contains("needs list customresourcedefinitions.apiextensions.k8s.io cluster-wide"),
        "{}",
        f[0].message
    );
}

#[test]
fn categories_follow_checks_table() {
    let findings = run(&rotated_cluster());
    for f in &findings {
        let c = CHECKS.iter().find(|c| c.id == f.id).unwrap();
        assert_eq!(c.category, f.category);
    }
    assert!(findings.iter().any(|f| f.category == Category::KubernetesApi));
}

#[test]
fn mtls_plaintext_callers_flags_opted_out_pods_without_restarting_them() {
    let mut c = healthy();
    let mut p = pod("istio-demo", "legacy-client");
    p["metadata"]["labels"]["sidecar.istio.io/inject"] = json!("false");
    c.push(p);
    let findings = run(&c);
    // Opting out is deliberate: not a missing sidecar, but it still cannot call STRICT workloads.
    only_ok(&findings, "sidecar-missing");
    let e = problems(&findings, "mtls-plaintext-callers", Status::Error);
    assert_eq!(pod_names(&e[0]), ["legacy-client"]);
    assert_eq!(e[0].fix, None);
    assert!(e[0].hint.as_deref().unwrap().contains("PERMISSIVE"));
}

#[test]
fn sidecar_missing_covers_pods_that_ask_for_injection_outside_injected_namespaces() {
    let mut c = healthy();
    let mut p = pod("default", "wants-proxy");
    p["metadata"]["labels"]["sidecar.istio.io/inject"] = json!("true");
    c.push(p);
    let e = problems(&run(&c), "sidecar-missing", Status::Error);
    assert_eq!(pod_names(&e[0]), ["wants-proxy"]);
}

#[test]
fn a_backend_in_a_namespace_not_read_is_unverified_not_missing() {
    // `doctor -n istio-demo` with a route sending a share to a Service of another namespace: that namespace's
    // Services were not listed, so the backend's absence from the snapshot proves nothing.
    let mut c = healthy();
    let mut route = mesh_route(
        "istio-demo",
        "ratings",
        "ratings",
        &[("ratings", 90), ("ratings-v9", 10)],
    );
    route["spec"]["rules"][0]["backendRefs"][1]["namespace"] = json!("other");
    c.push(route);
    let scoped = c
        .snapshot()
        .with_scope(mesh_core::scope::Scope::Namespaces(vec!["istio-demo".into()]));
    let findings = mesh_core::doctor::run_checks(&scoped, now());
    let missing = of(&findings, "route-backend-missing");
    assert!(missing.iter().all(|f| f.status != Status::Error), "{missing:#?}");
    let skipped: Vec<&Finding> = missing.iter().filter(|f| f.status == Status::Skipped).collect();
    assert_eq!(skipped.len(), 1, "{missing:#?}");
    assert!(
        skipped[0].message.contains("Service other/ratings-v9"),
        "{}",
        skipped[0].message
    );
    assert!(
        skipped[0].hint.as_deref().unwrap().contains("-A"),
        "{:?}",
        skipped[0].hint
    );
    // Read whole (-A), the same backend is missing for real.
    let findings = mesh_core::doctor::run_checks(&c.snapshot(), now());
    let errors = problems(&findings, "route-backend-missing", Status::Error);
    assert_eq!(errors.len(), 1, "{findings:#?}");
    assert!(errors[0].message.contains("other/ratings-v9"), "{}", errors[0].message);
}
