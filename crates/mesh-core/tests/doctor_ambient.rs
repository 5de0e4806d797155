//! Issue 16's checks on fixtures: each fires on the cluster it is about and stays quiet on the near misses —
//! ambient mode (ztunnel, waypoints, pods in both data planes), GAMMA attachment (parent group, headless
//! parents, catch-all rules, VirtualService conflicts), Gateway API CRD versions, and the folding of Istio's
//! route conditions into the finding they confirm.

mod doctor_common;

use doctor_common::*;
use mesh_core::ambient::{DataPlane, MISSING_LABEL_MESSAGE};
use mesh_core::doctor::model::pod_from_value;
use mesh_core::doctor::{run_checks, Finding, Kind, Scope, Snapshot, Status, Unavailable};
use mesh_core::recover::plan::{plan_recover, Target, AMBIENT_REASON};
use serde_json::{json, Value};

const AMB: &str = "ambient-demo";

fn run(c: &Cluster) -> Vec<Finding> {
    run_checks(&c.snapshot(), now())
}

fn of(findings: &[Finding], id: &str) -> Vec<Finding> {
    let v: Vec<Finding> = findings.iter().filter(|f| f.id == id).cloned().collect();
    assert!(!v.is_empty(), "check {id} emitted nothing: {findings:#?}");
    v
}

#[track_caller]
fn only_ok(findings: &[Finding], id: &str) -> Finding {
    let v = of(findings, id);
    assert!(v.iter().all(|f| f.status == Status::Ok), "{id} should be ok: {v:#?}");
    v[0].clone()
}

#[track_caller]
fn problems(findings: &[Finding], id: &str, status: Status) -> Vec<Finding> {
    let v: Vec<Finding> = of(findings, id).into_iter().filter(|f| f.status == status).collect();
    assert!(!v.is_empty(), "{id} has no {status:?} finding: {:#?}", of(findings, id));
    v
}

fn names(f: &Finding, kind: &str) -> Vec<String> {
    let mut v: Vec<String> = f
        .resources
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| r.name.clone())
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------------------
// Builders: objects shaped as Istio's charts and controllers leave them.

fn daemon_set(ns: &str, name: &str, desired: i64, ready: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": ns, "labels": {"app.kubernetes.io/name": "ztunnel"}},
        "spec": {"selector": {"matchLabels": {"app": "ztunnel"}},
            "template": {"metadata": {"labels": {"app": "ztunnel", "istio.io/dataplane-mode": "none", "sidecar.istio.io/inject": "false"}},
                "spec": {"containers": [{"name": "istio-proxy", "image": "docker.io/istio/ztunnel:1.26.2"}]}}},
        "status": {"desiredNumberScheduled": desired, "currentNumberScheduled": desired, "numberReady": ready,
            "numberAvailable": ready}})
}

fn ztunnel_pod(ns: &str, name: &str, ready: bool) -> Value {
    let mut p = owned(pod(ns, name), "DaemonSet", "ztunnel");
    p["metadata"]["labels"] =
        json!({"app": "ztunnel", "istio.io/dataplane-mode": "none", "sidecar.istio.io/inject": "false"});
    p["spec"]["containers"] = json!([{"name": "istio-proxy", "image": "docker.io/istio/ztunnel:1.26.2"}]);
    p["status"]["containerStatuses"] =
        json!([{"name": "istio-proxy", "ready": ready, "state": {"running": {"startedAt": "2026-11-20T00:00:01Z"}}}]);
    p["status"]["conditions"] = json!([{"type": "Ready", "status": if ready { "True" } else { "False" }}]);
    p
}

fn gateway_class(name: &str, controller: &str) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": name},
        "spec": {"controllerName": controller}})
}

/// A waypoint as `istioctl waypoint apply` makes it, programmed and with an address.
fn waypoint(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": name, "namespace": ns, "labels": {"istio.io/waypoint-for": "service"}},
        "spec": {"gatewayClassName": "istio-waypoint",
            "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]},
        "status": {"addresses": [{"type": "IPAddress", "value": "10.43.0.50"}],
            "conditions": [{"type": "Programmed", "status": "True", "reason": "Programmed", "message": "Resource programmed"}]}})
}

fn waypoint_deployment(ns: &str, name: &str, available: i64) -> Value {
    let mut d = deployment(ns, name, "docker.io/istio/proxyv2:1.26.2");
    d["metadata"]["labels"] =
        json!({"gateway.networking.k8s.io/gateway-name": name, "gateway.istio.io/managed": "istio.io-mesh-controller"});
    d["status"]["availableReplicas"] = json!(available);
    d
}

/// A pod the CNI captured for ztunnel (no sidecar).
fn ambient_pod(ns: &str, deploy: &str, suffix: &str) -> Value {
    let mut p = deploy_pod(ns, deploy, suffix);
    p["metadata"]["annotations"] = json!({"ambient.istio.io/redirection": "enabled"});
    p["metadata"]["labels"]["version"] = json!("v1");
    p
}

/// Istio's status entry on a mesh route's Service parent, with ResolvedWaypoints saying `message`.
fn istio_parent_status(parent: &str, waypoint_message: &str, generation: i64) -> Value {
    json!({"parentRef": {"group": "", "kind": "Service", "name": parent},
        "controllerName": "istio.io/gateway-controller",
        "conditions": [
            {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Route was valid", "observedGeneration": generation},
            {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "All references resolved", "observedGeneration": generation},
            {"type": "ResolvedWaypoints", "status": "True", "reason": "ResolvedWaypoints", "message": waypoint_message, "observedGeneration": generation}]})
}

fn ambient_route(ns: &str, name: &str, backend: &str, waypoint_message: &str) -> Value {
    let mut r = mesh_route(ns, name, name, &[(backend, 1)]);
    r["metadata"]["generation"] = json!(1);
    r["status"]["parents"] = json!([istio_parent_status(name, waypoint_message, 1)]);
    r
}

/// The healthy Bookinfo plus an ambient namespace: ztunnel, a waypoint, `reviews` enrolled in it, `ratings`
/// not (its route is the one problem), STRICT mTLS in the namespace.
fn ambient() -> Cluster {
    let mut c = healthy();
    let root = new_root();
    for o in [
        namespace(AMB, &[("istio.io/dataplane-mode", "ambient")]),
        root_cert_cm(AMB, &root),
        daemon_set("istio-system", "ztunnel", 1, 1),
        ztunnel_pod("istio-system", "ztunnel-x7k2p", true),
        gateway_class("istio", "istio.io/gateway-controller"),
        gateway_class("istio-waypoint", "istio.io/mesh-controller"),
        waypoint(AMB, "waypoint"),
        waypoint_deployment(AMB, "waypoint", 1),
        peer_auth(AMB, "default", "STRICT", None),
        ambient_route(AMB, "reviews", "reviews-v1", "All waypoints resolved"),
        ambient_route(AMB, "ratings", "ratings-v1", MISSING_LABEL_MESSAGE),
    ] {
        c.push(o);
    }
    let mut wsvc = service(AMB, "waypoint", &[15021, 15008]);
    wsvc["metadata"]["labels"] = json!({"gateway.networking.k8s.io/gateway-name": "waypoint", "gateway.istio.io/managed": "istio.io-mesh-controller"});
    wsvc["spec"]["selector"] = json!({"gateway.networking.k8s.io/gateway-name": "waypoint"});
    c.push(wsvc);
    let mut wpod = deploy_pod(AMB, "waypoint", "w1");
    wpod["metadata"]["labels"] = json!({"gateway.networking.k8s.io/gateway-name": "waypoint",
        "gateway.istio.io/managed": "istio.io-mesh-controller", "istio.io/dataplane-mode": "none", "pod-template-hash": "5d8f9c"});
    c.push(with_sidecar(wpod, "2026-11-20T00:00:10Z", "1.26.2"));
    c.push(replica_set(AMB, "waypoint-5d8f9c", "waypoint"));
    for svc in ["reviews", "reviews-v1", "ratings", "ratings-v1"] {
        let mut s = service(AMB, svc, &[9080]);
        // Each Service selects what its pods carry (the deployment helper labels pods `app: NAME`).
        s["spec"]["selector"] = json!({"app": svc});
        if svc == "reviews" {
            s["metadata"]["labels"]["istio.io/use-waypoint"] = json!("waypoint");
            s["status"] = json!({"conditions": [{"type": "istio.io/WaypointBound", "status": "True", "reason": "WaypointAccepted",
                "message": "Successfully attached to waypoint ambient-demo/waypoint"}]});
        }
        c.push(s);
        c.push(endpoint_slice(AMB, svc, 1, 0));
    }
    for dep in ["reviews-v1", "ratings-v1"] {
        c.push(deployment(AMB, dep, "docker.io/istio/examples-bookinfo:1.20"));
        c.push(replica_set(AMB, &format!("{dep}-5d8f9c"), dep));
        c.push(ambient_pod(AMB, dep, "a1"));
    }
    c
}

fn set_ns_labels(c: &mut Cluster, ns: &str, labels: Value) {
    c.get_mut("Namespace", ns)["metadata"]["labels"] = labels;
}

fn svc_mut<'a>(c: &'a mut Cluster, ns: &str, name: &str) -> &'a mut Value {
    c.objects
        .iter_mut()
        .find(|o| o["kind"] == "Service" && o["metadata"]["namespace"] == ns && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no Service {ns}/{name}"))
}

fn gw_mut<'a>(c: &'a mut Cluster, ns: &str, name: &str) -> &'a mut Value {
    c.objects
        .iter_mut()
        .find(|o| o["kind"] == "Gateway" && o["metadata"]["namespace"] == ns && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no Gateway {ns}/{name}"))
}

// ---------------------------------------------------------------------------------------------------------
// The ambient cluster as a whole.

#[test]
fn ambient_namespace_reports_only_the_route_istio_ignores() {
    let findings = run(&ambient());
    let bad: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.status == Status::Error || f.status == Status::Warning)
        .collect();
    assert_eq!(bad.len(), 1, "{bad:#?}");
    let e = problems(&findings, "route-waypoint-missing", Status::Error);
    assert_eq!(names(&e[0], "HTTPRoute"), ["ratings"]);
    assert!(e[0].message.contains("is ignored in ambient mode"), "{}", e[0].message);
    assert!(
        e[0].message.contains(&format!(
            "confirmed by Istio: ResolvedWaypoints {MISSING_LABEL_MESSAGE:?}"
        )),
        "{}",
        e[0].message
    );
    assert_eq!(
        e[0].hint.as_deref(),
        Some("enroll the Service in waypoint ambient-demo/waypoint: kubectl label service ratings -n ambient-demo istio.io/use-waypoint=waypoint (or the whole namespace: kubectl label namespace ambient-demo istio.io/use-waypoint=waypoint)")
    );
    // STRICT mTLS and pods without sidecars: ztunnel gives them mTLS.
    let ok = only_ok(&findings, "mtls-plaintext-callers");
    assert!(ok.message.contains("or is in ambient mode"), "{}", ok.message);
    only_ok(&findings, "sidecar-missing");
    let z = only_ok(&findings, "ztunnel-ready");
    assert!(
        z.message
            .contains("ztunnel istio-system/ztunnel ready on its node (version 1.26.2)"),
        "{}",
        z.message
    );
    only_ok(&findings, "route-not-accepted");
    only_ok(&findings, "waypoint-not-ready");
    only_ok(&findings, "waypoint-scope");
}

#[test]
fn pods_get_their_data_plane_from_their_namespace() {
    let snap = ambient().snapshot();
    let mode = |ns: &str, prefix: &str| {
        snap.pods
            .as_ref()
            .unwrap()
            .iter()
            .find(|p| p.namespace == ns && p.name.starts_with(prefix))
            .map(|p| p.mode)
            .unwrap()
    };
    assert_eq!(mode(AMB, "ratings-v1"), DataPlane::Ambient);
    assert_eq!(mode(AMB, "waypoint"), DataPlane::None);
    assert_eq!(mode("istio-system", "ztunnel"), DataPlane::None);
    assert_eq!(mode("istio-demo", "reviews-v1"), DataPlane::Sidecar { native: false });
    // Namespace label without the CNI's annotation: ambient by the labels.
    let mut c = ambient();
    c.push(deploy_pod(AMB, "late", "x"));
    let snap = c.snapshot();
    let late = snap
        .pods
        .as_ref()
        .unwrap()
        .iter()
        .find(|p| p.name.starts_with("late"))
        .unwrap();
    assert_eq!(late.mode, DataPlane::Ambient);
}

#[test]
fn the_injectors_large_status_annotation_is_seen_but_not_kept() {
    let mut p = with_sidecar(pod("istio-demo", "big"), "2026-11-20T00:00:10Z", "1.26.2");
    p["metadata"]["annotations"] = json!({"sidecar.istio.io/status": "x".repeat(6 * 1024)});
    let pod = pod_from_value(&p).unwrap();
    assert!(pod.has_sidecar_status);
    // The decoded pod holds no string of that size.
    assert!(format!("{pod:?}").len() < 2048, "{pod:?}");
}

// ---------------------------------------------------------------------------------------------------------
// ztunnel-ready

#[test]
fn ztunnel_ready_errors_when_missing_unscheduled_or_unready() {
    let mut c = ambient();
    c.remove("DaemonSet", "ztunnel");
    let e = problems(&run(&c), "ztunnel-ready", Status::Error);
    assert!(
        e[0].message
            .contains("no ztunnel DaemonSet exists in istio-system or kube-system"),
        "{}",
        e[0].message
    );
    assert!(e[0].message.contains("namespace ambient-demo"), "{}", e[0].message);
    assert_eq!(names(&e[0], "Namespace"), [AMB]);
    assert!(e[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("helm install ztunnel istio/ztunnel"));

    let mut c = ambient();
    *c.get_mut("DaemonSet", "ztunnel") = daemon_set("istio-system", "ztunnel", 3, 0);
    let e = problems(&run(&c), "ztunnel-ready", Status::Error);
    assert!(e[0].message.contains("has 0 of 3 pods ready"), "{}", e[0].message);

    let mut c = ambient();
    *c.get_mut("DaemonSet", "ztunnel") = daemon_set("istio-system", "ztunnel", 0, 0);
    let e = problems(&run(&c), "ztunnel-ready", Status::Error);
    assert!(
        e[0].message.contains("schedules no pod (desiredNumberScheduled 0)"),
        "{}",
        e[0].message
    );
    assert!(e[0].hint.as_deref().unwrap().contains("nodeSelector and tolerations"));
}

#[test]
fn ztunnel_ready_warns_naming_the_pods_not_ready() {
    let mut c = ambient();
    *c.get_mut("DaemonSet", "ztunnel") = daemon_set("istio-system", "ztunnel", 3, 2);
    c.push(ztunnel_pod("istio-system", "ztunnel-b2", true));
    c.push(ztunnel_pod("istio-system", "ztunnel-c3", false));
    let w = problems(&run(&c), "ztunnel-ready", Status::Warning);
    assert!(
        w[0].message.contains("has 2 of 3 pods ready (not ready: ztunnel-c3)"),
        "{}",
        w[0].message
    );
    assert_eq!(names(&w[0], "Pod"), ["ztunnel-c3"]);
    assert_eq!(names(&w[0], "DaemonSet"), ["ztunnel"]);
}

#[test]
fn ztunnel_ready_finds_it_in_kube_system_and_is_quiet_without_ambient() {
    let mut c = ambient();
    c.remove("DaemonSet", "ztunnel");
    c.push(daemon_set("kube-system", "ztunnel", 2, 2));
    let ok = only_ok(&run(&c), "ztunnel-ready");
    assert!(ok.message.contains("kube-system/ztunnel"), "{}", ok.message);
    // Renamed by the chart's resourceName: found by its label.
    let mut c = ambient();
    c.remove("DaemonSet", "ztunnel");
    c.push(daemon_set("istio-system", "ztunnel-gke", 2, 2));
    let ok = only_ok(&run(&c), "ztunnel-ready");
    assert!(ok.message.contains("istio-system/ztunnel-gke"), "{}", ok.message);

    let ok = only_ok(&run(&healthy()), "ztunnel-ready");
    assert_eq!(ok.message, "no namespace or pod uses ambient mode");
    // A pod labelled ambient in a plain namespace is enough to need ztunnel.
    let mut c = healthy();
    let mut p = pod("default", "solo");
    p["metadata"]["labels"]["istio.io/dataplane-mode"] = json!("ambient");
    c.push(p);
    let e = problems(&run(&c), "ztunnel-ready", Status::Error);
    assert!(
        e[0].message.contains("1 pod labelled istio.io/dataplane-mode=ambient"),
        "{}",
        e[0].message
    );
}

#[test]
fn ztunnel_ready_is_skipped_without_daemonsets() {
    let mut c = ambient();
    c.forbid(Kind::DaemonSet, None);
    let f = of(&run(&c), "ztunnel-ready");
    assert_eq!(f[0].status, Status::Skipped);
    assert_eq!(f[0].message, "needs list daemonsets.apps cluster-wide");
}

// ---------------------------------------------------------------------------------------------------------
// ambient-and-sidecar

#[test]
fn ambient_and_sidecar_warns_for_injected_pods_labelled_ambient() {
    // The namespace is injected and labelled ambient: its pods get sidecars, so ztunnel leaves them alone.
    let mut c = healthy();
    set_ns_labels(
        &mut c,
        "istio-demo",
        json!({"istio-injection": "enabled", "istio.io/dataplane-mode": "ambient"}),
    );
    let mut p = with_sidecar(
        deploy_pod("istio-demo", "reviews-v2", "inj"),
        "2026-11-20T00:00:10Z",
        "1.26.2",
    );
    p["metadata"]["annotations"] = json!({"sidecar.istio.io/status": "{\"containers\":[\"istio-proxy\"]}"});
    c.push(p);
    let findings = run(&c);
    let w = problems(&findings, "ambient-and-sidecar", Status::Warning);
    assert!(
        w[0].message
            .contains("namespace istio-demo has istio.io/dataplane-mode=ambient"),
        "{}",
        w[0].message
    );
    assert!(
        w[0].message.contains("Istio leaves them in sidecar mode"),
        "{}",
        w[0].message
    );
    assert!(w[0].hint.as_deref().unwrap().starts_with("pick one mode for namespace istio-demo: ambient — kubectl label namespace istio-demo istio-injection- then kubectl -n istio-demo rollout restart deployment/"), "{:?}", w[0].hint);
    // The namespace itself is what injection-label-conflict reports.
    problems(&findings, "injection-label-conflict", Status::Warning);

    // A pod label and a native sidecar.
    let mut c = healthy();
    let mut p = with_native_sidecar(pod("default", "native"), "2026-11-20T00:00:10Z", "1.26.2");
    p["metadata"]["labels"]["istio.io/dataplane-mode"] = json!("ambient");
    c.push(p);
    let w = problems(&run(&c), "ambient-and-sidecar", Status::Warning);
    assert!(
        w[0].message.contains("pod label istio.io/dataplane-mode=ambient"),
        "{}",
        w[0].message
    );
    assert_eq!(names(&w[0], "Pod"), ["native"]);
}

#[test]
fn ambient_and_sidecar_quiet_for_ambient_pods_opt_outs_and_istios_own_pods() {
    let mut c = ambient();
    // A sidecar pod that opted out of its namespace's ambient mode.
    let mut p = with_sidecar(deploy_pod(AMB, "legacy", "s"), "2026-11-20T00:00:10Z", "1.26.2");
    p["metadata"]["labels"]["istio.io/dataplane-mode"] = json!("none");
    c.push(p);
    only_ok(&run(&c), "ambient-and-sidecar");
}

// ---------------------------------------------------------------------------------------------------------
// gamma-parent-group, gamma-parent-headless

fn route_with_parent(parent: Value) -> Value {
    let mut r = mesh_route("istio-demo", "details", "details", &[("details", 1)]);
    r["spec"]["parentRefs"] = json!([{"name": "bookinfo-gateway"}, parent]);
    r["status"] = json!({});
    r
}

#[test]
fn gamma_parent_group_fires_for_omitted_default_and_core_groups() {
    for (parent, says) in [
        (
            json!({"kind": "Service", "name": "details"}),
            "because group is omitted",
        ),
        (
            json!({"group": "gateway.networking.k8s.io", "kind": "Service", "name": "details"}),
            "the default for an omitted group",
        ),
        (
            json!({"group": "core", "kind": "Service", "name": "details"}),
            "has group \"core\"",
        ),
    ] {
        let mut c = healthy();
        c.push(route_with_parent(parent.clone()));
        let e = problems(&run(&c), "gamma-parent-group", Status::Error);
        assert_eq!(e.len(), 1, "{parent}");
        assert!(e[0].message.contains(says), "{}", e[0].message);
        assert!(
            e[0].message.contains("parentRefs[1] {kind: Service, name: details}"),
            "{}",
            e[0].message
        );
        // The patch names index 1: the Service parentRef, not the Gateway one before it.
        assert_eq!(
            e[0].hint.as_deref(),
            Some(
                r#"set group "": kubectl -n istio-demo patch httproute details --type=json -p '[{"op":"add","path":"/spec/parentRefs/1/group","value":""}]'"#
            )
        );
        assert_eq!(names(&e[0], "Service"), ["details"]);
    }
}

#[test]
fn gamma_parent_group_quiet_for_core_group_and_gateway_parents() {
    let mut c = healthy();
    c.push(route_with_parent(
        json!({"group": "", "kind": "Service", "name": "details"}),
    ));
    only_ok(&run(&c), "gamma-parent-group");
}

#[test]
fn gamma_parent_headless_fires_for_headless_and_external_name() {
    for (spec, says) in [
        (json!({"clusterIP": "None"}), "is headless (clusterIP: None)"),
        (
            json!({"type": "ExternalName", "externalName": "x.example.com"}),
            "is of type ExternalName",
        ),
    ] {
        let mut c = healthy();
        let s = svc_mut(&mut c, "istio-demo", "reviews");
        for (k, v) in spec.as_object().unwrap() {
            s["spec"][k] = v.clone();
        }
        let e = problems(&run(&c), "gamma-parent-headless", Status::Error);
        assert!(e[0].message.contains(says), "{}", e[0].message);
        assert!(e[0]
            .message
            .contains("HTTPRoute istio-demo/reviews: parent Service istio-demo/reviews"));
    }
    for spec in [
        json!({"clusterIP": "10.43.1.2"}),
        json!({"type": "LoadBalancer", "clusterIP": "10.43.1.3"}),
    ] {
        let mut c = healthy();
        let s = svc_mut(&mut c, "istio-demo", "reviews");
        for (k, v) in spec.as_object().unwrap() {
            s["spec"][k] = v.clone();
        }
        only_ok(&run(&c), "gamma-parent-headless");
    }
}

// ---------------------------------------------------------------------------------------------------------
// route-waypoint-missing

#[test]
fn route_waypoint_missing_fires_for_every_way_of_lacking_a_waypoint() {
    // Namespace ambient, no labels anywhere (no waypoint Gateway either: the hint deploys one).
    let mut c = ambient();
    c.remove("Gateway", "waypoint");
    svc_mut(&mut c, AMB, "reviews")["metadata"]["labels"] = json!({"app": "reviews"});
    let e = problems(&run(&c), "route-waypoint-missing", Status::Error);
    assert_eq!(e.len(), 2);
    assert!(e.iter().all(|f| f.hint.as_deref() == Some("deploy a waypoint and enroll the namespace: istioctl waypoint apply -n ambient-demo --enroll-namespace --wait")));

    // The Service opts out of its namespace's waypoint.
    let mut c = ambient();
    set_ns_labels(
        &mut c,
        AMB,
        json!({"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint"}),
    );
    svc_mut(&mut c, AMB, "ratings")["metadata"]["labels"]["istio.io/use-waypoint"] = json!("none");
    let e = problems(&run(&c), "route-waypoint-missing", Status::Error);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].message
            .contains("the Service opts out of its namespace's waypoint (istio.io/use-waypoint=none)"),
        "{}",
        e[0].message
    );
    assert_eq!(
        e[0].hint.as_deref(),
        Some("remove the opt-out: kubectl label service ratings -n ambient-demo istio.io/use-waypoint-")
    );

    // Only the pods are ambient (pod label in a plain namespace).
    let mut c = healthy();
    c.push(namespace("plain", &[]));
    c.push(service("plain", "web", &[9080]));
    let mut p = deploy_pod("plain", "web-v1", "x");
    p["metadata"]["labels"] =
        json!({"app": "web", "istio.io/dataplane-mode": "ambient", "pod-template-hash": "5d8f9c"});
    c.push(p);
    c.push(mesh_route("plain", "web", "web", &[("web", 1)]));
    let e = problems(&run(&c), "route-waypoint-missing", Status::Error);
    assert!(
        e[0].message.contains("(its pods are in ambient mode)"),
        "{}",
        e[0].message
    );
}

#[test]
fn route_waypoint_missing_is_one_finding_with_istios_condition() {
    let findings = run(&ambient());
    assert_eq!(of(&findings, "route-waypoint-missing").len(), 1);
    only_ok(&findings, "route-not-accepted");
    // A future Istio writing status False: the same.
    let mut c = ambient();
    c.get_mut("HTTPRoute", "ratings")["status"]["parents"][0]["conditions"][2] = json!({
        "type": "ResolvedWaypoints", "status": "False", "reason": "MissingUseWaypointLabel", "message": "no waypoint", "observedGeneration": 1});
    let e = problems(&run(&c), "route-waypoint-missing", Status::Error);
    assert!(
        e[0].message
            .contains("confirmed by Istio: ResolvedWaypoints \"no waypoint\""),
        "{}",
        e[0].message
    );
}

#[test]
fn route_waypoint_missing_quiet_when_enrolled_or_not_ambient() {
    // Namespace label.
    let mut c = ambient();
    set_ns_labels(
        &mut c,
        AMB,
        json!({"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint"}),
    );
    only_ok(&run(&c), "route-waypoint-missing");
    // Service label.
    let mut c = ambient();
    svc_mut(&mut c, AMB, "ratings")["metadata"]["labels"]["istio.io/use-waypoint"] = json!("waypoint");
    only_ok(&run(&c), "route-waypoint-missing");
    // A sidecar namespace where Istio wrote the missing-label message anyway (it does for every GAMMA route).
    let mut c = healthy();
    *c.get_mut("HTTPRoute", "reviews") = ambient_route("istio-demo", "reviews", "reviews-v1", MISSING_LABEL_MESSAGE);
    only_ok(&run(&c), "route-waypoint-missing");
    // Injection and ambient on one namespace: Istio's analyzers take it for a sidecar namespace.
    let mut c = ambient();
    set_ns_labels(
        &mut c,
        AMB,
        json!({"istio.io/dataplane-mode": "ambient", "istio-injection": "enabled"}),
    );
    for o in c
        .objects
        .iter_mut()
        .filter(|o| o["kind"] == "Pod" && o["metadata"]["namespace"] == AMB)
    {
        o["metadata"]["annotations"] = json!({});
        if o["metadata"]["labels"].get("gateway.istio.io/managed").is_none() {
            *o = with_sidecar(o.clone(), "2026-11-20T00:00:10Z", "1.26.2");
        }
    }
    only_ok(&run(&c), "route-waypoint-missing");
}

#[test]
fn a_stale_condition_does_not_confirm() {
    let mut c = ambient();
    c.get_mut("HTTPRoute", "ratings")["metadata"]["generation"] = json!(2);
    let e = problems(&run(&c), "route-waypoint-missing", Status::Error);
    assert!(!e[0].message.contains("confirmed by Istio"), "{}", e[0].message);
}

// ---------------------------------------------------------------------------------------------------------
// waypoint-not-ready

fn enrolled_ratings() -> Cluster {
    let mut c = ambient();
    svc_mut(&mut c, AMB, "ratings")["metadata"]["labels"]["istio.io/use-waypoint"] = json!("waypoint");
    c
}

#[test]
fn waypoint_not_ready_names_the_first_cause() {
    type Break = Box<dyn Fn(&mut Cluster)>;
    let cases: Vec<(Break, &str)> = vec![
        (
            Box::new(|c| {
                c.remove("Gateway", "waypoint");
            }),
            "waypoint ambient-demo/waypoint does not exist",
        ),
        (
            Box::new(|c| {
                gw_mut(c, AMB, "waypoint")["spec"]["gatewayClassName"] = json!("istio");
            }),
            "is not a waypoint (gatewayClassName \"istio\"; waypoints use class istio-waypoint)",
        ),
        (
            Box::new(|c| {
                gw_mut(c, AMB, "waypoint")["status"]["conditions"] =
                    json!([{"type": "Programmed", "status": "False", "reason": "Invalid", "message": "bad listener"}]);
            }),
            "is not programmed (Programmed=False: Invalid: bad listener)",
        ),
        (
            Box::new(|c| {
                gw_mut(c, AMB, "waypoint")["status"]["addresses"] = json!([]);
            }),
            "has no address yet: Istio uses a waypoint only once its Deployment has a ready pod",
        ),
        (
            Box::new(|c| {
                c.get_mut("Deployment", "waypoint")["status"]["availableReplicas"] = json!(0);
            }),
            "has no available replica (Deployment ambient-demo/waypoint: 0 of 1 available)",
        ),
        (
            Box::new(|c| {
                gw_mut(c, AMB, "waypoint")["metadata"]["annotations"] =
                    json!({"gateway.istio.io/name-override": "wp-custom"});
            }),
            "has no Deployment ambient-demo/wp-custom",
        ),
    ];
    for (break_it, says) in cases {
        let mut c = enrolled_ratings();
        break_it(&mut c);
        let findings = run(&c);
        let e = problems(&findings, "waypoint-not-ready", Status::Error);
        assert_eq!(e.len(), 1, "{says}");
        assert!(e[0].message.contains(says), "{says}: {}", e[0].message);
        assert!(
            e[0].message
                .contains("Service ambient-demo/reviews (and 1 more) use it (istio.io/use-waypoint=waypoint)"),
            "{}",
            e[0].message
        );
        // One cause, one error: the Gateway checks leave the waypoint to this one.
        only_ok(&findings, "gateway-not-programmed");
        for f in of(&findings, "gateway-no-address") {
            assert!(!f.resources.iter().any(|r| r.name == "waypoint"), "{f:#?}");
        }
    }
}

#[test]
fn waypoint_not_ready_is_confirmed_by_the_services_condition() {
    let mut c = enrolled_ratings();
    c.remove("Gateway", "waypoint");
    svc_mut(&mut c, AMB, "ratings")["status"] = json!({"conditions": [{"type": "istio.io/WaypointBound", "status": "False",
        "reason": "WaypointIsNotReady", "message": "waypoint \"ambient-demo/waypoint\" is not ready"}]});
    let e = problems(&run(&c), "waypoint-not-ready", Status::Error);
    assert!(
        e[0].message.contains(
            "(confirmed by Istio on Service ambient-demo/ratings: istio.io/WaypointBound=False WaypointIsNotReady)"
        ),
        "{}",
        e[0].message
    );
    assert_eq!(
        e[0].hint.as_deref(),
        Some("create it: istioctl waypoint apply -n ambient-demo --name waypoint --wait")
    );
}

#[test]
fn waypoint_not_ready_skips_a_waypoint_outside_the_namespaces_read() {
    let mut c = enrolled_ratings();
    let s = svc_mut(&mut c, AMB, "ratings");
    s["metadata"]["labels"]["istio.io/use-waypoint-namespace"] = json!("istio-system");
    let snap = c.snapshot().with_scope(Scope::namespace(AMB));
    let findings = run_checks(&snap, now());
    let f: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.id == "waypoint-not-ready" && f.status == Status::Skipped)
        .collect();
    assert_eq!(f.len(), 1, "{findings:#?}");
    assert_eq!(
        f[0].message,
        "waypoint istio-system/waypoint is in namespace istio-system, which doctor did not read; run with -A or -n istio-system"
    );
}

// ---------------------------------------------------------------------------------------------------------
// waypoint-scope

#[test]
fn waypoint_scope_fires_when_the_waypoint_takes_no_service_traffic() {
    for (gw_label, class_label, says) in [
        (Some("workload"), None, "istio.io/waypoint-for=workload on the Gateway"),
        (
            None,
            Some("workload"),
            "istio.io/waypoint-for=workload on GatewayClass istio-waypoint",
        ),
        (Some("none"), None, "istio.io/waypoint-for=none on the Gateway"),
        (
            Some("services"),
            None,
            "istio.io/waypoint-for=\"services\" on the Gateway is not one of service, workload, all, none",
        ),
    ] {
        let mut c = ambient();
        let g = gw_mut(&mut c, AMB, "waypoint");
        g["metadata"]["labels"] = match gw_label {
            Some(l) => json!({"istio.io/waypoint-for": l}),
            None => json!({}),
        };
        if let Some(l) = class_label {
            c.get_mut("GatewayClass", "istio-waypoint")["metadata"]["labels"] = json!({"istio.io/waypoint-for": l});
        }
        let e = problems(&run(&c), "waypoint-scope", Status::Error);
        assert!(e[0].message.contains(says), "{says}: {}", e[0].message);
        assert!(e[0].message.contains("UnsupportedTrafficType"), "{}", e[0].message);
    }
}

#[test]
fn waypoint_scope_quiet_for_service_traffic() {
    for (gw_label, class_label) in [
        (Some("service"), None),
        (Some("all"), None),
        (None, None),
        (Some("all"), Some("workload")),
    ] {
        let mut c = ambient();
        gw_mut(&mut c, AMB, "waypoint")["metadata"]["labels"] = match gw_label {
            Some(l) => json!({"istio.io/waypoint-for": l}),
            None => json!({}),
        };
        if let Some(l) = class_label {
            c.get_mut("GatewayClass", "istio-waypoint")["metadata"]["labels"] = json!({"istio.io/waypoint-for": l});
        }
        only_ok(&run(&c), "waypoint-scope");
    }
}

/// `ratings` in ambient-demo uses a shared waypoint in `mesh-gw` whose HBONE listener says `allowed`.
fn cross_namespace(allowed: Option<Value>) -> Cluster {
    let mut c = ambient();
    c.push(namespace("mesh-gw", &[]));
    let mut w = waypoint("mesh-gw", "shared");
    if let Some(a) = allowed {
        w["spec"]["listeners"][0]["allowedRoutes"] = a;
    }
    c.push(w);
    c.push(waypoint_deployment("mesh-gw", "shared", 1));
    set_ns_labels(
        &mut c,
        AMB,
        json!({"istio.io/dataplane-mode": "ambient", "team": "books"}),
    );
    let s = svc_mut(&mut c, AMB, "ratings");
    s["metadata"]["labels"]["istio.io/use-waypoint"] = json!("shared");
    s["metadata"]["labels"]["istio.io/use-waypoint-namespace"] = json!("mesh-gw");
    c
}

#[test]
fn waypoint_scope_fires_when_the_listener_refuses_the_namespace() {
    for allowed in [
        None,
        Some(json!({"namespaces": {"from": "Same"}})),
        Some(json!({"namespaces": {"from": "Selector", "selector": {"matchLabels": {"team": "games"}}}})),
    ] {
        let findings = run(&cross_namespace(allowed.clone()));
        let e = problems(&findings, "waypoint-scope", Status::Error);
        assert!(
            e[0].message.contains("AttachmentDenied"),
            "{allowed:?}: {}",
            e[0].message
        );
        assert!(
            e[0].message.contains("Service ambient-demo/ratings uses it"),
            "{}",
            e[0].message
        );
        assert_eq!(names(&e[0], "Service"), ["ratings"]);
        only_ok(&findings, "waypoint-not-ready");
    }
    for allowed in [
        json!({"namespaces": {"from": "All"}}),
        json!({"namespaces": {"from": "Selector", "selector": {"matchLabels": {"team": "books"}}}}),
        json!({"namespaces": {"from": "Selector", "selector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["books", "games"]}]}}}),
    ] {
        only_ok(&run(&cross_namespace(Some(allowed))), "waypoint-scope");
    }
}

// ---------------------------------------------------------------------------------------------------------
// ingress-bypasses-waypoint

/// An ingress Gateway in ambient-demo routing to `reviews` (enrolled, with a mesh route).
fn with_ingress() -> Cluster {
    let mut c = ambient();
    c.push(gateway(AMB, "ingress", ("True", "Programmed")));
    let mut r = mesh_route(AMB, "front", "x", &[("reviews", 1)]);
    r["spec"]["parentRefs"] = json!([{"name": "ingress"}]);
    r["status"] = json!({});
    c.push(r);
    svc_mut(&mut c, AMB, "reviews")["status"]["conditions"][0]["message"] = json!("Successfully attached to waypoint ambient-demo/waypoint. Ingress traffic is not using the waypoint, set the istio.io/ingress-use-waypoint label to true if desired.");
    c
}

#[test]
fn ingress_bypasses_waypoint_warns_unless_the_service_opts_in() {
    let findings = run(&with_ingress());
    let w = problems(&findings, "ingress-bypasses-waypoint", Status::Warning);
    assert!(w[0].message.contains("Service ambient-demo/reviews uses waypoint ambient-demo/waypoint and is a backend of HTTPRoute ambient-demo/front on Gateway ambient-demo/ingress"), "{}", w[0].message);
    assert!(w[0].message.contains("(Istio: istio.io/WaypointBound=True: Successfully attached to waypoint ambient-demo/waypoint. Ingress traffic is not using the waypoint"), "{}", w[0].message);
    assert_eq!(w[0].hint.as_deref(), Some("send ingress through the waypoint: kubectl label service reviews -n ambient-demo istio.io/ingress-use-waypoint=true"));
    for (svc_label, ns_label) in [
        (Some("false"), None),
        (None, Some("false")),
        (Some("false"), Some("true")),
    ] {
        let mut c = with_ingress();
        if let Some(v) = svc_label {
            svc_mut(&mut c, AMB, "reviews")["metadata"]["labels"]["istio.io/ingress-use-waypoint"] = json!(v);
        }
        if let Some(v) = ns_label {
            c.get_mut("Namespace", AMB)["metadata"]["labels"]["istio.io/ingress-use-waypoint"] = json!(v);
        }
        problems(&run(&c), "ingress-bypasses-waypoint", Status::Warning);
    }
}

#[test]
fn ingress_bypasses_waypoint_quiet_when_ingress_uses_it_or_does_not_route_there() {
    for (svc_label, ns_label) in [
        (Some("true"), None),
        (None, Some("true")),
        (Some("true"), Some("false")),
    ] {
        let mut c = with_ingress();
        if let Some(v) = svc_label {
            svc_mut(&mut c, AMB, "reviews")["metadata"]["labels"]["istio.io/ingress-use-waypoint"] = json!(v);
        }
        if let Some(v) = ns_label {
            c.get_mut("Namespace", AMB)["metadata"]["labels"]["istio.io/ingress-use-waypoint"] = json!(v);
        }
        only_ok(&run(&c), "ingress-bypasses-waypoint");
    }
    // A route on the waypoint itself is not ingress.
    let mut c = with_ingress();
    c.get_mut("HTTPRoute", "front")["spec"]["parentRefs"] = json!([{"name": "waypoint"}]);
    only_ok(&run(&c), "ingress-bypasses-waypoint");
    // A Service without a mesh route has no weights to bypass.
    let mut c = with_ingress();
    c.remove("HTTPRoute", "reviews");
    only_ok(&run(&c), "ingress-bypasses-waypoint");
}

// ---------------------------------------------------------------------------------------------------------
// route-no-catch-all

#[test]
fn route_no_catch_all_warns_for_header_only_and_path_only_rules() {
    let mut c = healthy();
    let r = c.get_mut("HTTPRoute", "reviews");
    r["spec"]["rules"][0]["matches"] = json!([{"headers": [{"type": "Exact", "name": "end-user", "value": "jason"}], "path": {"type": "PathPrefix", "value": "/"}}]);
    let w = problems(&run(&c), "route-no-catch-all", Status::Warning);
    assert!(w[0].message.contains("(rules[0]: end-user=jason)"), "{}", w[0].message);
    assert!(
        w[0].message.contains("requests that match no rule are rejected"),
        "{}",
        w[0].message
    );
    assert_eq!(w[0].hint.as_deref(), Some("add a default rule: kubectl mesh shift reviews VERSION=100 -n istio-demo appends one (or add a rule without matches)"));

    if let Some(dir) = shared_fixtures() {
        // Gateway API's own mesh conformance route: /v1 and /v2, nothing else.
        let text = std::fs::read_to_string(dir.join("gateway-api/conformance/tests/mesh/mesh-split.yaml")).unwrap();
        let route: Value = serde_saphyr::from_str(&text).unwrap();
        let ns = route["metadata"]["namespace"].as_str().unwrap().to_string();
        let mut c = healthy();
        c.push(namespace(&ns, &[]));
        c.push(route);
        let w = problems(&run(&c), "route-no-catch-all", Status::Warning);
        assert!(
            w[0].message
                .contains("rules[0]: path Exact /v1; rules[1]: path Exact /v2"),
            "{}",
            w[0].message
        );
    }
}

#[test]
fn route_no_catch_all_quiet_for_default_rules_catch_all_matches_and_gateway_routes() {
    for matches in [
        Value::Null,
        json!([]),
        json!([{"path": {"type": "PathPrefix", "value": "/"}}]),
        json!([{"path": {"type": "Exact", "value": "/v1"}}, {"path": {"type": "PathPrefix", "value": "/"}}]),
    ] {
        let mut c = healthy();
        let r = c.get_mut("HTTPRoute", "reviews");
        if matches.is_null() {
            r["spec"]["rules"][0].as_object_mut().unwrap().remove("matches");
        } else {
            r["spec"]["rules"][0]["matches"] = matches;
        }
        only_ok(&run(&c), "route-no-catch-all");
    }
    if let Some(dir) = shared_fixtures() {
        let text =
            std::fs::read_to_string(dir.join("gateway-api/conformance/tests/mesh/httproute-matching.yaml")).unwrap();
        let route: Value = serde_saphyr::from_str(&text).unwrap();
        let mut c = healthy();
        c.push(route);
        only_ok(&run(&c), "route-no-catch-all");
    }
    // North-south routes (Gateway parents) are not mesh routes.
    let mut c = healthy();
    let mut r = mesh_route("istio-demo", "front", "x", &[("productpage", 1)]);
    r["spec"]["parentRefs"] = json!([{"name": "bookinfo-gateway"}]);
    r["spec"]["rules"][0]["matches"] = json!([{"path": {"type": "Exact", "value": "/productpage"}}]);
    c.push(r);
    only_ok(&run(&c), "route-no-catch-all");
}

// ---------------------------------------------------------------------------------------------------------
// virtualservice-conflict

fn virtual_service(ns: &str, name: &str, hosts: &[&str], gateways: &[&str]) -> Value {
    json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": name, "namespace": ns},
        "spec": {"hosts": hosts, "gateways": gateways, "http": [{"route": [{"destination": {"host": hosts[0]}}]}]}})
}

#[test]
fn virtualservice_conflict_fires_for_hosts_naming_a_mesh_routed_service() {
    for (ns, host, gateways) in [
        ("team-b", "reviews.istio-demo.svc.cluster.local", &[][..]),
        ("istio-demo", "reviews", &[][..]),
        ("team-b", "*.istio-demo.svc.cluster.local", &[][..]),
        (
            "team-b",
            "reviews.istio-demo.svc.cluster.local",
            &["mesh", "istio-demo/bookinfo-gateway"][..],
        ),
    ] {
        let mut c = healthy();
        c.push(virtual_service(ns, "reviews-vs", &[host], gateways));
        let w = problems(&run(&c), "virtualservice-conflict", Status::Warning);
        assert!(w[0].message.contains(&format!("VirtualService {ns}/reviews-vs (hosts {host}) and mesh HTTPRoute istio-demo/reviews both route Service istio-demo/reviews")), "{}", w[0].message);
        assert_eq!(
            w[0].hint
                .as_deref()
                .map(|h| h.contains(&format!("kubectl -n {ns} delete virtualservice reviews-vs"))),
            Some(true)
        );
    }
}

#[test]
fn virtualservice_conflict_quiet_for_other_hosts_gateways_and_unrouted_services() {
    for (ns, host, gateways) in [
        // A short name is read in the VirtualService's own namespace.
        ("team-b", "reviews", &[][..]),
        // Istio takes a dotted host as a full name: "reviews.istio-demo" names no Service.
        ("team-b", "reviews.istio-demo", &[][..]),
        // Bound to a gateway only.
        ("istio-demo", "reviews", &["istio-demo/bookinfo-gateway"][..]),
        // A Service without a mesh route.
        ("istio-demo", "ratings", &[][..]),
    ] {
        let mut c = healthy();
        c.push(virtual_service(ns, "vs", &[host], gateways));
        only_ok(&run(&c), "virtualservice-conflict");
    }
    // Istio's networking API not installed.
    let mut c = healthy();
    c.unavailable.push((Kind::VirtualService, Unavailable::NotServed));
    let ok = only_ok(&run(&c), "virtualservice-conflict");
    assert_eq!(ok.message, "VirtualService is not served (no Istio networking CRDs)");
}

// ---------------------------------------------------------------------------------------------------------
// gateway-api-crd-version

fn crd_without_annotation(name: &str) -> Value {
    let mut c = crd(name, "x");
    c["metadata"]["annotations"] = json!({});
    c
}

#[test]
fn gateway_api_crd_version_warns_for_crds_istiod_ignores() {
    let mut c = healthy();
    *c.get_mut("Deployment", "istiod") = istiod("1.30.3");
    c.push(crd("tlsroutes.gateway.networking.k8s.io", "v1.4.0"));
    c.push(crd_without_annotation("grpcroutes.gateway.networking.k8s.io"));
    let w = problems(&run(&c), "gateway-api-crd-version", Status::Warning);
    let messages: Vec<&str> = w.iter().map(|f| f.message.as_str()).collect();
    assert!(messages.contains(&"istiod 1.30.3 ignores CRD tlsroutes.gateway.networking.k8s.io: bundle v1.4.0 is older than the v1.5.0 it requires; tlsroutes are not processed"), "{messages:#?}");
    assert!(messages.contains(&"istiod 1.30.3 ignores CRD grpcroutes.gateway.networking.k8s.io: it has no gateway.networking.k8s.io/bundle-version annotation (istiod needs v1.1.0 or newer); grpcroutes are not processed"), "{messages:#?}");
    let tls = w.iter().find(|f| f.message.contains("tlsroutes")).unwrap();
    assert_eq!(tls.hint.as_deref(), Some("install the Gateway API release istiod needs: kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.5.0/standard-install.yaml"));

    // Prereleases count as their release; a bundle-version that is no version does not.
    let mut c = healthy();
    *c.get_mut("Deployment", "istiod") = istiod("1.30.3");
    c.push(crd("tlsroutes.gateway.networking.k8s.io", "v1.5.0-rc1"));
    only_ok(&run(&c), "gateway-api-crd-version");
    let mut c = healthy();
    *c.get_mut("Deployment", "istiod") = istiod("1.30.3");
    c.push(crd("tlsroutes.gateway.networking.k8s.io", "latest"));
    let w = problems(&run(&c), "gateway-api-crd-version", Status::Warning);
    assert!(
        w[0].message.contains("its bundle-version \"latest\" is not a version"),
        "{}",
        w[0].message
    );

    // A patch release raised the minimum: 1.28.7 needs v1.4.1.
    let mut c = healthy();
    *c.get_mut("Deployment", "istiod") = istiod("1.28.7-distroless");
    c.push(crd("tlsroutes.gateway.networking.k8s.io", "v1.4.0"));
    let w = problems(&run(&c), "gateway-api-crd-version", Status::Warning);
    assert!(w[0].message.contains("istiod 1.28.7 ignores CRD tlsroutes.gateway.networking.k8s.io: bundle v1.4.0 is older than the v1.4.1 it requires"), "{}", w[0].message);
}

#[test]
fn gateway_api_crd_version_warns_once_for_traefiks_crds() {
    let mut c = healthy();
    for name in ["httproutes", "gateways"] {
        let crd = c
            .objects
            .iter_mut()
            .find(|o| o["metadata"]["name"] == format!("{name}.gateway.networking.k8s.io"))
            .unwrap();
        crd["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "Helm"});
        crd["metadata"]["annotations"]["meta.helm.sh/release-name"] = json!("traefik-crd");
        crd["metadata"]["annotations"]["meta.helm.sh/release-namespace"] = json!("kube-system");
    }
    let w = problems(&run(&c), "gateway-api-crd-version", Status::Warning);
    assert_eq!(w.len(), 1);
    assert!(w[0].message.starts_with("2 Gateway API CRDs (httproutes, gateways) belong to k3s's packaged Traefik (Helm release kube-system/traefik-crd, bundle v1.0.0)"), "{}", w[0].message);
    assert_eq!(w[0].resources.len(), 2);
    assert!(w[0].hint.as_deref().unwrap().contains("--disable=traefik@server:*"));
}

#[test]
fn gateway_api_crd_version_quiet_on_the_upstream_bundles() {
    let Some(dir) = shared_fixtures() else {
        eprintln!("skipping: shared fixtures absent");
        return;
    };
    for bundle in ["gateway-api", "gateway-api/latest"] {
        for version in ["1.26.2", "1.30.3"] {
            let mut c = healthy();
            c.objects.retain(|o| o["kind"] != "CustomResourceDefinition");
            *c.get_mut("Deployment", "istiod") = istiod(version);
            for entry in std::fs::read_dir(dir.join(bundle)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "yaml") {
                    for doc in serde_saphyr::from_multiple::<Value>(&std::fs::read_to_string(&path).unwrap()).unwrap() {
                        c.push(doc);
                    }
                }
            }
            let ok = only_ok(&run(&c), "gateway-api-crd-version");
            eprintln!("{bundle} with istiod {version}: {}", ok.message);
        }
    }
    // An istiod that is not a release: the minimums are not checked, and it says so.
    let mut c = healthy();
    *c.get_mut("Deployment", "istiod") = istiod("latest");
    let ok = only_ok(&run(&c), "gateway-api-crd-version");
    assert_eq!(
        ok.message,
        "istiod's version latest is not a release, so its minimum Gateway API versions were not checked"
    );
}

// ---------------------------------------------------------------------------------------------------------
// One cause, one error.

fn broken_route_cluster(reason: &str, message: &str) -> Cluster {
    let mut c = healthy();
    let mut r = mesh_route("istio-demo", "ratings", "ratings", &[("ratings-v9", 1)]);
    r["metadata"]["generation"] = json!(1);
    r["status"]["parents"][0]["conditions"][1] = json!({"type": "ResolvedRefs", "status": "False", "reason": reason, "message": message, "observedGeneration": 1});
    c.push(r);
    c
}

#[test]
fn a_missing_backend_is_one_error_confirmed_by_istio() {
    let findings = run(&broken_route_cluster(
        "BackendNotFound",
        "backend(ratings-v9.istio-demo.svc.cluster.local) not found",
    ));
    let e = problems(&findings, "route-backend-missing", Status::Error);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].message
            .ends_with("get HTTP 500 (confirmed by Istio: ResolvedRefs=False BackendNotFound)"),
        "{}",
        e[0].message
    );
    only_ok(&findings, "route-not-accepted");
    let errors: Vec<&Finding> = findings.iter().filter(|f| f.status == Status::Error).collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
}

#[test]
fn an_unrelated_resolved_refs_false_stays_in_route_not_accepted() {
    let findings = run(&broken_route_cluster("RefNotPermitted", "backendRef not permitted"));
    let e = problems(&findings, "route-not-accepted", Status::Error);
    assert!(e[0]
        .message
        .contains("ResolvedRefs is False: RefNotPermitted: backendRef not permitted"));
    let b = problems(&findings, "route-backend-missing", Status::Error);
    assert!(!b[0].message.contains("confirmed"), "{}", b[0].message);
}

#[test]
fn a_stale_condition_stays_in_route_not_accepted_marked_stale() {
    let mut c = broken_route_cluster(
        "BackendNotFound",
        "backend(ratings-v9.istio-demo.svc.cluster.local) not found",
    );
    c.get_mut("HTTPRoute", "ratings")["metadata"]["generation"] = json!(4);
    let findings = run(&c);
    let e = problems(&findings, "route-not-accepted", Status::Error);
    assert!(
        e[0].message
            .ends_with("(status from generation 1; the route is at generation 4)"),
        "{}",
        e[0].message
    );
    let b = problems(&findings, "route-backend-missing", Status::Error);
    assert!(!b[0].message.contains("confirmed"), "{}", b[0].message);
}

#[test]
fn a_missing_parent_service_is_one_error_confirmed_by_istio() {
    let mut c = healthy();
    let mut r = mesh_route("istio-demo", "ghost", "ghost", &[("reviews-v1", 1)]);
    r["status"]["parents"][0]["conditions"][0] = json!({"type": "Accepted", "status": "False", "reason": "NoMatchingParent",
        "message": "parent service: \"ghost\" not found"});
    r["status"]["parents"][0]["conditions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "ResolvedWaypoints", "status": "True", "reason": "ResolvedWaypoints", "message": "parent not found"}));
    c.push(r);
    let findings = run(&c);
    let e = problems(&findings, "route-parent-invalid", Status::Error);
    assert!(
        e[0].message
            .ends_with("applies to nothing (confirmed by Istio: Accepted=False NoMatchingParent)"),
        "{}",
        e[0].message
    );
    only_ok(&findings, "route-not-accepted");
    only_ok(&findings, "route-waypoint-missing");
}

// ---------------------------------------------------------------------------------------------------------
// Changes to existing checks.

#[test]
fn sidecar_missing_and_mtls_skip_ambient_pods_even_in_injected_namespaces() {
    // A pod labelled ambient, without a sidecar, in an injected namespace: ztunnel carries it.
    let mut c = healthy();
    let mut p = deploy_pod("istio-demo", "ratings-v1", "amb");
    p["metadata"]["labels"]["istio.io/dataplane-mode"] = json!("ambient");
    c.push(p);
    let findings = run(&c);
    let ok = only_ok(&findings, "sidecar-missing");
    assert!(
        ok.message
            .ends_with("; 1 ambient pod skipped (ztunnel carries their mTLS)"),
        "{}",
        ok.message
    );
    only_ok(&findings, "mtls-plaintext-callers");
}

#[test]
fn a_pod_opted_out_of_ambient_under_strict_is_told_how_to_enroll() {
    let mut c = ambient();
    let mut p = deploy_pod(AMB, "legacy", "x");
    p["metadata"]["labels"]["istio.io/dataplane-mode"] = json!("none");
    c.push(p);
    let e = problems(&run(&c), "mtls-plaintext-callers", Status::Error);
    assert!(
        e[0].hint
            .as_deref()
            .unwrap()
            .starts_with("enroll them in ambient mode (namespace ambient-demo is)"),
        "{:?}",
        e[0].hint
    );
    assert_eq!(e[0].fix, None);
}

#[test]
fn proxy_version_skew_ignores_image_variants_and_hand_picked_images() {
    let mut c = healthy();
    c.push(with_sidecar(
        pod("default", "distroless"),
        "2026-11-20T00:00:10Z",
        "1.26.2-distroless",
    ));
    c.push(with_sidecar(
        pod("default", "debug"),
        "2026-11-20T00:00:10Z",
        "1.26.2-debug",
    ));
    let mut custom = with_sidecar(pod("default", "custom"), "2026-11-20T00:00:10Z", "1.20.0");
    custom["metadata"]["annotations"] = json!({"sidecar.istio.io/proxyImage": "docker.io/istio/proxyv2:1.20.0"});
    c.push(custom);
    only_ok(&run(&c), "proxy-version-skew");
    c.push(with_sidecar(
        pod("default", "old"),
        "2026-11-20T00:00:10Z",
        "1.25.1-distroless",
    ));
    let w = problems(&run(&c), "proxy-version-skew", Status::Warning);
    assert!(
        w[0].message
            .starts_with("1 sidecar run proxy 1.25.1 (distroless) while istiod runs 1.26.2"),
        "{}",
        w[0].message
    );
}

// ---------------------------------------------------------------------------------------------------------
// recover

#[test]
fn recover_never_restarts_ambient_pods_or_ztunnel() {
    let mut c = ambient();
    // Label the whole namespace for injection too: sidecar-missing would want its pods, but they are ambient.
    set_ns_labels(
        &mut c,
        AMB,
        json!({"istio.io/dataplane-mode": "ambient", "istio-injection": "enabled"}),
    );
    let snap = c.snapshot();
    let findings = run_checks(&snap, now());
    assert!(
        !findings
            .iter()
            .any(|f| f.fix.is_some() && f.resources.iter().any(|r| r.namespace.as_deref() == Some(AMB))),
        "no fix for ambient pods: {findings:#?}"
    );
    // Even a fix that names them (from an older report, say) is not acted on.
    let forged = Finding {
        fix: Some(mesh_core::doctor::Fix::RestartOwner {
            kind: mesh_core::doctor::OwnerKind::Deployment,
            namespace: AMB.into(),
            name: "ratings-v1".into(),
            pods: vec!["ratings-v1-5d8f9c-a1".into()],
            reason: "test".into(),
        }),
        ..Finding::error("sidecar-missing", mesh_core::doctor::Category::DataPlane, "x")
    };
    let ztunnel = Finding {
        fix: Some(mesh_core::doctor::Fix::RestartOwner {
            kind: mesh_core::doctor::OwnerKind::DaemonSet,
            namespace: "istio-system".into(),
            name: "ztunnel".into(),
            pods: vec![],
            reason: "test".into(),
        }),
        ..Finding::error("stale-sidecar-cert", mesh_core::doctor::Category::DataPlane, "x")
    };
    let plan = plan_recover(&[forged, ztunnel], &snap);
    assert!(plan.actions.is_empty(), "{plan:#?}");
    assert!(
        plan.skipped.iter().any(
            |(t, why)| matches!(t, Target::Evict { name, .. } if name == "ratings-v1-5d8f9c-a1")
                && why == AMBIENT_REASON
        ),
        "{plan:#?}"
    );
    assert!(
        plan.skipped.iter().any(
            |(t, why)| matches!(t, Target::Restart { name, .. } if name == "ztunnel")
                && why.contains("kubectl -n istio-system rollout restart daemonset/ztunnel")
        ),
        "{plan:#?}"
    );
}

#[test]
fn snapshots_know_which_namespaces_were_read() {
    let snap: Snapshot = ambient().snapshot().with_scope(Scope::namespace(AMB));
    assert!(snap.read_in(Kind::Gateway, AMB));
    assert!(!snap.read_in(Kind::Gateway, "istio-demo"));
    assert!(snap.read_in(Kind::DaemonSet, "kube-system"));
    assert!(snap.read_in(Kind::Namespace, "anything"));
}

#[test]
fn a_namespace_outside_the_scope_using_a_waypoint_is_not_doctors_business() {
    let mut c = ambient();
    c.push(namespace("elsewhere", &[("istio.io/use-waypoint", "gone")]));
    let snap = c.snapshot().with_scope(Scope::namespace(AMB));
    let findings = run_checks(&snap, now());
    only_ok(&findings, "waypoint-not-ready");
    // With -A it is.
    let e = problems(&run(&c), "waypoint-not-ready", Status::Error);
    assert!(
        e[0].message
            .starts_with("waypoint elsewhere/gone does not exist: namespace elsewhere uses it"),
        "{}",
        e[0].message
    );
}
