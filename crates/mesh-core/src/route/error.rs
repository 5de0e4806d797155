//! Errors of the route planners.
//!
//! `UsageError` means the user typed something we can reject without looking at the cluster
//! (exit code 2); `PlanError` means the cluster state makes the request unsafe or impossible
//! and nothing was written. Every variant carries a `hint()` naming the command or flag that
//! fixes it, so the command layer can print `error: …` plus `hint: …`.

use thiserror::Error;

use super::RouteKind;

/// The request itself is malformed (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UsageError {
    #[error("no weights given: expected VERSION=PERCENT pairs like v1=90 v3=10")]
    NoWeights,
    #[error("invalid weight {arg:?}: expected VERSION=PERCENT, like v1=90")]
    MalformedWeight { arg: String },
    #[error("invalid weight {arg:?}: version is empty")]
    EmptyVersion { arg: String },
    #[error("invalid weight {arg:?}: {value:?} is not a whole number from 0 to 100")]
    NotANumber { arg: String, value: String },
    #[error("invalid weight {arg:?}: {value} is out of range 0..=100")]
    OutOfRange { arg: String, value: u64 },
    #[error("version {version:?} is given more than once")]
    RepeatedVersion { version: String },
    #[error("weights sum to {sum}, more than 100")]
    SumOver100 { sum: u32 },
    #[error("{name:?} is not a valid Service name: {reason}")]
    InvalidServiceName {
        name: String,
        #[source]
        reason: crate::names::NameError,
    },
    #[error("invalid header name {name:?}: {reason}")]
    InvalidHeaderName { name: String, reason: String },
    #[error("invalid header value {value:?}: {reason}")]
    InvalidHeaderValue { value: String, reason: String },
    #[error("no version given for user {user:?}")]
    MissingVersion { user: String },
}

impl UsageError {
    /// Usage errors exit with 2, like clap's.
    pub fn exit_code(&self) -> u8 {
        2
    }

    /// What to type instead.
    pub fn hint(&self) -> Option<String> {
        match self {
            UsageError::NoWeights
            | UsageError::MalformedWeight { .. }
            | UsageError::EmptyVersion { .. }
            | UsageError::NotANumber { .. }
            | UsageError::OutOfRange { .. } => Some(
                "weights are whole percents, for example: kubectl mesh shift reviews v1=90 v3=10"
                    .to_string(),
            ),
            UsageError::RepeatedVersion { version } => {
                Some(format!("give {version}=PERCENT once"))
            }
            UsageError::SumOver100 { .. } => Some(
                "make the weights sum to 100 (or less: the rest is spread over the current backends)"
                    .to_string(),
            ),
            UsageError::InvalidServiceName { .. } => Some(
                "versions and Service names are DNS-1123 labels: lowercase letters, digits and '-', at most 63 characters"
                    .to_string(),
            ),
            UsageError::InvalidHeaderName { .. } => Some(
                "header names are HTTP tokens (letters, digits and !#$%&'*+-.^_`|~), for example: --header end-user"
                    .to_string(),
            ),
            UsageError::InvalidHeaderValue { .. } => {
                Some("use a non-empty value of at most 4096 printable characters".to_string())
            }
            UsageError::MissingVersion { user } => Some(format!(
                "name the version, for example: kubectl mesh route-user SERVICE {user} v2 (or pass --remove)"
            )),
        }
    }
}

/// The cluster state makes the request unsafe or impossible; nothing should be written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    #[error("service {service:?} not found in namespace {namespace:?}")]
    ServiceNotFound { service: String, namespace: String },
    #[error("service {service:?} in namespace {namespace:?} has no ports")]
    ServiceHasNoPorts { service: String, namespace: String },
    #[error("{kind} {route:?} not found in namespace {namespace:?}")]
    RouteNotFound {
        kind: RouteKind,
        route: String,
        namespace: String,
    },
    #[error("{kind} {route:?} is not a mesh route of service {service:?} (no parentRef {{group: \"\", kind: Service, name: {service}}})")]
    NotMeshRoute {
        kind: RouteKind,
        route: String,
        service: String,
    },
    #[error("service {service:?} has several mesh {kind}s: {}", routes.join(", "))]
    RouteAmbiguous {
        kind: RouteKind,
        service: String,
        routes: Vec<String>,
    },
    #[error(
        "service {service:?} has both HTTPRoutes ({}) and GRPCRoutes ({})",
        list_or_none(http),
        list_or_none(grpc)
    )]
    KindAmbiguous {
        service: String,
        http: Vec<String>,
        grpc: Vec<String>,
    },
    #[error(
        "the cluster does not serve GRPCRoutes (gateway.networking.k8s.io/v1), so namespace {namespace:?} has none"
    )]
    GrpcNotServed { namespace: String },
    #[error(
        "backend service {service:?} does not exist (existing versions: {})",
        list_or_none(existing_versions)
    )]
    BackendMissing {
        parent: String,
        version: String,
        service: String,
        existing_versions: Vec<String>,
    },
    #[error("cannot create service {service:?}: no pods labelled app={parent},version={version}")]
    NoPodsForVersion {
        parent: String,
        version: String,
        service: String,
        existing_versions: Vec<String>,
    },
    #[error("backend service {service:?} has no ready endpoints; traffic sent to it would fail")]
    BackendUnready { service: String },
    #[error("{kind} {route:?} is managed by {owner}; a manual change would be overwritten or fight it")]
    OwnedByController {
        kind: RouteKind,
        route: String,
        owner: String,
    },
    #[error("{kind} {route:?} is managed by {}; its next sync reverts a change made here", by.join(" and by "))]
    ManagedByGitOps {
        kind: RouteKind,
        route: String,
        /// Who and how we know (`Argo CD (application "bookinfo", annotation argocd.argoproj.io/tracking-id)`).
        by: Vec<String>,
        /// The tools alone (`Argo CD`, `Flux`).
        tools: Vec<String>,
    },
    #[error("weights sum to {sum}, and the default rule has no other backends to take the remaining {}", 100 - sum)]
    NoOtherBackends { service: String, sum: u32 },
    #[error("{kind} {route:?} is full: {reason}")]
    RouteFull {
        kind: RouteKind,
        route: String,
        reason: String,
    },
    #[error("no mesh route for service {service:?} in namespace {namespace:?}")]
    NoRoute { service: String, namespace: String },
    #[error("revision {revision} not found in the history of {}/{route} (known: {})", kind.singular(), join_numbers(known))]
    RevisionNotFound {
        kind: RouteKind,
        route: String,
        revision: u64,
        known: Vec<u64>,
    },
    #[error("nothing to undo: {}/{route} has no earlier revision{}", kind.singular(), if *created { " (revision 1 created the route)" } else { "" })]
    NothingToUndo {
        kind: RouteKind,
        route: String,
        namespace: String,
        created: bool,
    },
    #[error("the history annotation on {}/{route} has format version {version}, newer than this kubectl-mesh reads", kind.singular())]
    HistoryNewerFormat {
        kind: RouteKind,
        route: String,
        version: u64,
    },
    #[error("--step needs a current split to start from, and service {service:?} has {}", if *route_exists { "a mesh route without a default rule" } else { "no mesh route yet" })]
    StepsNeedSplit { service: String, route_exists: bool },
    #[error("{}/{route} was changed by {} since {}; stopped without writing", kind.singular(), by.as_deref().unwrap_or("another writer"), if *step == 0 { "the start".to_string() } else { format!("step {step}") })]
    ChangedDuringSteps {
        kind: RouteKind,
        route: String,
        by: Option<String>,
        step: usize,
    },
    #[error("service {service:?} in namespace {namespace:?} has no port {port}")]
    ServicePortNotFound {
        service: String,
        namespace: String,
        port: i32,
        ports: Vec<i32>,
    },
    #[error("service {service:?} in namespace {namespace:?} is in ambient mode and has no waypoint: Istio ignores its HTTPRoute (in ambient mode only a waypoint applies HTTP routes)")]
    AmbientNoWaypoint {
        service: String,
        namespace: String,
        /// A waypoint Gateway that exists in the namespace, to enroll the Service in.
        waypoint: Option<String>,
    },
    #[error("service {service:?} in namespace {namespace:?} is in ambient mode and opts out of its namespace's waypoint (istio.io/use-waypoint=none): Istio ignores its HTTPRoute")]
    AmbientOptedOut { service: String, namespace: String },
    #[error("service {service:?} in namespace {namespace:?} uses waypoint {waypoint}, which {cause}: Istio ignores the HTTPRoute until it is ready")]
    WaypointNotReady {
        service: String,
        namespace: String,
        waypoint: Box<WaypointName>,
        cause: String,
        missing: bool,
    },
    #[error("service {service:?} in namespace {namespace:?} uses waypoint {waypoint}, which {cause}: Istio does not bind the Service, so it ignores the HTTPRoute")]
    WaypointScope {
        service: String,
        namespace: String,
        waypoint: Box<WaypointName>,
        cause: String,
        /// The waypoint refuses the Service's namespace (else: it takes no service traffic).
        attachment_denied: bool,
    },
    #[error("HTTPRoute {route:?} targets service {service:?} with parentRefs[{index}].group {group:?}{}: Istio ignores it; a mesh route needs group \"\"", if group == "gateway.networking.k8s.io" { " (the default for an omitted group)" } else { "" })]
    ParentGroupInvalid {
        route: String,
        service: String,
        namespace: String,
        index: usize,
        group: String,
    },
    #[error("service {service:?} in namespace {namespace:?} {}: a mesh route needs a ClusterIP Service as its parent", if *external_name { "is of type ExternalName (no cluster IP)" } else { "is headless (clusterIP: None)" })]
    ParentHeadless {
        service: String,
        namespace: String,
        external_name: bool,
    },
}

fn join_numbers(v: &[u64]) -> String {
    if v.is_empty() {
        return "none".to_string();
    }
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

/// A waypoint Gateway, `namespace/name` when shown (boxed in [`PlanError`] to keep the error small).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaypointName {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for WaypointName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// How every forceable refusal's hint ends.
const FORCE_SUFFIX: &str = " (or pass --force to write the route anyway)";

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

impl PlanError {
    /// Refused plans exit with 1 (nothing was written).
    pub fn exit_code(&self) -> u8 {
        1
    }

    /// Refusals `--force` overrides (the route is written, and the refusal printed as a warning).
    pub fn forceable(&self) -> bool {
        matches!(
            self,
            PlanError::BackendUnready { .. }
                | PlanError::OwnedByController { .. }
                | PlanError::AmbientNoWaypoint { .. }
                | PlanError::AmbientOptedOut { .. }
                | PlanError::WaypointNotReady { .. }
                | PlanError::WaypointScope { .. }
                | PlanError::ParentGroupInvalid { .. }
                | PlanError::ParentHeadless { .. }
        )
    }

    /// What the fix is, without the `--force` alternative (for the warning printed when forced).
    pub fn fix(&self) -> Option<String> {
        let hint = self.hint()?;
        Some(hint.strip_suffix(FORCE_SUFFIX).map(str::to_string).unwrap_or(hint))
    }

    /// The command or flag that fixes it.
    pub fn hint(&self) -> Option<String> {
        match self {
            PlanError::AmbientNoWaypoint {
                service,
                namespace,
                waypoint: Some(w),
            } => Some(format!(
                "enroll the Service in waypoint {namespace}/{w}: kubectl label service {service} -n {namespace} istio.io/use-waypoint={w}{FORCE_SUFFIX}"
            )),
            PlanError::AmbientNoWaypoint {
                namespace,
                waypoint: None,
                ..
            } => Some(format!(
                "deploy a waypoint and enroll the namespace: istioctl waypoint apply -n {namespace} --enroll-namespace --wait{FORCE_SUFFIX}"
            )),
            PlanError::AmbientOptedOut { service, namespace } => Some(format!(
                "remove the opt-out: kubectl label service {service} -n {namespace} istio.io/use-waypoint-{FORCE_SUFFIX}"
            )),
            PlanError::WaypointNotReady {
                waypoint,
                missing: true,
                ..
            } => Some(format!(
                "create it: istioctl waypoint apply -n {} --name {} --wait{FORCE_SUFFIX}",
                waypoint.namespace, waypoint.name
            )),
            PlanError::WaypointNotReady { waypoint, .. } => Some(format!(
                "check it: kubectl -n {0} describe gateway {1}; istioctl waypoint status -n {0} --name {1}{FORCE_SUFFIX}",
                waypoint.namespace, waypoint.name
            )),
            PlanError::WaypointScope {
                waypoint,
                attachment_denied: true,
                ..
            } => Some(format!(
                "let the waypoint admit the Service's namespace (allowedRoutes.namespaces.from All, or a Selector matching it, on its HBONE listener, port 15008): kubectl -n {} edit gateway {}{FORCE_SUFFIX}",
                waypoint.namespace, waypoint.name
            )),
            PlanError::WaypointScope { waypoint, .. } => Some(format!(
                "let it take service traffic: kubectl label gateway {} -n {} istio.io/waypoint-for=all --overwrite (or =service if no pod uses it){FORCE_SUFFIX}",
                waypoint.name, waypoint.namespace
            )),
            PlanError::ParentGroupInvalid {
                route,
                namespace,
                index,
                ..
            } => Some(format!(
                "{}{FORCE_SUFFIX}",
                super::group_fix_command(namespace, route, *index)
            )),
            PlanError::ParentHeadless { .. } => Some(format!(
                "route through a ClusterIP Service that selects the same pods{FORCE_SUFFIX}"
            )),
            PlanError::ServiceNotFound { namespace, .. } => Some(format!(
                "list services with: kubectl get services -n {namespace}"
            )),
            PlanError::ServiceHasNoPorts { .. } => {
                Some("add a port to the Service; routes need a port to send traffic to".to_string())
            }
            PlanError::RouteNotFound { kind, namespace, .. } => Some(format!(
                "list routes with: kubectl get {} -n {namespace}, or leave out --route",
                kind.plural()
            )),
            PlanError::NotMeshRoute { service, .. } => Some(format!(
                "leave out --route to use (or create) the mesh route of {service}"
            )),
            PlanError::KindAmbiguous { .. } => {
                Some("pick one with --kind http or --kind grpc (and --route NAME if several of that kind attach)".into())
            }
            PlanError::GrpcNotServed { .. } => Some(
                "GRPCRoute is in the Gateway API standard channel from v1.1.0 (v1.0.0 had only an experimental v1alpha2, which Istio does not read); install v1.1.0 or later: kubectl apply -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.1.0/standard-install.yaml"
                    .into(),
            ),
            PlanError::RouteAmbiguous { routes, .. } => Some(format!(
                "pick one with --route {}",
                routes.first().map(String::as_str).unwrap_or("NAME")
            )),
            PlanError::BackendMissing {
                parent,
                version,
                existing_versions,
                ..
            } if existing_versions.contains(version) => Some(format!(
                "pods of {version} run but have no Service: create it with kubectl mesh shift {parent} {version}=100 --create-backends"
            )),
            PlanError::BackendMissing {
                parent, version, ..
            } => Some(format!(
                "no pods run {version}: deploy pods labelled app={parent},version={version} and create the Service with --create-backends, or use an existing version"
            )),
            PlanError::NoPodsForVersion {
                parent, version, ..
            } => Some(format!(
                "deploy pods labelled app={parent},version={version} first, or use an existing version"
            )),
            PlanError::BackendUnready { service } => Some(format!(
                "check its pods with: kubectl get endpointslices -l kubernetes.io/service-name={service}; pass --force to shift anyway"
            )),
            PlanError::OwnedByController { .. } => Some(
                "change the rollout through its controller, or pass --force to edit the route anyway"
                    .to_string(),
            ),
            PlanError::ManagedByGitOps { tools, .. } => Some(format!(
                "commit the change to the source {} syncs from instead: run the same command with --emit-patch for the JSON merge patch to commit (or pass --force to change the live route anyway)",
                tools.join(" and ")
            )),
            PlanError::NoOtherBackends { service, .. } => Some(format!(
                "give weights that sum to 100, for example: kubectl mesh shift {service} v1=90 v2=10"
            )),
            PlanError::ServicePortNotFound { ports, .. } => Some(format!(
                "pass --port with one of the Service's ports: {}",
                list_or_none(&ports.iter().map(i32::to_string).collect::<Vec<_>>())
            )),
            PlanError::RouteFull { .. } => Some(
                "remove rules you no longer need (kubectl mesh route-user SERVICE USER --remove)"
                    .to_string(),
            ),
            PlanError::NoRoute { service, namespace } => Some(format!(
                "create one with: kubectl mesh shift {service} VERSION=100 -n {namespace}"
            )),
            PlanError::RevisionNotFound { .. } => {
                Some("list the revisions with: kubectl mesh history SERVICE".to_string())
            }
            PlanError::NothingToUndo {
                kind,
                route,
                namespace,
                created: true,
            } => Some(format!(
                "to remove the route instead: kubectl delete {} {route} -n {namespace}",
                kind.singular()
            )),
            PlanError::NothingToUndo { .. } => {
                Some("list the revisions with: kubectl mesh history SERVICE".to_string())
            }
            PlanError::HistoryNewerFormat { .. } => Some(
                "upgrade kubectl-mesh, or pass --force to start a new history (the old one is dropped)".to_string(),
            ),
            PlanError::StepsNeedSplit { service, .. } => Some(format!(
                "create it first, for example: kubectl mesh shift {service} v1=100"
            )),
            PlanError::ChangedDuringSteps { .. } => Some(
                "see what changed with kubectl mesh history SERVICE, then run the shift again".to_string(),
            ),
        }
    }
}
