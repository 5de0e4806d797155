//! Scenarios and controllers of the sandbox, and the real upstream Gateway API CRDs loaded into it.

#[path = "common/sandbox.rs"]
mod sandbox_common;

use mesh_sandbox::scenario::{self, cert_not_before, GatewayApiBundle, ROTATED_ROOT_CERT_PEM};
use mesh_sandbox::{ServerOptions, TestServer};
use sandbox_common::shared_fixtures;
use serde_json::{json, Value};

fn server() -> TestServer {
    TestServer::start(ServerOptions::default()).unwrap()
}

fn proxy_started_at(pod: &Value) -> Option<String> {
    for key in ["containerStatuses", "initContainerStatuses"] {
        if let Some(cs) = pod["status"][key].as_array() {
            if let Some(c) = cs.iter().find(|c| c["name"] == "istio-proxy") {
                return c["state"]["running"]["startedAt"].as_str().map(str::to_string);
            }
        }
    }
    None
}

fn route_with_parent_port() -> &'static str {
    "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: reviews\n  namespace: default\nspec:\n  parentRefs:\n  - group: \"\"\n    kind: Service\n    name: reviews\n    port: 9080\n  rules:\n  - backendRefs:\n    - name: reviews-v1\n      port: 9080\n"
}

fn load_upstream_crds(s: &TestServer, dir: &std::path::Path) {
    for f in [
        "gateway.networking.k8s.io_gatewayclasses.yaml",
        "gateway.networking.k8s.io_gateways.yaml",
        "gateway.networking.k8s.io_httproutes.yaml",
        "gateway.networking.k8s.io_referencegrants.yaml",
    ] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        s.load_yaml(&text).unwrap();
    }
}

#[test]
fn upstream_v1_0_crds_prune_parent_port_and_apply_defaults() {
    let Some(fx) = shared_fixtures() else { return };
    let s = server();
    let t = std::time::Instant::now();
    load_upstream_crds(&s, &fx.join("gateway-api"));
    assert!(t.elapsed().as_secs() < 20, "loading CRDs took {:?}", t.elapsed());
    let crd = s.get("crd", None, "httproutes.gateway.networking.k8s.io").unwrap();
    assert_eq!(
        crd["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"],
        "v1.0.0"
    );
    let stored = s.load_yaml(route_with_parent_port()).unwrap();
    let route = &stored[0];
    assert!(
        route["spec"]["parentRefs"][0].get("port").is_none(),
        "{}",
        route["spec"]
    );
    assert_eq!(
        route["spec"]["rules"][0]["matches"],
        json!([{"path": {"type": "PathPrefix", "value": "/"}}])
    );
    assert_eq!(route["spec"]["rules"][0]["backendRefs"][0]["weight"], 1);
    assert_eq!(route["spec"]["rules"][0]["backendRefs"][0]["kind"], "Service");
    assert_eq!(route["spec"]["rules"][0]["backendRefs"][0]["group"], "");
}

#[test]
fn upstream_v1_6_crds_keep_parent_port_and_enforce_limits() {
    let Some(fx) = shared_fixtures() else { return };
    let s = server();
    load_upstream_crds(&s, &fx.join("gateway-api/latest"));
    let stored = s.load_yaml(route_with_parent_port()).unwrap();
    assert_eq!(stored[0]["spec"]["parentRefs"][0]["port"], 9080);
    let too_heavy = route_with_parent_port().replace("port: 9080\n", "port: 9080\n      weight: 1000001\n");
    let too_heavy = too_heavy.replacen("      weight: 1000001\n", "", 1);
    let err = s.load_yaml(&too_heavy).unwrap_err().to_string();
    assert!(err.contains("should be less than or equal to 1000000"), "{err}");
    let bad_header = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: h\n  namespace: default\nspec:\n  rules:\n  - matches:\n    - headers:\n      - name: \"bad header\"\n        value: x\n";
    let err = s.load_yaml(bad_header).unwrap_err().to_string();
    assert!(err.contains("spec.rules[0].matches[0].headers[0].name"), "{err}");
}

#[test]
fn bookinfo_fixture_loads_into_running_pods() {
    let Some(fx) = shared_fixtures() else { return };
    let s = server();
    s.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bi", "labels": {"istio-injection": "enabled"}}}))
        .unwrap();
    let yaml = std::fs::read_to_string(fx.join("istio-bookinfo/bookinfo.yaml")).unwrap();
    let loaded = s.load_yaml_in(&yaml, Some("bi")).unwrap();
    assert!(loaded.iter().all(|o| o["metadata"]["namespace"] == "bi"));
    // Loading again is an apply: nothing new.
    let rv = s.resource_version();
    s.load_yaml_in(&yaml, Some("bi")).unwrap();
    assert_eq!(s.resource_version(), rv);
    let pods = s.list("pods", Some("bi"));
    assert_eq!(pods.len(), 6);
    assert!(pods.iter().all(|p| p["status"]["phase"] == "Running"));
    assert!(pods.iter().all(|p| proxy_started_at(p).is_some()));
    let slices = s.list_selected("endpointslices", Some("bi"), "kubernetes.io/service-name=reviews");
    assert_eq!(slices.len(), 1);
    assert_eq!(slices[0]["endpoints"].as_array().unwrap().len(), 3);
    assert_eq!(slices[0]["ports"][0]["port"], 9080);
}

#[test]
fn bookinfo_scenario_has_injected_pods_routes_and_root_certs() {
    let s = server();
    s.apply_scenario(&scenario::bookinfo()).unwrap();
    let pods = s.list("pods", Some("istio-demo"));
    let app_pods: Vec<&Value> = pods
        .iter()
        .filter(|p| p["metadata"]["labels"]["app"].is_string())
        .collect();
    assert_eq!(app_pods.len(), 6);
    for p in &app_pods {
        assert_eq!(p["metadata"]["labels"]["security.istio.io/tlsMode"], "istio");
        let status: Value = serde_json::from_str(
            p["metadata"]["annotations"]["sidecar.istio.io/status"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(status["revision"], "default");
        let proxy = p["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "istio-proxy")
            .unwrap();
        assert_eq!(proxy["image"], "docker.io/istio/proxyv2:1.26.2");
        assert_eq!(p["spec"]["initContainers"][0]["name"], "istio-init");
    }
    let istiod = s.get("deployment", Some("istio-system"), "istiod").unwrap();
    assert_eq!(
        istiod["spec"]["template"]["spec"]["containers"][0]["image"],
        "docker.io/istio/pilot:1.26.2"
    );
    assert_eq!(istiod["status"]["readyReplicas"], 1);
    for ns in ["default", "istio-system", "istio-demo"] {
        let cm = s.get("configmap", Some(ns), "istio-ca-root-cert").unwrap();
        assert_eq!(cm["metadata"]["labels"]["istio.io/config"], "true");
        assert!(cm["data"]["root-cert.pem"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----"));
    }
    let route = s.get("httproutes", Some("istio-demo"), "reviews").unwrap();
    assert_eq!(route["spec"]["rules"][0]["backendRefs"][0]["name"], "reviews-v1");
    let gw_svc = s.get("svc", Some("istio-demo"), "bookinfo-gateway-istio").unwrap();
    assert_eq!(gw_svc["status"]["loadBalancer"]["ingress"][0]["ip"], "172.18.0.3");
    let d = s.get("deploy", Some("istio-demo"), "reviews-v2").unwrap();
    let progressing = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap();
    assert_eq!(progressing["reason"], "NewReplicaSetAvailable");
    let rs = s.list_selected("rs", Some("istio-demo"), "app=reviews,version=v2");
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0]["metadata"]["ownerReferences"][0]["controller"], true);
    let hash = rs[0]["metadata"]["labels"]["pod-template-hash"].as_str().unwrap();
    assert_eq!(rs[0]["metadata"]["name"], format!("reviews-v2-{hash}"));
}

#[test]
fn stale_root_cert_scenario_backdates_only_some_sidecars() {
    let s = server();
    s.apply_scenario(&scenario::bookinfo().stale_root_cert()).unwrap();
    let not_before = cert_not_before(ROTATED_ROOT_CERT_PEM).unwrap();
    let cm = s.get("cm", Some("istio-demo"), "istio-ca-root-cert").unwrap();
    assert_eq!(cm["data"]["root-cert.pem"], ROTATED_ROOT_CERT_PEM);
    let started = |sel: &str| -> jiff::Timestamp {
        let pods = s.list_selected("pods", Some("istio-demo"), sel);
        proxy_started_at(&pods[0]).unwrap().parse().unwrap()
    };
    assert!(started("app=reviews,version=v2") < not_before);
    assert!(started("app=ratings") < not_before);
    assert!(started("app=reviews,version=v1") > not_before);
    assert!(started("app=productpage") > not_before);
}

#[test]
fn missing_sidecar_and_native_sidecar_variants() {
    let s = server();
    s.apply_scenario(&scenario::bookinfo().missing_sidecar()).unwrap();
    let details = s.list_selected("pods", Some("istio-demo"), "app=details");
    assert_eq!(details.len(), 1);
    assert!(proxy_started_at(&details[0]).is_none());
    assert!(proxy_started_at(&s.list_selected("pods", Some("istio-demo"), "app=ratings")[0]).is_some());

    let s = server();
    s.apply_scenario(&scenario::bookinfo().native_sidecars()).unwrap();
    let p = &s.list_selected("pods", Some("istio-demo"), "app=ratings")[0];
    let init = p["spec"]["initContainers"].as_array().unwrap();
    assert_eq!(init[1]["name"], "istio-proxy");
    assert_eq!(init[1]["restartPolicy"], "Always");
    assert!(p["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["name"] != "istio-proxy"));
    let st = p["status"]["initContainerStatuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "istio-proxy")
        .unwrap();
    assert!(st["state"]["running"]["startedAt"].is_string());
}

#[test]
fn without_crds_httproutes_are_not_served() {
    let s = server();
    s.apply_scenario(&scenario::bookinfo().no_crds()).unwrap();
    assert!(s.get("httproutes", Some("istio-demo"), "reviews").is_none());
    let list = s.with_store(|st| st.registry.api_group_list());
    assert!(!list.to_string().contains("gateway.networking.k8s.io"));
    // Installing the v1.6-like CRDs registers the kinds; deleting one unregisters it.
    s.load_yaml(GatewayApiBundle::V1_6.crds_json().unwrap()).unwrap();
    assert!(s.with_store(|st| st.registry.resolve("httproutes").is_some()));
    s.delete("crd", None, "httproutes.gateway.networking.k8s.io").unwrap();
    assert!(s.with_store(|st| st.registry.resolve("httproutes").is_none()));
}

#[test]
fn scenario_scales_to_ten_thousand_pods() {
    let s = server();
    let t = std::time::Instant::now();
    s.apply_scenario(&scenario::bookinfo().pods(10_000)).unwrap();
    let built = t.elapsed();
    let t = std::time::Instant::now();
    let pods = s.list("pods", Some("load"));
    assert_eq!(pods.len(), 10_000);
    assert!(pods.iter().all(|p| p["status"]["phase"] == "Running"));
    eprintln!("built 10k pods in {built:?}, listed in {:?}", t.elapsed());
    assert!(built.as_secs() < 120, "{built:?}");
}

#[test]
fn deleting_a_namespace_deletes_its_objects() {
    let s = server();
    s.apply_scenario(&scenario::bookinfo()).unwrap();
    s.delete("ns", None, "istio-demo").unwrap();
    // Terminating first (kube-apiserver: phase Terminating, finalizer kubernetes), its pods terminating and
    // everything else gone; nothing new may be created in it.
    let ns = s.get("ns", None, "istio-demo").expect("listed while terminating");
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    assert!(s.list("httproutes", Some("istio-demo")).is_empty());
    assert!(s
        .list("pods", Some("istio-demo"))
        .iter()
        .all(|p| p["metadata"]["deletionTimestamp"].is_string()));
    let err = s
        .insert(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late", "namespace": "istio-demo"}}),
        )
        .unwrap_err();
    assert_eq!(err.code, 403);
    // Then, its pods done, the namespace goes.
    for _ in 0..100 {
        if s.get("ns", None, "istio-demo").is_none() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(s.get("ns", None, "istio-demo").is_none());
    assert!(s.list("pods", Some("istio-demo")).is_empty());
    assert!(!s.list("pods", Some("istio-system")).is_empty());
}

#[test]
fn paused_deployments_do_not_roll_out() {
    let s = server();
    s.apply_scenario(&scenario::bookinfo()).unwrap();
    let mut d = s.get("deploy", Some("istio-demo"), "ratings-v1").unwrap();
    let pod_before = s.list_selected("pods", Some("istio-demo"), "app=ratings")[0]["metadata"]["name"].clone();
    d["spec"]["paused"] = json!(true);
    d["spec"]["template"]["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"});
    s.update(d).unwrap();
    let pods = s.list_selected("pods", Some("istio-demo"), "app=ratings");
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0]["metadata"]["name"], pod_before);
    let d = s.get("deploy", Some("istio-demo"), "ratings-v1").unwrap();
    let progressing = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap();
    assert_eq!(progressing["reason"], "DeploymentPaused");
    // Resuming rolls out the new template.
    let mut d = d;
    d["spec"]["paused"] = json!(false);
    s.update(d).unwrap();
    // The old pod terminates while the new one runs.
    for _ in 0..100 {
        if s.list_selected("pods", Some("istio-demo"), "app=ratings").len() == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pods = s.list_selected("pods", Some("istio-demo"), "app=ratings");
    assert_eq!(pods.len(), 1);
    assert_ne!(pods[0]["metadata"]["name"], pod_before);
    assert_eq!(s.list_selected("rs", Some("istio-demo"), "app=ratings").len(), 2);
}

#[test]
fn statefulsets_and_daemonsets_get_pods_and_status() {
    let s = server();
    s.apply_scenario(&scenario::bookinfo()).unwrap();
    let template = json!({"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}});
    s.insert(json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "istio-demo"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "db"}}, "serviceName": "db", "template": template}}))
        .unwrap();
    let mut names: Vec<String> = s
        .list_selected("pods", Some("istio-demo"), "app=db")
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["db-0", "db-1"]);
    assert_eq!(
        s.get("sts", Some("istio-demo"), "db").unwrap()["status"]["readyReplicas"],
        2
    );
    let ds_template = json!({"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "agent", "image": "agent:1"}]}});
    s.insert(
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "istio-demo"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": ds_template}}),
    )
    .unwrap();
    assert_eq!(s.list_selected("pods", Some("istio-demo"), "app=agent").len(), 1);
    assert_eq!(
        s.get("ds", Some("istio-demo"), "agent").unwrap()["status"]["numberReady"],
        1
    );
}

fn route_yaml(rules: &str) -> String {
    format!("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: limits\n  namespace: istio-demo\nspec:\n  parentRefs:\n  - group: \"\"\n    kind: Service\n    name: reviews\n  rules:\n{rules}")
}

#[test]
fn crds_enforce_gateway_api_limits() {
    let backend = "    - name: reviews-v1\n      port: 9080\n";
    let many_backends = format!("  - backendRefs:\n{}", backend.repeat(17));
    let nine_matches = format!(
        "  - matches:\n{}",
        "    - path:\n        type: PathPrefix\n        value: /x\n".repeat(9)
    );
    let named_rule = "  - name: default\n    backendRefs:\n    - name: reviews-v1\n      port: 9080\n";
    let bad_weight = "  - backendRefs:\n    - name: reviews-v1\n      port: 9080\n      weight: -1\n";

    let v10 = server();
    v10.apply_scenario(&scenario::bookinfo()).unwrap();
    let err = v10.load_yaml(&route_yaml(&many_backends)).unwrap_err().to_string();
    assert!(
        err.contains("spec.rules[0].backendRefs: Too many: 17: must have at most 16 items"),
        "{err}"
    );
    let err = v10.load_yaml(&route_yaml(&nine_matches)).unwrap_err().to_string();
    assert!(err.contains("spec.rules[0].matches: Too many: 9"), "{err}");
    let err = v10.load_yaml(&route_yaml(bad_weight)).unwrap_err().to_string();
    assert!(err.contains("should be greater than or equal to 0"), "{err}");
    let stored = v10.load_yaml(&route_yaml(named_rule)).unwrap();
    assert!(stored[0]["spec"]["rules"][0].get("name").is_none());

    let v16 = server();
    v16.apply_scenario(&scenario::bookinfo().crds(GatewayApiBundle::V1_6))
        .unwrap();
    let crd = v16.get("crd", None, "httproutes.gateway.networking.k8s.io").unwrap();
    assert_eq!(
        crd["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"],
        "v1.6.1"
    );
    v16.load_yaml(&route_yaml(&nine_matches)).unwrap();
    let stored = v16.load_yaml(&route_yaml(named_rule)).unwrap();
    assert_eq!(stored[0]["spec"]["rules"][0]["name"], "default");
    let reviews = v16.get("httproutes", Some("istio-demo"), "reviews").unwrap();
    assert_eq!(reviews["spec"]["parentRefs"][0]["port"], 9080);
}

#[test]
fn strict_mtls_and_unready_backend_variants() {
    let s = server();
    s.apply_scenario(&scenario::bookinfo().strict_mtls().unready_backend())
        .unwrap();
    let pa = s.get("peerauthentications", Some("istio-system"), "default").unwrap();
    assert_eq!(pa["spec"]["mtls"]["mode"], "STRICT");
    let slice = &s.list_selected(
        "endpointslices",
        Some("istio-demo"),
        "kubernetes.io/service-name=reviews-v3",
    )[0];
    assert!(slice["endpoints"].as_array().unwrap().is_empty());
    let slice = &s.list_selected(
        "endpointslices",
        Some("istio-demo"),
        "kubernetes.io/service-name=reviews-v2",
    )[0];
    assert_eq!(slice["endpoints"][0]["conditions"]["ready"], true);
}

#[test]
fn broken_route_and_no_istio_variants() {
    let s = server();
    s.apply_scenario(&scenario::bookinfo().broken_route()).unwrap();
    let r = s.get("httproutes", Some("istio-demo"), "ratings").unwrap();
    assert_eq!(r["spec"]["rules"][0]["backendRefs"][0]["name"], "ratings-v9");
    assert!(s.get("svc", Some("istio-demo"), "ratings-v9").is_none());
    assert_eq!(r["status"]["parents"][0]["conditions"][1]["reason"], "BackendNotFound");

    let s = server();
    s.apply_scenario(&scenario::bookinfo().no_istio()).unwrap();
    assert!(s.get("ns", None, "istio-system").is_none());
    assert!(s.get("cm", Some("istio-demo"), "istio-ca-root-cert").is_none());
    let p = &s.list_selected("pods", Some("istio-demo"), "app=ratings")[0];
    assert!(proxy_started_at(p).is_none());
    assert!(p["metadata"]["annotations"]["sidecar.istio.io/status"].is_null());
}
