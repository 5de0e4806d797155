//! Istio ambient mode, defined once for doctor, the route planners and status: which data plane a pod is in,
//! which waypoint a Service is bound to, what a waypoint accepts, and how Istio reports it.
//!
//! In ambient mode there is no sidecar: ztunnel (a DaemonSet) carries each pod's traffic over mTLS, and HTTP
//! routing (our HTTPRoutes) is applied only by a waypoint proxy, a Gateway of class `istio-waypoint` that a
//! Service or namespace names with `istio.io/use-waypoint`. A mesh HTTPRoute of an ambient Service without a
//! waypoint is ignored for ambient clients.
//!
//! Each rule below cites the Istio source it follows (istio/istio tag 1.30.3, `56df41f`, unless said otherwise).

use std::collections::BTreeMap;

use serde::Serialize;

pub use crate::doctor::model::Condition;

/// Pod and Namespace label: `ambient` or `none` (istio/api `label/labels.yaml`).
pub const DATAPLANE_MODE: &str = "istio.io/dataplane-mode";
/// Service, Namespace (and Pod) label naming the waypoint Gateway; `none` opts out.
pub const USE_WAYPOINT: &str = "istio.io/use-waypoint";
/// Namespace of the waypoint named by [`USE_WAYPOINT`], when it is not the object's own.
pub const USE_WAYPOINT_NAMESPACE: &str = "istio.io/use-waypoint-namespace";
/// Gateway or GatewayClass label: the traffic a waypoint takes (`service`, `workload`, `all`, `none`).
pub const WAYPOINT_FOR: &str = "istio.io/waypoint-for";
/// Service or Namespace label: ingress gateways send traffic through the Service's waypoint too.
pub const INGRESS_USE_WAYPOINT: &str = "istio.io/ingress-use-waypoint";
/// Pod annotation the CNI writes once it captured the pod for ztunnel (value `enabled`).
pub const REDIRECTION: &str = "ambient.istio.io/redirection";
/// Pod annotation Istio's sidecar injector writes.
pub const SIDECAR_STATUS: &str = "sidecar.istio.io/status";
/// Label of the objects Istio's gateway controllers deploy (`istio.io-mesh-controller` for waypoints).
pub const GATEWAY_MANAGED: &str = "gateway.istio.io/managed";
/// Gateway annotation overriding the name of the Deployment and Service Istio generates for it.
pub const NAME_OVERRIDE: &str = "gateway.istio.io/name-override";
/// The GatewayClass of waypoints and its controller (`pkg/config/constants/constants.go:171,181`).
pub const WAYPOINT_CLASS: &str = "istio-waypoint";
pub const MESH_CONTROLLER: &str = "istio.io/mesh-controller";
/// The controller Istio writes route and Gateway status as (`pilot/pkg/features/pilot.go:289`).
pub const GATEWAY_CONTROLLER: &str = "istio.io/gateway-controller";
/// Service condition Istio writes for the waypoint binding (`pilot/pkg/model/service.go:1261`).
pub const WAYPOINT_BOUND: &str = "istio.io/WaypointBound";
/// Route parent condition Istio writes when ambient is enabled (PR #55381).
pub const RESOLVED_WAYPOINTS: &str = "ResolvedWaypoints";
/// Its message when neither the parent Service nor its namespace names a waypoint
/// (`pilot/pkg/config/kube/gateway/conditions.go`, `WaypointErrorMsgMissingLabel`).
pub const MISSING_LABEL_MESSAGE: &str =
    "istio.io/use-waypoint label missing from parent and parent namespace; in ambient mode, route will not be respected";
/// Its message when the parent Service does not exist (`WaypointErrorMsgNoMatchingParent`).
pub const NO_MATCHING_PARENT_MESSAGE: &str = "parent not found";

/// Labels of an object.
pub type Labels = BTreeMap<String, String>;

fn label<'a>(labels: &'a Labels, key: &str) -> Option<&'a str> {
    labels.get(key).map(String::as_str)
}

/// The data plane a pod is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataPlane {
    /// Not in the mesh (or Istio's own infrastructure: waypoints, ztunnel, gateways).
    #[default]
    None,
    /// It runs an istio-proxy sidecar (classic, or native: an init container).
    Sidecar { native: bool },
    /// ztunnel carries its traffic.
    Ambient,
    /// Labelled for ambient mode but running a sidecar: Istio leaves it in sidecar mode (ztunnel does not capture
    /// a pod that has a sidecar).
    AmbientIgnored,
}

impl DataPlane {
    pub fn is_ambient(self) -> bool {
        self == DataPlane::Ambient
    }
}

/// What a pod carries that decides its data plane, besides its labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PodFacts {
    /// Annotation `sidecar.istio.io/status` (the injector ran).
    pub sidecar_status: bool,
    /// An istio-proxy container: `Some(native)` (native = an init container).
    pub proxy: Option<bool>,
    /// Annotation `ambient.istio.io/redirection: enabled` (the CNI captured it).
    pub redirected: bool,
    pub host_network: bool,
}

/// Why a pod counts as labelled for ambient mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmbientLabel {
    /// The pod's own `istio.io/dataplane-mode=ambient`.
    Pod,
    /// Its namespace's, and the pod does not say `none`.
    Namespace,
}

/// Whether a pod is enrolled in ambient mode by its labels, as the CNI's default enablement selectors say
/// (`manifests/charts/istio-cni/values.yaml:59-66`): the pod's label `ambient`, or its namespace's label
/// `ambient` unless the pod's says `none`. `ns_labels` is `None` when the namespace is unknown.
pub fn ambient_label(pod_labels: &Labels, ns_labels: Option<&Labels>) -> Option<AmbientLabel> {
    match label(pod_labels, DATAPLANE_MODE) {
        Some("ambient") => Some(AmbientLabel::Pod),
        Some("none") => None,
        _ if ns_labels.and_then(|l| label(l, DATAPLANE_MODE)) == Some("ambient") => Some(AmbientLabel::Namespace),
        _ => None,
    }
}

/// Istio's own pods (waypoints and gateways it deploys, ztunnel) and the proxies of any Gateway: never
/// workloads of either data plane, although they run a container named istio-proxy (istio-discovery
/// `files/waypoint.yaml` and `kube-gateway.yaml` label their pods `gateway.istio.io/managed` and
/// `gateway.networking.k8s.io/gateway-name`; ztunnel chart `daemonset.yaml`: `app: ztunnel`).
pub fn infrastructure_pod(pod_labels: &Labels) -> bool {
    pod_labels.contains_key(GATEWAY_MANAGED)
        || pod_labels.contains_key("gateway.networking.k8s.io/gateway-name")
        || label(pod_labels, "app") == Some("ztunnel")
}

impl DataPlane {
    /// The data plane of a pod (`cni/pkg/util/podutil.go` `PodRedirectionEnabled`, `enablement_selector.go:76-80`):
    /// the CNI's own verdict (`ambient.istio.io/redirection`) first; a pod labelled for ambient that has a sidecar
    /// stays in sidecar mode; host-network pods cannot be captured.
    pub fn of(pod_labels: &Labels, facts: &PodFacts, ns_labels: Option<&Labels>) -> DataPlane {
        if infrastructure_pod(pod_labels) {
            return DataPlane::None;
        }
        let sidecar = facts.sidecar_status || facts.proxy.is_some();
        let labelled = ambient_label(pod_labels, ns_labels).is_some();
        if facts.redirected && !sidecar {
            DataPlane::Ambient
        } else if labelled && sidecar {
            DataPlane::AmbientIgnored
        } else if labelled && !facts.host_network {
            DataPlane::Ambient
        } else if let Some(native) = facts.proxy {
            DataPlane::Sidecar { native }
        } else {
            DataPlane::None
        }
    }
}

/// Whether a namespace is in ambient mode as Istio's analyzers see it (`pkg/config/analysis/analyzers/util/
/// in_mesh.go:54-66`): `istio.io/dataplane-mode=ambient`, and no sidecar-injection label
/// (`istio-injection=enabled` or a non-empty `istio.io/rev`), which would give its new pods sidecars.
pub fn namespace_in_ambient(ns_labels: &Labels) -> bool {
    if label(ns_labels, "istio-injection") == Some("enabled") {
        return false;
    }
    if label(ns_labels, "istio.io/rev").is_some_and(|r| !r.is_empty()) {
        return false;
    }
    label(ns_labels, DATAPLANE_MODE) == Some("ambient")
}

/// Which object named the waypoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaypointVia {
    ServiceLabel,
    NamespaceLabel,
}

/// A waypoint a Service is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaypointRef {
    pub namespace: String,
    pub name: String,
    pub via: WaypointVia,
}

impl WaypointRef {
    /// The label that named it: `istio.io/use-waypoint=NAME` (with `-namespace` when it is elsewhere).
    pub fn label_text(&self, object_namespace: &str) -> String {
        if self.namespace == object_namespace {
            format!("{USE_WAYPOINT}={}", self.name)
        } else {
            format!(
                "{USE_WAYPOINT}={} and {USE_WAYPOINT_NAMESPACE}={}",
                self.name, self.namespace
            )
        }
    }
}

/// The waypoint binding of a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// Neither the Service nor its namespace names a waypoint (a namespace's `none` is the same).
    None,
    /// The Service says `istio.io/use-waypoint=none`, opting out of its namespace's waypoint.
    OptedOut,
    Waypoint(WaypointRef),
}

/// The waypoint a Service uses (`pilot/pkg/serviceregistry/ambient/waypoints.go:99-214`): the Service's own
/// label first (`none` opts out), else its namespace's (`none` there means none); the waypoint's namespace is
/// the naming object's `istio.io/use-waypoint-namespace`, else the Service's namespace. `ns_labels` is `None`
/// when the namespace could not be read (only the Service's label is then known).
pub fn service_binding(svc_labels: &Labels, svc_namespace: &str, ns_labels: Option<&Labels>) -> Binding {
    // `Some(None)`: the object says `none`; `None`: it says nothing.
    let named = |labels: &Labels, via: WaypointVia| -> Option<Option<WaypointRef>> {
        let name = label(labels, USE_WAYPOINT)?;
        if name == "none" {
            return Some(None);
        }
        Some(Some(WaypointRef {
            namespace: label(labels, USE_WAYPOINT_NAMESPACE)
                .unwrap_or(svc_namespace)
                .to_string(),
            name: name.to_string(),
            via,
        }))
    };
    match named(svc_labels, WaypointVia::ServiceLabel) {
        Some(Some(w)) => return Binding::Waypoint(w),
        Some(None) => return Binding::OptedOut,
        None => {}
    }
    match ns_labels.and_then(|l| named(l, WaypointVia::NamespaceLabel)) {
        Some(Some(w)) => Binding::Waypoint(w),
        _ => Binding::None,
    }
}

/// Services that are waypoints or east-west gateways themselves never have a waypoint
/// (`waypoints.go:151-160`).
pub fn service_is_istio_gateway(svc_labels: &Labels) -> bool {
    matches!(
        label(svc_labels, GATEWAY_MANAGED),
        Some("istio.io-mesh-controller") | Some("istio.io-eastwest-controller")
    )
}

/// Where a waypoint's traffic type comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficSource {
    Gateway,
    GatewayClass,
    /// Neither says: `service` (`waypoints.go:244-259`).
    Default,
}

/// A waypoint's traffic type: the Gateway's `istio.io/waypoint-for`, else its GatewayClass's, else `service`.
pub fn traffic_type<'a>(gateway: Option<&'a str>, class: Option<&'a str>) -> (&'a str, TrafficSource) {
    match (gateway, class) {
        (Some(t), _) => (t, TrafficSource::Gateway),
        (None, Some(t)) => (t, TrafficSource::GatewayClass),
        (None, None) => ("service", TrafficSource::Default),
    }
}

/// Whether a traffic type lets Services bind (`waypoints.go:166`: `service` or `all`; anything else, typos
/// included, does not).
pub fn takes_service_traffic(traffic_type: &str) -> bool {
    traffic_type == "service" || traffic_type == "all"
}

/// The values `istio.io/waypoint-for` may take.
pub const TRAFFIC_TYPES: [&str; 4] = ["service", "workload", "all", "none"];

/// Whether ingress gateways send a Service's traffic through its waypoint (`services.go:783-798`): the Service's
/// `istio.io/ingress-use-waypoint` if present, else its namespace's, parsed as Go's `strconv.ParseBool`.
pub fn ingress_uses_waypoint(svc_labels: &Labels, ns_labels: Option<&Labels>) -> bool {
    let value =
        label(svc_labels, INGRESS_USE_WAYPOINT).or_else(|| ns_labels.and_then(|l| label(l, INGRESS_USE_WAYPOINT)));
    matches!(value, Some("1" | "t" | "T" | "TRUE" | "true" | "True"))
}

/// A label selector (`matchLabels` and `matchExpressions`), as Kubernetes evaluates it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    pub match_labels: Labels,
    /// (key, operator, values).
    pub match_expressions: Vec<(String, String, Vec<String>)>,
}

impl LabelSelector {
    /// Whether `labels` match; an unknown operator matches nothing.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|(k, op, values)| {
                let v = labels.get(k);
                match op.as_str() {
                    "In" => v.is_some_and(|v| values.contains(v)),
                    "NotIn" => v.is_none_or(|v| !values.contains(v)),
                    "Exists" => v.is_some(),
                    "DoesNotExist" => v.is_none(),
                    _ => false,
                }
            })
    }
}

/// A Gateway listener: what waypoint attachment reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listener {
    pub name: String,
    pub port: i64,
    pub protocol: String,
    /// `allowedRoutes.namespaces.from`; `None` when `allowedRoutes.namespaces` is absent (then `Same`).
    pub from: Option<String>,
    pub selector: Option<LabelSelector>,
}

/// Whether a waypoint admits Services of namespace `ns` (`waypoints.go:441-530`): the rule of its HBONE
/// listener on port 15008 (`Same` without one, or without `allowedRoutes.namespaces`).
pub fn allows_namespace(
    gateway_namespace: &str,
    listeners: &[Listener],
    ns: &str,
    ns_labels: Option<&Labels>,
) -> Attach {
    let hbone = listeners.iter().find(|l| l.protocol == "HBONE" && l.port == 15008);
    let from = hbone.and_then(|l| l.from.as_deref()).unwrap_or("Same");
    let allowed = match from {
        "All" => true,
        "Selector" => match (hbone.and_then(|l| l.selector.as_ref()), ns_labels) {
            (Some(sel), Some(labels)) => sel.matches(labels),
            (Some(_), None) => return Attach::Unknown,
            // A Selector listener without a selector selects nothing Istio can build: treat as Same.
            (None, _) => gateway_namespace == ns,
        },
        _ => gateway_namespace == ns,
    };
    if allowed {
        Attach::Allowed
    } else {
        Attach::Denied {
            listener: hbone.map(|l| l.name.clone()),
            from: from.to_string(),
        }
    }
}

/// The answer of [`allows_namespace`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attach {
    Allowed,
    Denied {
        listener: Option<String>,
        from: String,
    },
    /// A `Selector` listener, and the namespace's labels are unknown.
    Unknown,
}

/// Whether a route parent's `ResolvedWaypoints` condition says no waypoint applies the route: Istio writes it
/// with status `True` and only the message tells (`conditions.go:171-182`), so the message is read, and a
/// `False` status is taken the same way (as PR #55381 first described it).
pub fn resolved_waypoints_missing(c: &Condition) -> bool {
    c.type_ == RESOLVED_WAYPOINTS && (c.status == "False" || c.message.as_deref() == Some(MISSING_LABEL_MESSAGE))
}

/// `ResolvedWaypoints` as a user reads it, not as Istio's always-`True` status says: `(resolved, reason)` with
/// Istio's internal reasons `MissingUseWaypointLabel` and `NoMatchingParent`.
pub fn resolved_waypoints_effect(c: &Condition) -> (bool, String) {
    match c.message.as_deref() {
        Some(MISSING_LABEL_MESSAGE) => (false, "MissingUseWaypointLabel".to_string()),
        Some(NO_MATCHING_PARENT_MESSAGE) => (false, "NoMatchingParent".to_string()),
        _ if c.status == "False" => (false, c.reason.clone().unwrap_or_else(|| "False".to_string())),
        _ => (true, c.reason.clone().unwrap_or_else(|| RESOLVED_WAYPOINTS.to_string())),
    }
}

/// The Service's `istio.io/WaypointBound` condition, if Istio wrote one.
pub fn waypoint_bound(conditions: &[Condition]) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == WAYPOINT_BOUND)
}

/// ` (confirmed by Istio on Service ns/svc: istio.io/WaypointBound=False WaypointIsNotReady)` for a `False`
/// WaypointBound condition, else empty.
pub fn waypoint_bound_confirmation(conditions: &[Condition], svc_namespace: &str, svc: &str) -> String {
    match waypoint_bound(conditions) {
        Some(c) if c.status == "False" => format!(
            " (confirmed by Istio on Service {svc_namespace}/{svc}: {WAYPOINT_BOUND}=False {})",
            c.reason.as_deref().unwrap_or("")
        )
        .replace(" )", ")"),
        _ => String::new(),
    }
}

/// What a Gateway lacks to be a usable waypoint, first cause first (`waypoints.go:230-233`, F7/F11 of the
/// design): it must be of a waypoint class, be programmed, have an address (set once its Deployment has a ready
/// pod), and its Deployment (named like the Gateway, or by `gateway.istio.io/name-override`) an available replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaypointProblem {
    Missing,
    NotAWaypoint {
        class: String,
    },
    NotProgrammed {
        reason: String,
        message: String,
    },
    NoProgrammedCondition,
    NoAddress,
    DeploymentMissing {
        deployment: String,
    },
    DeploymentUnavailable {
        deployment: String,
        available: i64,
        replicas: i64,
    },
}

impl WaypointProblem {
    /// The cause as a phrase after the waypoint's name: "does not exist", "is not programmed (…)".
    pub fn phrase(&self, gateway_namespace: &str) -> String {
        match self {
            WaypointProblem::Missing => "does not exist".to_string(),
            WaypointProblem::NotAWaypoint { class } => {
                format!("is not a waypoint (gatewayClassName {class:?}; waypoints use class {WAYPOINT_CLASS})")
            }
            WaypointProblem::NotProgrammed { reason, message } => {
                let message = if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                };
                format!("is not programmed (Programmed=False: {reason}{message})")
            }
            WaypointProblem::NoProgrammedCondition => "has no Programmed condition (no controller handles it)".to_string(),
            WaypointProblem::NoAddress => {
                "has no address yet: Istio uses a waypoint only once its Deployment has a ready pod".to_string()
            }
            WaypointProblem::DeploymentMissing { deployment } => {
                format!("has no Deployment {gateway_namespace}/{deployment}")
            }
            WaypointProblem::DeploymentUnavailable {
                deployment,
                available,
                replicas,
            } => format!(
                "has no available replica (Deployment {gateway_namespace}/{deployment}: {available} of {replicas} available)"
            ),
        }
    }
}

/// The Gateway facts waypoint readiness reads (doctor and the planners build it from their own models).
#[derive(Debug, Clone, Copy)]
pub struct GatewayView<'a> {
    pub class: &'a str,
    /// The GatewayClass's controller, when GatewayClasses were read.
    pub class_controller: Option<&'a str>,
    pub conditions: &'a [Condition],
    pub has_addresses: bool,
}

/// Whether a class is a waypoint class: `istio-waypoint`, or any class Istio's mesh controller handles.
pub fn is_waypoint_class(class: &str, controller: Option<&str>) -> bool {
    class == WAYPOINT_CLASS || controller == Some(MESH_CONTROLLER)
}

/// The first problem of a waypoint Gateway, `deployment` being `Some((name, available, replicas))` when its
/// Deployment was read, `Some((name, -1, _))` when it was read and is absent, `None` when unknown.
pub fn waypoint_problem(gw: Option<GatewayView<'_>>, deployment: Option<(&str, i64, i64)>) -> Option<WaypointProblem> {
    let Some(gw) = gw else {
        return Some(WaypointProblem::Missing);
    };
    if !is_waypoint_class(gw.class, gw.class_controller) {
        return Some(WaypointProblem::NotAWaypoint {
            class: gw.class.to_string(),
        });
    }
    match gw.conditions.iter().find(|c| c.type_ == "Programmed") {
        None => return Some(WaypointProblem::NoProgrammedCondition),
        Some(c) if c.status != "True" => {
            return Some(WaypointProblem::NotProgrammed {
                reason: c.reason.clone().unwrap_or_else(|| "no reason".to_string()),
                message: c.message.clone().unwrap_or_default(),
            })
        }
        Some(_) => {}
    }
    if !gw.has_addresses {
        return Some(WaypointProblem::NoAddress);
    }
    match deployment {
        Some((name, available, _)) if available < 0 => Some(WaypointProblem::DeploymentMissing {
            deployment: name.to_string(),
        }),
        Some((name, available, replicas)) if available == 0 => Some(WaypointProblem::DeploymentUnavailable {
            deployment: name.to_string(),
            available,
            replicas,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const AMBIENT: (&str, &str) = (DATAPLANE_MODE, "ambient");
    const NONE: (&str, &str) = (DATAPLANE_MODE, "none");

    #[test]
    fn data_plane_of_every_combination() {
        let classic = PodFacts {
            sidecar_status: true,
            proxy: Some(false),
            ..Default::default()
        };
        let native = PodFacts {
            sidecar_status: true,
            proxy: Some(true),
            ..Default::default()
        };
        let plain = PodFacts::default();
        let redirected = PodFacts {
            redirected: true,
            ..Default::default()
        };
        let host = PodFacts {
            host_network: true,
            ..Default::default()
        };
        let status_only = PodFacts {
            sidecar_status: true,
            ..Default::default()
        };
        let amb_ns = labels(&[AMBIENT]);
        let plain_ns = labels(&[]);
        let cases: Vec<(Labels, PodFacts, Option<&Labels>, DataPlane)> = vec![
            // Namespace label: every pod without a sidecar, unless it says none.
            (labels(&[]), plain, Some(&amb_ns), DataPlane::Ambient),
            (labels(&[NONE]), plain, Some(&amb_ns), DataPlane::None),
            (
                labels(&[NONE]),
                classic,
                Some(&amb_ns),
                DataPlane::Sidecar { native: false },
            ),
            // Pod label works in any namespace.
            (labels(&[AMBIENT]), plain, Some(&plain_ns), DataPlane::Ambient),
            (labels(&[AMBIENT]), plain, None, DataPlane::Ambient),
            // A sidecar wins over the label (the CNI does not capture it).
            (labels(&[]), classic, Some(&amb_ns), DataPlane::AmbientIgnored),
            (labels(&[AMBIENT]), native, Some(&plain_ns), DataPlane::AmbientIgnored),
            (
                labels(&[AMBIENT]),
                status_only,
                Some(&plain_ns),
                DataPlane::AmbientIgnored,
            ),
            // Host network pods cannot be captured.
            (labels(&[]), host, Some(&amb_ns), DataPlane::None),
            // The CNI's verdict.
            (labels(&[]), redirected, Some(&plain_ns), DataPlane::Ambient),
            // Sidecar pods outside ambient.
            (
                labels(&[]),
                classic,
                Some(&plain_ns),
                DataPlane::Sidecar { native: false },
            ),
            (labels(&[]), native, None, DataPlane::Sidecar { native: true }),
            (labels(&[]), plain, Some(&plain_ns), DataPlane::None),
            // Istio's own pods: a waypoint (it runs istio-proxy) and ztunnel.
            (
                labels(&[(GATEWAY_MANAGED, "istio.io-mesh-controller"), NONE]),
                PodFacts {
                    proxy: Some(false),
                    ..Default::default()
                },
                Some(&amb_ns),
                DataPlane::None,
            ),
            // An ingress gateway's pod (kube-gateway.yaml labels), in an ambient namespace.
            (
                labels(&[("gateway.networking.k8s.io/gateway-name", "bookinfo-gateway")]),
                PodFacts {
                    proxy: Some(false),
                    ..Default::default()
                },
                Some(&amb_ns),
                DataPlane::None,
            ),
            (
                labels(&[("app", "ztunnel")]),
                PodFacts {
                    proxy: Some(false),
                    ..Default::default()
                },
                Some(&amb_ns),
                DataPlane::None,
            ),
        ];
        for (pod, facts, ns, want) in cases {
            assert_eq!(DataPlane::of(&pod, &facts, ns), want, "{pod:?} {facts:?} {ns:?}");
        }
    }

    #[test]
    fn namespace_in_ambient_follows_istios_analyzers() {
        assert!(namespace_in_ambient(&labels(&[AMBIENT])));
        assert!(!namespace_in_ambient(&labels(&[
            AMBIENT,
            ("istio-injection", "enabled")
        ])));
        assert!(!namespace_in_ambient(&labels(&[AMBIENT, ("istio.io/rev", "canary")])));
        assert!(namespace_in_ambient(&labels(&[AMBIENT, ("istio.io/rev", "")])));
        assert!(namespace_in_ambient(&labels(&[
            AMBIENT,
            ("istio-injection", "disabled")
        ])));
        assert!(!namespace_in_ambient(&labels(&[NONE])));
    }

    #[test]
    fn service_binding_follows_istios_precedence() {
        let ns = labels(&[(USE_WAYPOINT, "nsw")]);
        let w = |ns: &str, name: &str, via| {
            Binding::Waypoint(WaypointRef {
                namespace: ns.into(),
                name: name.into(),
                via,
            })
        };
        assert_eq!(service_binding(&labels(&[]), "a", Some(&labels(&[]))), Binding::None);
        assert_eq!(
            service_binding(&labels(&[]), "a", Some(&ns)),
            w("a", "nsw", WaypointVia::NamespaceLabel)
        );
        assert_eq!(
            service_binding(&labels(&[(USE_WAYPOINT, "svcw")]), "a", Some(&ns)),
            w("a", "svcw", WaypointVia::ServiceLabel)
        );
        assert_eq!(
            service_binding(&labels(&[(USE_WAYPOINT, "none")]), "a", Some(&ns)),
            Binding::OptedOut
        );
        assert_eq!(
            service_binding(&labels(&[]), "a", Some(&labels(&[(USE_WAYPOINT, "none")]))),
            Binding::None
        );
        // The namespace override comes from the object that named the waypoint.
        assert_eq!(
            service_binding(
                &labels(&[(USE_WAYPOINT, "w"), (USE_WAYPOINT_NAMESPACE, "istio-system")]),
                "a",
                None
            ),
            w("istio-system", "w", WaypointVia::ServiceLabel)
        );
        let ns2 = labels(&[(USE_WAYPOINT, "w"), (USE_WAYPOINT_NAMESPACE, "shared")]);
        assert_eq!(
            service_binding(&labels(&[(USE_WAYPOINT_NAMESPACE, "ignored")]), "a", Some(&ns2)),
            w("shared", "w", WaypointVia::NamespaceLabel)
        );
    }

    #[test]
    fn traffic_type_gateway_over_class_over_default() {
        assert_eq!(traffic_type(None, None), ("service", TrafficSource::Default));
        assert_eq!(
            traffic_type(None, Some("workload")),
            ("workload", TrafficSource::GatewayClass)
        );
        assert_eq!(
            traffic_type(Some("all"), Some("workload")),
            ("all", TrafficSource::Gateway)
        );
        for (t, ok) in [
            ("service", true),
            ("all", true),
            ("workload", false),
            ("none", false),
            ("services", false),
        ] {
            assert_eq!(takes_service_traffic(t), ok, "{t}");
        }
    }

    #[test]
    fn ingress_label_service_first_then_namespace_as_go_parses_bools() {
        let t = labels(&[(INGRESS_USE_WAYPOINT, "true")]);
        let f = labels(&[(INGRESS_USE_WAYPOINT, "false")]);
        assert!(ingress_uses_waypoint(&t, None));
        assert!(ingress_uses_waypoint(&labels(&[]), Some(&t)));
        assert!(!ingress_uses_waypoint(&f, Some(&t)));
        assert!(ingress_uses_waypoint(&t, Some(&f)));
        assert!(ingress_uses_waypoint(&labels(&[(INGRESS_USE_WAYPOINT, "T")]), None));
        assert!(!ingress_uses_waypoint(&labels(&[(INGRESS_USE_WAYPOINT, "yes")]), None));
        assert!(!ingress_uses_waypoint(&labels(&[]), None));
    }

    #[test]
    fn attachment_uses_the_hbone_listener() {
        let hbone = |from: Option<&str>, sel: Option<LabelSelector>| Listener {
            name: "mesh".into(),
            port: 15008,
            protocol: "HBONE".into(),
            from: from.map(str::to_string),
            selector: sel,
        };
        let team = labels(&[("team", "a")]);
        assert_eq!(
            allows_namespace("w", &[hbone(None, None)], "w", Some(&team)),
            Attach::Allowed
        );
        assert!(matches!(
            allows_namespace("w", &[hbone(None, None)], "a", Some(&team)),
            Attach::Denied { .. }
        ));
        assert!(matches!(
            allows_namespace("w", &[], "a", None),
            Attach::Denied { listener: None, .. }
        ));
        assert_eq!(
            allows_namespace("w", &[hbone(Some("All"), None)], "a", None),
            Attach::Allowed
        );
        let sel = LabelSelector {
            match_labels: labels(&[("team", "a")]),
            ..Default::default()
        };
        assert_eq!(
            allows_namespace("w", &[hbone(Some("Selector"), Some(sel.clone()))], "a", Some(&team)),
            Attach::Allowed
        );
        assert!(matches!(
            allows_namespace(
                "w",
                &[hbone(Some("Selector"), Some(sel.clone()))],
                "b",
                Some(&labels(&[]))
            ),
            Attach::Denied { .. }
        ));
        assert_eq!(
            allows_namespace("w", &[hbone(Some("Selector"), Some(sel))], "b", None),
            Attach::Unknown
        );
        let expr = LabelSelector {
            match_expressions: vec![("team".into(), "In".into(), vec!["a".into(), "b".into()])],
            ..Default::default()
        };
        assert!(expr.matches(&team));
        assert!(!expr.matches(&labels(&[("team", "c")])));
    }

    fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            observed_generation: None,
        }
    }

    #[test]
    fn resolved_waypoints_is_read_by_its_message() {
        let missing = cond(RESOLVED_WAYPOINTS, "True", RESOLVED_WAYPOINTS, MISSING_LABEL_MESSAGE);
        let ok = cond(RESOLVED_WAYPOINTS, "True", RESOLVED_WAYPOINTS, "All waypoints resolved");
        let future = cond(RESOLVED_WAYPOINTS, "False", "MissingUseWaypointLabel", "whatever");
        assert!(resolved_waypoints_missing(&missing));
        assert!(!resolved_waypoints_missing(&ok));
        assert!(resolved_waypoints_missing(&future));
        assert_eq!(
            resolved_waypoints_effect(&missing),
            (false, "MissingUseWaypointLabel".into())
        );
        assert_eq!(resolved_waypoints_effect(&ok), (true, RESOLVED_WAYPOINTS.into()));
        assert_eq!(
            resolved_waypoints_effect(&future),
            (false, "MissingUseWaypointLabel".into())
        );
        let gone = cond(
            RESOLVED_WAYPOINTS,
            "True",
            RESOLVED_WAYPOINTS,
            NO_MATCHING_PARENT_MESSAGE,
        );
        assert_eq!(resolved_waypoints_effect(&gone), (false, "NoMatchingParent".into()));
    }

    #[test]
    fn waypoint_problems_first_cause_first() {
        let programmed = [cond("Programmed", "True", "Programmed", "")];
        let gw = |class: &'static str, conds: &'static [Condition], addr: bool| GatewayView {
            class,
            class_controller: None,
            conditions: conds,
            has_addresses: addr,
        };
        let programmed: &'static [Condition] = Box::leak(Box::new(programmed));
        assert_eq!(waypoint_problem(None, None), Some(WaypointProblem::Missing));
        assert!(matches!(
            waypoint_problem(Some(gw("istio", programmed, true)), None),
            Some(WaypointProblem::NotAWaypoint { .. })
        ));
        assert_eq!(
            waypoint_problem(Some(gw(WAYPOINT_CLASS, &[], true)), None),
            Some(WaypointProblem::NoProgrammedCondition)
        );
        assert_eq!(
            waypoint_problem(Some(gw(WAYPOINT_CLASS, programmed, false)), None),
            Some(WaypointProblem::NoAddress)
        );
        assert_eq!(waypoint_problem(Some(gw(WAYPOINT_CLASS, programmed, true)), None), None);
        assert_eq!(
            waypoint_problem(Some(gw(WAYPOINT_CLASS, programmed, true)), Some(("w", 0, 1))),
            Some(WaypointProblem::DeploymentUnavailable {
                deployment: "w".into(),
                available: 0,
                replicas: 1
            })
        );
        assert_eq!(
            waypoint_problem(Some(gw(WAYPOINT_CLASS, programmed, true)), Some(("w", -1, 0))),
            Some(WaypointProblem::DeploymentMissing { deployment: "w".into() })
        );
        // Any class Istio's mesh controller handles is a waypoint class.
        let custom = GatewayView {
            class: "my-waypoints",
            class_controller: Some(MESH_CONTROLLER),
            conditions: programmed,
            has_addresses: true,
        };
        assert_eq!(waypoint_problem(Some(custom), None), None);
    }
}
