//! A minimal, deterministic kube-controller-manager + kubelet + Istio injector for the sandbox: after each
//! stored write the namespace is reconciled synchronously, so a Deployment written by a test (or by
//! `kubectl rollout restart`) has its ReplicaSet, running Pods, EndpointSlices and status right away, the
//! way `recover`, `status` and `doctor` will see them on a cluster once the rollout is done.

use serde_json::{json, Value};

use super::lifecycle::{delete_pod, terminating};
use super::select::LabelSelector;
use super::store::{fnv, pod_ready, safe_suffix, Store};

/// Reconcile one namespace (or, for a cluster-scoped write, the namespace named `ns` if it exists).
pub fn reconcile(store: &mut Store, ns: &str) {
    if store.defer_controllers {
        return;
    }
    if store.raw("", "namespaces", "", ns).is_none() {
        return;
    }
    for _ in 0..6 {
        let before = store.resource_version();
        deployments(store, ns);
        replicasets(store, ns);
        statefulsets(store, ns);
        daemonsets(store, ns);
        kubelet(store, ns);
        endpoint_slices(store, ns);
        workload_status(store, ns);
        super::disruption::sync(store, ns);
        if store.resource_version() == before {
            break;
        }
    }
    super::lifecycle::namespace_controller(store, ns);
}

fn name_of(o: &Value) -> String {
    o["metadata"]["name"].as_str().unwrap_or_default().to_string()
}

fn uid_of(o: &Value) -> String {
    o["metadata"]["uid"].as_str().unwrap_or_default().to_string()
}

fn owned_by<'a>(o: &'a Value, uid: &'a str) -> bool {
    o["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
}

fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
    })
}

fn list(store: &Store, group: &str, plural: &str, ns: &str) -> Vec<Value> {
    store.in_namespace(group, plural, ns).cloned().collect()
}

fn replicas(o: &Value) -> i64 {
    o["spec"]["replicas"].as_i64().unwrap_or(1).max(0)
}

/// The pod-template-hash of a template (10 safe characters, like Kubernetes).
pub fn template_hash(template: &Value) -> String {
    let mut t = template.clone();
    if let Some(l) = t["metadata"]["labels"].as_object_mut() {
        l.shift_remove("pod-template-hash");
    }
    safe_suffix(fnv(t.to_string().as_bytes()), 10)
}

fn deployments(store: &mut Store, ns: &str) {
    let Some(rs_type) = store.builtin_type("apps", "replicasets") else {
        return;
    };
    let all_rs = list(store, "apps", "replicasets", ns);
    for d in list(store, "apps", "deployments", ns) {
        let uid = uid_of(&d);
        let dname = name_of(&d);
        let hash = template_hash(&d["spec"]["template"]);
        let rs_name = format!("{dname}-{hash}");
        let owned: Vec<&Value> = all_rs.iter().filter(|r| owned_by(r, &uid)).collect();
        let paused = d["spec"]["paused"].as_bool() == Some(true);
        let want = replicas(&d);
        let current = owned.iter().find(|r| name_of(r) == rs_name);
        let revision = owned
            .iter()
            .filter_map(|r| {
                r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()?
                    .parse::<i64>()
                    .ok()
            })
            .max()
            .unwrap_or(0);
        if paused && current.is_none() && !owned.is_empty() {
            continue;
        }
        match current {
            None => {
                let mut template = d["spec"]["template"].clone();
                template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
                let mut selector = d["spec"]["selector"].clone();
                if !selector.is_object() {
                    selector = json!({"matchLabels": {}});
                }
                selector["matchLabels"]["pod-template-hash"] = json!(hash);
                let mut labels = template["metadata"]["labels"].clone();
                labels["pod-template-hash"] = json!(hash);
                let rs = json!({
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {"name": rs_name, "namespace": ns, "labels": labels,
                        "annotations": {"deployment.kubernetes.io/desired-replicas": want.to_string(),
                            "deployment.kubernetes.io/max-replicas": (want + 1).to_string(),
                            "deployment.kubernetes.io/revision": (revision + 1).to_string()},
                        "ownerReferences": [owner_ref(&d)]},
                    "spec": {"replicas": want, "selector": selector, "template": template},
                });
                let _ = store.create_internal(&rs_type, ns, rs);
            }
            Some(rs) if replicas(rs) != want => {
                let mut rs = (*rs).clone();
                rs["spec"]["replicas"] = json!(want);
                rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] = json!(want.to_string());
                let n = name_of(&rs);
                store.commit("apps", "replicasets", ns, &n, rs);
            }
            Some(_) => {}
        }
        if paused {
            continue;
        }
        for old in owned.iter().filter(|r| name_of(r) != rs_name && replicas(r) != 0) {
            let mut old = (*old).clone();
            old["spec"]["replicas"] = json!(0);
            let n = name_of(&old);
            store.commit("apps", "replicasets", ns, &n, old);
        }
    }
}

fn pod_from_template(template: &Value, name: &str, ns: &str, owner: &Value) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
    });
    pod["metadata"]["ownerReferences"] = Value::Array(vec![owner_ref(owner)]);
    pod["spec"] = template["spec"].clone();
    for k in ["labels", "annotations"] {
        if let Some(m) = template["metadata"].get(k) {
            pod["metadata"][k] = m.clone();
        }
    }
    pod
}

/// One pod as the workload controllers see it.
struct OwnedPod {
    owner: String,
    name: String,
    ready: bool,
    /// Being deleted: not an active replica any more (ReplicaSets count it in `terminatingReplicas`).
    terminating: bool,
}

/// Every pod of a namespace with its owner uids, without cloning pods.
fn pod_owners(store: &Store, ns: &str) -> Vec<OwnedPod> {
    store
        .in_namespace("", "pods", ns)
        .flat_map(|p| {
            let name = name_of(p);
            let ready = pod_ready(p);
            let terminating = terminating(p);
            p["metadata"]["ownerReferences"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|r| r["uid"].as_str())
                .map(move |uid| OwnedPod {
                    owner: uid.to_string(),
                    name: name.clone(),
                    ready,
                    terminating,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The active (not terminating) pods an owner has: (name, ready).
fn owned_pods(owners: &[OwnedPod], uid: &str) -> Vec<(String, bool)> {
    owners
        .iter()
        .filter(|p| p.owner == uid && !p.terminating)
        .map(|p| (p.name.clone(), p.ready))
        .collect()
}

/// How many of an owner's pods are terminating.
fn terminating_pods(owners: &[OwnedPod], uid: &str) -> usize {
    owners.iter().filter(|p| p.owner == uid && p.terminating).count()
}

fn replicasets(store: &mut Store, ns: &str) {
    let Some(pod_type) = store.builtin_type("", "pods") else {
        return;
    };
    let owners = pod_owners(store, ns);
    for rs in list(store, "apps", "replicasets", ns) {
        let uid = uid_of(&rs);
        let rs_name = name_of(&rs);
        let mut mine: Vec<String> = owned_pods(&owners, &uid).into_iter().map(|(n, _)| n).collect();
        let want = replicas(&rs) as usize;
        if mine.len() < want {
            for _ in mine.len()..want {
                let mut name;
                loop {
                    let seq = store.next_seq();
                    name = format!(
                        "{rs_name}-{}",
                        safe_suffix(fnv(format!("{rs_name}/{seq}").as_bytes()), 5)
                    );
                    if store.raw("", "pods", ns, &name).is_none() {
                        break;
                    }
                }
                let pod = pod_from_template(&rs["spec"]["template"], &name, ns, &rs);
                let _ = store.create_internal(&pod_type, ns, pod);
            }
        } else if mine.len() > want {
            mine.sort_by(|a, b| b.cmp(a));
            let n_extra = mine.len() - want;
            for n in mine.into_iter().take(n_extra) {
                delete_pod(store, ns, &n, None);
            }
        }
    }
}

fn statefulsets(store: &mut Store, ns: &str) {
    let Some(pod_type) = store.builtin_type("", "pods") else {
        return;
    };
    for sts in list(store, "apps", "statefulsets", ns) {
        let uid = uid_of(&sts);
        let sname = name_of(&sts);
        let rev = format!("{sname}-{}", template_hash(&sts["spec"]["template"]));
        let want = replicas(&sts);
        for i in 0..want.max(0) {
            let pname = format!("{sname}-{i}");
            let existing = store.raw("", "pods", ns, &pname).cloned();
            if existing.as_ref().is_some_and(terminating) {
                continue; // recreated under the same name once it is gone
            }
            let stale = existing
                .as_ref()
                .is_some_and(|p| p["metadata"]["labels"]["controller-revision-hash"].as_str() != Some(rev.as_str()));
            if stale {
                delete_pod(store, ns, &pname, None);
                if store.raw("", "pods", ns, &pname).is_some() {
                    continue;
                }
            }
            if existing.is_none() || stale {
                let mut pod = pod_from_template(&sts["spec"]["template"], &pname, ns, &sts);
                pod["metadata"]["labels"]["controller-revision-hash"] = json!(rev);
                pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] = json!(pname);
                let _ = store.create_internal(&pod_type, ns, pod);
            }
        }
        let extra: Vec<String> = store
            .in_namespace("", "pods", ns)
            .filter(|p| owned_by(p, &uid) && !terminating(p))
            .filter(|p| {
                name_of(p)
                    .rsplit('-')
                    .next()
                    .and_then(|i| i.parse::<i64>().ok())
                    .is_none_or(|i| i >= want)
            })
            .map(name_of)
            .collect();
        for n in extra {
            delete_pod(store, ns, &n, None);
        }
    }
}

fn daemonsets(store: &mut Store, ns: &str) {
    let Some(pod_type) = store.builtin_type("", "pods") else {
        return;
    };
    for ds in list(store, "apps", "daemonsets", ns) {
        let uid = uid_of(&ds);
        let dname = name_of(&ds);
        let hash = template_hash(&ds["spec"]["template"]);
        let mine: Vec<Value> = store
            .in_namespace("", "pods", ns)
            .filter(|p| owned_by(p, &uid) && !terminating(p))
            .cloned()
            .collect();
        let mut current = false;
        for p in &mine {
            if p["metadata"]["labels"]["controller-revision-hash"].as_str() == Some(hash.as_str()) && !current {
                current = true;
            } else {
                delete_pod(store, ns, &name_of(p), None);
            }
        }
        if !current {
            let seq = store.next_seq();
            let pname = format!("{dname}-{}", safe_suffix(fnv(format!("{dname}/{seq}").as_bytes()), 5));
            let mut pod = pod_from_template(&ds["spec"]["template"], &pname, ns, &ds);
            pod["metadata"]["labels"]["controller-revision-hash"] = json!(hash);
            let _ = store.create_internal(&pod_type, ns, pod);
        }
    }
}

/// Istio sidecar injection at pod admission: what istiod's webhook adds to a pod created in an injected
/// namespace (see istio's `inject/testdata/*.injected`).
pub fn inject_sidecar(store: &Store, ns: &str, pod: &mut Value) {
    let Some(namespace) = store.raw("", "namespaces", "", ns) else {
        return;
    };
    let ns_labels = &namespace["metadata"]["labels"];
    let enabled = ns_labels["istio-injection"] == "enabled";
    let rev_label = ns_labels["istio.io/rev"].as_str();
    if !(enabled || (rev_label.is_some() && ns_labels["istio-injection"] != "disabled")) {
        return;
    }
    if pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "false" {
        return;
    }
    let has_proxy = |key: &str| {
        pod["spec"][key]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["name"] == "istio-proxy"))
    };
    if has_proxy("containers") || has_proxy("initContainers") {
        return;
    }
    let revision = if enabled {
        "default"
    } else {
        rev_label.unwrap_or("default")
    };
    let image = format!("docker.io/istio/proxyv2:{}", store.settings.istio_version);
    let native = store.settings.native_sidecars;
    let pod_name = name_of(pod);
    let app = pod["metadata"]["labels"]["app"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| pod_name.clone());
    let version = pod["metadata"]["labels"]["version"]
        .as_str()
        .unwrap_or("latest")
        .to_string();
    let first_container = pod["spec"]["containers"][0]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let volumes = [
        "workload-socket",
        "credential-socket",
        "workload-certs",
        "istio-envoy",
        "istio-data",
        "istio-podinfo",
        "istio-token",
        "istiod-ca-cert",
    ];
    let status = json!({
        "initContainers": if native { json!(["istio-init", "istio-proxy"]) } else { json!(["istio-init"]) },
        "containers": if native { Value::Null } else { json!(["istio-proxy"]) },
        "volumes": volumes,
        "imagePullSecrets": null,
        "revision": revision,
    });
    let md = &mut pod["metadata"];
    if !md["labels"].is_object() {
        md["labels"] = json!({});
    }
    if !md["annotations"].is_object() {
        md["annotations"] = json!({});
    }
    md["labels"]["security.istio.io/tlsMode"] = json!("istio");
    md["labels"]["service.istio.io/canonical-name"] = json!(app);
    md["labels"]["service.istio.io/canonical-revision"] = json!(version);
    md["annotations"]["istio.io/rev"] = json!(revision);
    if !first_container.is_empty() {
        md["annotations"]["kubectl.kubernetes.io/default-container"] = json!(first_container);
        md["annotations"]["kubectl.kubernetes.io/default-logs-container"] = json!(first_container);
    }
    md["annotations"]["sidecar.istio.io/status"] = json!(status.to_string());
    md["annotations"]["prometheus.io/path"] = json!("/stats/prometheus");
    md["annotations"]["prometheus.io/port"] = json!("15020");
    md["annotations"]["prometheus.io/scrape"] = json!("true");
    let SidecarParts {
        init,
        mut proxy,
        volumes,
    } = sidecar_parts(&image, native);
    let app_containers = pod["spec"]["containers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let names: Vec<&str> = app_containers.iter().filter_map(|c| c["name"].as_str()).collect();
    let (workload, owner) = workload_of(pod, ns);
    let per_pod = [
        (ENV_POD_PORTS, pod_ports_env(app_containers)),
        (ENV_APP_CONTAINERS, names.join(",")),
        (ENV_WORKLOAD_NAME, workload),
        (ENV_OWNER, owner),
    ];
    for (i, value) in per_pod {
        proxy["env"][i]["value"] = Value::String(value);
    }
    let spec = &mut pod["spec"];
    if !spec["initContainers"].is_array() {
        spec["initContainers"] = json!([]);
    }
    if let Some(inits) = spec["initContainers"].as_array_mut() {
        inits.insert(0, init);
        if native {
            inits.insert(1, proxy.clone());
        }
    }
    if !native {
        if let Some(cs) = spec["containers"].as_array_mut() {
            cs.push(proxy);
        }
    }
    if !spec["volumes"].is_array() {
        spec["volumes"] = json!([]);
    }
    if let Some(vs) = spec["volumes"].as_array_mut() {
        vs.extend(volumes);
    }
}

/// Istio's CNI in ambient mode, at pod admission: a pod its default enablement selectors match (its own label
/// `istio.io/dataplane-mode: ambient`, or its namespace's unless the pod says `none`; istio-cni `values.yaml`
/// `enablementSelectors`), without a sidecar and not on the host network, is captured for ztunnel, and the CNI
/// records it with the annotation `ambient.istio.io/redirection: enabled`. Only while a ztunnel DaemonSet exists
/// (in istio-system or kube-system): without one the CNI has nowhere to send the pod's traffic.
pub fn ambient_capture(store: &Store, ns: &str, pod: &mut Value) {
    let Some(namespace) = store.raw("", "namespaces", "", ns) else {
        return;
    };
    let labels = &pod["metadata"]["labels"];
    let pod_mode = labels["istio.io/dataplane-mode"].as_str();
    let ns_mode = namespace["metadata"]["labels"]["istio.io/dataplane-mode"].as_str();
    let enrolled = pod_mode == Some("ambient") || (ns_mode == Some("ambient") && pod_mode != Some("none"));
    let sidecar = pod["metadata"]["annotations"]["sidecar.istio.io/status"].is_string();
    let host = pod["spec"]["hostNetwork"] == true;
    let ztunnel = ["istio-system", "kube-system"]
        .iter()
        .any(|n| store.raw("apps", "daemonsets", n, "ztunnel").is_some());
    if !enrolled || sidecar || host || !ztunnel {
        return;
    }
    let md = &mut pod["metadata"];
    if !md["annotations"].is_object() {
        md["annotations"] = json!({});
    }
    md["annotations"]["ambient.istio.io/redirection"] = json!("enabled");
}

/// What injection adds to every pod: the init container, the proxy container and the volumes.
#[derive(Clone)]
struct SidecarParts {
    init: Value,
    proxy: Value,
    volumes: Vec<Value>,
}

/// Positions in the proxy's `env` of the values that differ per pod (see [`sidecar_parts`]).
const ENV_POD_PORTS: usize = 9;
const ENV_APP_CONTAINERS: usize = 10;
const ENV_WORKLOAD_NAME: usize = 16;
const ENV_OWNER: usize = 17;

/// The injected parts for a proxy image, built once and cloned per pod (building them with `json!` for each
/// of 10,000 pods was a quarter of a large scenario's build time). The shape is that of istio's
/// `inject/testdata/*.injected` (about 4 KB of the ~6 KB a real injected pod has); the few per-pod values
/// (`ISTIO_META_POD_PORTS`, `ISTIO_META_APP_CONTAINERS`, `ISTIO_META_WORKLOAD_NAME`, `ISTIO_META_OWNER`) are
/// filled in by [`inject_sidecar`].
fn sidecar_parts(image: &str, native: bool) -> SidecarParts {
    static CACHE: std::sync::Mutex<Option<(String, bool, SidecarParts)>> = std::sync::Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((i, n, parts)) = cache.as_ref() {
        if i == image && *n == native {
            return parts.clone();
        }
    }
    let resources = json!({"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}});
    let init = json!({
        "name": "istio-init", "image": image,
        "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"],
        "resources": resources,
        "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
            "privileged": false, "readOnlyRootFilesystem": false, "runAsGroup": 0, "runAsNonRoot": false, "runAsUser": 0},
    });
    let field = |path: &str| json!({"fieldRef": {"fieldPath": path}});
    let resource = |r: &str| json!({"resourceFieldRef": {"divisor": "0", "resource": r}});
    let env = json!([
        {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
        {"name": "CA_ADDR", "value": "istiod.istio-system.svc:15012"},
        {"name": "POD_NAME", "valueFrom": field("metadata.name")},
        {"name": "POD_NAMESPACE", "valueFrom": field("metadata.namespace")},
        {"name": "INSTANCE_IP", "valueFrom": field("status.podIP")},
        {"name": "SERVICE_ACCOUNT", "valueFrom": field("spec.serviceAccountName")},
        {"name": "HOST_IP", "valueFrom": field("status.hostIP")},
        {"name": "ISTIO_CPU_LIMIT", "valueFrom": resource("limits.cpu")},
        {"name": "PROXY_CONFIG", "value": "{}\n"},
        {"name": "ISTIO_META_POD_PORTS", "value": "[\n]"},
        {"name": "ISTIO_META_APP_CONTAINERS", "value": ""},
        {"name": "GOMEMLIMIT", "valueFrom": resource("limits.memory")},
        {"name": "GOMAXPROCS", "valueFrom": resource("limits.cpu")},
        {"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"},
        {"name": "ISTIO_META_NODE_NAME", "valueFrom": field("spec.nodeName")},
        {"name": "ISTIO_META_INTERCEPTION_MODE", "value": "REDIRECT"},
        {"name": "ISTIO_META_WORKLOAD_NAME", "value": ""},
        {"name": "ISTIO_META_OWNER", "value": ""},
        {"name": "ISTIO_META_MESH_ID", "value": "cluster.local"},
        {"name": "TRUST_DOMAIN", "value": "cluster.local"},
    ]);
    let mounts: Vec<Value> = [
        ("/var/run/secrets/workload-spiffe-uds", "workload-socket"),
        ("/var/run/secrets/credential-uds", "credential-socket"),
        ("/var/run/secrets/workload-spiffe-credentials", "workload-certs"),
        ("/var/run/secrets/istio", "istiod-ca-cert"),
        ("/var/lib/istio/data", "istio-data"),
        ("/etc/istio/proxy", "istio-envoy"),
        ("/var/run/secrets/tokens", "istio-token"),
        ("/etc/istio/pod", "istio-podinfo"),
    ]
    .iter()
    .map(|(path, name)| json!({"mountPath": path, "name": name}))
    .collect();
    let mut proxy = json!({
        "name": "istio-proxy", "image": image,
        "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local", "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"],
        "env": env,
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "readinessProbe": {"failureThreshold": 4, "httpGet": {"path": "/healthz/ready", "port": 15021}, "periodSeconds": 15, "timeoutSeconds": 3},
        "resources": resources,
        "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "privileged": false,
            "readOnlyRootFilesystem": true, "runAsGroup": 1337, "runAsNonRoot": true, "runAsUser": 1337},
        "startupProbe": {"failureThreshold": 600, "httpGet": {"path": "/healthz/ready", "port": 15021}, "periodSeconds": 1, "timeoutSeconds": 3},
        "volumeMounts": mounts,
    });
    if native {
        proxy["restartPolicy"] = json!("Always");
    }
    let mut volumes = vec![
        json!({"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}}),
        json!({"name": "istio-token", "projected": {"sources": [{"serviceAccountToken": {"audience": "istio-ca", "expirationSeconds": 43200, "path": "istio-token"}}]}}),
    ];
    for v in ["workload-socket", "credential-socket", "workload-certs", "istio-data"] {
        volumes.push(json!({"name": v, "emptyDir": {}}));
    }
    volumes.push(json!({"name": "istio-envoy", "emptyDir": {"medium": "Memory"}}));
    volumes.push(json!({"name": "istio-podinfo", "downwardAPI": {"items": [
        {"fieldRef": {"fieldPath": "metadata.labels"}, "path": "labels"},
        {"fieldRef": {"fieldPath": "metadata.annotations"}, "path": "annotations"}]}}));
    let parts = SidecarParts { init, proxy, volumes };
    *cache = Some((image.to_string(), native, parts.clone()));
    parts
}

/// The workload a pod belongs to, as istio's injector names it: (name, `ISTIO_META_OWNER`).
fn workload_of(pod: &Value, ns: &str) -> (String, String) {
    let pod_name = name_of(pod);
    let owner = &pod["metadata"]["ownerReferences"][0];
    let (Some(kind), Some(owner_name)) = (owner["kind"].as_str(), owner["name"].as_str()) else {
        return (
            pod_name.clone(),
            format!("kubernetes://apis/v1/namespaces/{ns}/pods/{pod_name}"),
        );
    };
    let hash = pod["metadata"]["labels"]["pod-template-hash"].as_str();
    match (kind, hash.and_then(|h| owner_name.strip_suffix(h)?.strip_suffix('-'))) {
        ("ReplicaSet", Some(deployment)) => (
            deployment.to_string(),
            format!("kubernetes://apis/apps/v1/namespaces/{ns}/deployments/{deployment}"),
        ),
        _ => {
            let api = owner["apiVersion"].as_str().unwrap_or("v1");
            let plural = format!("{}s", kind.to_ascii_lowercase());
            let api_path = if api.contains('/') {
                format!("apis/{api}")
            } else {
                format!("api/{api}")
            };
            (
                owner_name.to_string(),
                format!("kubernetes://{api_path}/namespaces/{ns}/{plural}/{owner_name}"),
            )
        }
    }
}

/// `ISTIO_META_POD_PORTS` as istio writes it: the app containers' ports, one JSON object a line.
fn pod_ports_env(containers: &[Value]) -> String {
    let ports: Vec<String> = containers
        .iter()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .map(|p| {
            let mut o = serde_json::Map::new();
            for k in ["name", "containerPort", "protocol"] {
                if let Some(v) = p.get(k) {
                    o.insert(k.to_string(), v.clone());
                }
            }
            format!("    {}", Value::Object(o))
        })
        .collect();
    if ports.is_empty() {
        "[\n]".to_string()
    } else {
        format!("[\n{}\n]", ports.join(",\n"))
    }
}

fn container_status(c: &Value, started_at: &str, ready: bool, idx: u64) -> Value {
    json!({
        "name": c["name"], "image": c["image"],
        "imageID": format!("{}@sha256:{:016x}", c["image"].as_str().unwrap_or_default(), fnv(c["image"].to_string().as_bytes())),
        "containerID": format!("containerd://{:016x}{:016x}", fnv(format!("{started_at}{idx}").as_bytes()), idx),
        "ready": ready, "started": true, "restartCount": 0,
        "state": {"running": {"startedAt": started_at}},
    })
}

/// The kubelet: schedule pending pods on the sandbox node and start their containers.
fn kubelet(store: &mut Store, ns: &str) {
    let pending: Vec<Value> = store
        .in_namespace("", "pods", ns)
        .filter(|p| p["status"]["phase"] == "Pending" && p["status"]["containerStatuses"].is_null())
        .cloned()
        .collect();
    for mut p in pending {
        start_pod(store, &mut p);
        let n = name_of(&p);
        store.commit("", "pods", ns, &n, p);
    }
}

/// What the kubelet does to one pod: put it on the sandbox node and start its containers now (ready at once
/// unless [`super::store::StoreSettings::ready_delay_ms`] is set).
pub(crate) fn start_pod(store: &mut Store, p: &mut Value) {
    let now = store.now_str();
    let seq = store.next_seq();
    let ip = format!("10.244.{}.{}", (seq / 250) % 250, seq % 250 + 2);
    let ready = store.settings.ready_delay_ms == 0;
    let t = if ready { "True" } else { "False" };
    if p["spec"]["nodeName"].is_null() {
        p["spec"]["nodeName"] = json!("sandbox-node");
    }
    let no_containers = Vec::new();
    let mut inits = Vec::new();
    for (i, c) in p["spec"]["initContainers"]
        .as_array()
        .unwrap_or(&no_containers)
        .iter()
        .enumerate()
    {
        if c["restartPolicy"] == "Always" {
            inits.push(container_status(c, &now, ready, seq * 100 + i as u64));
        } else {
            inits.push(
                json!({"name": c["name"], "image": c["image"], "ready": true, "restartCount": 0, "started": false,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}}),
            );
        }
    }
    let app_containers = p["spec"]["containers"].as_array().unwrap_or(&no_containers);
    let containers: Vec<Value> = app_containers
        .iter()
        .enumerate()
        .map(|(i, c)| container_status(c, &now, ready, seq * 100 + 50 + i as u64))
        .collect();
    let sized = |c: &Value| c["resources"].as_object().is_some_and(|r| !r.is_empty());
    let qos = if app_containers.iter().any(sized) {
        "Burstable"
    } else {
        "BestEffort"
    };
    p["status"] = json!({
        "phase": "Running",
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", "status": t, "lastTransitionTime": now},
            {"type": "ContainersReady", "status": t, "lastTransitionTime": now},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        ],
        "hostIP": "172.18.0.2", "hostIPs": [{"ip": "172.18.0.2"}],
        "podIP": ip, "podIPs": [{"ip": ip}],
        "startTime": now, "qosClass": qos,
    });
    p["status"]["containerStatuses"] = Value::Array(containers);
    if !inits.is_empty() {
        p["status"]["initContainerStatuses"] = Value::Array(inits);
    }
}

/// Mark not-ready pods ready (the rollout-delay knob's background tick). Returns whether anything changed.
pub fn mark_pods_ready(store: &mut Store, older_than: jiff::Timestamp) -> bool {
    let namespaces: Vec<String> = store.all("", "namespaces").map(name_of).collect();
    let mut changed = false;
    for ns in namespaces {
        let todo: Vec<Value> = store
            .in_namespace("", "pods", &ns)
            .filter(|p| p["status"]["phase"] == "Running" && !pod_ready(p))
            .filter(|p| {
                p["status"]["startTime"]
                    .as_str()
                    .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                    .is_some_and(|t| t <= older_than)
            })
            .cloned()
            .collect();
        for mut p in todo {
            if let Some(cs) = p["status"]["conditions"].as_array_mut() {
                for c in cs
                    .iter_mut()
                    .filter(|c| c["type"] == "Ready" || c["type"] == "ContainersReady")
                {
                    c["status"] = json!("True");
                }
            }
            // `get_mut`, not indexing: `p["status"][key]` would store `"initContainerStatuses": null` in pods
            // without init containers, which a real API server omits.
            for key in ["containerStatuses", "initContainerStatuses"] {
                if let Some(cs) = p["status"].get_mut(key).and_then(Value::as_array_mut) {
                    for c in cs.iter_mut().filter(|c| c["state"]["running"].is_object()) {
                        c["ready"] = json!(true);
                    }
                }
            }
            let n = name_of(&p);
            store.commit("", "pods", &ns, &n, p);
            changed = true;
        }
        if changed {
            reconcile(store, &ns);
        }
    }
    changed
}

fn endpoint_slices(store: &mut Store, ns: &str) {
    let Some(slice_type) = store.builtin_type("discovery.k8s.io", "endpointslices") else {
        return;
    };
    let Some(ep_type) = store.builtin_type("", "endpoints") else {
        return;
    };
    for svc in list(store, "", "services", ns) {
        let sel = &svc["spec"]["selector"];
        if sel.as_object().is_none_or(|m| m.is_empty()) {
            continue;
        }
        let sel = LabelSelector::from_object(sel);
        let sname = name_of(&svc);
        // By reference: a Service selecting 50 pods of 6 KB must not copy them.
        let matching: Vec<&Value> = store
            .in_namespace("", "pods", ns)
            .filter(|p| sel.matches(p) && p["status"]["podIP"].is_string())
            .collect();
        let ports: Vec<Value> = svc["spec"]["ports"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let port = p["targetPort"].as_i64().or_else(|| p["port"].as_i64()).unwrap_or(0);
                let mut out = json!({"port": port, "protocol": p["protocol"].as_str().unwrap_or("TCP")});
                if let Some(n) = p["name"].as_str() {
                    out["name"] = json!(n);
                }
                out
            })
            .collect();
        let slice_name = format!("{sname}-{}", safe_suffix(fnv(sname.as_bytes()), 5));
        // Unchanged (every pass after the first): no JSON to build, nothing to copy.
        let slice_current = store
            .raw("discovery.k8s.io", "endpointslices", ns, &slice_name)
            .is_some_and(|s| slice_lists(s, &matching, &ports));
        // Endpoints (v1) leave terminating pods out.
        let subset_pods: Vec<&Value> = matching.iter().filter(|p| !terminating(p)).copied().collect();
        let endpoints_current = store
            .raw("", "endpoints", ns, &sname)
            .is_some_and(|e| endpoints_list(e, &subset_pods, &ports));
        if slice_current && endpoints_current {
            continue;
        }
        let endpoints: Vec<Value> = matching
            .iter()
            .map(|p| {
                // A terminating pod stays listed, not ready, serving while its Ready condition holds.
                let serving = pod_ready(p);
                let gone = terminating(p);
                let ready = serving && !gone;
                json!({"addresses": [p["status"]["podIP"]], "conditions": {"ready": ready, "serving": serving, "terminating": gone},
                    "nodeName": p["spec"]["nodeName"],
                    "targetRef": {"kind": "Pod", "name": p["metadata"]["name"], "namespace": ns, "uid": p["metadata"]["uid"]}})
            })
            .collect();
        let addr = |p: &&Value| {
            json!({"ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"],
                "targetRef": {"kind": "Pod", "name": p["metadata"]["name"], "namespace": ns, "uid": p["metadata"]["uid"]}})
        };
        let ready: Vec<Value> = subset_pods.iter().filter(|p| pod_ready(p)).map(addr).collect();
        let not_ready: Vec<Value> = subset_pods.iter().filter(|p| !pod_ready(p)).map(addr).collect();
        let mut subset = json!({"ports": ports});
        if !ready.is_empty() {
            subset["addresses"] = json!(ready);
        }
        if !not_ready.is_empty() {
            subset["notReadyAddresses"] = json!(not_ready);
        }
        let subsets = if subset_pods.is_empty() {
            json!([])
        } else {
            json!([subset])
        };
        let desired_labels = json!({"kubernetes.io/service-name": sname, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"});
        match store
            .raw("discovery.k8s.io", "endpointslices", ns, &slice_name)
            .cloned()
        {
            Some(mut s) => {
                s["endpoints"] = Value::Array(endpoints);
                s["ports"] = json!(ports);
                store.commit("discovery.k8s.io", "endpointslices", ns, &slice_name, s);
            }
            None => {
                let s = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": slice_name, "namespace": ns, "labels": desired_labels,
                        "ownerReferences": [owner_ref(&svc)]},
                    "addressType": "IPv4", "endpoints": endpoints, "ports": ports});
                let _ = store.create_internal(&slice_type, ns, s);
            }
        }
        match store.raw("", "endpoints", ns, &sname).cloned() {
            Some(mut e) => {
                e["subsets"] = subsets;
                store.commit("", "endpoints", ns, &sname, e);
            }
            None => {
                let e = json!({"apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": sname, "namespace": ns, "labels": svc["metadata"]["labels"].clone(),
                        "ownerReferences": [owner_ref(&svc)]},
                    "subsets": subsets});
                let _ = store.create_internal(&ep_type, ns, e);
            }
        }
    }
}

/// Whether an address entry (of an EndpointSlice endpoint or an Endpoints subset) is this pod's.
fn address_of(target: &Value, ip: &Value, pod: &Value) -> bool {
    target["uid"] == pod["metadata"]["uid"]
        && *ip == pod["status"]["podIP"]
        && target["name"] == pod["metadata"]["name"]
}

/// Whether an EndpointSlice already lists exactly these pods, with their readiness, and these ports.
fn slice_lists(slice: &Value, pods: &[&Value], ports: &[Value]) -> bool {
    let Some(eps) = slice["endpoints"].as_array() else {
        return false;
    };
    slice["ports"].as_array().map(Vec::as_slice) == Some(ports)
        && eps.len() == pods.len()
        && eps.iter().zip(pods).all(|(e, p)| {
            address_of(&e["targetRef"], &e["addresses"][0], p)
                && e["conditions"]["ready"].as_bool() == Some(pod_ready(p) && !terminating(p))
                && e["conditions"]["terminating"].as_bool() == Some(terminating(p))
                && e["nodeName"] == p["spec"]["nodeName"]
        })
}

/// Whether an Endpoints object already lists exactly these pods (ready and not ready) and these ports.
fn endpoints_list(e: &Value, pods: &[&Value], ports: &[Value]) -> bool {
    let Some(subsets) = e["subsets"].as_array() else {
        return false;
    };
    if pods.is_empty() {
        return subsets.is_empty();
    }
    let [subset] = subsets.as_slice() else {
        return false;
    };
    let same = |key: &str, ready: bool| {
        let want: Vec<&&Value> = pods.iter().filter(|p| pod_ready(p) == ready).collect();
        let have = subset[key].as_array().map(Vec::as_slice).unwrap_or_default();
        have.len() == want.len()
            && have
                .iter()
                .zip(want)
                .all(|(a, p)| address_of(&a["targetRef"], &a["ip"], p) && a["nodeName"] == p["spec"]["nodeName"])
    };
    subset["ports"].as_array().map(Vec::as_slice) == Some(ports)
        && same("addresses", true)
        && same("notReadyAddresses", false)
}

fn condition(old: &Value, kind: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    let prev = old["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind).cloned());
    let (transition, update) = match &prev {
        Some(p) if p["status"] == status && p["reason"] == reason => {
            (p["lastTransitionTime"].clone(), p["lastUpdateTime"].clone())
        }
        Some(p) if p["status"] == status => (p["lastTransitionTime"].clone(), json!(now)),
        _ => (json!(now), json!(now)),
    };
    json!({"type": kind, "status": status, "lastUpdateTime": update, "lastTransitionTime": transition, "reason": reason, "message": message})
}

fn workload_status(store: &mut Store, ns: &str) {
    let owners = pod_owners(store, ns);
    let all_rs = list(store, "apps", "replicasets", ns);
    let now = store.now_str();
    // ReplicaSets.
    for rs in &all_rs {
        let uid = uid_of(rs);
        let mine = owned_pods(&owners, &uid);
        let ready = mine.iter().filter(|(_, r)| *r).count();
        let mut new = rs.clone();
        new["status"] = json!({"replicas": mine.len(), "fullyLabeledReplicas": mine.len(), "readyReplicas": ready,
            "availableReplicas": ready, "observedGeneration": rs["metadata"]["generation"],
            "terminatingReplicas": terminating_pods(&owners, &uid)});
        let n = name_of(rs);
        store.commit("apps", "replicasets", ns, &n, new);
    }
    // Deployments.
    for d in list(store, "apps", "deployments", ns) {
        let uid = uid_of(&d);
        let dname = name_of(&d);
        let want = replicas(&d);
        let new_rs = format!("{dname}-{}", template_hash(&d["spec"]["template"]));
        let owned: Vec<&Value> = all_rs.iter().filter(|r| owned_by(r, &uid)).collect();
        let mut total = 0i64;
        let mut updated = 0i64;
        let mut ready = 0i64;
        let mut terminating_total = 0usize;
        for rs in &owned {
            let ruid = uid_of(rs);
            terminating_total += terminating_pods(&owners, &ruid);
            for (_, pod_is_ready) in owned_pods(&owners, &ruid) {
                total += 1;
                if pod_is_ready {
                    ready += 1;
                }
                if name_of(rs) == new_rs {
                    updated += 1;
                }
            }
        }
        let paused = d["spec"]["paused"].as_bool() == Some(true);
        let available = if ready >= want { "True" } else { "False" };
        let (avail_reason, avail_msg) = if available == "True" {
            ("MinimumReplicasAvailable", "Deployment has minimum availability.")
        } else {
            (
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        };
        let progressing = if paused {
            condition(
                &d,
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused",
                &now,
            )
        } else if updated == want && total == want && ready == want {
            condition(
                &d,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{new_rs}\" has successfully progressed."),
                &now,
            )
        } else {
            condition(
                &d,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                &format!("ReplicaSet \"{new_rs}\" is progressing."),
                &now,
            )
        };
        let mut status = json!({
            "observedGeneration": d["metadata"]["generation"],
            "replicas": total, "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": ready,
            "terminatingReplicas": terminating_total,
            "conditions": [condition(&d, "Available", available, avail_reason, avail_msg, &now), progressing],
        });
        if total - ready > 0 {
            status["unavailableReplicas"] = json!(total - ready);
        }
        let mut new = d.clone();
        new["status"] = status;
        store.commit("apps", "deployments", ns, &dname, new);
    }
    // StatefulSets and DaemonSets.
    for (plural, is_ds) in [("statefulsets", false), ("daemonsets", true)] {
        for w in list(store, "apps", plural, ns) {
            let uid = uid_of(&w);
            let mine = owned_pods(&owners, &uid);
            let ready = mine.iter().filter(|(_, r)| *r).count();
            let mut new = w.clone();
            new["status"] = if is_ds {
                json!({"currentNumberScheduled": mine.len(), "desiredNumberScheduled": 1, "numberAvailable": ready,
                    "numberMisscheduled": 0, "numberReady": ready, "updatedNumberScheduled": mine.len(), "observedGeneration": w["metadata"]["generation"]})
            } else {
                let rev = format!("{}-{}", name_of(&w), template_hash(&w["spec"]["template"]));
                json!({"replicas": mine.len(), "readyReplicas": ready, "currentReplicas": mine.len(), "updatedReplicas": mine.len(),
                    "availableReplicas": ready, "currentRevision": rev, "updateRevision": rev, "observedGeneration": w["metadata"]["generation"]})
            };
            let n = name_of(&w);
            store.commit("apps", plural, ns, &n, new);
        }
    }
}
