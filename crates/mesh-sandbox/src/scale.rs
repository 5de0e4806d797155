//! A cluster at production scale for the sandbox API server, so the plugin's cost on big clusters (issue 8:
//! time, requests, bytes, memory of `doctor -A`, `status -A`, `shift`, `recover`) can be measured and its
//! request counts asserted without a real cluster.
//!
//! The default is 200 injected namespaces (`team-000`…) × 50 pods = 10,000 pods, built through the same store
//! and controllers as every other scenario: Deployments → ReplicaSets → Pods with Istio-injected sidecars of
//! real size (~6 KB of JSON a pod), Services per app and per version with their EndpointSlices, mesh (GAMMA)
//! HTTPRoutes splitting traffic between the versions, the `istio-ca-root-cert` ConfigMap in every namespace,
//! and a deterministic share of the two faults `doctor` finds on big clusters: sidecars that started before
//! the current root certificate, and workloads created before their namespace got its injection label.
//!
//! ```no_run
//! use mesh_sandbox::{scale::ScaleScenario, ServerOptions, TestServer};
//!
//! let server = TestServer::start(ServerOptions::default())?;
//! let summary = server.apply_scale(&ScaleScenario::pods(50_000))?;
//! assert_eq!(summary.pods, 50_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde_json::{json, Value};

use super::scenario::{
    backdate_pod, cert_not_before, install_gateway_api, install_istio, root_cert_config_map, GatewayApiBundle,
    ROTATED_ROOT_CERT_PEM, ROTATED_ROOT_KEY_PEM,
};
use super::store::{format_ts, Store};
use super::{controllers, SandboxError};

/// Services each app has: the app's own (`svc-a`) and one per version (`svc-a-v1`, `svc-a-v2`).
pub const SERVICES_PER_APP: usize = 3;
/// Versions (Deployments) each app runs.
pub const VERSIONS_PER_APP: usize = 2;
/// Port every scale Service listens on (targetPort [`APP_PORT`]).
pub const SERVICE_PORT: u16 = 9080;
/// Port the app containers listen on.
pub const APP_PORT: u16 = 8080;
/// Route weights (v1, v2), chosen by app index in turn.
const WEIGHTS: [(u32, u32); 4] = [(90, 10), (80, 20), (50, 50), (100, 0)];

/// How big the cluster is and how much of it is broken. Counts are totals over all namespaces.
///
/// Layout: the `services` are grouped into apps of [`SERVICES_PER_APP`] (`svc-a`, `svc-a-v1`, `svc-a-v2`;
/// the last app may have fewer), spread over the namespaces in turn. Every app runs [`VERSIONS_PER_APP`]
/// Deployments (`svc-a-v1`, `svc-a-v2`, labels `app`/`version`) that share their namespace's
/// `pods_per_namespace` pods (a namespace without apps runs one Deployment `worker-v1`). The first `routes`
/// apps that have a version Service get a mesh HTTPRoute named like the app (parentRef the app's Service,
/// weighted backendRefs to its version Services); so there are at most `services / 3` routes, and the default
/// has 1,500 Services for its 500 routes.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleScenario {
    /// Injected namespaces `team-000`, `team-001`, ….
    pub namespaces: usize,
    /// Pods in each namespace.
    pub pods_per_namespace: usize,
    /// Services in all (app and per-version ones).
    pub services: usize,
    /// Mesh HTTPRoutes in all (at most one per app).
    pub routes: usize,
    /// Every Nth pod with a sidecar (in build order) has a stale one: it started two days before the current
    /// root certificate's NotBefore. 0 = none.
    pub stale_every: usize,
    /// Every Nth Deployment (in build order) was created before its namespace got the injection label, so its
    /// pods have no sidecar. 0 = none.
    pub missing_every: usize,
    /// Istio version of istiod and of the injected sidecars.
    pub istio_version: String,
    /// Gateway API CRDs installed.
    pub gateway_api: GatewayApiBundle,
}

impl Default for ScaleScenario {
    /// 200 namespaces × 50 pods = 10,000 pods, 1,500 Services, 500 routes, every 20th sidecar stale (5%),
    /// every 50th Deployment without sidecars (2%).
    fn default() -> Self {
        ScaleScenario {
            namespaces: 200,
            pods_per_namespace: 50,
            services: 1_500,
            routes: 500,
            stale_every: 20,
            missing_every: 50,
            istio_version: "1.26.2".into(),
            gateway_api: GatewayApiBundle::V1_0,
        }
    }
}

/// What [`ScaleScenario::build`] created (in the `team-*` namespaces; the control plane is not counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSummary {
    /// Namespaces `team-*`.
    pub namespaces: usize,
    /// Their pods.
    pub pods: usize,
    /// Deployments.
    pub deployments: usize,
    /// ReplicaSets (one per Deployment).
    pub replica_sets: usize,
    /// Services (app and per-version).
    pub services: usize,
    /// EndpointSlices (one per Service).
    pub endpoint_slices: usize,
    /// Mesh HTTPRoutes.
    pub routes: usize,
    /// Root certificate ConfigMaps (`istio-ca-root-cert`, one per namespace).
    pub config_maps: usize,
    /// ServiceAccounts (one per app).
    pub service_accounts: usize,
    /// Pods whose istio-proxy started before the root certificate's NotBefore.
    pub stale_sidecar_pods: usize,
    /// Pods without an istio-proxy.
    pub missing_sidecar_pods: usize,
    /// Deployments whose pods have no istio-proxy.
    pub missing_sidecar_deployments: usize,
    /// NotBefore of the root certificate in every `istio-ca-root-cert`.
    pub root_cert_not_before: jiff::Timestamp,
}

/// One app of the layout: its name in its namespace, its global index, and how many Services it has.
struct App {
    name: String,
    index: usize,
    services: usize,
    routed: bool,
}

impl ScaleScenario {
    /// `total` pods at 50 a namespace (rounded up to whole namespaces), with Services and routes scaled
    /// from the default's 15 Services and 5 routes per 100 pods.
    pub fn pods(total: usize) -> Self {
        let d = ScaleScenario::default();
        let per_ns = d.pods_per_namespace;
        ScaleScenario {
            namespaces: total.div_ceil(per_ns),
            pods_per_namespace: per_ns,
            services: total * d.services / 10_000,
            routes: total * d.routes / 10_000,
            ..d
        }
    }

    /// Name of the `i`th namespace.
    pub fn namespace_name(i: usize) -> String {
        format!("team-{i:03}")
    }

    /// The apps of namespace `ns` (apps are dealt to namespaces in turn).
    fn apps_in(&self, ns: usize) -> Vec<App> {
        let apps = self.services.div_ceil(SERVICES_PER_APP);
        let mut out = Vec::new();
        let mut index = ns;
        while index < apps && self.namespaces > 0 {
            let services = (self.services - index * SERVICES_PER_APP).min(SERVICES_PER_APP);
            out.push(App {
                name: format!("svc-{}", letters(out.len())),
                index,
                services,
                routed: services > 1 && index < self.routes,
            });
            index += self.namespaces;
        }
        out
    }

    /// Build the cluster in `store` (which should hold no other scenario). Controllers are deferred while a
    /// namespace is filled and run once per namespace, and pods start at admission (no Pending copy of each
    /// is stored), so 10,000 pods take seconds, not minutes.
    pub fn build(&self, store: &mut Store) -> Result<ScaleSummary, SandboxError> {
        store.settings.istio_version = self.istio_version.clone();
        install_istio(store, &self.istio_version, ROTATED_ROOT_CERT_PEM, ROTATED_ROOT_KEY_PEM)?;
        install_gateway_api(store, self.gateway_api)?;
        let not_before = cert_not_before(ROTATED_ROOT_CERT_PEM).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let stale_at = format_ts(
            not_before
                .checked_sub(jiff::SignedDuration::from_hours(48))
                .unwrap_or(not_before),
        );
        let mut summary = ScaleSummary {
            namespaces: 0,
            pods: 0,
            deployments: 0,
            replica_sets: 0,
            services: 0,
            endpoint_slices: 0,
            routes: 0,
            config_maps: 0,
            service_accounts: 0,
            stale_sidecar_pods: 0,
            missing_sidecar_pods: 0,
            missing_sidecar_deployments: 0,
            root_cert_not_before: not_before,
        };
        let mut counters = Counters::default();
        let saved = (store.defer_controllers, store.start_pods_on_create);
        store.start_pods_on_create = true;
        let result =
            (0..self.namespaces).try_for_each(|ns| self.namespace(store, ns, &stale_at, &mut summary, &mut counters));
        (store.defer_controllers, store.start_pods_on_create) = saved;
        result.map(|()| summary)
    }

    fn namespace(
        &self,
        store: &mut Store,
        i: usize,
        stale_at: &str,
        summary: &mut ScaleSummary,
        counters: &mut Counters,
    ) -> Result<(), SandboxError> {
        store.defer_controllers = true;
        let ns = Self::namespace_name(i);
        let apps = self.apps_in(i);
        let pods = self.pods_per_namespace;
        // (app, version) of every Deployment, then their replicas: the namespace's pods shared out.
        let mut workloads: Vec<(String, String)> = apps
            .iter()
            .flat_map(|a| (1..=VERSIONS_PER_APP).map(move |v| (a.name.clone(), format!("v{v}"))))
            .collect();
        if workloads.is_empty() {
            workloads.push(("worker".into(), "v1".into()));
        }
        let n = workloads.len();
        let mut early = Vec::new();
        let mut late = Vec::new();
        for (k, (app, version)) in workloads.into_iter().enumerate() {
            let replicas = pods / n + usize::from(k < pods % n);
            counters.deployments += 1;
            let missing = self.missing_every > 0 && counters.deployments.is_multiple_of(self.missing_every);
            let d = deployment(&ns, &app, &version, replicas);
            if missing {
                summary.missing_sidecar_deployments += 1;
                summary.missing_sidecar_pods += replicas;
                early.push(d);
            } else {
                late.push(d);
            }
            summary.deployments += 1;
            summary.replica_sets += 1;
            summary.pods += replicas;
        }

        let mut namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        if early.is_empty() {
            namespace["metadata"]["labels"] = json!({"istio-injection": "enabled"});
        }
        store.insert(namespace.clone())?;
        summary.namespaces += 1;
        store.insert(root_cert_config_map(&ns, ROTATED_ROOT_CERT_PEM))?;
        summary.config_maps += 1;
        for app in &apps {
            store.insert(json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": app.name, "namespace": ns, "labels": {"app": app.name}}}))?;
            summary.service_accounts += 1;
            for svc in services(&ns, &app.name).into_iter().take(app.services) {
                store.insert(svc)?;
                // Every Service selects pods: the EndpointSlice controller gives it one slice.
                summary.services += 1;
                summary.endpoint_slices += 1;
            }
        }
        if !early.is_empty() {
            // Created before `istio-injection=enabled`: these pods start without a sidecar.
            for d in early {
                store.insert(d)?;
            }
            run_controllers(store, &ns);
            namespace["metadata"]["labels"] = json!({"istio-injection": "enabled"});
            store.insert(namespace)?;
        }
        for d in late {
            store.insert(d)?;
        }
        run_controllers(store, &ns);

        if self.gateway_api != GatewayApiBundle::None {
            let now = store.now_str();
            for app in apps.iter().filter(|a| a.routed) {
                store.insert(route(&ns, app, &now))?;
                summary.routes += 1;
            }
        }

        // Sidecars that started before the current root certificate, every `stale_every`th in build order.
        let injected: Vec<String> = store
            .in_namespace("", "pods", &ns)
            .filter(|p| has_proxy(p))
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        for name in injected {
            counters.injected_pods += 1;
            if self.stale_every == 0 || !counters.injected_pods.is_multiple_of(self.stale_every) {
                continue;
            }
            if let Some(pod) = store.raw("", "pods", &ns, &name) {
                let mut pod = pod.clone();
                backdate_pod(&mut pod, stale_at);
                store.commit("", "pods", &ns, &name, pod);
                summary.stale_sidecar_pods += 1;
            }
        }
        Ok(())
    }
}

/// Running counts across namespaces (which Deployment and which injected pod is the Nth).
#[derive(Default)]
struct Counters {
    deployments: usize,
    injected_pods: usize,
}

fn run_controllers(store: &mut Store, ns: &str) {
    store.defer_controllers = false;
    controllers::reconcile(store, ns);
    store.defer_controllers = true;
}

/// Whether a pod has an `istio-proxy` container (classic or native sidecar).
pub fn has_proxy(pod: &Value) -> bool {
    ["containers", "initContainers"].iter().any(|k| {
        pod["spec"][k]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["name"] == "istio-proxy"))
    })
}

/// `a`, `b`, …, `z`, `aa`, `ab`, … (app names within a namespace).
fn letters(mut n: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'a' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            break;
        }
        n -= 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The app's Service, then one per version.
fn services(ns: &str, app: &str) -> Vec<Value> {
    let ports = json!([{"name": "http", "port": SERVICE_PORT, "targetPort": APP_PORT, "protocol": "TCP"}]);
    let mut out = vec![json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": app, "namespace": ns, "labels": {"app": app, "service": app}},
        "spec": {"ports": ports, "selector": {"app": app}}})];
    for v in 1..=VERSIONS_PER_APP {
        let version = format!("v{v}");
        out.push(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": format!("{app}-{version}"), "namespace": ns, "labels": {"app": app, "version": version}},
            "spec": {"ports": ports, "selector": {"app": app, "version": version}}}));
    }
    out
}

/// A Deployment of one app version: an app container with ports, env, resources and a probe, as real ones have.
fn deployment(ns: &str, app: &str, version: &str, replicas: usize) -> Value {
    let name = format!("{app}-{version}");
    let image = format!("registry.example.com/{ns}/{app}:1.{}.0", &version[1..]);
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": app, "version": version}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app, "version": version}},
            "template": {"metadata": {"labels": {"app": app, "version": version}},
                "spec": {"serviceAccountName": app,
                    "containers": [{"name": app, "image": image, "imagePullPolicy": "IfNotPresent",
                        "ports": [{"name": "http", "containerPort": APP_PORT, "protocol": "TCP"}],
                        "env": [{"name": "APP_VERSION", "value": version}, {"name": "LOG_LEVEL", "value": "info"}],
                        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "50m", "memory": "64Mi"}},
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": APP_PORT, "scheme": "HTTP"}, "periodSeconds": 10,
                            "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}}]}}}})
}

/// The app's mesh route: parentRef its Service, traffic split over its version Services.
fn route(ns: &str, app: &App, now: &str) -> Value {
    let (w1, w2) = WEIGHTS[app.index % WEIGHTS.len()];
    let mut backends = vec![json!({"name": format!("{}-v1", app.name), "port": SERVICE_PORT, "weight": w1})];
    if app.services > 2 {
        backends.push(json!({"name": format!("{}-v2", app.name), "port": SERVICE_PORT, "weight": w2}));
    } else {
        backends[0]["weight"] = json!(100);
    }
    let parent = json!({"group": "", "kind": "Service", "name": app.name});
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": app.name, "namespace": ns, "labels": {"app": app.name}},
        "spec": {"parentRefs": [parent], "rules": [{"backendRefs": backends}]},
        "status": {"parents": [{"parentRef": parent, "controllerName": "istio.io/gateway-controller",
            "conditions": [
                {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Route was valid", "lastTransitionTime": now, "observedGeneration": 1},
                {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "All references resolved", "lastTransitionTime": now, "observedGeneration": 1}]}]}})
}
