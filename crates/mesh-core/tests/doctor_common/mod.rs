//! Builders for doctor test clusters: small JSON objects shaped like what the API server
//! returns, with only the fields doctor reads (plus a little realism).
#![allow(dead_code)]

use std::path::PathBuf;

use jiff::Timestamp;
use mesh_core::doctor::{Kind, RawLists, Snapshot, Unavailable};
use serde_json::{json, Value};

pub const NOW: &str = "2026-11-23T12:00:00Z";
pub const NEW_ROOT_NOT_BEFORE: &str = "2026-11-15T12:00:00Z";

pub fn now() -> Timestamp {
    NOW.parse().unwrap()
}

pub fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/doctor")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn old_root() -> String {
    fixture("root-2026-01-01.pem")
}

pub fn new_root() -> String {
    fixture("root-2026-11-15.pem")
}

#[allow(unused_imports)]
pub use mesh_sandbox::fixtures::shared_fixtures;

pub fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn namespace(name: &str, labels: &[(&str, &str)]) -> Value {
    let labels: serde_json::Map<String, Value> = labels.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

/// A namespace whose `label=value` was set by `manager` at `time` (managedFields).
pub fn namespace_labelled_at(name: &str, label: &str, value: &str, manager: &str, time: &str) -> Value {
    let mut ns = namespace(name, &[(label, value), ("kubernetes.io/metadata.name", name)]);
    ns["metadata"]["managedFields"] = json!([
        {"manager": "kubectl-create", "operation": "Update", "apiVersion": "v1",
         "time": "2026-11-01T00:00:00Z", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/metadata.name": {}}}}},
        {"manager": manager, "operation": "Update", "apiVersion": "v1",
         "time": time, "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:labels": {format!("f:{label}"): {}}}}}
    ]);
    ns
}

pub fn deployment(ns: &str, name: &str, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": name, "image": image}]}}},
        "status": {"replicas": 1, "availableReplicas": 1, "readyReplicas": 1,
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]}})
}

pub fn istiod(version: &str) -> Value {
    let mut d = deployment("istio-system", "istiod", "");
    d["metadata"]["labels"] = json!({"app": "istiod"});
    d["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "discovery", "image": format!("docker.io/istio/pilot:{version}")}]);
    d
}

pub fn replica_set(ns: &str, name: &str, deployment: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": ns, "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment, "uid": "u", "controller": true}]}})
}

/// A running pod. Use the `with_*` helpers to shape it.
pub fn pod(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name.split('-').next().unwrap_or(name)},
            "creationTimestamp": "2026-11-20T00:00:00Z"},
        "spec": {"containers": [{"name": "app", "image": "docker.io/istio/examples-bookinfo:1.20"}]},
        "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "ready": true, "state": {"running": {"startedAt": "2026-11-20T00:00:05Z"}}}]}})
}

pub fn owned(mut pod: Value, kind: &str, owner: &str) -> Value {
    pod["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "apps/v1", "kind": kind, "name": owner, "uid": "u", "controller": true}]);
    pod
}

/// Pod of Deployment `deploy` through ReplicaSet `{deploy}-5d8f9c`.
pub fn deploy_pod(ns: &str, deploy: &str, suffix: &str) -> Value {
    let mut p = owned(
        pod(ns, &format!("{deploy}-5d8f9c-{suffix}")),
        "ReplicaSet",
        &format!("{deploy}-5d8f9c"),
    );
    p["metadata"]["labels"]["pod-template-hash"] = json!("5d8f9c");
    p
}

pub fn with_sidecar(mut pod: Value, started: &str, version: &str) -> Value {
    pod["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "istio-proxy", "image": format!("docker.io/istio/proxyv2:{version}")}));
    pod["status"]["containerStatuses"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "istio-proxy", "ready": true, "state": {"running": {"startedAt": started}}}));
    pod["metadata"]["labels"]["security.istio.io/tlsMode"] = json!("istio");
    pod
}

pub fn with_native_sidecar(mut pod: Value, started: &str, version: &str) -> Value {
    pod["spec"]["initContainers"] = json!([
        {"name": "istio-init", "image": format!("docker.io/istio/proxyv2:{version}")},
        {"name": "istio-proxy", "image": format!("docker.io/istio/proxyv2:{version}"), "restartPolicy": "Always"}
    ]);
    pod["status"]["initContainerStatuses"] = json!([
        {"name": "istio-init", "ready": true, "state": {"terminated": {"exitCode": 0}}},
        {"name": "istio-proxy", "ready": true, "state": {"running": {"startedAt": started}}}
    ]);
    pod
}

pub fn service(ns: &str, name: &str, ports: &[i64]) -> Value {
    let ports: Vec<Value> = ports
        .iter()
        .map(|p| json!({"name": "http", "port": p, "protocol": "TCP"}))
        .collect();
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"type": "ClusterIP", "ports": ports, "selector": {"app": name}}})
}

pub fn endpoint_slice(ns: &str, svc: &str, ready: usize, unready: usize) -> Value {
    let mut eps = Vec::new();
    for i in 0..ready {
        // Half of the ready ones omit `ready` (absent counts as ready).
        if i % 2 == 0 {
            eps.push(json!({"addresses": ["10.0.0.1"], "conditions": {"ready": true}}));
        } else {
            eps.push(json!({"addresses": ["10.0.0.2"], "conditions": {}}));
        }
    }
    for _ in 0..unready {
        eps.push(json!({"addresses": ["10.0.0.3"], "conditions": {"ready": false}}));
    }
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{svc}-abcde"), "namespace": ns,
            "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4", "endpoints": eps})
}

pub fn root_cert_cm(ns: &str, pem: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "istio-ca-root-cert", "namespace": ns, "labels": {"istio.io/config": "true"}},
        "data": {"root-cert.pem": pem}})
}

pub fn peer_auth(ns: &str, name: &str, mode: &str, selector: Option<(&str, &str)>) -> Value {
    let mut pa = json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
        "metadata": {"name": name, "namespace": ns}, "spec": {"mtls": {"mode": mode}}});
    if let Some((k, v)) = selector {
        pa["spec"]["selector"] = json!({"matchLabels": {k: v}});
    }
    pa
}

pub fn gateway(ns: &str, name: &str, programmed: (&str, &str)) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"gatewayClassName": "istio", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]},
        "status": {"conditions": [
            {"type": "Accepted", "status": "True", "reason": "Accepted"},
            {"type": "Programmed", "status": programmed.0, "reason": programmed.1, "message": ""}]}})
}

/// The LoadBalancer Service Istio generates for a Gateway (`{gateway}-istio`).
pub fn gateway_service(ns: &str, gateway: &str, ingress_ip: Option<&str>) -> Value {
    let mut s = service(ns, &format!("{gateway}-istio"), &[15021, 80]);
    s["spec"]["type"] = json!("LoadBalancer");
    s["metadata"]["labels"] =
        json!({"gateway.networking.k8s.io/gateway-name": gateway, "istio.io/gateway-name": gateway});
    s["status"] = match ingress_ip {
        Some(ip) => json!({"loadBalancer": {"ingress": [{"ip": ip}]}}),
        None => json!({"loadBalancer": {}}),
    };
    s
}

/// A GAMMA HTTPRoute on Service `parent` port 9080 with one rule of (backend, weight).
pub fn mesh_route(ns: &str, name: &str, parent: &str, backends: &[(&str, i64)]) -> Value {
    let refs: Vec<Value> = backends
        .iter()
        .map(|(b, w)| json!({"group": "", "kind": "Service", "name": b, "port": 9080, "weight": w}))
        .collect();
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": parent, "port": 9080}],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": refs}]},
        "status": {"parents": [{"parentRef": {"group": "", "kind": "Service", "name": parent, "port": 9080},
            "controllerName": "istio.io/gateway-controller",
            "conditions": [
                {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Route was valid"},
                {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "All references resolved"}]}]}})
}

pub fn crd(name: &str, bundle: &str) -> Value {
    let (plural, group) = name.split_once('.').unwrap();
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": name, "annotations": {
            "gateway.networking.k8s.io/bundle-version": bundle,
            "gateway.networking.k8s.io/channel": "standard"}},
        "spec": {"group": group, "names": {"plural": plural},
            "versions": [{"name": "v1", "served": true, "storage": true}, {"name": "v1beta1", "served": true, "storage": false}]}})
}

pub fn injector_webhook(pem: &str) -> Value {
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "istio-sidecar-injector"},
        "webhooks": [{"name": "rev.namespace.sidecar-injector.istio.io",
            "clientConfig": {"caBundle": b64(pem.as_bytes())}}]})
}

/// Objects plus unavailable kinds → raw lists → snapshot.
pub struct Cluster {
    pub objects: Vec<Value>,
    pub unavailable: Vec<(Kind, Unavailable)>,
}

impl Cluster {
    pub fn raw(&self) -> RawLists {
        let mut raw = RawLists::empty_cluster();
        raw.push_objects(self.objects.clone());
        for (k, u) in &self.unavailable {
            raw.insert(*k, Err(u.clone()));
        }
        raw
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot::from_raw(&self.raw())
    }

    pub fn push(&mut self, v: Value) -> &mut Self {
        self.objects.push(v);
        self
    }

    /// Remove objects of `kind` named `name`.
    pub fn remove(&mut self, kind: &str, name: &str) -> &mut Self {
        self.objects
            .retain(|o| !(o["kind"] == kind && o["metadata"]["name"] == name));
        self
    }

    pub fn get_mut(&mut self, kind: &str, name: &str) -> &mut Value {
        self.objects
            .iter_mut()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    }

    pub fn forbid(&mut self, kind: Kind, namespace: Option<&str>) -> &mut Self {
        self.unavailable
            .push((kind, Unavailable::forbidden_list(kind, namespace)));
        self
    }
}

const V: &str = "1.26.2";
const STARTED: &str = "2026-11-20T00:00:10Z";

/// Bookinfo in istio-demo on a healthy k3d cluster: every check passes.
pub fn healthy() -> Cluster {
    let root = new_root();
    let mut o = vec![
        namespace("istio-system", &[]),
        namespace("kube-system", &[]),
        namespace("default", &[]),
        namespace_labelled_at(
            "istio-demo",
            "istio-injection",
            "enabled",
            "kubectl-label",
            "2026-11-19T08:00:00Z",
        ),
        istiod(V),
        crd("httproutes.gateway.networking.k8s.io", "v1.0.0"),
        crd("gateways.gateway.networking.k8s.io", "v1.0.0"),
        root_cert_cm("istio-system", &root),
        root_cert_cm("istio-demo", &root),
        root_cert_cm("default", &root),
        injector_webhook(&root),
        peer_auth("istio-system", "default", "STRICT", None),
        gateway("istio-demo", "bookinfo-gateway", ("True", "Programmed")),
        gateway_service("istio-demo", "bookinfo-gateway", Some("172.19.255.201")),
        mesh_route(
            "istio-demo",
            "reviews",
            "reviews",
            &[("reviews-v1", 90), ("reviews-v3", 10)],
        ),
    ];
    for svc in [
        "productpage",
        "details",
        "ratings",
        "reviews",
        "reviews-v1",
        "reviews-v2",
        "reviews-v3",
    ] {
        o.push(service("istio-demo", svc, &[9080]));
    }
    for (svc, n) in [
        ("productpage", 1),
        ("details", 1),
        ("ratings", 1),
        ("reviews", 3),
        ("reviews-v1", 1),
        ("reviews-v2", 1),
        ("reviews-v3", 1),
    ] {
        o.push(endpoint_slice("istio-demo", svc, n, 0));
    }
    for dep in [
        "productpage-v1",
        "details-v1",
        "ratings-v1",
        "reviews-v1",
        "reviews-v2",
        "reviews-v3",
    ] {
        o.push(deployment("istio-demo", dep, "docker.io/istio/examples-bookinfo:1.20"));
        o.push(replica_set("istio-demo", &format!("{dep}-5d8f9c"), dep));
        o.push(with_sidecar(deploy_pod("istio-demo", dep, "x1"), STARTED, V));
    }
    // The gateway pod: istio-proxy as its main container.
    o.push(deployment(
        "istio-demo",
        "bookinfo-gateway-istio",
        "docker.io/istio/proxyv2:1.26.2",
    ));
    o.push(replica_set(
        "istio-demo",
        "bookinfo-gateway-istio-5d8f9c",
        "bookinfo-gateway-istio",
    ));
    o.push(with_sidecar(
        deploy_pod("istio-demo", "bookinfo-gateway-istio", "gw"),
        STARTED,
        V,
    ));
    // Something outside the mesh.
    o.push(pod("default", "curl"));
    Cluster {
        objects: o,
        unavailable: Vec::new(),
    }
}
