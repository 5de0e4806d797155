//! Istio ambient mode and GAMMA attachment, as users meet them: the real binary against the sandbox's ambient
//! scenario (namespace ambient-demo: ztunnel, a waypoint, `reviews` enrolled in it, `ratings` not, STRICT mTLS).

#[path = "common/mesh.rs"]
mod mesh;

use mesh::Mesh;
use mesh_sandbox::scenario::bookinfo;
use mesh_sandbox::RbacRule;
use serde_json::{json, Value};

const NS: &str = "ambient-demo";

fn ambient() -> Mesh {
    Mesh::with(bookinfo().ambient())
}

fn checks<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == id)
        .collect()
}

fn status_of(report: &Value, id: &str) -> Vec<String> {
    checks(report, id)
        .iter()
        .map(|c| c["status"].as_str().unwrap().to_string())
        .collect()
}

fn route(m: &Mesh, name: &str) -> Value {
    m.server.get("httproutes", Some(NS), name).expect("route exists")
}

#[test]
fn doctor_reports_the_route_istio_ignores_and_no_sidecar_errors() {
    let m = ambient();
    let r = m.run(&["doctor", "-n", NS, "-o", "json"]);
    r.assert_code(1);
    let report = r.json();
    let errors: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = errors[0];
    assert_eq!(e["id"], "route-waypoint-missing");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.starts_with("HTTPRoute ambient-demo/ratings is ignored in ambient mode"),
        "{msg}"
    );
    assert!(msg.contains("confirmed by Istio: ResolvedWaypoints"), "{msg}");
    assert!(
        e["hint"]
            .as_str()
            .unwrap()
            .contains("kubectl label service ratings -n ambient-demo istio.io/use-waypoint=waypoint"),
        "{e}"
    );
    // STRICT mTLS in the namespace, no sidecars: ztunnel carries mTLS, nothing to report.
    for id in [
        "sidecar-missing",
        "mtls-plaintext-callers",
        "ztunnel-ready",
        "waypoint-not-ready",
        "waypoint-scope",
        "route-not-accepted",
        "ambient-and-sidecar",
        "gateway-api-crd-version",
    ] {
        assert_eq!(status_of(&report, id), vec!["ok"], "{id}: {:#?}", checks(&report, id));
    }
    // The table names the route and Istio's confirmation.
    let r = m.run(&["doctor", "-n", NS]);
    r.assert_code(1);
    assert!(
        r.stdout
            .contains("× KM3610 HTTPRoute ambient-demo/ratings is ignored in ambient mode"),
        "{}",
        r.stdout
    );
    assert!(m.write_attempts().is_empty(), "doctor is read-only");
}

#[test]
fn doctor_finds_each_broken_variant() {
    for (scenario, id, status, says) in [
        (bookinfo().ambient().no_ztunnel(), "ztunnel-ready", "error", "no ztunnel DaemonSet exists"),
        (bookinfo().ambient().ztunnel_unready(), "ztunnel-ready", "error", "has 0 of 1 pods ready"),
        (
            bookinfo().ambient().waypoint_unready(),
            "waypoint-not-ready",
            "error",
            "waypoint ambient-demo/waypoint is not programmed",
        ),
        (
            bookinfo().ambient().ambient_on_injected(),
            "ambient-and-sidecar",
            "warning",
            "labelled for ambient mode (namespace istio-demo has istio.io/dataplane-mode=ambient) run an istio-proxy sidecar",
        ),
        (
            bookinfo().ambient().ambient_on_injected(),
            "injection-label-conflict",
            "warning",
            "namespace istio-demo has more than one kind of injection label (istio-injection=enabled, istio.io/dataplane-mode=ambient)",
        ),
    ] {
        let m = Mesh::with(scenario);
        let r = m.run(&["doctor", "-A", "-o", "json"]);
        let report = r.json();
        let found: Vec<&Value> = checks(&report, id)
            .into_iter()
            .filter(|c| c["status"] == status && c["message"].as_str().unwrap().contains(says))
            .collect();
        assert!(!found.is_empty(), "{id} {says}: {:#?}", checks(&report, id));
        // Istio's own gateway pods run istio-proxy as their proxy, not as a sidecar: never named.
        for c in checks(&report, "ambient-and-sidecar") {
            assert!(!c["message"].as_str().unwrap().contains("bookinfo-gateway"), "{c}");
        }
    }
    // The waypoint's own Service condition confirms it.
    let m = Mesh::with(bookinfo().ambient().waypoint_unready());
    let report = m.run(&["doctor", "-n", NS, "-o", "json"]).json();
    let w = checks(&report, "waypoint-not-ready");
    assert!(
        w[0]["message"].as_str().unwrap().contains(
            "(confirmed by Istio on Service ambient-demo/reviews: istio.io/WaypointBound=False WaypointIsNotReady)"
        ),
        "{w:#?}"
    );
    // ...and gateway-not-programmed leaves that waypoint to it.
    assert_eq!(status_of(&report, "gateway-not-programmed"), vec!["ok"]);
}

#[test]
fn shift_refuses_a_route_istio_would_ignore_and_force_writes_it() {
    let m = ambient();
    let before = route(&m, "ratings");
    let r = m.run(&["shift", "ratings", "v1=100", "-n", NS]);
    r.assert_code(1);
    assert!(
        r.stderr.starts_with("error: service \"ratings\" in namespace \"ambient-demo\" is in ambient mode and has no waypoint: Istio ignores its HTTPRoute"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("\nhint: enroll the Service in waypoint ambient-demo/waypoint: kubectl label service ratings -n ambient-demo istio.io/use-waypoint=waypoint (or pass --force to write the route anyway)"),
        "{}",
        r.stderr
    );
    assert!(
        m.write_attempts().is_empty(),
        "nothing written: {:?}",
        m.write_attempts()
    );
    // Dry runs are refused too.
    m.run(&["shift", "ratings", "v1=100", "-n", NS, "--dry-run=server"])
        .assert_code(1);
    assert!(m.write_attempts().is_empty());

    let r = m.run(&[
        "shift",
        "ratings",
        "v1=50",
        "v2=50",
        "--create-backends",
        "-n",
        NS,
        "--force",
    ]);
    // ratings has no v2 pods: the backend refusal is not one --force skips.
    r.assert_code(1);
    let r = m.run(&["route-user", "ratings", "jason", "v1", "-n", NS, "--force"]);
    r.assert_code(0);
    assert!(
        r.stderr.starts_with(
            "warning: service \"ratings\" in namespace \"ambient-demo\" is in ambient mode and has no waypoint"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(
            "(written anyway: --force; the route has no effect until this is fixed; to fix it: enroll the Service"
        ),
        "{}",
        r.stderr
    );
    let after = route(&m, "ratings");
    assert_ne!(
        after["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
    assert_eq!(after["spec"]["rules"][0]["matches"][0]["headers"][0]["value"], "jason");
}

#[test]
fn shift_on_an_enrolled_service_works_as_in_sidecar_mode() {
    let m = ambient();
    let r = m.run(&["shift", "reviews", "v2=100", "-n", NS]);
    r.assert_code(0);
    assert!(r.stderr.is_empty(), "no warning: {}", r.stderr);
    let stored = route(&m, "reviews");
    assert_eq!(stored["spec"]["rules"][0]["backendRefs"][0]["name"], "reviews-v2");
    // The same with the waypoint down: refused, naming it.
    let m = Mesh::with(bookinfo().ambient().waypoint_unready());
    let r = m.run(&["shift", "reviews", "v2=100", "-n", NS]);
    r.assert_code(1);
    assert!(
        r.stderr
            .contains("uses waypoint ambient-demo/waypoint, which is not programmed (Programmed=False: Invalid:"),
        "{}",
        r.stderr
    );
    assert!(m.write_attempts().is_empty());
}

#[test]
fn route_user_refuses_but_remove_never_does() {
    let m = ambient();
    let r = m.run(&["route-user", "ratings", "jason", "v1", "-n", NS]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("is in ambient mode and has no waypoint"),
        "{}",
        r.stderr
    );
    let r = m.run(&["route-user", "ratings", "jason", "--remove", "-n", NS]);
    r.assert_code(0);
    assert!(r.stdout.contains("nothing to remove"), "{}", r.stdout);
    assert!(m.write_attempts().is_empty());
}

#[test]
fn a_core_group_route_is_refused_with_the_patch_and_status_says_why_it_is_missing() {
    let m = Mesh::bookinfo();
    let mut r = m.server.get("httproutes", Some("istio-demo"), "reviews").unwrap();
    r["spec"]["parentRefs"][0]["group"] = json!("core");
    m.server.insert(r).unwrap();
    m.server.clear_log();
    let out = m.run(&["shift", "reviews", "v2=100"]);
    out.assert_code(1);
    assert!(
        out.stderr.starts_with("error: HTTPRoute \"reviews\" targets service \"reviews\" with parentRefs[0].group \"core\": Istio ignores it"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(r#"hint: kubectl -n istio-demo patch httproute reviews --type=json -p '[{"op":"add","path":"/spec/parentRefs/0/group","value":""}]'"#),
        "{}",
        out.stderr
    );
    assert!(m.write_attempts().is_empty(), "no second route created");
    let st = m.run(&["status"]);
    st.assert_code(0);
    assert!(
        st.stderr.contains("note: HTTPRoute istio-demo/reviews has a Service parentRef (reviews) with group \"core\", which Istio ignores"),
        "{}",
        st.stderr
    );
    let doctor = m.run(&["doctor", "-o", "json"]).json();
    assert_eq!(status_of(&doctor, "gamma-parent-group"), vec!["error"]);
}

#[test]
fn route_user_leaves_a_catch_all_rule() {
    let m = Mesh::bookinfo();
    let mut r = m.server.get("httproutes", Some("istio-demo"), "reviews").unwrap();
    r["spec"]["rules"] = json!([{"matches": [{"headers": [{"type": "Exact", "name": "end-user", "value": "jason"}]}],
        "backendRefs": [{"name": "reviews-v2", "port": 9080}]}]);
    m.server.insert(r).unwrap();
    let doctor = m.run(&["doctor", "-o", "json"]).json();
    assert_eq!(status_of(&doctor, "route-no-catch-all"), vec!["warning"]);
    let out = m.run(&["route-user", "reviews", "vijay", "v3"]);
    out.assert_code(0);
    assert!(
        out.stdout
            .contains("added a default rule sending everyone else to reviews"),
        "{}",
        out.stdout
    );
    let stored = m.server.get("httproutes", Some("istio-demo"), "reviews").unwrap();
    let rules = stored["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 3, "{stored}");
    let last = &rules[2];
    assert_eq!(last["backendRefs"][0]["name"], "reviews");
    // The server stored the default rule with its defaulted catch-all match.
    assert_eq!(last["matches"], json!([{"path": {"type": "PathPrefix", "value": "/"}}]));
    let doctor = m.run(&["doctor", "-o", "json"]).json();
    assert_eq!(status_of(&doctor, "route-no-catch-all"), vec!["ok"]);
}

#[test]
fn status_wide_shows_resolved_waypoints_by_its_effect() {
    let m = ambient();
    let r = m.run(&["status", "-n", NS, "-o", "wide"]);
    r.assert_code(0);
    let ratings = r.stdout.lines().find(|l| l.contains("ratings-v1")).unwrap();
    assert!(
        ratings.contains("ResolvedWaypoints=False(MissingUseWaypointLabel)"),
        "{}",
        r.stdout
    );
    let reviews = r.stdout.lines().find(|l| l.contains("reviews-v1")).unwrap();
    assert!(reviews.contains("ResolvedWaypoints=True"), "{}", r.stdout);
    let json = m.run(&["status", "-n", NS, "-o", "json"]).json();
    let by = |svc: &str| {
        json["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["service"] == svc)
            .unwrap()["resolvedWaypoints"]
            .clone()
    };
    assert_eq!(by("ratings")["resolved"], false);
    assert_eq!(by("ratings")["reason"], "MissingUseWaypointLabel");
    assert_eq!(by("reviews")["resolved"], true);
    // Istio's condition itself stays verbatim.
    let conds = json["routes"][0]["conditions"].as_array().unwrap();
    assert!(conds
        .iter()
        .any(|c| c["type"] == "ResolvedWaypoints" && c["status"] == "True"));
}

#[test]
fn resolved_waypoints_is_read_for_the_namespace_mode() {
    // An istiod with ambient enabled writes "label missing; in ambient mode, route will not be respected" on every
    // mesh route without a waypoint, sidecar namespaces included: there the sidecars apply the route.
    let m = ambient();
    m.run(&["shift", "reviews", "v1=50", "v3=50", "-n", "istio-demo", "--wait"])
        .assert_code(0);
    let stored = m
        .server
        .get("httproutes", Some("istio-demo"), "reviews")
        .expect("route exists");
    let written = stored.to_string();
    assert!(written.contains("istio.io/use-waypoint label missing"), "{written}");
    let r = m.run(&["status", "reviews", "-n", "istio-demo", "-o", "wide"]);
    r.assert_code(0);
    assert!(r.stdout.contains("ResolvedWaypoints=True"), "{}", r.stdout);
    assert!(!r.stdout.contains("ResolvedWaypoints=False"), "{}", r.stdout);
    let json = m.run(&["status", "reviews", "-n", "istio-demo", "-o", "json"]).json();
    assert_eq!(json["routes"][0]["resolvedWaypoints"]["resolved"], true);
    assert_eq!(json["routes"][0]["resolvedWaypoints"]["reason"], "NotAmbient");
    // -A reads every namespace's labels in one LIST: ambient-demo's ratings stays unresolved.
    let all = m.run(&["status", "-A", "-o", "json"]).json();
    let ratings = all["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["namespace"] == NS && r["service"] == "ratings")
        .unwrap();
    assert_eq!(ratings["resolvedWaypoints"]["resolved"], false);
}

#[test]
fn recover_has_nothing_to_do_for_ambient_pods() {
    let m = ambient();
    let r = m.run(&["recover", "-n", NS, "--dry-run=client"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("Nothing to recover") || r.stderr.contains("Nothing to recover"),
        "{}{}",
        r.stdout,
        r.stderr
    );
}

fn rules_of(path: &str, namespaces: &[&str]) -> Vec<RbacRule> {
    let role: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap())
            .unwrap();
    role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let list = |k: &str| {
                r[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            };
            RbacRule {
                api_groups: list("apiGroups"),
                resources: list("resources"),
                verbs: list("verbs"),
                namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            }
        })
        .collect()
}

#[test]
fn shift_under_the_traffic_role_reads_only_its_namespace() {
    let m = ambient();
    m.server
        .set_rbac(Some(rules_of("deploy/rbac/traffic-role.yaml", &[NS])));
    m.server.clear_log();
    let r = m.run(&["shift", "reviews", "v2=100", "-n", NS]);
    r.assert_code(0);
    let log = m.server.requests();
    let forbidden: Vec<_> = log
        .iter()
        .filter(|q| q.status == 403 && !q.path.contains("customresourcedefinitions"))
        .collect();
    assert!(forbidden.is_empty(), "{forbidden:#?}");
    assert!(
        log.iter()
            .any(|q| q.path == "/api/v1/namespaces/ambient-demo" && q.status == 200),
        "the Role grants get of its own namespace: {log:#?}"
    );
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    // Under the Role this release replaces (no namespaces, no gateways): it says what it could not check, and
    // shifts.
    let old: Vec<RbacRule> = rules_of("deploy/rbac/traffic-role.yaml", &[NS])
        .into_iter()
        .filter(|r| !r.resources.iter().any(|x| x == "namespaces" || x == "gateways"))
        .collect();
    m.server.set_rbac(Some(old));
    let r = m.run(&["shift", "ratings", "v1=100", "-n", NS]);
    r.assert_code(0);
    assert!(
        r.stderr
            .contains("warning: cannot read namespace ambient-demo (needs get namespaces): ambient mode not checked"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_sandbox_authorizes_a_namespace_get_in_that_namespace() {
    // kube-apiserver's RequestInfo puts GET /api/v1/namespaces/NS in namespace NS (tests/e2e_ambient.rs checks the
    // real server's answer, word for word the same).
    let m = ambient();
    m.server
        .set_rbac(Some(vec![RbacRule::new(&[""], &["namespaces"], &["get"], &[NS])]));
    let out = std::process::Command::new("kubectl")
        .args(["--kubeconfig"])
        .arg(&m.kubeconfig)
        .args(["get", "namespace", NS, "-o", "name"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "namespace/ambient-demo");
    let out = std::process::Command::new("kubectl")
        .args(["--kubeconfig"])
        .arg(&m.kubeconfig)
        .args(["get", "namespace", "istio-demo"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("namespaces \"istio-demo\" is forbidden: User")
            && stderr.contains("cannot get resource \"namespaces\" in API group \"\" in the namespace \"istio-demo\""),
        "{stderr}"
    );
    // Listing namespaces stays cluster-scoped.
    let out = std::process::Command::new("kubectl")
        .args(["--kubeconfig"])
        .arg(&m.kubeconfig)
        .args(["get", "namespaces"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot list resource \"namespaces\" in API group \"\" at the cluster scope"));
}
