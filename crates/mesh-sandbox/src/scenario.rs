//! Ready-made cluster states for tests and `kubectl mesh demo`: Istio's Bookinfo in an injected namespace
//! with the Gateway API installed, built through the same store and controllers as any request, plus the
//! broken variants `kubectl mesh doctor` must find (a stale Istio root certificate, pods without sidecars,
//! no Gateway API CRDs) and a scale knob.

use serde_json::{json, Value};

use super::store::{format_ts, Store};
use super::SandboxError;

/// An Istio root certificate (self-signed, O=cluster.local, NotBefore 2025-01-01T00:00:00Z).
pub const ROOT_CERT_PEM: &str = include_str!("certs/root-cert.pem");
/// The key of [`ROOT_CERT_PEM`] (test-only, generated for the sandbox).
pub const ROOT_KEY_PEM: &str = include_str!("certs/root-key.pem");
/// A "rotated" Istio root certificate (NotBefore 2026-06-01T00:00:00Z).
pub const ROTATED_ROOT_CERT_PEM: &str = include_str!("certs/rotated-root-cert.pem");
/// The key of [`ROTATED_ROOT_CERT_PEM`].
pub const ROTATED_ROOT_KEY_PEM: &str = include_str!("certs/rotated-root-key.pem");

/// The Gateway API v1.0.0 standard CRDs (GatewayClass, Gateway, HTTPRoute, ReferenceGrant), as upstream ships
/// them less the schema descriptions (a `List`; `tests/sandbox_crds.rs` keeps it equal to upstream): storage
/// version v1beta1, printer columns, list types and CEL rules included. No `parentRefs[].port`.
pub const GATEWAY_API_V1_0_CRDS: &str = include_str!("crds/gateway-api-v1.0.0.json");
/// The Gateway API v1.6.1 standard channel's CRDs (also GRPCRoute, BackendTLSPolicy, ListenerSet, TCPRoute,
/// TLSRoute, UDPRoute), as upstream ships them less the schema descriptions. Its ValidatingAdmissionPolicy
/// (which only guards CRD upgrades) is not served.
pub const GATEWAY_API_V1_6_CRDS: &str = include_str!("crds/gateway-api-v1.6.1.json");

/// The NotBefore of a PEM certificate.
pub fn cert_not_before(pem: &str) -> Option<jiff::Timestamp> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    jiff::Timestamp::from_second(cert.validity().not_before.timestamp()).ok()
}

/// Which Gateway API CRDs a scenario installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayApiBundle {
    /// None: the cluster answers 404 for HTTPRoutes.
    None,
    /// v1.0.0 (the default).
    V1_0,
    /// v1.6.1.
    V1_6,
}

impl GatewayApiBundle {
    /// The CRDs of this bundle as a JSON `List` (also YAML: `Sandbox::load_yaml` takes it).
    pub fn crds_json(self) -> Option<&'static str> {
        match self {
            GatewayApiBundle::None => None,
            GatewayApiBundle::V1_0 => Some(GATEWAY_API_V1_0_CRDS),
            GatewayApiBundle::V1_6 => Some(GATEWAY_API_V1_6_CRDS),
        }
    }

    /// The CRD objects of this bundle, parsed once per process.
    pub fn crds(self) -> &'static [Value] {
        static V1_0: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
        static V1_6: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
        let cell = match self {
            GatewayApiBundle::None => return &[],
            GatewayApiBundle::V1_0 => &V1_0,
            GatewayApiBundle::V1_6 => &V1_6,
        };
        cell.get_or_init(|| {
            let list: Value = serde_json::from_str(self.crds_json().unwrap_or("{}")).unwrap_or_default();
            match list.get("items") {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            }
        })
    }
}

/// Namespace Bookinfo runs in.
pub const DEMO_NAMESPACE: &str = "istio-demo";
/// Namespace of the ambient scenario ([`Scenario::ambient`]).
pub const AMBIENT_NAMESPACE: &str = "ambient-demo";
/// Namespace of istiod.
pub const ISTIO_NAMESPACE: &str = "istio-system";

/// A scenario: Bookinfo plus options. Build with [`bookinfo`] and the builder methods.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Gateway API CRDs installed.
    pub gateway_api: GatewayApiBundle,
    /// `istio-ca-root-cert` holds a root newer than the sidecars of reviews-v2 and ratings-v1.
    pub stale_root_cert: bool,
    /// details-v1 runs without sidecars (created before the namespace was labelled).
    pub missing_sidecar: bool,
    /// Sidecars are native (init container with `restartPolicy: Always`).
    pub native_sidecars: bool,
    /// Extra pods in namespace `load` (injected), for scale tests.
    pub extra_pods: usize,
    /// Istio version (istiod image, sidecar image).
    pub istio_version: String,
    /// A mesh-wide PeerAuthentication `default` in istio-system with mTLS mode STRICT.
    pub strict_mtls: bool,
    /// reviews-v3 is scaled to 0: its Service has no ready endpoints.
    pub unready_backend: bool,
    /// Mesh HTTPRoute `ratings` points at a missing Service `ratings-v9` (ResolvedRefs False).
    pub broken_route: bool,
    /// No Istio at all: no istio-system, no injection label, no root cert ConfigMaps.
    pub no_istio: bool,
    /// Istio's ambient mode in namespace `ambient-demo` (see [`Scenario::ambient`]).
    pub ambient: Option<Ambient>,
    /// A gRPC app `grpc-echo` (v1, v2) with a mesh GRPCRoute to v1 (needs the v1.6 bundle).
    pub grpc_echo: bool,
}

/// The ambient part of a scenario and its broken variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ambient {
    /// No ztunnel DaemonSet.
    pub no_ztunnel: bool,
    /// ztunnel's pod is not ready (the DaemonSet has 0 of 1 ready).
    pub ztunnel_unready: bool,
    /// The waypoint is not programmed, has no address and its Deployment is scaled to 0.
    pub waypoint_unready: bool,
    /// istio-demo (injected) is labelled `istio.io/dataplane-mode: ambient` too.
    pub on_injected: bool,
}

/// Bookinfo in `istio-demo` with Istio and the Gateway API v1.0.0 CRDs.
pub fn bookinfo() -> Scenario {
    Scenario::bookinfo()
}

impl Scenario {
    /// See [`bookinfo`].
    pub fn bookinfo() -> Self {
        Scenario {
            gateway_api: GatewayApiBundle::V1_0,
            stale_root_cert: false,
            missing_sidecar: false,
            native_sidecars: false,
            extra_pods: 0,
            istio_version: "1.26.2".into(),
            strict_mtls: false,
            unready_backend: false,
            broken_route: false,
            no_istio: false,
            ambient: None,
            grpc_echo: false,
        }
    }

    /// Add a gRPC app: Service `grpc-echo` (port 9090 named `grpc`), Deployments and Services `grpc-echo-v1` and
    /// `grpc-echo-v2`, and the mesh GRPCRoute `grpc-echo` sending everything to v1. Selects the v1.6 bundle
    /// (GRPCRoute v1 is standard from Gateway API v1.1.0).
    pub fn grpc_echo(mut self) -> Self {
        self.grpc_echo = true;
        self.gateway_api = GatewayApiBundle::V1_6;
        self
    }

    /// Add Istio's ambient mode in namespace `ambient-demo` (labelled `istio.io/dataplane-mode: ambient`): the
    /// ztunnel DaemonSet in istio-system, the waypoint GatewayClass, a waypoint Gateway `waypoint` with its
    /// Deployment and Service (as `istioctl waypoint apply` and Istio's deployment controller leave them),
    /// Bookinfo's reviews (enrolled in the waypoint: `istio.io/use-waypoint: waypoint`) and ratings (not
    /// enrolled) with their mesh HTTPRoutes and the status Istio writes on them, and STRICT mTLS in the
    /// namespace. Pods there come up without sidecars and captured by the CNI
    /// (`ambient.istio.io/redirection: enabled`).
    pub fn ambient(mut self) -> Self {
        self.ambient = Some(self.ambient.unwrap_or_default());
        self
    }

    fn ambient_mut(&mut self) -> &mut Ambient {
        self.ambient.get_or_insert_with(Ambient::default)
    }

    /// Ambient mode without ztunnel.
    pub fn no_ztunnel(mut self) -> Self {
        self.ambient_mut().no_ztunnel = true;
        self
    }

    /// Ambient mode with ztunnel's pod not ready.
    pub fn ztunnel_unready(mut self) -> Self {
        self.ambient_mut().ztunnel_unready = true;
        self
    }

    /// Ambient mode with the waypoint not programmed and its Deployment scaled to 0.
    pub fn waypoint_unready(mut self) -> Self {
        self.ambient_mut().waypoint_unready = true;
        self
    }

    /// Ambient mode, and istio-demo (injected) labelled for ambient too.
    pub fn ambient_on_injected(mut self) -> Self {
        self.ambient_mut().on_injected = true;
        self
    }

    /// Add an HTTPRoute `ratings` whose backend Service `ratings-v9` does not exist.
    pub fn broken_route(mut self) -> Self {
        self.broken_route = true;
        self
    }

    /// Leave Istio out (a missing prerequisite).
    pub fn no_istio(mut self) -> Self {
        self.no_istio = true;
        self
    }

    /// Mesh-wide STRICT mTLS (PeerAuthentication `istio-system/default`).
    pub fn strict_mtls(mut self) -> Self {
        self.strict_mtls = true;
        self
    }

    /// reviews-v3 has no ready endpoints (its Deployment is scaled to 0).
    pub fn unready_backend(mut self) -> Self {
        self.unready_backend = true;
        self
    }

    /// Sidecars of reviews-v2 and ratings-v1 started before the current root cert's NotBefore.
    pub fn stale_root_cert(mut self) -> Self {
        self.stale_root_cert = true;
        self
    }

    /// details-v1 pods have no istio-proxy.
    pub fn missing_sidecar(mut self) -> Self {
        self.missing_sidecar = true;
        self
    }

    /// No Gateway API CRDs (and so no Gateway or HTTPRoutes).
    pub fn no_crds(mut self) -> Self {
        self.gateway_api = GatewayApiBundle::None;
        self
    }

    /// Choose the Gateway API bundle.
    pub fn crds(mut self, bundle: GatewayApiBundle) -> Self {
        self.gateway_api = bundle;
        self
    }

    /// Native sidecars.
    pub fn native_sidecars(mut self) -> Self {
        self.native_sidecars = true;
        self
    }

    /// Add `n` pods (Deployments `load-N` of up to 100 replicas in namespace `load`).
    pub fn pods(mut self, n: usize) -> Self {
        self.extra_pods = n;
        self
    }

    /// Build the state in a store.
    pub fn build(&self, store: &mut Store) -> Result<(), SandboxError> {
        store.settings.native_sidecars = self.native_sidecars;
        store.settings.istio_version = self.istio_version.clone();
        let root = if self.stale_root_cert {
            ROTATED_ROOT_CERT_PEM
        } else {
            ROOT_CERT_PEM
        };
        let key = if self.stale_root_cert {
            ROTATED_ROOT_KEY_PEM
        } else {
            ROOT_KEY_PEM
        };
        let ins = |store: &mut Store, v: Value| -> Result<Value, SandboxError> { Ok(store.insert(v)?) };

        if !self.no_istio {
            install_istio(store, &self.istio_version, root, key)?;
        }
        install_gateway_api(store, self.gateway_api)?;

        // Bookinfo namespace; with missing_sidecar, details-v1 is created before the label.
        let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DEMO_NAMESPACE}});
        if self.missing_sidecar {
            ins(store, ns.clone())?;
            ins(store, bookinfo_service_account("details"))?;
            ins(
                store,
                bookinfo_deployment("details", "v1", "docker.io/istio/examples-bookinfo-details-v1:1.20.3"),
            )?;
        }
        if !self.no_istio {
            ns["metadata"]["labels"] = json!({"istio-injection": "enabled"});
            if self.ambient.is_some_and(|a| a.on_injected) {
                ns["metadata"]["labels"]["istio.io/dataplane-mode"] = json!("ambient");
            }
        }
        ins(store, ns)?;
        for app in ["details", "ratings", "reviews", "productpage"] {
            ins(
                store,
                bookinfo_service(app, json!({"app": app}), json!({"app": app, "service": app})),
            )?;
            ins(store, bookinfo_service_account(app))?;
        }
        let deployments = [
            ("details", "v1", "docker.io/istio/examples-bookinfo-details-v1:1.20.3"),
            ("ratings", "v1", "docker.io/istio/examples-bookinfo-ratings-v1:1.20.3"),
            ("reviews", "v1", "docker.io/istio/examples-bookinfo-reviews-v1:1.20.3"),
            ("reviews", "v2", "docker.io/istio/examples-bookinfo-reviews-v2:1.20.3"),
            ("reviews", "v3", "docker.io/istio/examples-bookinfo-reviews-v3:1.20.3"),
            (
                "productpage",
                "v1",
                "docker.io/istio/examples-bookinfo-productpage-v1:1.20.3",
            ),
        ];
        for (app, version, image) in deployments {
            if self.missing_sidecar && app == "details" {
                continue;
            }
            let mut d = bookinfo_deployment(app, version, image);
            if self.unready_backend && app == "reviews" && version == "v3" {
                d["spec"]["replicas"] = json!(0);
            }
            ins(store, d)?;
        }
        if self.strict_mtls {
            ins(
                store,
                json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                    "metadata": {"name": "default", "namespace": ISTIO_NAMESPACE},
                    "spec": {"mtls": {"mode": "STRICT"}}}),
            )?;
        }
        for (app, version) in [
            ("reviews", "v1"),
            ("reviews", "v2"),
            ("reviews", "v3"),
            ("productpage", "v1"),
        ] {
            let name = format!("{app}-{version}");
            let mut svc = bookinfo_service(&name, json!({"app": app, "version": version}), json!({}));
            if let Some(m) = svc["metadata"].as_object_mut() {
                m.shift_remove("labels");
            }
            ins(store, svc)?;
        }

        // Gateway and routes.
        if self.gateway_api != GatewayApiBundle::None {
            self.gateway(store)?;
            if self.broken_route {
                let now = store.now_str();
                ins(
                    store,
                    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                        "metadata": {"name": "ratings", "namespace": DEMO_NAMESPACE},
                        "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "ratings"}],
                            "rules": [{"backendRefs": [{"name": "ratings-v9", "port": 9080}]}]},
                        "status": {"parents": [{"parentRef": {"group": "", "kind": "Service", "name": "ratings"},
                            "controllerName": "istio.io/gateway-controller",
                            "conditions": [
                                {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Route was valid", "lastTransitionTime": now, "observedGeneration": 1},
                                {"type": "ResolvedRefs", "status": "False", "reason": "BackendNotFound", "message": "backend(ratings-v9.istio-demo.svc.cluster.local) not found", "lastTransitionTime": now, "observedGeneration": 1}]}]}}),
                )?;
            }
        }

        if let (Some(ambient), false) = (self.ambient, self.no_istio) {
            self.ambient_objects(store, ambient)?;
            // istiod with ambient enabled writes ResolvedWaypoints on the mesh routes it judges.
            store.settings.ambient = true;
        }

        // The root cert in every namespace.
        let namespaces: Vec<String> = store
            .all("", "namespaces")
            .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        for ns in namespaces.iter().filter(|_| !self.no_istio) {
            ins(store, root_cert_config_map(ns, root))?;
        }

        if self.stale_root_cert {
            let not_before = cert_not_before(ROTATED_ROOT_CERT_PEM).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            let early = not_before
                .checked_sub(jiff::SignedDuration::from_hours(48))
                .unwrap_or(not_before);
            backdate_pods(store, DEMO_NAMESPACE, "app=reviews,version=v2", early);
            backdate_pods(store, DEMO_NAMESPACE, "app=ratings", early);
        }

        if self.grpc_echo && self.gateway_api == GatewayApiBundle::V1_6 {
            self.grpc(store)?;
        }

        if self.extra_pods > 0 {
            self.load(store)?;
        }
        if self.ambient.is_some_and(|a| a.ztunnel_unready) {
            // The kubelet reports ztunnel's container not ready; the DaemonSet controller then counts 0 ready.
            let pods: Vec<Value> = store
                .in_namespace("", "pods", ISTIO_NAMESPACE)
                .filter(|p| p["metadata"]["labels"]["app"] == "ztunnel")
                .cloned()
                .collect();
            for mut p in pods {
                for c in p["status"]["conditions"].as_array_mut().into_iter().flatten() {
                    if c["type"] == "Ready" || c["type"] == "ContainersReady" {
                        c["status"] = json!("False");
                    }
                }
                for c in p["status"]["containerStatuses"].as_array_mut().into_iter().flatten() {
                    c["ready"] = json!(false);
                }
                let name = p["metadata"]["name"].as_str().unwrap_or_default().to_string();
                store.commit("", "pods", ISTIO_NAMESPACE, &name, p);
            }
            super::controllers::reconcile(store, ISTIO_NAMESPACE);
        }
        // istiod has judged every mesh route before anyone looks.
        super::route_status::route_status(store, std::time::Instant::now());
        Ok(())
    }

    fn grpc(&self, store: &mut Store) -> Result<(), SandboxError> {
        let ns = DEMO_NAMESPACE;
        let port = json!([{"port": 9090, "name": "grpc", "targetPort": 8079}]);
        let mut objects = vec![json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "grpc-echo", "namespace": ns, "labels": {"app": "grpc-echo", "service": "grpc-echo"}},
            "spec": {"ports": port, "selector": {"app": "grpc-echo"}}})];
        for v in ["v1", "v2"] {
            let mut d = bookinfo_deployment("grpc-echo", v, "docker.io/fortio/fortio:1.69.0");
            d["spec"]["template"]["spec"]["serviceAccountName"] = json!("default");
            d["spec"]["template"]["spec"]["containers"][0]["ports"] =
                json!([{"containerPort": 8079, "protocol": "TCP"}]);
            objects.push(d);
            objects.push(json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": format!("grpc-echo-{v}"), "namespace": ns},
                "spec": {"ports": port, "selector": {"app": "grpc-echo", "version": v}}}));
        }
        objects.push(
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
            "metadata": {"name": "grpc-echo", "namespace": ns},
            "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "grpc-echo", "port": 9090}],
                "rules": [{"backendRefs": [{"name": "grpc-echo-v1", "port": 9090}]}]}}),
        );
        for o in objects {
            store.insert(o)?;
        }
        Ok(())
    }

    fn ambient_objects(&self, store: &mut Store, ambient: Ambient) -> Result<(), SandboxError> {
        let ns = AMBIENT_NAMESPACE;
        let v = &self.istio_version;
        let now = store.now_str();
        let cond = |t: &str, s: &str, r: &str, m: &str| json!({"type": t, "status": s, "reason": r, "message": m, "lastTransitionTime": now, "observedGeneration": 1});
        let mut objects = Vec::new();
        if !ambient.no_ztunnel {
            // The ztunnel chart's DaemonSet (manifests/charts/ztunnel/templates/daemonset.yaml).
            objects.push(json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": "ztunnel", "namespace": ISTIO_NAMESPACE, "labels": {"app.kubernetes.io/name": "ztunnel", "app": "ztunnel"}},
                "spec": {"selector": {"matchLabels": {"app": "ztunnel"}},
                    "template": {"metadata": {"labels": {"app": "ztunnel", "sidecar.istio.io/inject": "false", "istio.io/dataplane-mode": "none"}},
                        "spec": {"serviceAccountName": "ztunnel", "containers": [{"name": "istio-proxy",
                            "image": format!("docker.io/istio/ztunnel:{v}"), "args": ["proxy", "ztunnel"]}]}}}}));
        }
        if self.gateway_api != GatewayApiBundle::None {
            objects.push(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "istio-waypoint"},
                "spec": {"controllerName": "istio.io/mesh-controller", "description": "The default Istio waypoint GatewayClass"},
                "status": {"conditions": [cond("Accepted", "True", "Accepted", "Handled by Istio controller")]}}));
        }
        objects.push(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"istio.io/dataplane-mode": "ambient"}}}));
        objects.push(
            json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": ns}, "spec": {"mtls": {"mode": "STRICT"}}}),
        );
        // The waypoint, as `istioctl waypoint apply -n ambient-demo` and Istio's deployment controller leave it
        // (istio-discovery files/waypoint.yaml: Deployment and Service named like the Gateway).
        if self.gateway_api != GatewayApiBundle::None {
            let status = if ambient.waypoint_unready {
                json!({"conditions": [cond("Accepted", "True", "Accepted", "Resource accepted"),
                    cond("Programmed", "False", "Invalid", "Deployment ambient-demo/waypoint has no ready replica")]})
            } else {
                json!({"addresses": [{"type": "IPAddress", "value": "10.43.0.50"}],
                    "conditions": [cond("Accepted", "True", "Accepted", "Resource accepted"),
                        cond("Programmed", "True", "Programmed", "Resource programmed, assigned to service(s) waypoint.ambient-demo.svc.cluster.local:15008")]})
            };
            objects.push(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                "metadata": {"name": "waypoint", "namespace": ns, "labels": {"istio.io/waypoint-for": "service"}},
                "spec": {"gatewayClassName": "istio-waypoint", "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]},
                "status": status}));
        }
        let managed = json!({"gateway.networking.k8s.io/gateway-name": "waypoint", "gateway.istio.io/managed": "istio.io-mesh-controller"});
        objects.push(
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "waypoint", "namespace": ns}}),
        );
        objects.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "waypoint", "namespace": ns, "labels": managed},
            "spec": {"replicas": if ambient.waypoint_unready { 0 } else { 1 },
                "selector": {"matchLabels": {"gateway.networking.k8s.io/gateway-name": "waypoint"}},
                "template": {"metadata": {"labels": {"gateway.networking.k8s.io/gateway-name": "waypoint", "gateway.istio.io/managed": "istio.io-mesh-controller",
                        "sidecar.istio.io/inject": "false", "istio.io/dataplane-mode": "none", "service.istio.io/canonical-name": "waypoint"},
                        "annotations": {"istio.io/rev": "default"}},
                    "spec": {"serviceAccountName": "waypoint", "containers": [{"name": "istio-proxy",
                        "image": format!("docker.io/istio/proxyv2:{v}"), "args": ["proxy", "waypoint", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
                        "ports": [{"containerPort": 15021, "name": "status-port", "protocol": "TCP"}, {"containerPort": 15008, "name": "mesh", "protocol": "TCP"}]}]}}}}));
        objects.push(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "waypoint", "namespace": ns, "labels": managed},
            "spec": {"selector": {"gateway.networking.k8s.io/gateway-name": "waypoint"},
                "ports": [{"name": "status-port", "port": 15021, "protocol": "TCP"}, {"name": "mesh", "port": 15008, "protocol": "TCP"}]}}));
        // Bookinfo's reviews (enrolled) and ratings (not).
        for app in ["reviews", "ratings"] {
            let mut svc = bookinfo_service(app, json!({"app": app}), json!({"app": app, "service": app}));
            svc["metadata"]["namespace"] = json!(ns);
            if app == "reviews" {
                svc["metadata"]["labels"]["istio.io/use-waypoint"] = json!("waypoint");
                let bound = if ambient.waypoint_unready {
                    cond(
                        "istio.io/WaypointBound",
                        "False",
                        "WaypointIsNotReady",
                        "waypoint \"ambient-demo/waypoint\" is not ready",
                    )
                } else {
                    cond(
                        "istio.io/WaypointBound",
                        "True",
                        "WaypointAccepted",
                        "Successfully attached to waypoint ambient-demo/waypoint",
                    )
                };
                svc["status"] = json!({"conditions": [bound]});
            }
            objects.push(svc);
            let mut sa = bookinfo_service_account(app);
            sa["metadata"]["namespace"] = json!(ns);
            objects.push(sa);
        }
        for (app, version, image) in [
            ("reviews", "v1", "docker.io/istio/examples-bookinfo-reviews-v1:1.20.3"),
            ("reviews", "v2", "docker.io/istio/examples-bookinfo-reviews-v2:1.20.3"),
            ("ratings", "v1", "docker.io/istio/examples-bookinfo-ratings-v1:1.20.3"),
        ] {
            let name = format!("{app}-{version}");
            let mut svc = bookinfo_service(&name, json!({"app": app, "version": version}), json!({}));
            svc["metadata"]["namespace"] = json!(ns);
            if let Some(m) = svc["metadata"].as_object_mut() {
                m.shift_remove("labels");
            }
            objects.push(svc);
            let mut d = bookinfo_deployment(app, version, image);
            d["metadata"]["namespace"] = json!(ns);
            objects.push(d);
        }
        if self.gateway_api != GatewayApiBundle::None {
            // Istio's status on the routes (ResolvedWaypoints is always status True: its message tells).
            for (app, waypoints) in [
                ("reviews", "All waypoints resolved"),
                ("ratings", "istio.io/use-waypoint label missing from parent and parent namespace; in ambient mode, route will not be respected"),
            ] {
                objects.push(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": app, "namespace": ns},
                    "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": app}],
                        "rules": [{"backendRefs": [{"name": format!("{app}-v1"), "port": 9080}]}]},
                    "status": {"parents": [{"parentRef": {"group": "", "kind": "Service", "name": app},
                        "controllerName": "istio.io/gateway-controller",
                        "conditions": [cond("Accepted", "True", "Accepted", "Route was valid"),
                            cond("ResolvedRefs", "True", "ResolvedRefs", "All references resolved"),
                            cond("ResolvedWaypoints", "True", "ResolvedWaypoints", waypoints)]}]}}));
            }
        }
        for o in objects {
            store.insert(o)?;
        }
        Ok(())
    }

    fn gateway(&self, store: &mut Store) -> Result<(), SandboxError> {
        let ns = DEMO_NAMESPACE;
        let now = store.now_str();
        let objects = vec![
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "istio"},
                "spec": {"controllerName": "istio.io/gateway-controller", "description": "The default Istio GatewayClass"},
                "status": {"conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Handled by Istio controller", "lastTransitionTime": now, "observedGeneration": 1}]}}),
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "bookinfo-gateway", "namespace": ns},
                "spec": {"gatewayClassName": "istio", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "Same"}}}]},
                "status": {"addresses": [{"type": "IPAddress", "value": "172.18.0.3"}],
                    "conditions": [
                        {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Resource accepted", "lastTransitionTime": now, "observedGeneration": 1},
                        {"type": "Programmed", "status": "True", "reason": "Programmed", "message": "Resource programmed, assigned to service(s) bookinfo-gateway-istio.istio-demo.svc.cluster.local:80", "lastTransitionTime": now, "observedGeneration": 1}],
                    "listeners": [{"name": "http", "attachedRoutes": 1, "supportedKinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}, {"group": "gateway.networking.k8s.io", "kind": "GRPCRoute"}],
                        "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "No errors found", "lastTransitionTime": now, "observedGeneration": 1},
                                       {"type": "Programmed", "status": "True", "reason": "Programmed", "message": "No errors found", "lastTransitionTime": now, "observedGeneration": 1},
                                       {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "No errors found", "lastTransitionTime": now, "observedGeneration": 1}]}]}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "bookinfo-gateway-istio", "namespace": ns, "labels": {"gateway.networking.k8s.io/gateway-name": "bookinfo-gateway", "gateway.istio.io/managed": "istio.io-gateway-controller"}},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"gateway.networking.k8s.io/gateway-name": "bookinfo-gateway"}},
                    "template": {"metadata": {"labels": {"gateway.networking.k8s.io/gateway-name": "bookinfo-gateway", "gateway.istio.io/managed": "istio.io-gateway-controller", "sidecar.istio.io/inject": "false", "service.istio.io/canonical-name": "bookinfo-gateway-istio"},
                            "annotations": {"inject.istio.io/templates": "gateway"}},
                        "spec": {"serviceAccountName": "bookinfo-gateway-istio", "containers": [{"name": "istio-proxy",
                            "image": format!("docker.io/istio/proxyv2:{}", self.istio_version),
                            "args": ["proxy", "router", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
                            "ports": [{"containerPort": 15021, "name": "status-port", "protocol": "TCP"}, {"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}]}]}}}}),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bookinfo-gateway-istio", "namespace": ns}}),
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "bookinfo-gateway-istio", "namespace": ns, "labels": {"gateway.networking.k8s.io/gateway-name": "bookinfo-gateway", "gateway.istio.io/managed": "istio.io-gateway-controller"}},
                "spec": {"type": "LoadBalancer", "selector": {"gateway.networking.k8s.io/gateway-name": "bookinfo-gateway"},
                    "ports": [{"name": "status-port", "port": 15021, "targetPort": 15021, "protocol": "TCP"}, {"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}]},
                "status": {"loadBalancer": {"ingress": [{"ip": "172.18.0.3", "ipMode": "VIP"}]}}}),
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "bookinfo", "namespace": ns},
                "spec": {"parentRefs": [{"name": "bookinfo-gateway"}],
                    "rules": [{"matches": [
                        {"path": {"type": "Exact", "value": "/productpage"}},
                        {"path": {"type": "PathPrefix", "value": "/static"}},
                        {"path": {"type": "Exact", "value": "/login"}},
                        {"path": {"type": "Exact", "value": "/logout"}},
                        {"path": {"type": "PathPrefix", "value": "/api/v1/products"}}],
                        "backendRefs": [{"name": "productpage", "port": 9080}]}]},
                "status": {"parents": [{"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "bookinfo-gateway"},
                    "controllerName": "istio.io/gateway-controller",
                    "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Route was valid", "lastTransitionTime": now, "observedGeneration": 1},
                                   {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "All references resolved", "lastTransitionTime": now, "observedGeneration": 1}]}]}}),
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "reviews", "namespace": ns},
                "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "reviews", "port": 9080}],
                    "rules": [{"backendRefs": [{"name": "reviews-v1", "port": 9080}]}]},
                "status": {"parents": [{"parentRef": {"group": "", "kind": "Service", "name": "reviews"},
                    "controllerName": "istio.io/gateway-controller",
                    "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Route was valid", "lastTransitionTime": now, "observedGeneration": 1},
                                   {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "All references resolved", "lastTransitionTime": now, "observedGeneration": 1}]}]}}),
        ];
        for o in objects {
            store.insert(o)?;
        }
        Ok(())
    }

    fn load(&self, store: &mut Store) -> Result<(), SandboxError> {
        store.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "load", "labels": {"istio-injection": "enabled"}}}))?;
        store.defer_controllers = true;
        let mut left = self.extra_pods;
        let mut i = 0;
        let result = (|| -> Result<(), SandboxError> {
            while left > 0 {
                let n = left.min(100);
                let name = format!("load-{i}");
                let mut d = bookinfo_deployment(&name, "v1", "docker.io/library/nginx:1.27");
                d["metadata"]["namespace"] = json!("load");
                d["spec"]["replicas"] = json!(n);
                store.insert(d)?;
                left -= n;
                i += 1;
            }
            Ok(())
        })();
        store.defer_controllers = false;
        result?;
        // Nobody watches a scenario being built: pods may start at admission (no Pending copy of each).
        let started = store.start_pods_on_create;
        store.start_pods_on_create = true;
        super::controllers::reconcile(store, "load");
        store.start_pods_on_create = started;
        Ok(())
    }
}

/// The Istio control plane every scenario with Istio has: namespace `istio-system`, istiod (ServiceAccount,
/// Deployment, Service), its CA Secret `istio-ca-secret` holding `root`/`key`, and the sidecar injector
/// webhook (injection is done by the sandbox itself; the webhook is there for readers such as `doctor`).
pub(crate) fn install_istio(store: &mut Store, istio_version: &str, root: &str, key: &str) -> Result<(), SandboxError> {
    store.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ISTIO_NAMESPACE}}))?;
    let ns = ISTIO_NAMESPACE;
    let b64 = |s: &str| base64(s.as_bytes());
    let objects = vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "istiod", "namespace": ns}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "istiod", "namespace": ns, "labels": {"app": "istiod", "istio.io/rev": "default", "istio": "pilot"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "istiod", "istio": "pilot"}},
                "template": {"metadata": {"labels": {"app": "istiod", "istio": "pilot", "istio.io/rev": "default", "sidecar.istio.io/inject": "false"}},
                    "spec": {"serviceAccountName": "istiod", "containers": [{"name": "discovery",
                        "image": format!("docker.io/istio/pilot:{}", istio_version),
                        "args": ["discovery", "--monitoringAddr=:15014", "--log_output_level=default:info", "--domain", "cluster.local", "--keepaliveMaxServerConnectionAge", "30m"],
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 15010, "protocol": "TCP"}, {"containerPort": 15017, "protocol": "TCP"}]}]}}}}),
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "istiod", "namespace": ns, "labels": {"app": "istiod", "istio": "pilot", "istio.io/rev": "default"}},
            "spec": {"selector": {"app": "istiod", "istio": "pilot"}, "ports": [
                {"name": "grpc-xds", "port": 15010, "protocol": "TCP"},
                {"name": "https-dns", "port": 15012, "protocol": "TCP"},
                {"name": "https-webhook", "port": 443, "targetPort": 15017, "protocol": "TCP"},
                {"name": "http-monitoring", "port": 15014, "protocol": "TCP"}]}}),
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "istio-ca-secret", "namespace": ns},
            "type": "istio.io/ca-root",
            "data": {"ca-cert.pem": b64(root), "ca-key.pem": b64(key), "cert-chain.pem": "", "key.pem": "", "root-cert.pem": ""}}),
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "istio-sidecar-injector", "labels": {"app": "sidecar-injector", "istio.io/rev": "default"}},
            "webhooks": [{"name": "namespace.sidecar-injector.istio.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                "failurePolicy": "Fail", "reinvocationPolicy": "Never",
                "clientConfig": {"service": {"name": "istiod", "namespace": ns, "path": "/inject", "port": 443}, "caBundle": b64(root)},
                "namespaceSelector": {"matchExpressions": [{"key": "istio-injection", "operator": "In", "values": ["enabled"]}]},
                "objectSelector": {"matchExpressions": [{"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}]},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"], "scope": "*"}]}]}),
    ];
    for o in objects {
        store.insert(o)?;
    }
    Ok(())
}

/// The Gateway API CRDs of a bundle (nothing for [`GatewayApiBundle::None`]).
pub(crate) fn install_gateway_api(store: &mut Store, bundle: GatewayApiBundle) -> Result<(), SandboxError> {
    for crd in bundle.crds() {
        store.insert(crd.clone())?;
    }
    Ok(())
}

fn bookinfo_service(name: &str, selector: Value, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": DEMO_NAMESPACE, "labels": labels},
        "spec": {"ports": [{"port": 9080, "name": "http"}], "selector": selector}})
}

fn bookinfo_service_account(app: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": format!("bookinfo-{app}"), "namespace": DEMO_NAMESPACE, "labels": {"account": app}}})
}

fn bookinfo_deployment(app: &str, version: &str, image: &str) -> Value {
    let mut container = json!({"name": app, "image": image, "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 9080, "protocol": "TCP"}]});
    if app == "reviews" {
        container["env"] = json!([{"name": "LOG_DIR", "value": "/tmp/logs"}]);
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("{app}-{version}"), "namespace": DEMO_NAMESPACE, "labels": {"app": app, "version": version}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": app, "version": version}},
            "template": {"metadata": {"labels": {"app": app, "version": version}},
                "spec": {"serviceAccountName": format!("bookinfo-{app}"), "containers": [container]}}}})
}

pub(crate) fn root_cert_config_map(ns: &str, root: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "istio-ca-root-cert", "namespace": ns, "labels": {"istio.io/config": "true"}},
        "data": {"root-cert.pem": root}})
}

/// Set every container start time (and the pod's creation/start time) of matching pods to `at`.
pub fn backdate_pods(store: &mut Store, ns: &str, selector: &str, at: jiff::Timestamp) {
    let sel = super::select::LabelSelector::parse(selector).unwrap_or_default();
    let t = format_ts(at);
    let pods: Vec<Value> = store
        .in_namespace("", "pods", ns)
        .filter(|p| sel.matches(p))
        .cloned()
        .collect();
    for mut p in pods {
        backdate_pod(&mut p, &t);
        let name = p["metadata"]["name"].as_str().unwrap_or_default().to_string();
        store.commit("", "pods", ns, &name, p);
    }
}

/// Set a pod's creation and start times and every container's start time to `t` (a sidecar that started
/// then, as if the pod was not restarted since).
pub(crate) fn backdate_pod(p: &mut Value, t: &str) {
    p["metadata"]["creationTimestamp"] = json!(t);
    p["status"]["startTime"] = json!(t);
    for key in ["containerStatuses", "initContainerStatuses"] {
        if let Some(cs) = p["status"].get_mut(key).and_then(Value::as_array_mut) {
            for c in cs {
                if c["state"]["running"].is_object() {
                    c["state"]["running"]["startedAt"] = json!(t);
                }
                if c["state"]["terminated"].is_object() {
                    c["state"]["terminated"]["startedAt"] = json!(t);
                    c["state"]["terminated"]["finishedAt"] = json!(t);
                }
            }
        }
    }
    if let Some(cs) = p["status"]["conditions"].as_array_mut() {
        for c in cs {
            c["lastTransitionTime"] = json!(t);
        }
    }
}

/// Standard base64 (for Secret data and caBundle).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}
