//! Reading what the route commands need, once: one LIST per kind (concurrently), decoded into the plain data the
//! pure planners in [`mesh_core::route`] take.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::cluster::{Cluster, ListParams, PageSink};
use crate::error::{KubeError, Result};
use mesh_core::ambient::{Condition, PodFacts};
use mesh_core::doctor::model::{gateway_from_value, Gateway};
use mesh_core::resource::{CRDS, ENDPOINTSLICES, GATEWAYS, GRPCROUTES, HTTPROUTES, NAMESPACES, PODS, SERVICES};
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

/// `status.conditions` of type `istio.io/…` (the only ones the planners read).
fn istio_conditions(v: Option<&Value>) -> Vec<Condition> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
            let type_ = s("type")?;
            type_.starts_with("istio.io/").then(|| Condition {
                status: s("status").unwrap_or_default(),
                reason: s("reason"),
                message: s("message"),
                observed_generation: c.get("observedGeneration").and_then(Value::as_i64),
                type_,
            })
        })
        .collect()
}

fn service_info(v: &Value) -> ServiceInfo {
    ServiceInfo {
        name: name_of(v),
        labels: string_map(v.pointer("/metadata/labels")),
        selector: string_map(v.pointer("/spec/selector")),
        type_: v.pointer("/spec/type").and_then(Value::as_str).map(str::to_string),
        cluster_ip: v.pointer("/spec/clusterIP").and_then(Value::as_str).map(str::to_string),
        istio_conditions: istio_conditions(v.pointer("/status/conditions")),
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
    let annotation = |key: &str| v.pointer("/metadata/annotations").and_then(|a| a.get(key));
    let proxy = |key: &str| {
        v.pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.get("name").and_then(Value::as_str) == Some("istio-proxy"))
            })
    };
    PodInfo {
        name: name_of(v),
        app: label("app"),
        version: label("version"),
        ready,
        labels: string_map(v.pointer("/metadata/labels")),
        facts: PodFacts {
            sidecar_status: annotation("sidecar.istio.io/status").is_some(),
            proxy: if proxy("containers") {
                Some(false)
            } else if proxy("initContainers") {
                Some(true)
            } else {
                None
            },
            redirected: annotation("ambient.istio.io/redirection").and_then(Value::as_str) == Some("enabled"),
            host_network: v.pointer("/spec/hostNetwork").and_then(Value::as_bool) == Some(true),
        },
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
    #[serde(rename = "type")]
    type_: Option<String>,
    #[serde(rename = "clusterIP")]
    cluster_ip: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ServiceStatusSlim {
    /// Kept as JSON: only the `istio.io/…` ones are read, and Services rarely have conditions.
    conditions: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ServiceSlim {
    metadata: MetaSlim,
    spec: ServiceSpecSlim,
    status: ServiceStatusSlim,
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

/// Pod annotations: only the ones that tell its data plane (the ~6 KB `sidecar.istio.io/status` only counts as
/// present).
#[derive(Deserialize, Default)]
#[serde(default)]
struct PodAnnotationsSlim {
    #[serde(rename = "sidecar.istio.io/status")]
    sidecar_status: Option<serde::de::IgnoredAny>,
    #[serde(rename = "ambient.istio.io/redirection")]
    redirection: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PodMetaSlim {
    name: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    annotations: PodAnnotationsSlim,
    #[serde(rename = "deletionTimestamp")]
    deletion_timestamp: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ContainerNameSlim {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PodSpecSlim {
    containers: Vec<ContainerNameSlim>,
    init_containers: Vec<ContainerNameSlim>,
    host_network: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PodSlim {
    metadata: PodMetaSlim,
    spec: PodSpecSlim,
    status: PodStatusSlim,
}

/// A Service, a pod, or one EndpointSlice's ready count (Service name, count), with its namespace.
type InNamespace<T> = (String, T);

fn service_slim(s: ServiceSlim) -> InNamespace<ServiceInfo> {
    let info = ServiceInfo {
        name: s.metadata.name,
        labels: s.metadata.labels,
        selector: s.spec.selector,
        type_: s.spec.type_,
        cluster_ip: s.spec.cluster_ip,
        istio_conditions: istio_conditions(s.status.conditions.as_ref()),
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
    let is_proxy = |c: &ContainerNameSlim| c.name == "istio-proxy";
    let proxy = if p.spec.containers.iter().any(is_proxy) {
        Some(false)
    } else if p.spec.init_containers.iter().any(is_proxy) {
        Some(true)
    } else {
        None
    };
    let labels = p.metadata.labels;
    let info = PodInfo {
        name: p.metadata.name,
        app: labels.get("app").cloned(),
        version: labels.get("version").cloned(),
        ready,
        labels,
        facts: PodFacts {
            sidecar_status: p.metadata.annotations.sidecar_status.is_some(),
            proxy,
            redirected: p.metadata.annotations.redirection.as_deref() == Some("enabled"),
            host_network: p.spec.host_network,
        },
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

/// A listed route with its `apiVersion` and `kind` (list items of custom resources carry them; make sure, since
/// the kind decides how the route is read and the object is written back whole).
fn with_kind(mut route: Value, res: &mesh_core::resource::Res) -> Value {
    if route.get("kind").and_then(Value::as_str).is_none() {
        route["kind"] = Value::from(res.kind);
    }
    if route.get("apiVersion").and_then(Value::as_str).is_none() {
        route["apiVersion"] = Value::from(res.api_version());
    }
    route
}

/// Group what was listed (possibly across namespaces) into per-namespace states. `grpc` is `None` when the
/// cluster does not serve GRPCRoutes (or we may not list them).
fn group_states(
    routes: Vec<Value>,
    grpc: Option<Vec<Value>>,
    services: Vec<InNamespace<ServiceInfo>>,
    slices: Vec<InNamespace<Option<(String, u32)>>>,
    pods: Vec<InNamespace<PodInfo>>,
) -> Vec<NamespaceState> {
    fn state(by_ns: &mut BTreeMap<String, NamespaceState>, ns: String, grpc_served: bool) -> &mut NamespaceState {
        by_ns.entry(ns).or_insert_with_key(|ns| NamespaceState {
            namespace: ns.clone(),
            grpc_served,
            ..Default::default()
        })
    }
    let served = grpc.is_some();
    let mut by_ns: BTreeMap<String, NamespaceState> = BTreeMap::new();
    for r in routes {
        let r = with_kind(r, &HTTPROUTES);
        state(&mut by_ns, namespace_of(&r), served).routes.push(r);
    }
    for r in grpc.unwrap_or_default() {
        let r = with_kind(r, &GRPCROUTES);
        state(&mut by_ns, namespace_of(&r), served).grpc_routes.push(r);
    }
    for (ns, s) in services {
        state(&mut by_ns, ns, served).services.push(s);
    }
    for (ns, ready) in slices {
        let entry = state(&mut by_ns, ns, served);
        if let Some((svc, n)) = ready {
            *entry.ready_endpoints.entry(svc).or_insert(0) += n;
        }
    }
    for (ns, p) in pods {
        state(&mut by_ns, ns, served).pods.push(p);
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
    /// explain: as status, without GRPCRoutes (it evaluates HTTP requests against HTTPRoutes only).
    Explain,
}

/// What [`load_states`] read: per-namespace states, and what to say about what could not be read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub states: Vec<NamespaceState>,
    /// Whether the cluster serves GRPCRoute v1 (and we may list them).
    pub grpc_served: bool,
    /// `warning:` lines (GRPCRoutes we may not list).
    pub warnings: Vec<String>,
}

/// Everything the route planners read, for one namespace or all (`None`): HTTPRoutes, GRPCRoutes, Services,
/// EndpointSlices and (for [`Purpose::Plan`]) Pods, LISTed in parallel, each decoded page by page into the few
/// fields the planners read (routes are kept whole: they are written back). A cluster without GRPCRoute v1 (Gateway
/// API before v1.1.0) answers 404 for them: no GRPCRoutes, said by `grpc_served`; a 403 for them is a warning, not
/// a failure.
pub async fn load_states(cluster: &Cluster, ns: Option<&str>, purpose: Purpose) -> Result<Loaded> {
    let all = ListParams::default();
    let list_pods = async {
        match purpose {
            Purpose::Plan => cluster
                .list_pages(&PODS, ns, &all, SlimPages::new(pod_slim, pod_value))
                .await
                .map(Some),
            Purpose::Status | Purpose::Explain => Ok(None),
        }
    };
    let list_grpc = async {
        match purpose {
            Purpose::Explain => None,
            Purpose::Plan | Purpose::Status => Some(cluster.list(&GRPCROUTES, ns, &all).await),
        }
    };
    let (routes, grpc, services, slices, pods) = tokio::join!(
        cluster.list(&HTTPROUTES, ns, &all),
        list_grpc,
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
    let mut warnings = Vec::new();
    let grpc = match grpc {
        None => None,
        Some(Ok(list)) => Some(list.items),
        Some(Err(KubeError::NotServed { .. })) => None,
        Some(Err(e @ KubeError::Forbidden { .. })) => {
            warnings.push(format!("{e}; GRPCRoutes are not considered"));
            None
        }
        Some(Err(e)) => return Err(e),
    };
    let grpc_served = grpc.is_some();
    let (_, services) = services?;
    let (_, slices) = slices?;
    let pods = pods?.map(|(_, pods)| pods.items).unwrap_or_default();
    Ok(Loaded {
        states: group_states(routes.items, grpc, services.items, slices.items, pods),
        grpc_served,
        warnings,
    })
}

/// One namespace's state (empty when the namespace holds nothing), and the warnings of reading it.
pub async fn load_state(cluster: &Cluster, ns: &str) -> Result<(NamespaceState, Vec<String>)> {
    let loaded = load_states(cluster, Some(ns), Purpose::Plan).await?;
    let state = loaded
        .states
        .into_iter()
        .find(|s| s.namespace == ns)
        .unwrap_or_else(|| NamespaceState {
            namespace: ns.to_string(),
            grpc_served: loaded.grpc_served,
            ..Default::default()
        });
    Ok((state, loaded.warnings))
}

/// What the planners read about the namespace besides its routes, Services and pods: its labels (ambient mode,
/// waypoint enrollment) and its Gateways (waypoints). Each is `None` when we may not read it (the traffic Role
/// of older releases grants neither): the planners then say what they could not check. Both are in the
/// namespace itself: a namespaced Role can grant `get` of the Namespace object (the API server authorizes
/// `GET /api/v1/namespaces/NS` in namespace NS).
pub async fn load_plan_context(
    cluster: &Cluster,
    ns: &str,
) -> Result<(Option<BTreeMap<String, String>>, Option<Vec<Gateway>>)> {
    let all = ListParams::default();
    let (namespace, gateways) = tokio::join!(
        namespace_labels(cluster, Some(ns)),
        cluster.list(&GATEWAYS, Some(ns), &all),
    );
    // A namespace that does not exist (yet) has no labels.
    let labels = namespace?.map(|mut by_name| by_name.remove(ns).unwrap_or_default());
    let gateways = match gateways {
        Ok(list) => Some(list.items.iter().filter_map(|g| gateway_from_value(g).ok()).collect()),
        Err(KubeError::NotServed { .. }) => Some(Vec::new()),
        Err(KubeError::Forbidden { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok((labels, gateways))
}

/// The labels of namespace `ns` (one GET; absent when it does not exist), or of every namespace (one paginated
/// LIST of a small cluster-scoped kind). `None` when we may not read them (the caller then cannot tell ambient
/// namespaces from sidecar ones). The planners' context and `status` both read them here.
pub async fn namespace_labels(
    cluster: &Cluster,
    ns: Option<&str>,
) -> Result<Option<BTreeMap<String, BTreeMap<String, String>>>> {
    let labels_of = |n: &Value| {
        (
            n.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            string_map(n.pointer("/metadata/labels")),
        )
    };
    let read = match ns {
        Some(ns) => cluster
            .get_opt(&NAMESPACES, None, ns)
            .await
            .map(|n| n.iter().map(labels_of).collect()),
        None => cluster
            .list(&NAMESPACES, None, &ListParams::default())
            .await
            .map(|l| l.items.iter().map(labels_of).collect()),
    };
    match read {
        Ok(map) => Ok(Some(map)),
        Err(KubeError::Forbidden { .. }) => Ok(None),
        Err(e) => Err(e),
    }
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
