//! `kubectl mesh explain` and `kubectl mesh doctor -f` against a real Kubernetes control plane (see tests/e2e.rs
//! and tests/common/controlplane.rs): routes stored and defaulted by the real API server (Gateway API v1.6.1 CRDs,
//! their CEL rules), real creationTimestamps deciding ties, ready endpoints from the real EndpointSlice
//! controller. No Istio runs: where a test needs a route's status, it writes it with `kubectl patch
//! --subresource=status`, as the mesh controller would. Each test works in a namespace of its own.

#[path = "common/controlplane.rs"]
mod controlplane;

use std::time::Duration;

use controlplane::{app_yaml, controlplane, route_yaml, ControlPlane, GatewayApi};
use serde_json::{json, Value};

/// App `name` with `versions` in a fresh, non-injected namespace `ns`, available, with ready endpoints.
fn app(cp: &ControlPlane, ns: &str, name: &str, versions: &[&str]) {
    cp.namespace(ns, false);
    cp.apply(ns, &app_yaml(name, versions, 1));
    for v in versions {
        cp.wait_available(ns, &format!("deployment/{name}-{v}"));
        cp.wait_ready_endpoints(ns, &format!("{name}-{v}"), true);
    }
}

fn backends(doc: &Value) -> Vec<(String, f64, u64)> {
    doc["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["service"].as_str().unwrap().to_string(),
                b["percent"].as_f64().unwrap(),
                b["readyEndpoints"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn with_status<'a>(doc: &'a Value, id: &str, status: &str) -> Vec<&'a Value> {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == id && c["status"] == status)
        .collect()
}

/// A route with one rule matching header `end-user: USER` → `backend`.
fn user_route(name: &str, service: &str, user: &str, backend: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\nspec:\n  parentRefs:\n  - {{group: \"\", kind: Service, name: {service}}}\n  rules:\n  - matches:\n    - headers:\n      - {{name: End-User, value: {user}}}\n    backendRefs:\n    - {{name: {backend}, port: 9080}}\n"
    )
}

#[test]
fn explain_follows_gateway_api_precedence_on_a_real_api_server() {
    let Some(cp) = controlplane(GatewayApi::V1_6_1) else {
        return;
    };
    let ns = "e2e-explain";
    app(cp, ns, "reviews", &["v1", "v2", "v3"]);
    cp.apply(ns, &route_yaml("reviews", "reviews-v1"));

    let r = cp.mesh(&["explain", "reviews", "-n", ns, "-o", "json"]);
    r.ok();
    let doc = r.json();
    assert_eq!(doc["route"], "reviews");
    assert_eq!(
        doc["match"]["path"],
        json!({"type": "PathPrefix", "value": "/"}),
        "the server's defaulted match: {doc}"
    );
    assert_eq!(backends(&doc), vec![("reviews-v1".to_string(), 100.0, 1)]);

    // route-user's rule wins for jason (one header match beats none).
    cp.mesh(&["route-user", "reviews", "jason", "v2", "-n", ns]).ok();
    let r = cp.mesh(&["explain", "reviews", "-n", ns, "-H", "end-user=jason", "-o", "json"]);
    r.ok();
    let doc = r.json();
    assert_eq!(doc["rule"]["index"], 0, "{doc}");
    assert_eq!(backends(&doc), vec![("reviews-v2".to_string(), 100.0, 1)]);

    // A newer route with the same match: the older route wins the tie (real creationTimestamps, second precision),
    // and doctor says the newer rule never gets a request.
    std::thread::sleep(Duration::from_millis(1100));
    cp.apply(ns, &user_route("reviews-jason-again", "reviews", "jason", "reviews-v3"));
    let r = cp.mesh(&["explain", "reviews", "-n", ns, "-H", "end-user: jason", "-o", "json"]);
    r.ok();
    let doc = r.json();
    assert_eq!(doc["route"], "reviews", "the oldest route wins: {doc}");
    let d = cp.mesh(&["doctor", "-n", ns, "--check", "route-rule-shadowed", "-o", "json"]);
    d.ok();
    let shadowed = d.json();
    let warn = with_status(&shadowed, "route-rule-shadowed", "warning");
    assert_eq!(warn.len(), 1, "{shadowed}");
    assert!(
        warn[0]["message"]
            .as_str()
            .unwrap()
            .contains("HTTPRoute e2e-explain/reviews-jason-again rules[0]"),
        "{}",
        warn[0]
    );

    // The split with ready endpoints from the real EndpointSlices.
    cp.mesh(&["shift", "reviews", "v1=90", "v3=10", "--route", "reviews", "-n", ns])
        .ok();
    let r = cp.mesh(&["explain", "reviews", "-n", ns, "--path", "/reviews/0?x=1", "-o", "json"]);
    r.ok();
    assert_eq!(
        backends(&r.json()),
        vec![("reviews-v1".to_string(), 90.0, 1), ("reviews-v3".to_string(), 10.0, 1)]
    );

    // A route the mesh controller rejected (status written as Istio would) takes nothing.
    cp.apply(
        ns,
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: admin\nspec:\n  parentRefs:\n  - {group: \"\", kind: Service, name: reviews}\n  rules:\n  - matches:\n    - path: {type: Exact, value: /admin}\n    backendRefs:\n    - {name: reviews-v3, port: 9080}\n",
    );
    let r = cp.mesh(&["explain", "reviews", "-n", ns, "--path", "/admin", "-o", "json"]);
    assert_eq!(
        r.json()["route"],
        "admin",
        "accepted until the controller says otherwise"
    );
    let status = json!({"status": {"parents": [{"parentRef": {"group": "", "kind": "Service", "name": "reviews"},
        "controllerName": "istio.io/gateway-controller",
        "conditions": [{"type": "Accepted", "status": "False", "reason": "NotAllowedByListeners", "message": "rejected",
            "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]}]}});
    cp.kubectl_ok(&[
        "-n",
        ns,
        "patch",
        "httproute",
        "admin",
        "--subresource=status",
        "--type=merge",
        "-p",
        &status.to_string(),
    ]);
    let r = cp.mesh(&["explain", "reviews", "-n", ns, "--path", "/admin", "-o", "json"]);
    r.ok();
    let doc = r.json();
    assert_eq!(doc["route"], "reviews", "{doc}");
    assert!(
        doc["notes"].to_string().contains("HTTPRoute admin is not accepted"),
        "{doc}"
    );

    // A Service whose only route matches nothing of this request: rejected, exit 1.
    cp.apply(
        ns,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: ratings\nspec:\n  ports:\n  - {port: 9080, name: http}\n  selector: {app: reviews}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: ratings\nspec:\n  parentRefs:\n  - {group: \"\", kind: Service, name: ratings, port: 9080}\n  rules:\n  - matches:\n    - path: {type: Exact, value: /x}\n    backendRefs:\n    - {name: reviews-v1, port: 9080}\n",
    );
    let r = cp.mesh(&["explain", "ratings", "-n", ns, "--path", "/y", "-o", "json"]);
    r.assert_code(1);
    assert_eq!(r.json()["matched"], false);
    cp.mesh(&["explain", "ratings", "-n", ns, "--path", "/x"]).ok();
}

/// An object as a user keeps it in a file: what `kubectl get -o json` shows, without status and server fields.
fn as_file(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("status");
    let meta = v["metadata"].as_object_mut().unwrap();
    for k in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
        "annotations",
    ] {
        meta.remove(k);
    }
    v
}

fn write(cp: &ControlPlane, name: &str, v: &Value) -> String {
    let path = cp.dir.join(format!("e2e-files-{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(v).unwrap()).unwrap();
    path.display().to_string()
}

fn changes(doc: &Value, change: &str) -> Vec<String> {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["change"] == change)
        .map(|c| format!("{} {}", c["id"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect()
}

#[test]
fn doctor_files_overlay_on_a_real_api_server() {
    let Some(cp) = controlplane(GatewayApi::V1_6_1) else {
        return;
    };
    let ns = "e2e-files";
    app(cp, ns, "reviews", &["v1", "v3"]);
    cp.apply(ns, &route_yaml("reviews", "reviews-v1"));
    let live_route = cp.kubectl_json(&["-n", ns, "get", "httproute", "reviews"]);

    // The live objects as files: nothing changes.
    let same = write(cp, "same", &as_file(live_route.clone()));
    let r = cp.mesh(&["doctor", "-f", &same, "-n", ns, "-o", "json"]);
    r.ok();
    let doc = r.json();
    assert_eq!(doc["mode"], "overlay");
    assert!(
        changes(&doc, "introduced").is_empty() && changes(&doc, "fixed").is_empty(),
        "{doc}"
    );

    // A file sending half of reviews to v3 and relabelling v3's pod template: v3's Service then selects no pod.
    let mut route = as_file(live_route.clone());
    route["spec"]["rules"][0]["backendRefs"] =
        json!([{"name": "reviews-v1", "port": 9080, "weight": 50}, {"name": "reviews-v3", "port": 9080, "weight": 50}]);
    let mut dep = as_file(cp.kubectl_json(&["-n", ns, "get", "deployment", "reviews-v3"]));
    dep["spec"]["template"]["metadata"]["labels"]["version"] = json!("3");
    dep["spec"]["selector"]["matchLabels"]["version"] = json!("3");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": [route, dep]});
    let relabel = write(cp, "relabel", &list);
    let r = cp.mesh(&["doctor", "-f", &relabel, "-n", ns, "-o", "json"]);
    r.assert_code(1);
    let doc = r.json();
    assert_eq!(
        changes(&doc, "introduced"),
        vec!["backend-selector-unmatched error"],
        "{doc}"
    );
    let finding = with_status(&doc, "backend-selector-unmatched", "error")[0];
    assert!(
        finding["hint"]
            .as_str()
            .unwrap()
            .contains("deployment reviews-v3 (app=reviews,version=3)"),
        "{finding}"
    );
    assert_eq!(finding["resources"][1]["file"], relabel.as_str(), "{finding}");

    // A live error the files fix: a route to a Service that does not exist, fixed in the file.
    cp.apply(ns, &route_yaml("reviews", "reviews-v9"));
    let broken = cp.mesh(&["doctor", "-n", ns, "--check", "route-backend-missing", "-o", "json"]);
    broken.assert_code(1);
    let r = cp.mesh(&["doctor", "-f", &same, "-n", ns, "-o", "json"]);
    r.ok();
    let doc = r.json();
    assert_eq!(changes(&doc, "fixed"), vec!["route-backend-missing error"], "{doc}");
    assert_eq!(doc["success"], true);

    // The same file offline: no cluster needed.
    let r = cp.mesh(&["doctor", "-f", &same, "--offline", "-n", ns, "-o", "json"]);
    r.ok();
    assert_eq!(r.json()["mode"], "offline");
}
