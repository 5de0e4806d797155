//! Reading what the route commands need, once: one LIST per kind (concurrently), decoded into the plain data the
//! pure planners in [`crate::route`] take.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::cluster::resource::{CRDS, ENDPOINTSLICES, HTTPROUTES, PODS, SERVICES};
use crate::cluster::{Cluster, ListParams};
use crate::error::{MeshError, Result};
use crate::route::{ready_endpoints_from_slices, NamespaceState, PodInfo, ServiceInfo, ServicePort};

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn name_of(v: &Value) -> String {
    v.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn namespace_of(v: &Value) -> String {
    v.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub fn service_info(v: &Value) -> ServiceInfo {
    ServiceInfo {
        name: name_of(v),
        labels: string_map(v.pointer("/metadata/labels")),
        selector: string_map(v.pointer("/spec/selector")),
        ports: v
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|ports| {
                ports
                    .iter()
                    .filter_map(|p| {
                        Some(ServicePort {
                            name: p.get("name").and_then(Value::as_str).map(str::to_string),
                            port: i32::try_from(p.get("port")?.as_i64()?).ok()?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

pub fn pod_info(v: &Value) -> PodInfo {
    let ready = v
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        });
    PodInfo {
        name: name_of(v),
        labels: string_map(v.pointer("/metadata/labels")),
        ready,
    }
}

/// Routes, Services, EndpointSlices and Pods of one namespace, as listed.
type RawNamespace = (Vec<Value>, Vec<Value>, Vec<Value>, Vec<Value>);

/// Group raw lists (possibly across namespaces) into per-namespace states.
pub fn group_states(
    routes: Vec<Value>,
    services: Vec<Value>,
    slices: Vec<Value>,
    pods: Vec<Value>,
) -> Vec<NamespaceState> {
    let mut by_ns: BTreeMap<String, RawNamespace> = BTreeMap::new();
    for r in routes {
        by_ns.entry(namespace_of(&r)).or_default().0.push(r);
    }
    for s in services {
        by_ns.entry(namespace_of(&s)).or_default().1.push(s);
    }
    for s in slices {
        by_ns.entry(namespace_of(&s)).or_default().2.push(s);
    }
    for p in pods {
        by_ns.entry(namespace_of(&p)).or_default().3.push(p);
    }
    by_ns
        .into_iter()
        .map(|(namespace, (routes, services, slices, pods))| NamespaceState {
            namespace,
            routes,
            services: services.iter().map(service_info).collect(),
            ready_endpoints: ready_endpoints_from_slices(&slices),
            pods: pods.iter().map(pod_info).collect(),
        })
        .collect()
}

/// Everything the route planners read, for one namespace or all (`None`): four LISTs in parallel.
pub async fn load_states(cluster: &Cluster, ns: Option<&str>) -> Result<Vec<NamespaceState>> {
    let all = ListParams::default();
    let (routes, services, slices, pods) = tokio::join!(
        cluster.list(&HTTPROUTES, ns, &all),
        cluster.list(&SERVICES, ns, &all),
        cluster.list(&ENDPOINTSLICES, ns, &all),
        cluster.list(&PODS, ns, &all),
    );
    let routes = routes.map_err(|e| match e {
        MeshError::NotServed { .. } => MeshError::NotServed {
            resource: "HTTPRoutes (gateway.networking.k8s.io/v1)".into(),
            hint: "install the Gateway API CRDs first: kubectl apply -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.0.0/standard-install.yaml".into(),
        },
        e => e,
    })?;
    Ok(group_states(routes.items, services?.items, slices?.items, pods?.items))
}

/// One namespace's state (empty when the namespace holds nothing).
pub async fn load_state(cluster: &Cluster, ns: &str) -> Result<NamespaceState> {
    let states = load_states(cluster, Some(ns)).await?;
    Ok(states
        .into_iter()
        .find(|s| s.namespace == ns)
        .unwrap_or_else(|| NamespaceState {
            namespace: ns.to_string(),
            ..Default::default()
        }))
}

/// Whether the served HTTPRoute schema has `spec.parentRefs[].port` (standard from v1.1; v1.0.0 prunes it).
/// Reads the CRD; when we may not read CRDs, answer false: omitting the port is valid on every version.
pub async fn parent_port_supported(cluster: &Cluster) -> Result<bool> {
    let crd = match cluster
        .get_opt(&CRDS, None, "httproutes.gateway.networking.k8s.io")
        .await
    {
        Ok(Some(crd)) => crd,
        Ok(None) | Err(MeshError::Forbidden { .. }) | Err(MeshError::NotServed { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let v1 = versions
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some("v1"));
    Ok(v1
        .and_then(|v| v.pointer("/schema/openAPIV3Schema/properties/spec/properties/parentRefs/items/properties/port"))
        .is_some())
}
