//! The decoded cluster [`Snapshot`]: only the fields doctor's checks and the recover planner read.
//!
//! Items arrive as raw JSON ([`RawLists`]); each kind is decoded with small serde structs that
//! default every field, so a 10,000-pod cluster stays cheap (no k8s-openapi types, no
//! managedFields except on namespaces, where they tell when an injection label was set).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use super::raw::{Kind, RawLists, Scope, Unavailable};
use crate::ambient::{DataPlane, LabelSelector, Listener, PodFacts};
use crate::wire::{decode_item, decode_page, ListMeta};

/// A list that may not have been readable.
pub type Avail<T> = Result<Vec<T>, Unavailable>;

/// Name of Istio's proxy container (classic sidecar or native sidecar init container).
pub const ISTIO_PROXY: &str = "istio-proxy";

fn parse_time(s: &Option<String>) -> Option<Timestamp> {
    s.as_deref().and_then(|s| s.parse::<Timestamp>().ok())
}

// ---------- serde shapes (private) ----------

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Meta {
    name: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    owner_references: Vec<OwnerRefRaw>,
    creation_timestamp: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct OwnerRefRaw {
    kind: String,
    name: String,
    controller: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ManagedFieldRaw {
    manager: String,
    time: Option<String>,
    fields_v1: Value,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct NsMeta {
    name: String,
    labels: BTreeMap<String, String>,
    annotations: SuppressOnlyRaw,
    managed_fields: Vec<ManagedFieldRaw>,
}

/// Annotations of a kind whose other annotations doctor does not read: only `mesh.kubectl.io/suppress` is kept.
#[derive(Deserialize, Default)]
#[serde(default)]
struct SuppressOnlyRaw {
    #[serde(rename = "mesh.kubectl.io/suppress")]
    suppress: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NamespaceRaw {
    metadata: NsMeta,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ContainerRaw {
    name: String,
    image: String,
    restart_policy: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PodSpecRaw {
    containers: Vec<ContainerRaw>,
    init_containers: Vec<ContainerRaw>,
    host_network: bool,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RunningRaw {
    started_at: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct StateRaw {
    running: Option<RunningRaw>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ContainerStatusRaw {
    name: String,
    ready: bool,
    state: StateRaw,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ConditionRaw {
    #[serde(rename = "type")]
    type_: String,
    status: String,
    reason: Option<String>,
    message: Option<String>,
    observed_generation: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PodStatusRaw {
    phase: Option<String>,
    conditions: Vec<ConditionRaw>,
    container_statuses: Vec<ContainerStatusRaw>,
    init_container_statuses: Vec<ContainerStatusRaw>,
}

/// Pod annotations: only the ones doctor reads (others are skipped without allocating; the large
/// `sidecar.istio.io/status` only counts as present).
#[derive(Deserialize, Default)]
#[serde(default)]
struct PodAnnotationsRaw {
    #[serde(rename = "sidecar.istio.io/inject")]
    inject: Option<String>,
    #[serde(rename = "mesh.kubectl.io/suppress")]
    suppress: Option<String>,
    #[serde(rename = "sidecar.istio.io/status")]
    sidecar_status: Option<serde::de::IgnoredAny>,
    #[serde(rename = "ambient.istio.io/redirection")]
    redirection: Option<String>,
    #[serde(rename = "sidecar.istio.io/proxyImage")]
    proxy_image: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PodMeta {
    name: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    annotations: PodAnnotationsRaw,
    owner_references: Vec<OwnerRefRaw>,
    creation_timestamp: Option<String>,
    deletion_timestamp: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PodRaw {
    metadata: PodMeta,
    spec: PodSpecRaw,
    status: PodStatusRaw,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PodTemplateMetaRaw {
    labels: BTreeMap<String, String>,
    annotations: PodAnnotationsRaw,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PodTemplateRaw {
    metadata: PodTemplateMetaRaw,
    spec: PodSpecRaw,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct WorkloadSpecRaw {
    paused: bool,
    replicas: Option<i64>,
    template: PodTemplateRaw,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct WorkloadStatusRaw {
    available_replicas: Option<i64>,
    ready_replicas: Option<i64>,
    conditions: Vec<ConditionRaw>,
    // DaemonSets.
    desired_number_scheduled: Option<i64>,
    number_ready: Option<i64>,
    number_available: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WorkloadRaw {
    metadata: Meta,
    spec: WorkloadSpecRaw,
    status: WorkloadStatusRaw,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ServicePortRaw {
    name: Option<String>,
    port: i64,
    target_port: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ServiceSpecRaw {
    #[serde(rename = "type")]
    type_: Option<String>,
    #[serde(rename = "clusterIP")]
    cluster_ip: Option<String>,
    ports: Vec<ServicePortRaw>,
    selector: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct LoadBalancerRaw {
    ingress: Vec<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ServiceStatusRaw {
    load_balancer: LoadBalancerRaw,
    conditions: Vec<ConditionRaw>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ServiceRaw {
    metadata: Meta,
    spec: ServiceSpecRaw,
    status: ServiceStatusRaw,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EndpointConditionsRaw {
    ready: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EndpointRaw {
    conditions: EndpointConditionsRaw,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EndpointSliceRaw {
    metadata: Meta,
    endpoints: Option<Vec<EndpointRaw>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ConfigMapRaw {
    metadata: Meta,
    data: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct SelectorRaw {
    match_labels: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MtlsRaw {
    mode: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PeerAuthSpecRaw {
    selector: Option<SelectorRaw>,
    mtls: Option<MtlsRaw>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PeerAuthRaw {
    metadata: Meta,
    spec: PeerAuthSpecRaw,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GatewaySpecRaw {
    gateway_class_name: String,
    listeners: Vec<ListenerRaw>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ListenerRaw {
    name: String,
    port: i64,
    protocol: String,
    allowed_routes: Option<AllowedRoutesRaw>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AllowedRoutesRaw {
    namespaces: Option<RouteNamespacesRaw>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RouteNamespacesRaw {
    from: Option<String>,
    selector: Option<FullSelectorRaw>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct FullSelectorRaw {
    match_labels: BTreeMap<String, String>,
    match_expressions: Vec<SelectorExpressionRaw>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SelectorExpressionRaw {
    key: String,
    operator: String,
    values: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GatewayClassSpecRaw {
    controller_name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GatewayClassRaw {
    metadata: Meta,
    spec: GatewayClassSpecRaw,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VirtualServiceSpecRaw {
    hosts: Vec<String>,
    gateways: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VirtualServiceRaw {
    metadata: Meta,
    spec: VirtualServiceSpecRaw,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GatewayStatusRaw {
    conditions: Vec<ConditionRaw>,
    addresses: Vec<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GatewayRaw {
    metadata: Meta,
    spec: GatewaySpecRaw,
    status: GatewayStatusRaw,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ParentRefRaw {
    group: Option<String>,
    kind: Option<String>,
    name: String,
    namespace: Option<String>,
    port: Option<i64>,
    section_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BackendRefRaw {
    group: Option<String>,
    kind: Option<String>,
    name: String,
    namespace: Option<String>,
    port: Option<i64>,
    weight: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RuleRaw {
    name: Option<String>,
    /// Kept as JSON: the catch-all rule and the match texts are the route module's (one definition).
    matches: Option<Value>,
    backend_refs: Vec<BackendRefRaw>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RouteSpecRaw {
    parent_refs: Vec<ParentRefRaw>,
    rules: Vec<RuleRaw>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RouteParentStatusRaw {
    parent_ref: ParentRefRaw,
    controller_name: String,
    conditions: Vec<ConditionRaw>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RouteStatusRaw {
    parents: Vec<RouteParentStatusRaw>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RouteMetaRaw {
    name: String,
    namespace: String,
    generation: Option<i64>,
    annotations: BTreeMap<String, String>,
    creation_timestamp: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RouteRaw {
    metadata: RouteMetaRaw,
    spec: RouteSpecRaw,
    status: RouteStatusRaw,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CrdNamesRaw {
    plural: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CrdVersionRaw {
    name: String,
    served: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CrdSpecRaw {
    group: String,
    names: CrdNamesRaw,
    versions: Vec<CrdVersionRaw>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CrdRaw {
    metadata: Meta,
    spec: CrdSpecRaw,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ClientConfigRaw {
    ca_bundle: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct WebhookRaw {
    name: String,
    client_config: ClientConfigRaw,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MwcRaw {
    metadata: Meta,
    webhooks: Vec<WebhookRaw>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PdbSpecRaw {
    selector: Option<SelectorRaw>,
    unhealthy_pod_eviction_policy: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PdbStatusRaw {
    disruptions_allowed: Option<i64>,
    current_healthy: Option<i64>,
    desired_healthy: Option<i64>,
    observed_generation: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PdbMeta {
    name: String,
    namespace: String,
    generation: Option<i64>,
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PdbRaw {
    metadata: PdbMeta,
    spec: PdbSpecRaw,
    status: PdbStatusRaw,
}

/// Where a raw shape keeps the annotation `mesh.kubectl.io/suppress` (collected while decoding, so reading it
/// costs no request of its own: it comes with the LISTs doctor makes anyway).
trait SuppressSource {
    /// (namespace, name, value) when the object carries the annotation.
    fn suppress(&self) -> Option<(&str, &str, &str)>;
}

macro_rules! suppress_from_meta {
    ($($raw:ty),*) => {$(
        impl SuppressSource for $raw {
            fn suppress(&self) -> Option<(&str, &str, &str)> {
                let value = self.metadata.annotations.get(super::suppress::ANNOTATION)?;
                Some((&self.metadata.namespace, &self.metadata.name, value))
            }
        }
    )*};
}
suppress_from_meta!(
    WorkloadRaw,
    ServiceRaw,
    EndpointSliceRaw,
    ConfigMapRaw,
    PeerAuthRaw,
    GatewayRaw,
    RouteRaw,
    CrdRaw,
    MwcRaw,
    PdbRaw,
    GatewayClassRaw,
    VirtualServiceRaw
);

impl SuppressSource for NamespaceRaw {
    fn suppress(&self) -> Option<(&str, &str, &str)> {
        let value = self.metadata.annotations.suppress.as_deref()?;
        Some(("", &self.metadata.name, value))
    }
}

impl SuppressSource for PodRaw {
    fn suppress(&self) -> Option<(&str, &str, &str)> {
        let value = self.metadata.annotations.suppress.as_deref()?;
        Some((&self.metadata.namespace, &self.metadata.name, value))
    }
}

/// An object carrying the annotation `mesh.kubectl.io/suppress` (see [`super::suppress`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressAnnotation {
    pub kind: Kind,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
    /// The annotation's value as written (`KM2030,route-backend-unready`).
    pub value: String,
}

// ---------- public decoded model ----------

/// The controlling owner reference (`controller: true`) of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
}

fn controller_of(refs: &[OwnerRefRaw]) -> Option<OwnerRef> {
    refs.iter().find(|r| r.controller == Some(true)).map(|r| OwnerRef {
        kind: r.kind.clone(),
        name: r.name.clone(),
    })
}

/// When a namespace label was last written, from the namespace's managedFields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSet {
    pub manager: String,
    pub time: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// For `istio-injection` and `istio.io/rev`: when (and by which manager) the label was set.
    pub label_set: BTreeMap<String, LabelSet>,
}

impl Namespace {
    /// `istio-injection=enabled`, or an `istio.io/rev` label (and injection not disabled).
    pub fn injection_enabled(&self) -> bool {
        match self.labels.get("istio-injection").map(String::as_str) {
            Some("enabled") => true,
            Some(_) => false,
            None => self.labels.get("istio.io/rev").is_some_and(|r| !r.is_empty()),
        }
    }

    /// The label that turns injection on, with when it was set if known.
    pub fn injection_label(&self) -> Option<(&'static str, Option<&LabelSet>)> {
        if !self.injection_enabled() {
            return None;
        }
        let key = if self.labels.contains_key("istio-injection") {
            "istio-injection"
        } else {
            "istio.io/rev"
        };
        Some((key, self.label_set.get(key)))
    }
}

/// The istio-proxy container of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sidecar {
    /// Native sidecar: an init container with `restartPolicy: Always`.
    pub native: bool,
    pub image: String,
    /// `state.running.startedAt` of the istio-proxy container, when running.
    pub started_at: Option<Timestamp>,
    pub ready: bool,
}

/// A pod's labels, shared between pods with the same set (all pods of a ReplicaSet): doctor holds every pod of
/// the cluster, and a label map costs more than the rest of a [`Pod`].
pub type Labels = Arc<BTreeMap<String, String>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    /// Annotation `sidecar.istio.io/inject`, if set.
    pub inject_annotation: Option<String>,
    pub owner: Option<OwnerRef>,
    pub created: Option<Timestamp>,
    pub phase: String,
    pub host_network: bool,
    /// Pod condition Ready is True.
    pub ready: bool,
    pub sidecar: Option<Sidecar>,
    /// Annotation `sidecar.istio.io/status` is present (the injector ran). Its value, about 6 KB, is not kept.
    pub has_sidecar_status: bool,
    /// Annotation `ambient.istio.io/redirection: enabled`: the CNI captured the pod for ztunnel.
    pub ambient_redirected: bool,
    /// Annotation `sidecar.istio.io/proxyImage`: a proxy image chosen by hand, not the injector's.
    pub custom_proxy_image: bool,
    /// Its data plane, from its labels, its namespace's and the above ([`DataPlane::of`]); set once the
    /// snapshot is assembled (namespaces read).
    pub mode: DataPlane,
    /// `metadata.deletionTimestamp` is set: the pod is Terminating (going away, already replaced by its
    /// controller). The snapshot leaves such pods out of [`Snapshot::pods`]; see [`Snapshot::terminating_pods`].
    pub terminating: bool,
}

impl Pod {
    /// `sidecar.istio.io/inject` says `false`: the label if set (it wins, as in Istio's injector and analyzers,
    /// `injection.go:142-148`), else the annotation.
    pub fn injection_opted_out(&self) -> bool {
        let value = self
            .labels
            .get("sidecar.istio.io/inject")
            .map(String::as_str)
            .or(self.inject_annotation.as_deref());
        value.is_some_and(|v| v.eq_ignore_ascii_case("false"))
    }

    /// What decides its data plane besides its labels.
    pub fn facts(&self) -> PodFacts {
        PodFacts {
            sidecar_status: self.has_sidecar_status,
            proxy: self.sidecar.as_ref().map(|s| s.native),
            redirected: self.ambient_redirected,
            host_network: self.host_network,
        }
    }

    /// Label `sidecar.istio.io/inject: "true"` (injection asked for by the pod itself).
    pub fn injection_requested(&self) -> bool {
        self.labels.get("sidecar.istio.io/inject").map(String::as_str) == Some("true")
    }

    /// Succeeded or Failed: its containers will not run again.
    pub fn completed(&self) -> bool {
        self.phase == "Succeeded" || self.phase == "Failed"
    }
}

/// Deployment, StatefulSet or DaemonSet (only what doctor needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub paused: bool,
    pub replicas: Option<i64>,
    pub available_replicas: i64,
    pub ready_replicas: i64,
    /// Condition type → (status, reason).
    pub conditions: BTreeMap<String, (String, Option<String>)>,
    /// (container name, image) of the pod template.
    pub images: Vec<(String, String)>,
    /// DaemonSets: `status.desiredNumberScheduled`, `numberReady`, `numberAvailable` (0 when absent).
    pub desired_scheduled: i64,
    pub number_ready: i64,
    pub number_available: i64,
    /// Labels of the pod template (what its pods will carry).
    pub template_labels: BTreeMap<String, String>,
    /// Annotation `sidecar.istio.io/inject` of the pod template, if set.
    pub template_inject_annotation: Option<String>,
}

impl Workload {
    /// Its pods opt out of injection (`sidecar.istio.io/inject: "false"` as template label or annotation).
    pub fn template_opts_out(&self) -> bool {
        self.template_labels.get("sidecar.istio.io/inject").map(String::as_str) == Some("false")
            || self.template_inject_annotation.as_deref() == Some("false")
    }

    /// Its pods ask for injection themselves (template label `sidecar.istio.io/inject: "true"`).
    pub fn template_requests_injection(&self) -> bool {
        self.template_labels.get("sidecar.istio.io/inject").map(String::as_str) == Some("true")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSet {
    pub namespace: String,
    pub name: String,
    pub owner: Option<OwnerRef>,
}

pub use crate::route::ServicePort;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub type_: String,
    /// `spec.clusterIP` (`None` for a headless Service).
    pub cluster_ip: Option<String>,
    pub ports: Vec<ServicePort>,
    pub selector: BTreeMap<String, String>,
    pub lb_ingress: bool,
    /// (port, targetPort as written) for each port with a targetPort.
    pub target_ports: Vec<(i32, String)>,
    /// `status.conditions` Istio writes (type `istio.io/…`, e.g. `istio.io/WaypointBound`).
    pub istio_conditions: Vec<Condition>,
}

impl Service {
    /// Headless (`clusterIP: None`) or ExternalName: no cluster IP a mesh route could catch.
    pub fn without_cluster_ip(&self) -> bool {
        self.type_ == "ExternalName" || self.cluster_ip.as_deref() == Some("None")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSlice {
    pub namespace: String,
    /// Label `kubernetes.io/service-name`.
    pub service: String,
    /// Endpoints with `conditions.ready` true or absent.
    pub ready: usize,
    pub total: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCertConfigMap {
    pub namespace: String,
    /// `data["root-cert.pem"]`, if present.
    pub root_cert_pem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAuthentication {
    pub namespace: String,
    pub name: String,
    /// `spec.selector.matchLabels`; `None` = namespace-wide (mesh-wide in istio-system).
    pub selector: Option<BTreeMap<String, String>>,
    /// `spec.mtls.mode` (UNSET when absent).
    pub mode: String,
}

/// One status condition (Gateway, route parent, Service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub type_: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub observed_generation: Option<i64>,
}

fn conditions(raw: Vec<ConditionRaw>) -> Vec<Condition> {
    raw.into_iter()
        .map(|c| Condition {
            type_: c.type_,
            status: c.status,
            reason: c.reason,
            message: c.message,
            observed_generation: c.observed_generation,
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub namespace: String,
    pub name: String,
    pub class: String,
    pub conditions: Vec<Condition>,
    pub has_addresses: bool,
    /// Label `istio.io/waypoint-for`.
    pub waypoint_for: Option<String>,
    /// Annotation `gateway.istio.io/name-override`: the name of the Deployment and Service Istio generates.
    pub name_override: Option<String>,
    pub listeners: Vec<Listener>,
}

impl Gateway {
    /// The Deployment Istio generates for it: named like the Gateway (waypoints set `DisableNameSuffix`), or by
    /// `gateway.istio.io/name-override`.
    pub fn waypoint_deployment(&self) -> &str {
        self.name_override.as_deref().unwrap_or(&self.name)
    }
}

/// A GatewayClass: its controller and the waypoint traffic type it gives its Gateways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayClass {
    pub name: String,
    pub controller: String,
    /// Label `istio.io/waypoint-for`.
    pub waypoint_for: Option<String>,
}

/// An Istio VirtualService: the hosts it routes and the gateways it applies to (`mesh` when empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualService {
    pub namespace: String,
    pub name: String,
    pub hosts: Vec<String>,
    pub gateways: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentRef {
    /// As stored; an omitted group is `gateway.networking.k8s.io`, as the API server defaults it. `core` stays
    /// `core` (Istio does not take it for the core group).
    pub group: String,
    /// The group was absent from the object (only in objects the API server has not stored).
    pub group_omitted: bool,
    /// Defaulted: `Gateway`.
    pub kind: String,
    pub name: String,
    /// Defaulted to the route's namespace.
    pub namespace: String,
    pub port: Option<i64>,
    pub section_name: Option<String>,
    /// Position in `spec.parentRefs`.
    pub index: usize,
}

impl ParentRef {
    /// A GAMMA (mesh) parent: a Service in the core group (`group: ""`), the only form Istio accepts.
    pub fn is_service(&self) -> bool {
        self.group.is_empty() && self.kind == "Service"
    }

    /// `kind: Service` with another group: meant as a Service, taken by nobody.
    pub fn is_service_with_bad_group(&self) -> bool {
        !self.group.is_empty() && self.kind == "Service"
    }

    /// Whether a route status `parentRef` names this parent.
    pub fn same_as(&self, other: &ParentRef) -> bool {
        self.group == other.group
            && self.kind == other.kind
            && self.name == other.name
            && self.namespace == other.namespace
            && (other.port.is_none() || self.port == other.port)
            && (other.section_name.is_none() || self.section_name == other.section_name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendRef {
    pub group: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub port: Option<i64>,
    /// Defaulted to 1.
    pub weight: i64,
}

impl BackendRef {
    pub fn is_service(&self) -> bool {
        self.group.is_empty() && self.kind == "Service"
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: Option<String>,
    /// The matches after the API server's defaulting (a rule without matches has the catch-all).
    pub matches: Vec<crate::route::precedence::MatchCond>,
    pub backends: Vec<BackendRef>,
    /// The rule matches every request (no matches, or a `PathPrefix /` match: [`crate::route::matches_every_request`]).
    pub catch_all: bool,
    /// Its matches as `status` shows them (`end-user=jason`, `path Exact /v2`).
    pub match_summary: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteParentStatus {
    pub parent_ref: ParentRef,
    pub controller: String,
    pub conditions: Vec<Condition>,
}

impl RouteParentStatus {
    /// Written by Istio.
    pub fn by_istio(&self) -> bool {
        self.controller == crate::ambient::GATEWAY_CONTROLLER
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    pub namespace: String,
    pub name: String,
    /// `metadata.creationTimestamp` (absent for an object from a file).
    pub created: Option<Timestamp>,
    /// `metadata.generation` (absent in objects not stored by an API server).
    pub generation: Option<i64>,
    pub parents: Vec<ParentRef>,
    pub rules: Vec<Rule>,
    pub status: Vec<RouteParentStatus>,
}

impl HttpRoute {
    /// Whether a condition describes the route as it is now: its `observedGeneration` is the route's
    /// generation, or either is unknown.
    pub fn current(&self, c: &Condition) -> bool {
        match (self.generation, c.observed_generation) {
            (Some(g), Some(o)) => g == o,
            _ => true,
        }
    }

    /// The status entries Istio wrote for `parent`.
    pub fn istio_status_of<'a>(&'a self, parent: &'a ParentRef) -> impl Iterator<Item = &'a RouteParentStatus> + 'a {
        self.status
            .iter()
            .filter(move |st| st.by_istio() && parent.same_as(&st.parent_ref))
    }

    /// Its mesh parents (Service parents with `group: ""`).
    pub fn mesh_parents(&self) -> impl Iterator<Item = &ParentRef> {
        self.parents.iter().filter(|p| p.is_service())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crd {
    pub name: String,
    pub group: String,
    pub plural: String,
    pub served_versions: Vec<String>,
    pub bundle_version: Option<String>,
    pub channel: Option<String>,
    /// (release name, release namespace) when Helm installed it: label `app.kubernetes.io/managed-by: Helm`
    /// and annotations `meta.helm.sh/release-name`, `meta.helm.sh/release-namespace`.
    pub helm_release: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub name: String,
    /// Base64 text as stored in `clientConfig.caBundle`.
    pub ca_bundle: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutatingWebhookConfiguration {
    pub name: String,
    pub webhooks: Vec<Webhook>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodDisruptionBudget {
    pub namespace: String,
    pub name: String,
    /// `spec.selector.matchLabels`; `Some(empty)` selects every pod of the namespace
    /// (policy/v1), `None` selects none.
    pub selector: Option<BTreeMap<String, String>>,
    /// `status.disruptionsAllowed` (0 when absent: the API server's zero value).
    pub disruptions_allowed: i64,
    /// `status.currentHealthy` and `status.desiredHealthy`.
    pub current_healthy: i64,
    pub desired_healthy: i64,
    /// The disruption controller has written a status for the current spec (`status.observedGeneration` ≥
    /// `metadata.generation`). Until then the eviction API answers 429 ("still being processed") whatever the
    /// budget says: a PDB just created has an all-zero status and no observedGeneration.
    pub observed: bool,
    /// `spec.unhealthyPodEvictionPolicy: AlwaysAllow`: unready pods are evicted regardless of the budget.
    pub always_allow_unhealthy: bool,
}

impl PodDisruptionBudget {
    /// Whether this budget covers `pod`.
    pub fn selects(&self, pod: &Pod) -> bool {
        self.namespace == pod.namespace
            && self
                .selector
                .as_ref()
                .is_some_and(|sel| sel.iter().all(|(k, v)| pod.labels.get(k) == Some(v)))
    }
}

/// What controls a pod, resolved through ReplicaSets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PodOwner {
    /// Deployment (through its ReplicaSet), StatefulSet or DaemonSet.
    Workload {
        kind: super::finding::OwnerKind,
        name: String,
    },
    /// No controller: the pod can only be evicted.
    Bare,
    /// Owned by something recover does not restart (Job, a ReplicaSet without Deployment, a CRD …).
    Other { kind: String, name: String },
}

/// Where a [`Snapshot`]'s objects come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotSource {
    /// A cluster, read whole (within the scope).
    #[default]
    Live,
    /// Manifests alone (`doctor -f --offline`): what is not in the files may still exist in a cluster.
    Files,
    /// A cluster with the files' objects in place of the live ones (`doctor -f`).
    Overlay,
}

/// Everything doctor knows about the cluster, decoded.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Live, files only, or files over live.
    pub source: SnapshotSource,
    pub namespaces: Avail<Namespace>,
    pub pods: Avail<Pod>,
    pub deployments: Avail<Workload>,
    pub replica_sets: Avail<ReplicaSet>,
    pub stateful_sets: Avail<Workload>,
    pub daemon_sets: Avail<Workload>,
    pub services: Avail<Service>,
    pub endpoint_slices: Avail<EndpointSlice>,
    pub root_certs: Avail<RootCertConfigMap>,
    pub peer_authentications: Avail<PeerAuthentication>,
    pub gateways: Avail<Gateway>,
    pub http_routes: Avail<HttpRoute>,
    pub crds: Avail<Crd>,
    pub mutating_webhooks: Avail<MutatingWebhookConfiguration>,
    pub pdbs: Avail<PodDisruptionBudget>,
    pub gateway_classes: Avail<GatewayClass>,
    pub virtual_services: Avail<VirtualService>,
    /// The namespaces that were read ([`Scope::All`] unless the reader says otherwise with
    /// [`Snapshot::with_scope`]).
    pub scope: Scope,
    /// Items that could not be decoded: "Kind ns/name: error".
    pub decode_errors: Vec<String>,
    /// Every object in the snapshot carrying `mesh.kubectl.io/suppress` (usually none or a few).
    pub suppress_annotations: Vec<SuppressAnnotation>,
    /// Pods listed but left out of [`Snapshot::pods`] because they are being deleted (`deletionTimestamp`
    /// set: Terminating). They are going away (a workload's are already replaced), so no check counts them as
    /// healthy or as still broken, and recover never restarts or evicts them again.
    pub terminating_pods: usize,
    /// Positions in `replica_sets`, `pods` and `deployments` sorted by (namespace, name): lookups by name
    /// without a second copy of every name (10,000 pods' names are a map of their own).
    rs_index: Vec<u32>,
    pod_index: Vec<u32>,
    deployment_index: Vec<u32>,
}

/// Objects that have a namespace and a name, for [`sorted_index`] lookups.
trait Named {
    fn key(&self) -> (&str, &str);
}

macro_rules! named {
    ($($ty:ty),*) => {$(
        impl Named for $ty {
            fn key(&self) -> (&str, &str) {
                (&self.namespace, &self.name)
            }
        }
    )*};
}
named!(Pod, Workload, ReplicaSet);

/// Positions of `list`'s items sorted by (namespace, name).
fn sorted_index<T: Named>(list: &Avail<T>) -> Vec<u32> {
    let Ok(items) = list else { return Vec::new() };
    let mut index: Vec<u32> = (0..items.len() as u32).collect();
    index.sort_by(|&a, &b| items[a as usize].key().cmp(&items[b as usize].key()));
    index
}

/// The item of `list` named (namespace, name), through its [`sorted_index`].
fn lookup<'a, T: Named>(list: &'a Avail<T>, index: &[u32], namespace: &str, name: &str) -> Option<&'a T> {
    let items = list.as_ref().ok()?;
    let at = index
        .binary_search_by(|&i| items[i as usize].key().cmp(&(namespace, name)))
        .ok()?;
    items.get(index[at] as usize)
}

/// What a decoder is fed: a page body straight from the server, or items already parsed (tests, RawLists).
#[derive(Clone, Copy)]
pub enum Input<'a> {
    /// A `…List` page as the API server sent it.
    Page(&'a [u8]),
    /// Items as JSON values.
    Items(&'a [Value]),
}

/// Decode `input` into `out`, converting each item with `convert`, through the one lenient page decoder
/// ([`crate::wire::decode_page`]): one pass straight into the small `R` shapes, and only when that fails (a
/// `null` where an object belongs, a malformed item) each item on its own, so one bad item is named in `errors`
/// instead of failing the whole list.
fn push<R, T>(
    out: &mut Vec<T>,
    errors: &mut Vec<String>,
    suppress: &mut Vec<SuppressAnnotation>,
    kind: Kind,
    input: Input<'_>,
    convert: fn(R) -> T,
) -> Result<Option<ListMeta>, serde_json::Error>
where
    R: for<'de> Deserialize<'de> + SuppressSource,
{
    // Both the one-pass decode and the per-item fallback note annotations (decode_page holds both at once).
    let seen = std::cell::RefCell::new(Vec::new());
    let note = |r: &R| {
        if let Some((namespace, name, value)) = r.suppress() {
            seen.borrow_mut().push(SuppressAnnotation {
                kind,
                namespace: Some(namespace.to_string()).filter(|ns| !ns.is_empty()),
                name: name.to_string(),
                value: value.to_string(),
            });
        }
    };
    let convert_noting = |r: R| {
        note(&r);
        convert(r)
    };
    let mut one = |item: &Value| match decode_item::<R>(item) {
        Ok(r) => {
            note(&r);
            Some(convert(r))
        }
        Err(e) => {
            let name = item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
            errors.push(format!("{kind} {name}: {e}"));
            None
        }
    };
    let result = match input {
        Input::Page(body) => decode_page(body, out, convert_noting, &mut one).map(Some),
        Input::Items(items) => {
            out.reserve(items.len());
            out.extend(items.iter().filter_map(&mut one));
            Ok(None)
        }
    };
    suppress.extend(seen.into_inner());
    result
}

/// Walk `fieldsV1` for `f:metadata` → `f:labels` → `f:<key>`.
fn fields_has_label(fields: &Value, key: &str) -> bool {
    fields
        .get("f:metadata")
        .and_then(|m| m.get("f:labels"))
        .and_then(|l| l.get(format!("f:{key}")))
        .is_some()
}

fn namespace(r: NamespaceRaw) -> Namespace {
    let mut label_set = BTreeMap::new();
    for key in ["istio-injection", "istio.io/rev"] {
        if !r.metadata.labels.contains_key(key) {
            continue;
        }
        let best = r
            .metadata
            .managed_fields
            .iter()
            .filter(|m| fields_has_label(&m.fields_v1, key))
            .filter_map(|m| parse_time(&m.time).map(|t| (t, m.manager.clone())))
            .max_by_key(|(t, _)| *t);
        if let Some((time, manager)) = best {
            label_set.insert(key.to_string(), LabelSet { manager, time });
        }
    }
    Namespace {
        name: r.metadata.name,
        labels: r.metadata.labels,
        label_set,
    }
}

fn sidecar_of(spec: &PodSpecRaw, status: &PodStatusRaw) -> Option<Sidecar> {
    let find_status = |list: &[ContainerStatusRaw]| {
        list.iter()
            .find(|s| s.name == ISTIO_PROXY)
            .map(|s| {
                (
                    s.state.running.as_ref().and_then(|r| parse_time(&r.started_at)),
                    s.ready,
                )
            })
            .unwrap_or((None, false))
    };
    if let Some(c) = spec.containers.iter().find(|c| c.name == ISTIO_PROXY) {
        let (started_at, ready) = find_status(&status.container_statuses);
        return Some(Sidecar {
            native: false,
            image: c.image.clone(),
            started_at,
            ready,
        });
    }
    // A native sidecar is an init container with `restartPolicy: Always`. One without it cannot run as a sidecar
    // (it would never finish), but Istio's analyzers count an istio-proxy init container whatever its policy
    // (`injection.go:155`), and so do we: its image is the proxy's.
    spec.init_containers.iter().find(|c| c.name == ISTIO_PROXY).map(|c| {
        let (started_at, ready) = find_status(&status.init_container_statuses);
        Sidecar {
            native: true,
            image: c.image.clone(),
            started_at,
            ready,
        }
    })
}

fn pod(r: PodRaw) -> Pod {
    let sidecar = sidecar_of(&r.spec, &r.status);
    let ready = r
        .status
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let annotations = r.metadata.annotations;
    Pod {
        owner: controller_of(&r.metadata.owner_references),
        created: parse_time(&r.metadata.creation_timestamp),
        namespace: r.metadata.namespace,
        name: r.metadata.name,
        labels: Arc::new(r.metadata.labels),
        inject_annotation: annotations.inject,
        phase: r.status.phase.unwrap_or_default(),
        host_network: r.spec.host_network,
        ready,
        sidecar,
        has_sidecar_status: annotations.sidecar_status.is_some(),
        ambient_redirected: annotations.redirection.as_deref() == Some("enabled"),
        custom_proxy_image: annotations.proxy_image.is_some_and(|i| !i.is_empty()),
        mode: DataPlane::None,
        terminating: r.metadata.deletion_timestamp.is_some(),
    }
}

/// Build a [`Pod`] from a pod template (`spec` of a Pod, or `spec.template` of a workload),
/// e.g. to check sidecar detection against injector output.
pub fn pod_from_value(value: &Value) -> Result<Pod, serde_json::Error> {
    PodRaw::deserialize(value).map(pod).map(|mut p| {
        p.mode = DataPlane::of(&p.labels, &p.facts(), None);
        p
    })
}

fn workload(r: WorkloadRaw) -> Workload {
    Workload {
        namespace: r.metadata.namespace,
        name: r.metadata.name,
        labels: r.metadata.labels,
        paused: r.spec.paused,
        replicas: r.spec.replicas,
        available_replicas: r.status.available_replicas.unwrap_or(0),
        ready_replicas: r.status.ready_replicas.unwrap_or(0),
        conditions: r
            .status
            .conditions
            .into_iter()
            .map(|c| (c.type_, (c.status, c.reason)))
            .collect(),
        images: r
            .spec
            .template
            .spec
            .containers
            .into_iter()
            .map(|c| (c.name, c.image))
            .collect(),
        template_labels: r.spec.template.metadata.labels,
        template_inject_annotation: r.spec.template.metadata.annotations.inject,
        desired_scheduled: r.status.desired_number_scheduled.unwrap_or(0),
        number_ready: r.status.number_ready.unwrap_or(0),
        number_available: r.status.number_available.unwrap_or(0),
    }
}

/// A backendRef's group: `core` is read as `""` there (only parentRefs are strict about it, see [`ParentRef`]).
fn backend_group(group: Option<String>) -> String {
    match group {
        Some(g) if g == "core" => String::new(),
        Some(g) => g,
        None => String::new(),
    }
}

fn parent_ref(p: ParentRefRaw, route_ns: &str, index: usize) -> ParentRef {
    ParentRef {
        group_omitted: p.group.is_none(),
        group: p.group.unwrap_or_else(|| "gateway.networking.k8s.io".to_string()),
        kind: p.kind.unwrap_or_else(|| "Gateway".to_string()),
        name: p.name,
        namespace: p.namespace.unwrap_or_else(|| route_ns.to_string()),
        port: p.port,
        section_name: p.section_name,
        index,
    }
}

fn route(r: RouteRaw) -> HttpRoute {
    let ns = r.metadata.namespace;
    let parents = r
        .spec
        .parent_refs
        .into_iter()
        .enumerate()
        .map(|(i, p)| parent_ref(p, &ns, i))
        .collect();
    let rules = r
        .spec
        .rules
        .into_iter()
        .map(|rule| {
            let matches = rule.matches.unwrap_or(Value::Null);
            let as_rule = serde_json::json!({ "matches": matches });
            let match_summary = matches
                .as_array()
                .map(|ms| ms.iter().map(crate::route::describe_match).collect())
                .unwrap_or_default();
            Rule {
                name: rule.name,
                matches: match matches.as_array() {
                    Some(ms) if !ms.is_empty() => {
                        ms.iter().map(crate::route::precedence::MatchCond::from_value).collect()
                    }
                    _ => vec![crate::route::precedence::MatchCond::catch_all()],
                },
                catch_all: crate::route::matches_every_request(&as_rule),
                match_summary,
                backends: rule
                    .backend_refs
                    .into_iter()
                    .map(|b| BackendRef {
                        group: backend_group(b.group),
                        kind: b.kind.unwrap_or_else(|| "Service".to_string()),
                        name: b.name,
                        namespace: b.namespace.unwrap_or_else(|| ns.clone()),
                        port: b.port,
                        weight: b.weight.unwrap_or(1),
                    })
                    .collect(),
            }
        })
        .collect();
    HttpRoute {
        created: parse_time(&r.metadata.creation_timestamp),
        name: r.metadata.name,
        generation: r.metadata.generation,
        parents,
        rules,
        status: r
            .status
            .parents
            .into_iter()
            .map(|p| RouteParentStatus {
                parent_ref: parent_ref(p.parent_ref, &ns, 0),
                controller: p.controller_name,
                conditions: conditions(p.conditions),
            })
            .collect(),
        namespace: ns,
    }
}

fn replica_set(r: WorkloadRaw) -> ReplicaSet {
    ReplicaSet {
        owner: controller_of(&r.metadata.owner_references),
        namespace: r.metadata.namespace,
        name: r.metadata.name,
    }
}

fn service(r: ServiceRaw) -> Service {
    let target_ports = r
        .spec
        .ports
        .iter()
        .filter_map(|p| {
            let target = match p.target_port.as_ref()? {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((i32::try_from(p.port).ok()?, target))
        })
        .collect();
    Service {
        target_ports,
        namespace: r.metadata.namespace,
        name: r.metadata.name,
        labels: r.metadata.labels,
        type_: r.spec.type_.unwrap_or_else(|| "ClusterIP".to_string()),
        cluster_ip: r.spec.cluster_ip,
        istio_conditions: conditions(r.status.conditions)
            .into_iter()
            .filter(|c| c.type_.starts_with("istio.io/"))
            .collect(),
        ports: r
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
        selector: r.spec.selector,
        lb_ingress: !r.status.load_balancer.ingress.is_empty(),
    }
}

fn endpoint_slice(r: EndpointSliceRaw) -> EndpointSlice {
    let eps = r.endpoints.unwrap_or_default();
    EndpointSlice {
        service: r
            .metadata
            .labels
            .get("kubernetes.io/service-name")
            .cloned()
            .unwrap_or_default(),
        namespace: r.metadata.namespace,
        ready: eps.iter().filter(|e| e.conditions.ready != Some(false)).count(),
        total: eps.len(),
    }
}

fn root_cert(mut r: ConfigMapRaw) -> RootCertConfigMap {
    RootCertConfigMap {
        namespace: r.metadata.namespace,
        root_cert_pem: r.data.remove("root-cert.pem"),
    }
}

fn peer_authentication(r: PeerAuthRaw) -> PeerAuthentication {
    PeerAuthentication {
        namespace: r.metadata.namespace,
        name: r.metadata.name,
        selector: r.spec.selector.map(|s| s.match_labels).filter(|m| !m.is_empty()),
        mode: r.spec.mtls.and_then(|m| m.mode).unwrap_or_else(|| "UNSET".to_string()),
    }
}

fn selector(s: FullSelectorRaw) -> LabelSelector {
    LabelSelector {
        match_labels: s.match_labels,
        match_expressions: s
            .match_expressions
            .into_iter()
            .map(|e| (e.key, e.operator, e.values))
            .collect(),
    }
}

fn gateway(mut r: GatewayRaw) -> Gateway {
    Gateway {
        waypoint_for: r.metadata.labels.remove(crate::ambient::WAYPOINT_FOR),
        name_override: r.metadata.annotations.remove(crate::ambient::NAME_OVERRIDE),
        listeners: r
            .spec
            .listeners
            .into_iter()
            .map(|l| {
                let namespaces = l.allowed_routes.and_then(|a| a.namespaces);
                let (from, sel) = match namespaces {
                    Some(n) => (
                        Some(n.from.unwrap_or_else(|| "Same".to_string())),
                        n.selector.map(selector),
                    ),
                    None => (None, None),
                };
                Listener {
                    name: l.name,
                    port: l.port,
                    protocol: l.protocol,
                    from,
                    selector: sel,
                }
            })
            .collect(),
        namespace: r.metadata.namespace,
        name: r.metadata.name,
        class: r.spec.gateway_class_name,
        conditions: conditions(r.status.conditions),
        has_addresses: !r.status.addresses.is_empty(),
    }
}

/// A Gateway from its JSON (the route planners read Gateways with their own LIST).
pub fn gateway_from_value(value: &Value) -> Result<Gateway, serde_json::Error> {
    GatewayRaw::deserialize(value).map(gateway)
}

fn gateway_class(mut r: GatewayClassRaw) -> GatewayClass {
    GatewayClass {
        waypoint_for: r.metadata.labels.remove(crate::ambient::WAYPOINT_FOR),
        name: r.metadata.name,
        controller: r.spec.controller_name,
    }
}

fn virtual_service(r: VirtualServiceRaw) -> VirtualService {
    VirtualService {
        namespace: r.metadata.namespace,
        name: r.metadata.name,
        hosts: r.spec.hosts,
        gateways: r.spec.gateways,
    }
}

fn crd(r: CrdRaw) -> Crd {
    let helm = r
        .metadata
        .labels
        .get("app.kubernetes.io/managed-by")
        .map(String::as_str)
        == Some("Helm");
    let release = r.metadata.annotations.get("meta.helm.sh/release-name");
    let release_ns = r.metadata.annotations.get("meta.helm.sh/release-namespace");
    Crd {
        helm_release: match (helm, release, release_ns) {
            (true, Some(n), Some(ns)) => Some((n.clone(), ns.clone())),
            _ => None,
        },
        bundle_version: r
            .metadata
            .annotations
            .get("gateway.networking.k8s.io/bundle-version")
            .cloned(),
        channel: r.metadata.annotations.get("gateway.networking.k8s.io/channel").cloned(),
        name: r.metadata.name,
        group: r.spec.group,
        plural: r.spec.names.plural,
        served_versions: r
            .spec
            .versions
            .into_iter()
            .filter(|v| v.served)
            .map(|v| v.name)
            .collect(),
    }
}

fn mutating_webhook(r: MwcRaw) -> MutatingWebhookConfiguration {
    MutatingWebhookConfiguration {
        name: r.metadata.name,
        webhooks: r
            .webhooks
            .into_iter()
            .map(|w| Webhook {
                name: w.name,
                ca_bundle: w.client_config.ca_bundle,
            })
            .collect(),
    }
}

fn pdb(r: PdbRaw) -> PodDisruptionBudget {
    PodDisruptionBudget {
        namespace: r.metadata.namespace,
        name: r.metadata.name,
        selector: r.spec.selector.map(|s| s.match_labels),
        disruptions_allowed: r.status.disruptions_allowed.unwrap_or(0),
        current_healthy: r.status.current_healthy.unwrap_or(0),
        desired_healthy: r.status.desired_healthy.unwrap_or(0),
        observed: r.status.observed_generation.unwrap_or(0) >= r.metadata.generation.unwrap_or(0),
        always_allow_unhealthy: r.spec.unhealthy_pod_eviction_policy.as_deref() == Some("AlwaysAllow"),
    }
}

/// Declares, once, which [`Kind`] fills which [`Snapshot`] list through which raw shape and conversion, and
/// derives the [`SnapshotDecoder`] from it.
macro_rules! snapshot_lists {
    ($($field:ident: $kind:ident, $raw:ty => $ty:ty, $convert:path;)*) => {
        /// Builds a [`Snapshot`] from list pages as they arrive (or from parsed items), keeping only the decoded
        /// model: the JSON of a page is dropped as soon as it is decoded. One decoder per LIST can run on its own
        /// task; [`SnapshotDecoder::merge`] joins them.
        #[derive(Default)]
        pub struct SnapshotDecoder {
            $($field: Vec<$ty>,)*
            /// Kinds with at least one LIST answered.
            listed: std::collections::BTreeSet<Kind>,
            /// Kinds whose LIST failed (the first failure wins).
            failed: BTreeMap<Kind, Unavailable>,
            errors: Vec<String>,
            /// Objects carrying `mesh.kubectl.io/suppress`.
            suppress: Vec<SuppressAnnotation>,
            /// Distinct pod label sets seen, to share them (see [`Labels`]).
            label_sets: HashSet<Labels>,
            /// Pods left out because they are being deleted.
            terminating_pods: usize,
        }

        impl SnapshotDecoder {
            /// Decode one page (or a batch of items) of `kind`; a page's list metadata is returned.
            pub fn push(
                &mut self,
                kind: Kind,
                input: Input<'_>,
            ) -> Result<Option<ListMeta>, serde_json::Error> {
                self.listed.insert(kind);
                let before = self.pods.len();
                let meta = match kind {
                    $(Kind::$kind => push::<$raw, $ty>(&mut self.$field, &mut self.errors, &mut self.suppress, kind, input, $convert),)*
                };
                // Pods being deleted (Terminating) are going away and, for a workload, already replaced: no check
                // counts them as healthy or as still broken, and recover never acts on them again.
                if kind == Kind::Pod && self.pods[before..].iter().any(|p| p.terminating) {
                    let tail = self.pods.split_off(before);
                    self.terminating_pods += tail.iter().filter(|p| p.terminating).count();
                    self.pods.extend(tail.into_iter().filter(|p| !p.terminating));
                }
                for pod in &mut self.pods[before..] {
                    pod.labels = intern(&mut self.label_sets, std::mem::take(&mut pod.labels));
                }
                meta
            }

            /// Forget every item of `kind` decoded so far (its LIST is starting over).
            pub fn clear(&mut self, kind: Kind) {
                if kind == Kind::Pod {
                    self.terminating_pods = 0;
                }
                match kind {
                    $(Kind::$kind => self.$field.clear(),)*
                }
                self.suppress.retain(|a| a.kind != kind);
            }

            /// Add what another decoder collected.
            pub fn merge(&mut self, other: SnapshotDecoder) {
                // Move a list into an empty one rather than copy it: the pods of a cluster-wide LIST are the
                // biggest thing doctor holds, and a copy would hold them twice for a moment.
                $(if self.$field.is_empty() {
                    self.$field = other.$field;
                } else {
                    self.$field.extend(other.$field);
                })*
                self.label_sets.extend(other.label_sets);
                self.terminating_pods += other.terminating_pods;
                self.listed.extend(other.listed);
                for (kind, why) in other.failed {
                    self.failed.entry(kind).or_insert(why);
                }
                self.errors.extend(other.errors);
                self.suppress.extend(other.suppress);
            }

            /// The snapshot: a kind whose LIST failed is `Err` with the reason, one never listed is
            /// `Err(NotListed)`.
            pub fn finish(self) -> Snapshot {
                let Self { $($field,)* listed, mut failed, errors, suppress, label_sets: _, terminating_pods } = self;
                let mut avail = |kind: Kind| -> Result<(), Unavailable> {
                    match failed.remove(&kind) {
                        Some(why) => Err(why),
                        None if listed.contains(&kind) => Ok(()),
                        None => Err(Unavailable::NotListed),
                    }
                };
                $(let $field = avail(Kind::$kind).map(|()| $field);)*
                let mut snapshot = Snapshot::assemble(Lists { $($field,)* }, errors, suppress);
                snapshot.terminating_pods = terminating_pods;
                snapshot
            }
        }

        /// The decoded lists, before indexing.
        struct Lists {
            $($field: Avail<$ty>,)*
        }

        impl Snapshot {
            /// Move `other`'s list of `kind` (and its decode errors) into this snapshot.
            fn take_list(&mut self, kind: Kind, other: Snapshot) {
                match kind {
                    $(Kind::$kind => self.$field = other.$field,)*
                }
                self.decode_errors.extend(other.decode_errors);
            }
        }
    };
}

/// The shared copy of `labels` in `sets`, added when new.
fn intern(sets: &mut HashSet<Labels>, labels: Labels) -> Labels {
    if let Some(shared) = sets.get(&labels) {
        return shared.clone();
    }
    sets.insert(labels.clone());
    labels
}

snapshot_lists! {
    namespaces: Namespace, NamespaceRaw => Namespace, namespace;
    pods: Pod, PodRaw => Pod, pod;
    deployments: Deployment, WorkloadRaw => Workload, workload;
    replica_sets: ReplicaSet, WorkloadRaw => ReplicaSet, replica_set;
    stateful_sets: StatefulSet, WorkloadRaw => Workload, workload;
    daemon_sets: DaemonSet, WorkloadRaw => Workload, workload;
    services: Service, ServiceRaw => Service, service;
    endpoint_slices: EndpointSlice, EndpointSliceRaw => EndpointSlice, endpoint_slice;
    root_certs: ConfigMap, ConfigMapRaw => RootCertConfigMap, root_cert;
    peer_authentications: PeerAuthentication, PeerAuthRaw => PeerAuthentication, peer_authentication;
    gateways: Gateway, GatewayRaw => Gateway, gateway;
    http_routes: HttpRoute, RouteRaw => HttpRoute, route;
    crds: CustomResourceDefinition, CrdRaw => Crd, crd;
    mutating_webhooks: MutatingWebhookConfiguration, MwcRaw => MutatingWebhookConfiguration, mutating_webhook;
    pdbs: PodDisruptionBudget, PdbRaw => PodDisruptionBudget, pdb;
    gateway_classes: GatewayClass, GatewayClassRaw => GatewayClass, gateway_class;
    virtual_services: VirtualService, VirtualServiceRaw => VirtualService, virtual_service;
}

impl SnapshotDecoder {
    /// Record that a LIST of `kind` could not be read (the first failure of a kind wins).
    pub fn fail(&mut self, kind: Kind, why: Unavailable) {
        self.failed.entry(kind).or_insert(why);
    }
}

impl Snapshot {
    /// Decode every list. Never fails: unreadable kinds stay `Err(Unavailable)`, undecodable
    /// items are skipped and named in [`Snapshot::decode_errors`].
    pub fn from_raw(raw: &RawLists) -> Snapshot {
        let mut decoder = SnapshotDecoder::default();
        for kind in Kind::ALL {
            match raw.get(kind) {
                Ok(items) => {
                    // Parsed items cannot fail to parse: only single items fail, and those are recorded.
                    let _ = decoder.push(kind, Input::Items(items));
                }
                Err(why) => decoder.fail(kind, why),
            }
        }
        decoder.finish()
    }

    fn assemble(lists: Lists, decode_errors: Vec<String>, suppress_annotations: Vec<SuppressAnnotation>) -> Snapshot {
        let rs_index = sorted_index(&lists.replica_sets);
        let pod_index = sorted_index(&lists.pods);
        let deployment_index = sorted_index(&lists.deployments);
        let Lists {
            namespaces,
            pods,
            deployments,
            replica_sets,
            stateful_sets,
            daemon_sets,
            services,
            endpoint_slices,
            root_certs,
            peer_authentications,
            gateways,
            http_routes,
            crds,
            mutating_webhooks,
            pdbs,
            gateway_classes,
            virtual_services,
        } = lists;
        let mut pods = pods;
        if let Ok(pods) = &mut pods {
            // Each pod's data plane needs its namespace's labels (namespaces are cluster-scoped: all are read).
            let ns_labels: std::collections::HashMap<&str, &BTreeMap<String, String>> = namespaces
                .as_ref()
                .map(|nss| nss.iter().map(|n| (n.name.as_str(), &n.labels)).collect())
                .unwrap_or_default();
            for pod in pods.iter_mut() {
                let facts = pod.facts();
                pod.mode = DataPlane::of(&pod.labels, &facts, ns_labels.get(pod.namespace.as_str()).copied());
            }
        }
        Snapshot {
            source: SnapshotSource::Live,
            pod_index,
            deployment_index,
            namespaces,
            pods,
            deployments,
            replica_sets,
            stateful_sets,
            daemon_sets,
            services,
            endpoint_slices,
            root_certs,
            peer_authentications,
            gateways,
            http_routes,
            crds,
            mutating_webhooks,
            pdbs,
            gateway_classes,
            virtual_services,
            scope: Scope::All,
            decode_errors,
            suppress_annotations,
            terminating_pods: 0,
            rs_index,
        }
    }

    /// What controls `pod`. A ReplicaSet missing from the snapshot (or ReplicaSets unreadable)
    /// falls back to the Deployment name Kubernetes derives (`<deployment>-<pod-template-hash>`)
    /// when the pod carries the `pod-template-hash` label.
    pub fn owner_of(&self, pod: &Pod) -> PodOwner {
        use super::finding::OwnerKind;
        let Some(owner) = &pod.owner else {
            return PodOwner::Bare;
        };
        match owner.kind.as_str() {
            "ReplicaSet" => {
                match lookup(&self.replica_sets, &self.rs_index, &pod.namespace, &owner.name).map(|rs| &rs.owner) {
                    Some(Some(o)) if o.kind == "Deployment" => PodOwner::Workload {
                        kind: OwnerKind::Deployment,
                        name: o.name.clone(),
                    },
                    Some(Some(o)) => PodOwner::Other {
                        kind: o.kind.clone(),
                        name: o.name.clone(),
                    },
                    Some(None) => PodOwner::Other {
                        kind: "ReplicaSet".to_string(),
                        name: owner.name.clone(),
                    },
                    None => {
                        let derived = pod
                            .labels
                            .get("pod-template-hash")
                            .and_then(|h| owner.name.strip_suffix(&format!("-{h}")));
                        match derived {
                            Some(dep) => PodOwner::Workload {
                                kind: OwnerKind::Deployment,
                                name: dep.to_string(),
                            },
                            None => PodOwner::Other {
                                kind: "ReplicaSet".to_string(),
                                name: owner.name.clone(),
                            },
                        }
                    }
                }
            }
            "StatefulSet" => PodOwner::Workload {
                kind: OwnerKind::StatefulSet,
                name: owner.name.clone(),
            },
            "DaemonSet" => PodOwner::Workload {
                kind: OwnerKind::DaemonSet,
                name: owner.name.clone(),
            },
            other => PodOwner::Other {
                kind: other.to_string(),
                name: owner.name.clone(),
            },
        }
    }

    /// Record the namespaces that were read.
    pub fn with_scope(mut self, scope: Scope) -> Snapshot {
        self.scope = scope;
        self
    }

    /// Whether objects of `kind` in `namespace` were read (listed in scope, or a namespace doctor always reads).
    pub fn read_in(&self, kind: Kind, namespace: &str) -> bool {
        !kind.namespaced() || self.scope.contains(namespace) || kind.always_read_in(namespace)
    }

    /// The labels of a namespace, when namespaces were read and it exists.
    pub fn namespace_labels(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.namespaces
            .as_ref()
            .ok()?
            .iter()
            .find(|n| n.name == namespace)
            .map(|n| &n.labels)
    }

    /// Whether an object missing from the snapshot is missing for real: a file-only snapshot
    /// ([`SnapshotSource::Files`]) cannot tell, so checks report such references as unverified, never as errors.
    pub fn proves_absent(&self) -> bool {
        self.source != SnapshotSource::Files
    }

    /// Put `other`'s list of `kind` in place of this snapshot's (the overlay of `doctor -f`), keeping the lookup
    /// indices right.
    pub fn replace_kind(&mut self, kind: Kind, other: Snapshot) {
        self.take_list(kind, other);
        self.rs_index = sorted_index(&self.replica_sets);
        self.pod_index = sorted_index(&self.pods);
        self.deployment_index = sorted_index(&self.deployments);
    }

    /// A pod by namespace and name.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        lookup(&self.pods, &self.pod_index, namespace, name)
    }

    /// A Deployment by namespace and name.
    pub fn deployment(&self, namespace: &str, name: &str) -> Option<&Workload> {
        lookup(&self.deployments, &self.deployment_index, namespace, name)
    }
}
