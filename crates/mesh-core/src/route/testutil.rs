//! Test helpers: a Bookinfo-like namespace and the check that every planned route validates
//! against both upstream HTTPRoute CRDs (v1.0.0 after pruning `parentRefs[].port`, and v1.6.1).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{json, Value};

use super::*;
use mesh_sandbox::schema::CrdSchema;

pub use mesh_sandbox::fixtures::shared_fixtures;

fn load(rel: &str) -> Option<CrdSchema> {
    let dir = shared_fixtures()?;
    let text = std::fs::read_to_string(dir.join(rel)).ok()?;
    Some(CrdSchema::from_crd_yaml(&text, "v1").unwrap())
}

static V1_0_0: OnceLock<Option<CrdSchema>> = OnceLock::new();
static GRPC_V1_6_1: OnceLock<Option<CrdSchema>> = OnceLock::new();

/// A planned GRPCRoute must be accepted by the upstream v1.6.1 GRPCRoute CRD (structural schema).
pub fn assert_valid_grpc(route: &Value) {
    let Some(schema) = GRPC_V1_6_1
        .get_or_init(|| load("gateway-api/latest/gateway.networking.k8s.io_grpcroutes.yaml"))
        .as_ref()
    else {
        eprintln!("skipping: GRPCRoute schema validation, shared fixtures absent");
        return;
    };
    assert_eq!(schema.unknown_fields(route), Vec::<String>::new(), "{route}");
    let mut defaulted = route.clone();
    schema.default(&mut defaulted);
    assert_eq!(schema.validate(&defaulted), vec![], "invalid: {defaulted}");
}
static V1_6_1: OnceLock<Option<CrdSchema>> = OnceLock::new();

pub fn v1_0_0_opt() -> Option<&'static CrdSchema> {
    V1_0_0
        .get_or_init(|| load("gateway-api/gateway.networking.k8s.io_httproutes.yaml"))
        .as_ref()
}

pub fn v1_6_1_opt() -> Option<&'static CrdSchema> {
    V1_6_1
        .get_or_init(|| load("gateway-api/latest/gateway.networking.k8s.io_httproutes.yaml"))
        .as_ref()
}

/// The v1.0.0 schema, or a tiny schema that knows no `parentRefs[].port` when fixtures are absent.
pub fn v1_0_0() -> CrdSchema {
    if let Some(s) = v1_0_0_opt() {
        return s.clone();
    }
    eprintln!("skipping: shared fixtures absent, using a minimal stand-in schema");
    CrdSchema::from_crd(
        &json!({"kind": "CustomResourceDefinition", "metadata": {"name": "x"},
                "spec": {"versions": [{"name": "v1", "served": true, "schema": {"openAPIV3Schema": {
                    "type": "object", "properties": {"spec": {"type": "object", "properties": {
                        "parentRefs": {"type": "array", "items": {"type": "object", "properties": {
                            "group": {"type": "string"}, "kind": {"type": "string"},
                            "name": {"type": "string"}, "namespace": {"type": "string"}}}},
                        "rules": {"type": "array", "items": {"type": "object",
                            "x-kubernetes-preserve-unknown-fields": true}}}}}}}}]}}),
        "v1",
    )
    .unwrap()
}

/// Every planned route must be accepted by both served versions, the way the command layer
/// writes it (without `parentRefs[].port` on v1.0.0).
pub fn assert_valid_everywhere(route: &Value) {
    let (Some(old), Some(new)) = (v1_0_0_opt(), v1_6_1_opt()) else {
        eprintln!("skipping: schema validation, shared fixtures absent");
        return;
    };
    let mut r = route.clone();
    if let Some(prs) = r.pointer_mut("/spec/parentRefs").and_then(Value::as_array_mut) {
        for p in prs {
            if let Some(o) = p.as_object_mut() {
                o.shift_remove("port");
            }
        }
    }
    for (schema, obj) in [(old, &r), (new, route)] {
        assert_eq!(
            schema.unknown_fields(obj),
            Vec::<String>::new(),
            "unknown fields for {:?}",
            schema.bundle_version()
        );
        let mut defaulted = obj.clone();
        schema.default(&mut defaulted);
        assert_eq!(
            schema.validate(&defaulted),
            vec![],
            "invalid under {:?}: {defaulted}",
            schema.bundle_version()
        );
    }
}

pub fn svc(name: &str, app: &str, version: Option<&str>) -> ServiceInfo {
    let mut labels = BTreeMap::from([("app".to_string(), app.to_string())]);
    let mut selector = labels.clone();
    if let Some(v) = version {
        labels.insert("version".into(), v.into());
        selector.insert("version".into(), v.into());
    }
    labels.insert("service".into(), name.into());
    ServiceInfo {
        name: name.into(),
        labels,
        selector,
        ports: vec![ServicePort {
            name: Some("http".into()),
            port: 9080,
        }],
        ..Default::default()
    }
}

pub fn pod(name: &str, app: &str, version: &str, ready: bool) -> PodInfo {
    PodInfo {
        name: name.into(),
        app: Some(app.into()),
        version: Some(version.into()),
        ready,
        labels: BTreeMap::from([("app".into(), app.into()), ("version".into(), version.into())]),
        facts: Default::default(),
    }
}

/// Namespace `bookinfo` with reviews + reviews-v1..v3 (one ready endpoint each) and their pods.
pub fn bookinfo(routes: Vec<Value>, parent_port_supported: bool) -> RouteSnapshot {
    let mut services = vec![svc("reviews", "reviews", None)];
    let mut pods = Vec::new();
    let mut ready = BTreeMap::new();
    ready.insert("reviews".to_string(), 3);
    for v in ["v1", "v2", "v3"] {
        let name = format!("reviews-{v}");
        services.push(svc(&name, "reviews", Some(v)));
        pods.push(pod(&format!("{name}-abc"), "reviews", v, true));
        ready.insert(name, 1);
    }
    services.push(svc("ratings", "ratings", None));
    RouteSnapshot {
        service: "reviews".into(),
        state: NamespaceState {
            namespace: "bookinfo".into(),
            routes,
            services,
            ready_endpoints: ready,
            pods,
            grpc_served: true,
            ..Default::default()
        },
        parent_port_supported,
        namespace_labels: Some(BTreeMap::new()),
        gateways: Some(Vec::new()),
    }
}

/// A route as stored by a v1.0.0 server after `route-reviews-v1.yaml` (defaults applied).
pub fn route_v1() -> Value {
    route_split(&[("reviews-v1", 1)])
}

pub fn route_split(backends: &[(&str, u64)]) -> Value {
    let refs: Vec<Value> = backends
        .iter()
        .map(|(n, w)| json!({"group": "", "kind": "Service", "name": n, "port": 9080, "weight": w}))
        .collect();
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "reviews", "namespace": "bookinfo", "resourceVersion": "7"},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": "reviews"}],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                       "backendRefs": refs}]
        }
    })
}

/// A route with a user rule (jason → v2) before the default rule (v1).
pub fn route_with_user_rule() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "reviews", "namespace": "bookinfo", "resourceVersion": "9"},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": "reviews"}],
            "rules": [
                {"matches": [{"headers": [{"type": "Exact", "name": "end-user", "value": "jason"}],
                              "path": {"type": "PathPrefix", "value": "/"}}],
                 "filters": [{"type": "RequestHeaderModifier",
                              "requestHeaderModifier": {"set": [{"name": "x-canary", "value": "1"}]}}],
                 "backendRefs": [{"group": "", "kind": "Service", "name": "reviews-v2", "port": 9080, "weight": 1}]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "backendRefs": [{"group": "", "kind": "Service", "name": "reviews-v1", "port": 9080, "weight": 1}]}
            ]
        }
    })
}
