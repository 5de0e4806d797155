//! Reading what the route commands need, once: one LIST per kind (concurrently), decoded into the plain data the
//! pure planners in [`mesh_core::route`] take.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::cluster::{Cluster, ListParams, PageSink};
use crate::error::{KubeError, Result};
use mesh_core::resource::{CRDS, ENDPOINTSLICES, HTTPROUTES, PODS, SERVICES};
use mesh_core::route::{ready_endpoints_from_slices, NamespaceState, PodInfo, ServiceInfo, ServicePort};
use mesh_core::wire::{decode_page, ListMeta};

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

fn service_info(v: &Value) -> ServiceInfo {
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

fn pod_info(v: &Value) -> PodInfo {
    let terminating = v.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null());
    let ready = !terminating
        && v.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.get("type").and_then(Value::as_str) == Some("Ready")
                        && c.get("status").and_then(Value::as_str) == Some("True")
                })
            });
    let label = |key: &str| {
        v.pointer("/metadata/labels")
            .and_then(|l| l.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    PodInfo {
        name: name_of(v),
        app: label("app"),
        version: label("version"),
        ready,
    }
}

// ---------- slim shapes: only the fields the route code reads, decoded straight from each page ----------

#[derive(Deserialize, Default)]
#[serde(default)]
struct MetaSlim {
    name: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    #[serde(rename = "deletionTimestamp")]
    deletion_timestamp: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PortSlim {
    name: Option<String>,
    port: i64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ServiceSpecSlim {
    selector: BTreeMap<String, String>,
    ports: Vec<PortSlim>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ServiceSlim {
    metadata: MetaSlim,
    spec: ServiceSpecSlim,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReadySlim {
    ready: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EndpointSlim {
    conditions: ReadySlim,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SliceSlim {
    metadata: MetaSlim,
    endpoints: Option<Vec<EndpointSlim>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ConditionSlim {
    #[serde(rename = "type")]
    type_: String,
    status: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PodStatusSlim {
    conditions: Vec<ConditionSlim>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PodSlim {
    metadata: MetaSlim,
    status: PodStatusSlim,
}

/// A Service, a pod, or one EndpointSlice's ready count (Service name, count), with its namespace.
type InNamespace<T> = (String, T);

fn service_slim(s: ServiceSlim) -> InNamespace<ServiceInfo> {
    let info = ServiceInfo {
        name: s.metadata.name,
        labels: s.metadata.labels,
        selector: s.spec.selector,
        ports: s
            .spec
            .ports
            .into_iter()
            .filter_map(|p| {
                Some(ServicePort {
                    name: p.name,
                    port: i32::try_from(p.port).ok()?,
                })
            })
            .collect(),
    };
    (s.metadata.namespace, info)
}

fn service_value(v: &Value) -> InNamespace<ServiceInfo> {
    (namespace_of(v), service_info(v))
}

fn pod_slim(p: PodSlim) -> InNamespace<PodInfo> {
    // A Terminating pod serves no new requests (its endpoint is not ready), whatever its Ready condition says.
    let ready = p.metadata.deletion_timestamp.is_none()
        && p.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
    let mut labels = p.metadata.labels;
    let info = PodInfo {
        name: p.metadata.name,
        app: labels.remove("app"),
        version: labels.remove("version"),
        ready,
    };
    (p.metadata.namespace, info)
}

fn pod_value(v: &Value) -> InNamespace<PodInfo> {
    (namespace_of(v), pod_info(v))
}

fn slice_slim(s: SliceSlim) -> InNamespace<Option<(String, u32)>> {
    let mut meta = s.metadata;
    let service = meta.labels.remove("kubernetes.io/service-name");
    let ready = s
        .endpoints
        .unwrap_or_default()
        .iter()
        .filter(|e| e.conditions.ready != Some(false))
        .count() as u32;
    (meta.namespace, service.map(|svc| (svc, ready)))
}

fn slice_value(v: &Value) -> InNamespace<Option<(String, u32)>> {
    let ready = ready_endpoints_from_slices(std::slice::from_ref(v));
    (namespace_of(v), ready.into_iter().next())
}

/// Decodes each page straight into `T` through the slim shape `R`; a page that does not fit the shape (a `null`
/// where an object belongs) is parsed generically and read with the tolerant `Value` readers instead.
struct SlimPages<R, T> {
    items: Vec<T>,
    convert: fn(R) -> T,
    fallback: fn(&Value) -> T,
}

impl<R, T> SlimPages<R, T> {
    fn new(convert: fn(R) -> T, fallback: fn(&Value) -> T) -> Self {
        SlimPages {
            items: Vec::new(),
            convert,
            fallback,
        }
    }
}

impl<R, T> PageSink for SlimPages<R, T>
where
    R: for<'de> Deserialize<'de> + Send,
    T: Send,
{
    fn page(&mut self, body: &[u8]) -> std::result::Result<ListMeta, serde_json::Error> {
        let fallback = self.fallback;
        decode_page(body, &mut self.items, self.convert, |v| Some(fallback(v)))
    }

    fn restart(&mut self) {
        self.items.clear();
    }
}

/// Group what was listed (possibly across namespaces) into per-namespace states.
fn group_states(
    routes: Vec<Value>,
    services: Vec<InNamespace<ServiceInfo>>,
    slices: Vec<InNamespace<Option<(String, u32)>>>,
    pods: Vec<InNamespace<PodInfo>>,
) -> Vec<NamespaceState> {
    fn state(by_ns: &mut BTreeMap<String, NamespaceState>, ns: String) -> &mut NamespaceState {
        by_ns.entry(ns).or_insert_with_key(|ns| NamespaceState {
            namespace: ns.clone(),
            ..Default::default()
        })
    }
    let mut by_ns: BTreeMap<String, NamespaceState> = BTreeMap::new();
    for r in routes {
        state(&mut by_ns, namespace_of(&r)).routes.push(r);
    }
    for (ns, s) in services {
        state(&mut by_ns, ns).services.push(s);
    }
    for (ns, ready) in slices {
        let entry = state(&mut by_ns, ns);
        if let Some((svc, n)) = ready {
            *entry.ready_endpoints.entry(svc).or_insert(0) += n;
        }
    }
    for (ns, p) in pods {
        state(&mut by_ns, ns).pods.push(p);
    }
    by_ns.into_values().collect()
}

/// What [`load_states`] is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// shift and route-user: pods are listed too; they tell which versions exist and back
    /// `--create-backends`.
    Plan,
    /// status: no pods. It shows routes, Services and ready endpoints, and pods are by far the biggest list
    /// of a cluster (about 95% of the bytes of these four kinds at 10,000 Istio-injected pods).
    Status,
}

/// Everything the route planners read, for one namespace or all (`None`): HTTPRoutes, Services, EndpointSlices
/// and (for [`Purpose::Plan`]) Pods, LISTed in parallel, each decoded page by page into the few fields the
/// planners read (routes are kept whole: they are written back).
pub async fn load_states(cluster: &Cluster, ns: Option<&str>, purpose: Purpose) -> Result<Vec<NamespaceState>> {
    let all = ListParams::default();
    let list_pods = async {
        match purpose {
            Purpose::Plan => cluster
                .list_pages(&PODS, ns, &all, SlimPages::new(pod_slim, pod_value))
                .await
                .map(Some),
            Purpose::Status => Ok(None),
        }
    };
    let (routes, services, slices, pods) = tokio::join!(
        cluster.list(&HTTPROUTES, ns, &all),
        cluster.list_pages(&SERVICES, ns, &all, SlimPages::new(service_slim, service_value)),
        cluster.list_pages(&ENDPOINTSLICES, ns, &all, SlimPages::new(slice_slim, slice_value)),
        list_pods,
    );
    let routes = routes.map_err(|e| match e {
        KubeError::NotServed { .. } => KubeError::NotServed {
            resource: "HTTPRoutes (gateway.networking.k8s.io/v1)".into(),
            hint: "install the Gateway API CRDs first: kubectl apply -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.0.0/standard-install.yaml".into(),
        },
        e => e,
    })?;
    let (_, services) = services?;
    let (_, slices) = slices?;
    let pods = pods?.map(|(_, pods)| pods.items).unwrap_or_default();
    Ok(group_states(routes.items, services.items, slices.items, pods))
}

/// One namespace's state (empty when the namespace holds nothing).
pub async fn load_state(cluster: &Cluster, ns: &str) -> Result<NamespaceState> {
    let states = load_states(cluster, Some(ns), Purpose::Plan).await?;
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
        Ok(None) | Err(KubeError::Forbidden { .. }) | Err(KubeError::NotServed { .. }) => return Ok(false),
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
