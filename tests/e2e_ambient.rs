//! Issue 16 against a real control plane (kube-apiserver, kube-controller-manager, kube-scheduler v1.37.2, etcd,
//! kwok: see tests/e2e.rs and README "Testing against a real control plane"), started by this test binary.
//!
//! What the real server decides, tested here: the parentRef `group` it stores when a route omits it (and that
//! it accepts `core`), the rules and matches it defaults (route-no-catch-all, route-user's catch-all rule), a
//! headless Service; DaemonSet status computed by the real DaemonSet controller for kwok's nodes (ztunnel-ready);
//! a waypoint Deployment's availability computed by the real Deployment controller (waypoint-not-ready); RBAC of a
//! namespaced Role for the reads shift adds (the namespace itself, its Gateways) with a real TokenRequest token,
//! and the API server's 403 for a namespace outside the Role, which the sandbox must answer word for word;
//! CRDs as installed (bundle-version annotations, Helm ownership metadata).
//!
//! No Istio runs there: what Istio would write — a route's `ResolvedWaypoints`, a Service's
//! `istio.io/WaypointBound`, a waypoint's `Programmed` condition and addresses — the tests write themselves
//! through the status subresource, acting as the mesh controller, and assert only that the plugin reads them.
//! The CNI's capture and ztunnel itself cannot be exercised: pods are ambient here by their namespace's label.
//!
//! The tests share one control plane and run in parallel: each works in namespaces of its own, and reads
//! only the checks it is about (`--check`), since ztunnel and CRDs are cluster-wide.

#[path = "common/controlplane.rs"]
mod controlplane;

use std::time::Duration;

use controlplane::{app_yaml, controlplane, default_backends, header_rules, pairs, ControlPlane, GatewayApi, Run};
use serde_json::Value;

const T0: &str = "2026-01-01T00:00:00Z";

fn route(cp: &ControlPlane, ns: &str, name: &str) -> Value {
    cp.kubectl_json(&["-n", ns, "get", "httproute", name])
}

/// Plain (sidecar-less) pods of app `name` with `versions`, available, their per-version Services with ready
/// endpoints.
fn deploy(cp: &ControlPlane, ns: &str, name: &str, versions: &[&str]) {
    cp.apply(ns, &app_yaml(name, versions, 1));
    for v in versions {
        cp.wait_available(ns, &format!("deployment/{name}-{v}"));
        cp.wait_ready_endpoints(ns, &format!("{name}-{v}"), true);
    }
}

fn ambient_namespace(cp: &ControlPlane, ns: &str) {
    cp.namespace(ns, false);
    cp.kubectl_ok(&[
        "label",
        "namespace",
        ns,
        "istio.io/dataplane-mode=ambient",
        "--overwrite",
    ]);
}

/// doctor's JSON report with only the given checks.
fn doctor(cp: &ControlPlane, ns: &str, ids: &[&str]) -> (Run, Value) {
    let mut args = vec!["doctor", "-n", ns, "-o", "json"];
    for id in ids {
        args.extend(["--check", id]);
    }
    let r = cp.mesh(&args);
    let v = r.json();
    (r, v)
}

fn findings<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == id)
        .collect()
}

fn one(report: &Value, id: &str, status: &str) -> Value {
    let f = findings(report, id);
    assert_eq!(f.len(), 1, "{id}: {f:#?}");
    assert_eq!(f[0]["status"], status, "{id}: {:#}", f[0]);
    f[0].clone()
}

// ---------------------------------------------------------------------------------------------------------
// GAMMA attachment on what the server stored.

#[test]
fn parent_group_and_headless_refusals_on_what_the_server_stored() {
    let Some(cp) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let ns = "e2e-gamma";
    cp.namespace(ns, false);
    deploy(cp, ns, "web", &["v1", "v2"]);
    // A parentRef without a group: the server stores the default, gateway.networking.k8s.io.
    cp.apply(
        ns,
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: web\nspec:\n  parentRefs:\n  - {kind: Service, name: web}\n  rules:\n  - backendRefs:\n    - {name: web-v1, port: 9080}\n",
    );
    let stored = route(cp, ns, "web");
    assert_eq!(
        stored["spec"]["parentRefs"][0]["group"], "gateway.networking.k8s.io",
        "{stored}"
    );
    let r = cp.mesh(&["shift", "web", "v2=100", "-n", ns]);
    r.assert_code(1);
    assert!(
        r.stderr.contains(
            "parentRefs[0].group \"gateway.networking.k8s.io\" (the default for an omitted group): Istio ignores it"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(
        route(cp, ns, "web")["metadata"]["resourceVersion"],
        stored["metadata"]["resourceVersion"]
    );
    let routes = cp.kubectl_json(&["-n", ns, "get", "httproutes"]);
    assert_eq!(routes["items"].as_array().unwrap().len(), 1, "no second route");

    // doctor's hint is a patch the real server takes.
    let (_, report) = doctor(cp, ns, &["gamma-parent-group"]);
    let f = one(&report, "gamma-parent-group", "error");
    let hint = f["hint"].as_str().unwrap();
    let patch = hint.strip_prefix("set group \"\": ").expect(hint);
    cp.sh(patch).ok();
    assert_eq!(route(cp, ns, "web")["spec"]["parentRefs"][0]["group"], "");
    one(&doctor(cp, ns, &["gamma-parent-group"]).1, "gamma-parent-group", "ok");
    cp.mesh(&["shift", "web", "v2=100", "-n", ns]).ok();
    assert_eq!(default_backends(&route(cp, ns, "web")), pairs(&[("web-v2", 100)]));

    // `core` passes the CRD's validation, and Istio ignores it.
    deploy(cp, ns, "api", &["v1"]);
    cp.apply(
        ns,
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: api\nspec:\n  parentRefs:\n  - {group: core, kind: Service, name: api}\n  rules:\n  - backendRefs:\n    - {name: api-v1, port: 9080}\n",
    );
    assert_eq!(route(cp, ns, "api")["spec"]["parentRefs"][0]["group"], "core");
    let f = one(
        &doctor(cp, ns, &["gamma-parent-group"]).1,
        "gamma-parent-group",
        "error",
    );
    assert!(f["message"].as_str().unwrap().contains("has group \"core\""), "{f}");
    let r = cp.mesh(&["shift", "api", "v1=100", "-n", ns]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("parentRefs[0].group \"core\": Istio ignores it"),
        "{}",
        r.stderr
    );
    let st = cp.mesh(&["status", "-n", ns]);
    st.ok();
    assert!(
        st.stderr
            .contains("note: HTTPRoute e2e-gamma/api has a Service parentRef (api) with group \"core\""),
        "{}",
        st.stderr
    );

    // A headless parent.
    deploy(cp, ns, "db", &["v1"]);
    cp.kubectl_ok(&["-n", ns, "delete", "service", "db"]);
    cp.apply(
        ns,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: db\nspec:\n  clusterIP: None\n  ports:\n  - {port: 9080, name: http}\n  selector: {app: db}\n",
    );
    assert_eq!(
        cp.kubectl_json(&["-n", ns, "get", "service", "db"])["spec"]["clusterIP"],
        "None"
    );
    let r = cp.mesh(&["shift", "db", "v1=100", "-n", ns]);
    r.assert_code(1);
    assert!(
        r.stderr
            .contains("service \"db\" in namespace \"e2e-gamma\" is headless (clusterIP: None)"),
        "{}",
        r.stderr
    );
    assert!(
        cp.kubectl(&["-n", ns, "get", "httproute", "db"]).code != 0,
        "nothing written"
    );
    // With --force it is written (and said to have no effect); doctor then names it.
    let r = cp.mesh(&["shift", "db", "v1=100", "-n", ns, "--force"]);
    r.ok();
    assert!(r.stderr.contains("warning: service \"db\""), "{}", r.stderr);
    let f = one(
        &doctor(cp, ns, &["gamma-parent-headless"]).1,
        "gamma-parent-headless",
        "error",
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("parent Service e2e-gamma/db is headless"),
        "{f}"
    );
}

fn catch_all_on(api: GatewayApi) {
    let Some(cp) = controlplane(api) else { return };
    let ns = "e2e-catch-all";
    cp.namespace(ns, false);
    deploy(cp, ns, "web", &["v1", "v2"]);
    // Only a header rule: the server fills in the path match, and no rule matches every request.
    cp.apply(
        ns,
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: web\nspec:\n  parentRefs:\n  - {group: \"\", kind: Service, name: web}\n  rules:\n  - matches:\n    - headers:\n      - {name: end-user, value: jason}\n    backendRefs:\n    - {name: web-v2, port: 9080}\n",
    );
    let stored = route(cp, ns, "web");
    assert_eq!(
        stored["spec"]["rules"][0]["matches"][0]["path"]["value"], "/",
        "{stored}"
    );
    let f = one(
        &doctor(cp, ns, &["route-no-catch-all"]).1,
        "route-no-catch-all",
        "warning",
    );
    assert!(
        f["message"].as_str().unwrap().contains("(rules[0]: end-user=jason)"),
        "{f}"
    );
    let r = cp.mesh(&["route-user", "web", "vijay", "v1", "-n", ns]);
    r.ok();
    assert!(
        r.stdout.contains("added a default rule sending everyone else to web"),
        "{}",
        r.stdout
    );
    let after = route(cp, ns, "web");
    assert_eq!(default_backends(&after), pairs(&[("web", 1)]), "{after}");
    assert_eq!(header_rules(&after, "end-user", "vijay").len(), 1, "{after}");
    assert_eq!(header_rules(&after, "end-user", "jason").len(), 1, "{after}");
    one(&doctor(cp, ns, &["route-no-catch-all"]).1, "route-no-catch-all", "ok");
}

#[test]
fn route_user_leaves_a_catch_all_rule_under_gateway_api_v1_0_0() {
    catch_all_on(GatewayApi::V1_0_0);
}

#[test]
fn route_user_leaves_a_catch_all_rule_under_gateway_api_v1_6_1() {
    catch_all_on(GatewayApi::V1_6_1);
}

// ---------------------------------------------------------------------------------------------------------
// ztunnel: DaemonSet status from the real controller, pods made Ready by kwok on its two nodes.

const ZTUNNEL: &str = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: ztunnel\n  labels: {app.kubernetes.io/name: ztunnel}\nspec:\n  selector:\n    matchLabels: {app: ztunnel}\n  template:\n    metadata:\n      labels: {app: ztunnel, istio.io/dataplane-mode: none, sidecar.istio.io/inject: \"false\"}\n    spec:\n      containers:\n      - name: istio-proxy\n        image: docker.io/istio/ztunnel:1.26.2\n";

fn daemon_set_status(cp: &ControlPlane) -> (i64, i64) {
    let ds = cp.kubectl_json(&["-n", "istio-system", "get", "daemonset", "ztunnel"]);
    (
        ds["status"]["desiredNumberScheduled"].as_i64().unwrap_or(-1),
        ds["status"]["numberReady"].as_i64().unwrap_or(-1),
    )
}

#[test]
fn ztunnel_readiness_from_the_real_daemonset_controller() {
    let Some(cp) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let ns = "e2e-ztunnel";
    ambient_namespace(cp, ns);
    let f = one(&doctor(cp, ns, &["ztunnel-ready"]).1, "ztunnel-ready", "error");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("no ztunnel DaemonSet exists in istio-system or kube-system"),
        "{f}"
    );

    cp.apply("istio-system", ZTUNNEL);
    let nodes = cp.kubectl_json(&["get", "nodes"])["items"].as_array().unwrap().len() as i64;
    cp.eventually("ztunnel ready on every node", Duration::from_secs(120), || {
        daemon_set_status(cp) == (nodes, nodes)
    });
    let f = one(&doctor(cp, ns, &["ztunnel-ready"]).1, "ztunnel-ready", "ok");
    assert!(
        f["message"].as_str().unwrap().contains(&format!(
            "ztunnel istio-system/ztunnel ready on all {nodes} nodes (version 1.26.2)"
        )),
        "{f}"
    );

    // A nodeSelector no node matches: the controller schedules nothing.
    cp.kubectl_ok(&[
        "-n",
        "istio-system",
        "patch",
        "daemonset",
        "ztunnel",
        "--type=merge",
        "-p",
        r#"{"spec":{"template":{"spec":{"nodeSelector":{"e2e/no-such-node":"true"}}}}}"#,
    ]);
    cp.eventually("ztunnel scheduled nowhere", Duration::from_secs(120), || {
        daemon_set_status(cp).0 == 0
    });
    let f = one(&doctor(cp, ns, &["ztunnel-ready"]).1, "ztunnel-ready", "error");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("schedules no pod (desiredNumberScheduled 0)"),
        "{f}"
    );
    cp.kubectl_ok(&["-n", "istio-system", "delete", "daemonset", "ztunnel", "--wait=true"]);
}

// ---------------------------------------------------------------------------------------------------------
// A waypoint: the Gateway (status written as Istio would), its Deployment made available by the real controller.

fn waypoint_class(cp: &ControlPlane) {
    cp.sh("kubectl apply -f - <<'EOF'\napiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: istio-waypoint\nspec:\n  controllerName: istio.io/mesh-controller\nEOF")
        .ok();
}

fn waypoint(cp: &ControlPlane, ns: &str, programmed: bool) {
    cp.apply(
        ns,
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: waypoint\n  labels: {istio.io/waypoint-for: service}\nspec:\n  gatewayClassName: istio-waypoint\n  listeners:\n  - {name: mesh, port: 15008, protocol: HBONE}\n",
    );
    let status = if programmed {
        format!(
            r#"{{"status":{{"addresses":[{{"type":"IPAddress","value":"10.96.0.50"}}],"conditions":[{{"type":"Programmed","status":"True","reason":"Programmed","message":"Resource programmed","lastTransitionTime":"{T0}","observedGeneration":1}}]}}}}"#
        )
    } else {
        format!(
            r#"{{"status":{{"addresses":null,"conditions":[{{"type":"Programmed","status":"False","reason":"Invalid","message":"no ready replica","lastTransitionTime":"{T0}","observedGeneration":1}}]}}}}"#
        )
    };
    cp.kubectl_ok(&[
        "-n",
        ns,
        "patch",
        "gateway",
        "waypoint",
        "--subresource=status",
        "--type=merge",
        "-p",
        &status,
    ]);
}

fn waypoint_deployment(cp: &ControlPlane, ns: &str) {
    cp.apply(
        ns,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: waypoint\n  labels: {gateway.networking.k8s.io/gateway-name: waypoint, gateway.istio.io/managed: istio.io-mesh-controller}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {gateway.networking.k8s.io/gateway-name: waypoint}\n  template:\n    metadata:\n      labels: {gateway.networking.k8s.io/gateway-name: waypoint, gateway.istio.io/managed: istio.io-mesh-controller, istio.io/dataplane-mode: none, sidecar.istio.io/inject: \"false\"}\n    spec:\n      containers:\n      - name: istio-proxy\n        image: docker.io/istio/proxyv2:1.26.2\n",
    );
    cp.wait_available(ns, "deployment/waypoint");
}

/// A mesh route `name` → `name-v1`, with the status Istio writes on its Service parent.
fn mesh_route_with_status(cp: &ControlPlane, ns: &str, name: &str, waypoints: &str) {
    cp.apply(
        ns,
        &format!("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\nspec:\n  parentRefs:\n  - {{group: \"\", kind: Service, name: {name}}}\n  rules:\n  - backendRefs:\n    - {{name: {name}-v1, port: 9080}}\n"),
    );
    let generation = route(cp, ns, name)["metadata"]["generation"].as_i64().unwrap();
    let cond = |t: &str, m: &str| {
        format!(
            r#"{{"type":"{t}","status":"True","reason":"{t}","message":"{m}","lastTransitionTime":"{T0}","observedGeneration":{generation}}}"#
        )
    };
    let status = format!(
        r#"{{"status":{{"parents":[{{"parentRef":{{"group":"","kind":"Service","name":"{name}"}},"controllerName":"istio.io/gateway-controller","conditions":[{},{},{}]}}]}}}}"#,
        cond("Accepted", "Route was valid"),
        cond("ResolvedRefs", "All references resolved"),
        cond("ResolvedWaypoints", waypoints)
    );
    cp.kubectl_ok(&[
        "-n",
        ns,
        "patch",
        "httproute",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        &status,
    ]);
}

#[test]
fn doctor_and_shift_on_a_real_waypoint() {
    let Some(cp) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let ns = "e2e-ambient";
    ambient_namespace(cp, ns);
    waypoint_class(cp);
    waypoint(cp, ns, true);
    waypoint_deployment(cp, ns);
    deploy(cp, ns, "reviews", &["v1", "v2"]);
    deploy(cp, ns, "ratings", &["v1"]);
    cp.kubectl_ok(&[
        "-n",
        ns,
        "label",
        "service",
        "reviews",
        "istio.io/use-waypoint=waypoint",
    ]);
    cp.kubectl_ok(&[
        "-n",
        ns,
        "patch",
        "service",
        "reviews",
        "--subresource=status",
        "--type=merge",
        "-p",
        &format!(r#"{{"status":{{"conditions":[{{"type":"istio.io/WaypointBound","status":"True","reason":"WaypointAccepted","message":"Successfully attached to waypoint {ns}/waypoint","lastTransitionTime":"{T0}"}}]}}}}"#),
    ]);
    mesh_route_with_status(cp, ns, "reviews", "All waypoints resolved");
    mesh_route_with_status(
        cp,
        ns,
        "ratings",
        "istio.io/use-waypoint label missing from parent and parent namespace; in ambient mode, route will not be respected",
    );
    cp.apply(
        ns,
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\nspec:\n  mtls: {mode: STRICT}\n",
    );

    let ids = [
        "route-waypoint-missing",
        "waypoint-not-ready",
        "waypoint-scope",
        "sidecar-missing",
        "mtls-plaintext-callers",
        "route-not-accepted",
    ];
    let (r, report) = doctor(cp, ns, &ids);
    r.assert_code(1);
    let f = one(&report, "route-waypoint-missing", "error");
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.starts_with("HTTPRoute e2e-ambient/ratings is ignored in ambient mode"),
        "{msg}"
    );
    assert!(
        msg.contains("(confirmed by Istio: ResolvedWaypoints \"istio.io/use-waypoint label missing"),
        "{msg}"
    );
    for id in [
        "waypoint-not-ready",
        "waypoint-scope",
        "sidecar-missing",
        "mtls-plaintext-callers",
        "route-not-accepted",
    ] {
        one(&report, id, "ok");
    }

    // shift: refused for ratings, as in sidecar mode for reviews.
    let before = route(cp, ns, "ratings");
    let r = cp.mesh(&["shift", "ratings", "v1=100", "-n", ns]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("is in ambient mode and has no waypoint"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "kubectl label service ratings -n {ns} istio.io/use-waypoint=waypoint"
        )),
        "{}",
        r.stderr
    );
    assert_eq!(
        route(cp, ns, "ratings")["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
    cp.mesh(&["shift", "reviews", "v2=100", "-n", ns]).ok();
    assert_eq!(
        default_backends(&route(cp, ns, "reviews")),
        pairs(&[("reviews-v2", 100)])
    );
    let st = cp.mesh(&["status", "-n", ns, "-o", "wide"]);
    st.ok();
    assert!(
        st.stdout.contains("ResolvedWaypoints=False(MissingUseWaypointLabel)"),
        "{}",
        st.stdout
    );

    // The same message on a route of a sidecar namespace (istiod with ambient enabled writes it on every route
    // without a waypoint): there the sidecars apply the route. status reads the namespace's labels (one GET with
    // -n; one LIST of namespaces with -A) and says so.
    let sidecar_ns = "e2e-ambient-sidecar";
    cp.namespace(sidecar_ns, true);
    cp.apply(sidecar_ns, &app_yaml("ratings", &["v1"], 1));
    mesh_route_with_status(
        cp,
        sidecar_ns,
        "ratings",
        "istio.io/use-waypoint label missing from parent and parent namespace; in ambient mode, route will not be respected",
    );
    let st = cp.mesh(&["status", "-n", sidecar_ns, "-o", "json", "-v", "6"]);
    st.ok();
    let doc = st.json();
    assert_eq!(doc["routes"][0]["resolvedWaypoints"]["resolved"], true, "{doc}");
    assert_eq!(doc["routes"][0]["resolvedWaypoints"]["reason"], "NotAmbient", "{doc}");
    assert!(
        st.stderr.contains(&format!("/api/v1/namespaces/{sidecar_ns} 200")),
        "{}",
        st.stderr
    );
    let all = cp.mesh(&["status", "-A", "-o", "json"]).json();
    let by_ns = |n: &str| {
        all["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["namespace"] == n && r["service"] == "ratings")
            .map(|r| r["resolvedWaypoints"]["resolved"].clone())
    };
    assert_eq!(by_ns(sidecar_ns), Some(serde_json::json!(true)), "{all}");
    assert_eq!(by_ns(ns), Some(serde_json::json!(false)), "{all}");

    // The waypoint's Deployment loses its replicas: the real controller says none is available.
    cp.kubectl_ok(&["-n", ns, "scale", "deployment", "waypoint", "--replicas=0"]);
    cp.eventually("waypoint scaled down", Duration::from_secs(60), || {
        let d = cp.kubectl_json(&["-n", ns, "get", "deployment", "waypoint"]);
        d["status"]["availableReplicas"].as_i64().unwrap_or(0) == 0
            && d["status"]["replicas"].as_i64().unwrap_or(0) == 0
    });
    let f = one(
        &doctor(cp, ns, &["waypoint-not-ready"]).1,
        "waypoint-not-ready",
        "error",
    );
    assert!(
        f["message"].as_str().unwrap().contains("waypoint e2e-ambient/waypoint has no available replica (Deployment e2e-ambient/waypoint: 0 of 0 available)"),
        "{f}"
    );
    // Istio would stop programming it: shift then refuses reviews too.
    waypoint(cp, ns, false);
    let r = cp.mesh(&["shift", "reviews", "v1=100", "-n", ns]);
    r.assert_code(1);
    assert!(
        r.stderr.contains(
            "uses waypoint e2e-ambient/waypoint, which is not programmed (Programmed=False: Invalid: no ready replica)"
        ),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------------------------------------
// RBAC: the traffic Role (namespaced) grants the new reads; the 403 for another namespace, word for word.

#[test]
fn namespace_scoped_rbac_for_the_new_reads() {
    let Some(cp) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let ns = "e2e-ambient-rbac";
    ambient_namespace(cp, ns);
    cp.kubectl_ok(&[
        "label",
        "namespace",
        ns,
        "istio.io/use-waypoint=waypoint",
        "--overwrite",
    ]);
    waypoint_class(cp);
    waypoint(cp, ns, true);
    deploy(cp, ns, "web", &["v1", "v2"]);
    cp.apply(
        ns,
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: web\nspec:\n  parentRefs:\n  - {group: \"\", kind: Service, name: web}\n  rules:\n  - backendRefs:\n    - {name: web-v1, port: 9080}\n",
    );
    let role = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rbac/traffic-role.yaml");
    cp.kubectl_ok(&["apply", "-n", ns, "-f", role.to_str().unwrap()]);
    cp.kubectl_ok(&["-n", ns, "create", "serviceaccount", "traffic"]);
    cp.kubectl_ok(&[
        "-n",
        ns,
        "create",
        "rolebinding",
        "traffic",
        "--role",
        "kubectl-mesh-traffic",
        "--serviceaccount",
        &format!("{ns}:traffic"),
    ]);
    let traffic = cp.token_kubeconfig(ns, "traffic");
    let r = cp.mesh_as(&traffic, &["shift", "web", "v2=100", "-n", ns, "-v", "6"]);
    r.ok();
    assert_eq!(default_backends(&route(cp, ns, "web")), pairs(&[("web-v2", 100)]));
    let gets: Vec<&str> = r.stderr.lines().filter(|l| l.contains(" GET ")).collect();
    assert_eq!(gets.len(), 8, "one round of 8 reads: {gets:#?}");
    for l in &gets {
        // The Role does not grant the HTTPRoute CRD (optional: without it parentRefs[].port is left out), and
        // GRPCRoutes are not served under the v1.0.0 CRDs (404: none).
        if l.contains("customresourcedefinitions") {
            assert!(l.contains(" 403 "), "{l}");
        } else if l.contains("/grpcroutes?") {
            assert!(l.contains(" 404 ") || l.contains(" 200 "), "{l}");
        } else {
            assert!(l.contains(" 200 "), "{l}");
        }
    }
    assert!(
        gets.iter().any(|l| l.contains(&format!("/api/v1/namespaces/{ns} 200"))),
        "{gets:#?}"
    );
    assert!(
        gets.iter()
            .any(|l| l.contains(&format!("/namespaces/{ns}/gateways?")) && l.contains(" 200 ")),
        "{gets:#?}"
    );
    assert!(!r.stderr.contains("warning:"), "{}", r.stderr);

    // Outside its namespace the Role grants nothing: the real server's answer, which the sandbox gives too
    // (tests/ambient_cli.rs the_sandbox_authorizes_a_namespace_get_in_that_namespace).
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&traffic)
        .args(["get", "namespace", "istio-demo"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!(
            "Error from server (Forbidden): namespaces \"istio-demo\" is forbidden: User \"system:serviceaccount:{ns}:traffic\" cannot get resource \"namespaces\" in API group \"\" in the namespace \"istio-demo\""
        )
    );

    // Under the Role of the previous release (no namespaces, no gateways): shift says what it did not check,
    // and shifts.
    let old_role = std::fs::read_to_string(&role)
        .unwrap()
        .replace("name: kubectl-mesh-traffic", "name: kubectl-mesh-traffic-old")
        .split("\n- apiGroups: [\"\"]\n  resources: [namespaces]")
        .next()
        .unwrap()
        .to_string();
    cp.apply(ns, &old_role);
    let applied = cp.kubectl_json(&["-n", ns, "get", "role", "kubectl-mesh-traffic-old"]);
    assert!(
        !applied["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resources"][0] == "namespaces" || r["resources"][0] == "gateways"),
        "{applied}"
    );
    cp.kubectl_ok(&["-n", ns, "create", "serviceaccount", "old"]);
    cp.kubectl_ok(&[
        "-n",
        ns,
        "create",
        "rolebinding",
        "old",
        "--role",
        "kubectl-mesh-traffic-old",
        "--serviceaccount",
        &format!("{ns}:old"),
    ]);
    let old = cp.token_kubeconfig(ns, "old");
    let r = cp.mesh_as(&old, &["shift", "web", "v1=100", "-n", ns]);
    r.ok();
    assert!(
        r.stderr.contains(&format!(
            "warning: cannot read namespace {ns} (needs get namespaces): ambient mode not checked"
        )),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------------------------------------
// CRDs as installed: bundle versions istiod ignores, and Helm ownership by k3s' Traefik chart.

/// A GRPCRoute CRD of our own, stamped with a bundle version below the v1.1.0 istiod 1.26.2 needs. (Only under
/// Gateway API v1.0.0: v1.6.1's ValidatingAdmissionPolicy refuses bundle versions before v1.5.0.)
const GRPCROUTES: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: grpcroutes.gateway.networking.k8s.io\n  annotations:\n    api-approved.kubernetes.io: https://github.com/kubernetes-sigs/gateway-api/pull/2466\n    gateway.networking.k8s.io/bundle-version: v1.0.0\n    gateway.networking.k8s.io/channel: experimental\nspec:\n  group: gateway.networking.k8s.io\n  names: {kind: GRPCRoute, listKind: GRPCRouteList, plural: grpcroutes, singular: grpcroute}\n  scope: Namespaced\n  versions:\n  - name: v1alpha2\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}\n";

#[test]
fn gateway_api_crd_versions_as_installed() {
    let Some(cp) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let ns = "e2e-crd-version";
    cp.namespace(ns, false);
    cp.sh(&format!("kubectl apply -f - <<'EOF'\n{GRPCROUTES}\nEOF")).ok();
    let (_, report) = doctor(cp, ns, &["gateway-api-crd-version"]);
    let f = one(&report, "gateway-api-crd-version", "warning");
    assert_eq!(
        f["message"],
        "istiod 1.26.2 ignores CRD grpcroutes.gateway.networking.k8s.io: bundle v1.0.0 is older than the v1.1.0 it requires; grpcroutes are not processed"
    );
    assert!(
        f["hint"]
            .as_str()
            .unwrap()
            .ends_with("/v1.1.0/experimental-install.yaml"),
        "{f}"
    );
    // Stamped as Helm stamps a release's objects (k3s' traefik-crd chart).
    cp.kubectl_ok(&[
        "label",
        "crd",
        "grpcroutes.gateway.networking.k8s.io",
        "app.kubernetes.io/managed-by=Helm",
    ]);
    cp.kubectl_ok(&[
        "annotate",
        "crd",
        "grpcroutes.gateway.networking.k8s.io",
        "meta.helm.sh/release-name=traefik-crd",
        "meta.helm.sh/release-namespace=kube-system",
    ]);
    let (_, report) = doctor(cp, ns, &["gateway-api-crd-version"]);
    let traefik: Vec<&Value> = findings(&report, "gateway-api-crd-version")
        .into_iter()
        .filter(|f| f["message"].as_str().unwrap().contains("k3s's packaged Traefik"))
        .collect();
    assert_eq!(traefik.len(), 1, "{report:#}");
    assert!(
        traefik[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("1 Gateway API CRD (grpcroutes) belong"),
        "{}",
        traefik[0]
    );
    cp.kubectl_ok(&["delete", "crd", "grpcroutes.gateway.networking.k8s.io"]);
}

// ---------------------------------------------------------------------------------------------------------
// A VirtualService (Istio's CRD, minimal schema of ours) routing a Service a mesh HTTPRoute routes.

const VIRTUAL_SERVICES: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: virtualservices.networking.istio.io\nspec:\n  group: networking.istio.io\n  names: {kind: VirtualService, listKind: VirtualServiceList, plural: virtualservices, singular: virtualservice, shortNames: [vs]}\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {type: object, properties: {spec: {type: object, x-kubernetes-preserve-unknown-fields: true}}}\n  - name: v1beta1\n    served: true\n    storage: false\n    schema:\n      openAPIV3Schema: {type: object, properties: {spec: {type: object, x-kubernetes-preserve-unknown-fields: true}}}\n";

#[test]
fn virtualservice_conflict_on_real_objects() {
    let Some(cp) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let ns = "e2e-vs";
    cp.namespace(ns, false);
    cp.namespace("e2e-vs-other", false);
    cp.sh(&format!("kubectl apply -f - <<'EOF'\n{VIRTUAL_SERVICES}\nEOF"))
        .ok();
    cp.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "crd/virtualservices.networking.istio.io",
        "--timeout=60s",
    ]);
    deploy(cp, ns, "web", &["v1"]);
    cp.apply(
        ns,
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: web\nspec:\n  parentRefs:\n  - {group: \"\", kind: Service, name: web}\n  rules:\n  - backendRefs:\n    - {name: web-v1, port: 9080}\n",
    );
    one(
        &doctor(cp, ns, &["virtualservice-conflict"]).1,
        "virtualservice-conflict",
        "ok",
    );
    cp.apply(
        ns,
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: web\nspec:\n  hosts: [web]\n  http:\n  - route:\n    - destination: {host: web}\n",
    );
    let f = one(
        &doctor(cp, ns, &["virtualservice-conflict"]).1,
        "virtualservice-conflict",
        "warning",
    );
    assert!(
        f["message"].as_str().unwrap().starts_with(
            "VirtualService e2e-vs/web (hosts web) and mesh HTTPRoute e2e-vs/web both route Service e2e-vs/web"
        ),
        "{f}"
    );
    cp.kubectl_ok(&["-n", ns, "delete", "virtualservice", "web"]);
    // A short name from another namespace names another Service: no conflict; the FQDN does.
    cp.apply(
        "e2e-vs-other",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: web\nspec:\n  hosts: [web]\n",
    );
    let r = cp.mesh(&["doctor", "-A", "-o", "json", "--check", "virtualservice-conflict"]);
    assert!(
        findings(&r.json(), "virtualservice-conflict")
            .iter()
            .all(|f| !f["message"].as_str().unwrap().contains("e2e-vs-other/web")),
        "{}",
        r.stdout
    );
    cp.apply(
        "e2e-vs-other",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: web\nspec:\n  hosts: [web.e2e-vs.svc.cluster.local]\n",
    );
    let r = cp.mesh(&["doctor", "-A", "-o", "json", "--check", "virtualservice-conflict"]);
    assert!(
        findings(&r.json(), "virtualservice-conflict")
            .iter()
            .any(|f| f["message"]
                .as_str()
                .unwrap()
                .contains("VirtualService e2e-vs-other/web (hosts web.e2e-vs.svc.cluster.local)")),
        "{}",
        r.stdout
    );
}
