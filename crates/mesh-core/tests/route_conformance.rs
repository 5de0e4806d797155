//! Conformance of the schema engine and the route planners against real upstream data:
//! the Gateway API HTTPRoute CRDs (v1.0.0 and v1.6.1), Istio's Bookinfo Gateway API samples
//! and the Gateway API mesh conformance routes, read from the shared fixtures (`mesh_sandbox::fixtures`).
//! Skipped (visibly) when absent, required when `MESH_REQUIRE_SHARED=1`.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Instant;

use mesh_core::route::{
    default_rule_index, find_mesh_routes, plan_route_user, plan_shift, NamespaceState, RouteSnapshot, RouteUserRequest,
    ServiceInfo, ServicePort, ShiftRequest,
};
use mesh_sandbox::schema::CrdSchema;
use serde_json::{json, Value};

use mesh_sandbox::fixtures::shared_fixtures as fixtures;

fn read(rel: &str) -> String {
    let dir = fixtures().unwrap();
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn docs(rel: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(&read(rel))
        .unwrap()
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

struct Schemas {
    old: CrdSchema,
    new: CrdSchema,
}

static SCHEMAS: OnceLock<Option<Schemas>> = OnceLock::new();

fn schemas() -> Option<&'static Schemas> {
    SCHEMAS
        .get_or_init(|| {
            fixtures()?;
            Some(Schemas {
                old: CrdSchema::from_crd_yaml(&read("gateway-api/gateway.networking.k8s.io_httproutes.yaml"), "v1")
                    .unwrap(),
                new: CrdSchema::from_crd_yaml(
                    &read("gateway-api/latest/gateway.networking.k8s.io_httproutes.yaml"),
                    "v1",
                )
                .unwrap(),
            })
        })
        .as_ref()
}

/// What a server with this schema stores for a write: prune, then default.
fn store(schema: &CrdSchema, obj: &Value) -> Value {
    let mut v = obj.clone();
    schema.prune(&mut v);
    schema.default(&mut v);
    v
}

/// Both servers accept the object as written (v1.0.0 without `parentRefs[].port`).
fn assert_valid_everywhere(route: &Value) {
    let s = schemas().unwrap();
    let mut without_port = route.clone();
    for p in without_port["spec"]["parentRefs"].as_array_mut().into_iter().flatten() {
        if let Some(o) = p.as_object_mut() {
            o.shift_remove("port");
        }
    }
    for (schema, obj) in [(&s.old, &without_port), (&s.new, route)] {
        assert_eq!(
            schema.unknown_fields(obj),
            Vec::<String>::new(),
            "{:?}",
            schema.bundle_version()
        );
        let stored = store(schema, obj);
        assert_eq!(
            schema.validate(&stored),
            vec![],
            "{:?}: {stored}",
            schema.bundle_version()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Schema engine on the real CRDs
// ---------------------------------------------------------------------------------------

#[test]
fn schema_parses_and_validates_upstream_crds_quickly() {
    if fixtures().is_none() {
        return;
    }
    let start = Instant::now();
    let old = CrdSchema::from_crd_yaml(&read("gateway-api/gateway.networking.k8s.io_httproutes.yaml"), "v1").unwrap();
    let new = CrdSchema::from_crd_yaml(
        &read("gateway-api/latest/gateway.networking.k8s.io_httproutes.yaml"),
        "v1",
    )
    .unwrap();
    let route = docs("istio-bookinfo/route-reviews-90-10.yaml").remove(0);
    assert!(old.validate(&store(&old, &route)).is_empty());
    assert!(new.validate(&store(&new, &route)).is_empty());
    let took = start.elapsed();
    assert!(took.as_secs_f64() < 2.0, "took {took:?}");
    eprintln!("parsed two HTTPRoute CRDs and validated in {took:?}");
    assert_eq!(old.bundle_version(), Some("v1.0.0"));
    assert_eq!(new.bundle_version(), Some("v1.6.1"));
    assert_eq!(old.channel(), Some("standard"));
    assert!(old.warnings().is_empty(), "{:?}", old.warnings());
    assert!(new.warnings().is_empty(), "{:?}", new.warnings());
    assert!(old.cel_rules() > 0);
    // v1beta1 is served too.
    assert!(CrdSchema::from_crd_yaml(
        &read("gateway-api/gateway.networking.k8s.io_httproutes.yaml"),
        "v1beta1"
    )
    .is_ok());
}

#[test]
fn schema_istio_samples_validate_under_both_versions() {
    let Some(s) = schemas() else { return };
    let mut n = 0;
    for f in [
        "istio-bookinfo/route-reviews-v1.yaml",
        "istio-bookinfo/route-reviews-v3.yaml",
        "istio-bookinfo/route-reviews-90-10.yaml",
        "istio-bookinfo/route-reviews-50-v3.yaml",
        "istio-bookinfo/route-all-v1.yaml",
        "istio-bookinfo/bookinfo-gateway.yaml",
        "gateway-api/conformance/tests/mesh/mesh-split.yaml",
        "gateway-api/conformance/tests/mesh/httproute-weight.yaml",
        "gateway-api/conformance/tests/mesh/httproute-matching.yaml",
    ] {
        for doc in docs(f) {
            if doc["kind"] != "HTTPRoute" {
                continue;
            }
            n += 1;
            for schema in [&s.old, &s.new] {
                let causes = schema.validate(&store(schema, &doc));
                assert!(causes.is_empty(), "{f} {:?}: {causes:?}", schema.bundle_version());
            }
        }
    }
    assert!(n >= 9, "only {n} routes checked");
}

#[test]
fn schema_parent_port_pruned_by_v1_0_0_kept_by_v1_6_1() {
    let Some(s) = schemas() else { return };
    let route = docs("istio-bookinfo/route-reviews-v1.yaml").remove(0);
    assert!(!s.old.has_field("spec.parentRefs[].port"));
    assert!(s.new.has_field("spec.parentRefs[].port"));
    assert_eq!(s.old.unknown_fields(&route), vec!["spec.parentRefs[0].port"]);
    assert!(s.new.unknown_fields(&route).is_empty());
    let mut old = route.clone();
    assert_eq!(s.old.prune(&mut old), vec!["spec.parentRefs[0].port"]);
    assert_eq!(old["spec"]["parentRefs"][0].get("port"), None);
    let mut new = route.clone();
    assert!(s.new.prune(&mut new).is_empty());
    assert_eq!(new["spec"]["parentRefs"][0]["port"], json!(9080));
    // Neither has a rule `name` in v1.0.0; v1.6.1 does.
    assert!(!s.old.has_field("spec.rules[].name"));
    assert!(s.new.has_field("spec.rules[].name"));
}

#[test]
fn schema_rejects_weight_over_one_million() {
    let Some(s) = schemas() else { return };
    let mut route = docs("istio-bookinfo/route-reviews-90-10.yaml").remove(0);
    route["spec"]["rules"][0]["backendRefs"][0]["weight"] = json!(1_000_001);
    for schema in [&s.old, &s.new] {
        let causes = schema.validate(&store(schema, &route));
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert_eq!(causes[0].field, "spec.rules[0].backendRefs[0].weight");
        assert_eq!(causes[0].reason, "FieldValueInvalid");
    }
    route["spec"]["rules"][0]["backendRefs"][0]["weight"] = json!(1_000_000);
    assert!(s.new.validate(&store(&s.new, &route)).is_empty());
    route["spec"]["rules"][0]["backendRefs"][0]["weight"] = json!(-1);
    assert!(!s.new.validate(&store(&s.new, &route)).is_empty());
}

#[test]
fn schema_rejects_header_name_with_space() {
    let Some(s) = schemas() else { return };
    let mut route = docs("istio-bookinfo/route-reviews-v1.yaml").remove(0);
    route["spec"]["rules"][0]["matches"] = json!([{"headers": [{"name": "end user", "value": "jason"}]}]);
    for schema in [&s.old, &s.new] {
        let causes = schema.validate(&store(schema, &route));
        assert!(
            causes
                .iter()
                .any(|c| c.field == "spec.rules[0].matches[0].headers[0].name" && c.message.contains("should match")),
            "{causes:?}"
        );
    }
}

#[test]
fn schema_defaults_like_the_api_server() {
    let Some(s) = schemas() else { return };
    let route = json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "r"},
        "spec": {"parentRefs": [{"name": "reviews"}],
                 "rules": [{"backendRefs": [{"name": "reviews-v1", "port": 9080}]},
                           {"matches": [{"headers": [{"name": "end-user", "value": "jason"}]}]}]}
    });
    for schema in [&s.old, &s.new] {
        let v = store(schema, &route);
        assert_eq!(
            v["spec"]["rules"][0]["matches"],
            json!([{"path": {"type": "PathPrefix", "value": "/"}}])
        );
        let br = &v["spec"]["rules"][0]["backendRefs"][0];
        assert_eq!(
            (&br["group"], &br["kind"], &br["weight"]),
            (&json!(""), &json!("Service"), &json!(1))
        );
        let pr = &v["spec"]["parentRefs"][0];
        assert_eq!(pr["group"], "gateway.networking.k8s.io");
        assert_eq!(pr["kind"], "Gateway");
        let h = &v["spec"]["rules"][1]["matches"][0];
        assert_eq!(h["headers"][0]["type"], "Exact");
        assert_eq!(h["path"], json!({"type": "PathPrefix", "value": "/"}));
        let empty = store(schema, &json!({"spec": {}}));
        assert_eq!(
            empty["spec"]["rules"],
            json!([{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}])
        );
    }
}

#[test]
fn schema_enforces_rule_and_match_limits_per_version() {
    let Some(s) = schemas() else { return };
    let m = json!({"path": {"type": "PathPrefix", "value": "/"}});
    let mut route = docs("istio-bookinfo/route-reviews-v1.yaml").remove(0);
    route["spec"]["rules"][0]["matches"] = Value::Array(vec![m.clone(); 9]);
    let old = s.old.validate(&store(&s.old, &route));
    assert!(
        old.iter()
            .any(|c| c.field == "spec.rules[0].matches" && c.reason == "FieldValueTooMany"),
        "{old:?}"
    );
    assert!(s.new.validate(&store(&s.new, &route)).is_empty());
    let rule = route["spec"]["rules"][0].clone();
    route["spec"]["rules"] = Value::Array(vec![rule; 17]);
    for schema in [&s.old, &s.new] {
        let c = schema.validate(&store(schema, &route));
        assert!(
            c.iter()
                .any(|c| c.field == "spec.rules" && c.reason == "FieldValueTooMany"),
            "{c:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Planners on Istio's Bookinfo samples
// ---------------------------------------------------------------------------------------

fn service(name: &str, port: i32, labels: &[(&str, &str)]) -> ServiceInfo {
    let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    ServiceInfo {
        name: name.into(),
        selector: labels.clone(),
        labels,
        ports: vec![ServicePort {
            name: Some("http".into()),
            port,
        }],
        ..Default::default()
    }
}

fn bookinfo(route: Option<Value>, parent_port_supported: bool) -> RouteSnapshot {
    let mut services = vec![service("reviews", 9080, &[("app", "reviews")])];
    let mut ready = BTreeMap::new();
    for v in ["v1", "v2", "v3"] {
        let n = format!("reviews-{v}");
        services.push(service(&n, 9080, &[("app", "reviews"), ("version", v)]));
        ready.insert(n, 1);
    }
    RouteSnapshot {
        service: "reviews".into(),
        state: NamespaceState {
            namespace: "default".into(),
            routes: route.into_iter().collect(),
            services,
            ready_endpoints: ready,
            pods: vec![],
            ..Default::default()
        },
        parent_port_supported,
        namespace_labels: Some(BTreeMap::new()),
        gateways: Some(Vec::new()),
    }
}

/// (backend name, percent of the default rule) — weights are relative, so compare shares.
fn normalised(route: &Value) -> Vec<(String, u64)> {
    let i = default_rule_index(route).expect("default rule");
    let refs = route["spec"]["rules"][i]["backendRefs"].as_array().unwrap();
    let total: u64 = refs.iter().map(|r| r["weight"].as_u64().unwrap_or(1)).sum();
    let mut v: Vec<(String, u64)> = refs
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["weight"].as_u64().unwrap_or(1) * 100 / total,
            )
        })
        .collect();
    v.sort();
    v
}

fn sample(schema: &CrdSchema, file: &str) -> Value {
    let mut v = docs(file).remove(0);
    v["metadata"]["namespace"] = json!("default");
    store(schema, &v)
}

fn shift(snap: &RouteSnapshot, args: &[&str]) -> Value {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let req = ShiftRequest::new("reviews", &args).unwrap();
    let plan = plan_shift(snap, &req).unwrap();
    assert!(!plan.edit.noop);
    assert_valid_everywhere(&plan.edit.route);
    assert_eq!(plan.after.iter().map(|s| s.weight).sum::<u32>(), 100);
    plan.edit.route
}

/// Note: Istio's `route-reviews-90-10.yaml` splits v1/**v2** 90/10, so that is the split the
/// first step asks for.
#[test]
fn shift_sequence_reproduces_istio_samples_on_both_servers() {
    let Some(s) = schemas() else { return };
    for (schema, port_ok) in [(&s.old, false), (&s.new, true)] {
        let mut stored = sample(schema, "istio-bookinfo/route-reviews-v1.yaml");
        for (args, expected) in [
            (&["v1=90", "v2=10"][..], "istio-bookinfo/route-reviews-90-10.yaml"),
            (&["v1=50", "v3=50"][..], "istio-bookinfo/route-reviews-50-v3.yaml"),
            (&["v3=100"][..], "istio-bookinfo/route-reviews-v3.yaml"),
        ] {
            let snap = bookinfo(Some(stored.clone()), port_ok);
            let planned = shift(&snap, args);
            let want = sample(schema, expected);
            let got = store(schema, &planned);
            assert_eq!(got["spec"]["parentRefs"], want["spec"]["parentRefs"], "{args:?}");
            assert_eq!(normalised(&got), normalised(&want), "{args:?}");
            assert_eq!(
                got["spec"]["rules"].as_array().unwrap().len(),
                want["spec"]["rules"].as_array().unwrap().len()
            );
            // The plan is stored as written (no pruning needed).
            assert!(schema.unknown_fields(&planned).is_empty());
            stored = got;
        }
        // Shifting to what is already there changes nothing.
        let snap = bookinfo(Some(stored.clone()), port_ok);
        let req = ShiftRequest::new("reviews", &["v3=100".to_string()]).unwrap();
        assert!(plan_shift(&snap, &req).unwrap().edit.noop);
    }
}

#[test]
fn shift_without_route_creates_what_istio_samples_hold() {
    let Some(s) = schemas() else { return };
    for (schema, port_ok) in [(&s.old, false), (&s.new, true)] {
        let snap = bookinfo(None, port_ok);
        let planned = shift(&snap, &["v1=90", "v2=10"]);
        let want = sample(schema, "istio-bookinfo/route-reviews-90-10.yaml");
        let got = store(schema, &planned);
        assert_eq!(got["spec"], want["spec"], "{:?}", schema.bundle_version());
    }
}

#[test]
fn shift_below_100_from_istio_v1_sample() {
    let Some(s) = schemas() else { return };
    let stored = sample(&s.new, "istio-bookinfo/route-reviews-v1.yaml");
    let got = shift(&bookinfo(Some(stored), true), &["v3=10"]);
    assert_eq!(
        normalised(&got),
        vec![("reviews-v1".to_string(), 90), ("reviews-v3".to_string(), 10)]
    );
}

#[test]
fn route_user_on_istio_sample_validates_and_is_idempotent() {
    let Some(s) = schemas() else { return };
    for (schema, port_ok) in [(&s.old, false), (&s.new, true)] {
        let stored = sample(schema, "istio-bookinfo/route-reviews-v1.yaml");
        let req = RouteUserRequest::new("reviews", "vijay", Some("v2"), None, false).unwrap();
        let plan = plan_route_user(&bookinfo(Some(stored.clone()), port_ok), &req).unwrap();
        assert_valid_everywhere(&plan.edit.route);
        let got = store(schema, &plan.edit.route);
        assert_eq!(got["spec"]["rules"][1], stored["spec"]["rules"][0]);
        assert_eq!(
            got["spec"]["rules"][0]["matches"][0]["headers"],
            json!([{"type": "Exact", "name": "end-user", "value": "vijay"}])
        );
        let again = plan_route_user(&bookinfo(Some(got), port_ok), &req).unwrap();
        assert!(again.edit.noop);
    }
}

// ---------------------------------------------------------------------------------------
// Planners on the Gateway API mesh conformance routes
// ---------------------------------------------------------------------------------------

fn echo(route: Value) -> RouteSnapshot {
    let mut ready = BTreeMap::new();
    ready.insert("echo-v1".to_string(), 1);
    ready.insert("echo-v2".to_string(), 1);
    RouteSnapshot {
        service: "echo".into(),
        state: NamespaceState {
            namespace: "gateway-conformance-mesh".into(),
            routes: vec![route],
            services: vec![
                service("echo", 80, &[("app", "echo")]),
                service("echo-v1", 80, &[("app", "echo"), ("version", "v1")]),
                service("echo-v2", 80, &[("app", "echo"), ("version", "v2")]),
            ],
            ready_endpoints: ready,
            pods: vec![],
            ..Default::default()
        },
        parent_port_supported: true,
        namespace_labels: Some(BTreeMap::new()),
        gateways: Some(Vec::new()),
    }
}

fn echo_shift(route: &Value, args: &[&str]) -> Value {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let req = ShiftRequest::new("echo", &args).unwrap();
    let plan = plan_shift(&echo(route.clone()), &req).unwrap();
    assert_valid_everywhere(&plan.edit.route);
    plan.edit.route
}

fn json_of(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

#[test]
fn shift_on_mesh_split_keeps_path_rules_and_appends_default() {
    let Some(s) = schemas() else { return };
    let stored = store(&s.new, &docs("gateway-api/conformance/tests/mesh/mesh-split.yaml")[0]);
    assert_eq!(find_mesh_routes(std::slice::from_ref(&stored), "echo").len(), 1);
    assert_eq!(default_rule_index(&stored), None);
    let out = echo_shift(&stored, &["v1=50", "v2=50"]);
    let rules = out["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 3);
    for i in 0..2 {
        assert_eq!(json_of(&rules[i]), json_of(&stored["spec"]["rules"][i]));
    }
    assert_eq!(default_rule_index(&out), Some(2));
    assert_eq!(
        normalised(&out),
        vec![("echo-v1".to_string(), 50), ("echo-v2".to_string(), 50)]
    );
    assert_eq!(json_of(&out["metadata"]), json_of(&stored["metadata"]));
}

#[test]
fn shift_on_weighted_conformance_route_keeps_backend_ports() {
    let Some(s) = schemas() else { return };
    let stored = store(
        &s.new,
        &docs("gateway-api/conformance/tests/mesh/httproute-weight.yaml")[0],
    );
    let out = echo_shift(&stored, &["v2=50"]);
    let refs = out["spec"]["rules"][0]["backendRefs"].as_array().unwrap();
    assert_eq!(refs.len(), 2);
    // Existing refs keep their own port (8080) and fields; only weights change.
    assert_eq!(refs[0]["port"], json!(8080));
    assert_eq!(refs[0]["weight"], json!(50));
    assert_eq!(refs[1]["weight"], json!(50));
    assert_eq!(
        json_of(&out["spec"]["parentRefs"]),
        json_of(&stored["spec"]["parentRefs"])
    );
}

#[test]
fn shift_on_matching_conformance_route_changes_only_the_catch_all_rule() {
    let Some(s) = schemas() else { return };
    let stored = store(
        &s.new,
        &docs("gateway-api/conformance/tests/mesh/httproute-matching.yaml")[0],
    );
    let out = echo_shift(&stored, &["v2=100"]);
    let rules = out["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(json_of(&rules[1]), json_of(&stored["spec"]["rules"][1]));
    assert_eq!(
        json_of(&rules[0]["matches"]),
        json_of(&stored["spec"]["rules"][0]["matches"])
    );
    assert_eq!(normalised(&out), vec![("echo-v2".to_string(), 100)]);
}
