# Istio's sidecar injection, done ahead of time (no injector webhook runs against the test control plane):
# turns each Deployment's pod template into what istiod's injector makes of it with default settings, as
# Istio's golden test data shows (pkg/kube/inject/testdata/inject/hello.yaml -> hello.yaml.injected, Istio
# release-1.26): the istio-init init container, the istio-proxy container, their volumes, the
# sidecar.istio.io/status annotation and the security.istio.io/tlsMode / service.istio.io/canonical-* labels;
# bare Pods likewise (pod.yaml -> pod.yaml.injected). Other objects pass through unchanged.
# Input: one object or a List; $ns: the namespace; $image: the proxyv2 image.

# A pod or pod template ({metadata, spec}); $owner: what ISTIO_META_OWNER names.
def inject_pod($ns; $image; $workload; $owner):
  .metadata.labels as $labels
  | [.spec.containers[].name] as $apps
  | [.spec.containers[] | (.ports // [])[] | {containerPort} + (if .name then {name} else {} end) + (if .protocol then {protocol} else {} end)] as $ports
  | (($labels // {}).app // $workload) as $canonical
  | (($labels // {}).version // "latest") as $revision
  | .metadata.annotations = ((.metadata.annotations // {}) + {
      "istio.io/rev": "default",
      "kubectl.kubernetes.io/default-container": $apps[0],
      "kubectl.kubernetes.io/default-logs-container": $apps[0],
      "prometheus.io/path": "/stats/prometheus",
      "prometheus.io/port": "15020",
      "prometheus.io/scrape": "true",
      "sidecar.istio.io/status": "{\"initContainers\":[\"istio-init\"],\"containers\":[\"istio-proxy\"],\"volumes\":[\"workload-socket\",\"credential-socket\",\"workload-certs\",\"istio-envoy\",\"istio-data\",\"istio-podinfo\",\"istio-token\",\"istiod-ca-cert\"],\"imagePullSecrets\":null,\"revision\":\"default\"}"
    })
  | .metadata.labels = (($labels // {}) + {
      "security.istio.io/tlsMode": "istio",
      "service.istio.io/canonical-name": $canonical,
      "service.istio.io/canonical-revision": $revision
    })
  | .spec.initContainers = ((.spec.initContainers // []) + [{
      name: "istio-init",
      image: $image,
      args: ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "",
             "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"],
      resources: {limits: {cpu: "2", memory: "1Gi"}, requests: {cpu: "100m", memory: "128Mi"}},
      securityContext: {allowPrivilegeEscalation: false, capabilities: {add: ["NET_ADMIN", "NET_RAW"], drop: ["ALL"]},
                        privileged: false, readOnlyRootFilesystem: false, runAsGroup: 0, runAsNonRoot: false, runAsUser: 0}
    }])
  | .spec.containers += [{
      name: "istio-proxy",
      image: $image,
      args: ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local", "--proxyLogLevel=warning",
             "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"],
      env: [
        {name: "PILOT_CERT_PROVIDER", value: "istiod"},
        {name: "CA_ADDR", value: "istiod.istio-system.svc:15012"},
        {name: "POD_NAME", valueFrom: {fieldRef: {fieldPath: "metadata.name"}}},
        {name: "POD_NAMESPACE", valueFrom: {fieldRef: {fieldPath: "metadata.namespace"}}},
        {name: "INSTANCE_IP", valueFrom: {fieldRef: {fieldPath: "status.podIP"}}},
        {name: "SERVICE_ACCOUNT", valueFrom: {fieldRef: {fieldPath: "spec.serviceAccountName"}}},
        {name: "HOST_IP", valueFrom: {fieldRef: {fieldPath: "status.hostIP"}}},
        {name: "ISTIO_CPU_LIMIT", valueFrom: {resourceFieldRef: {divisor: "0", resource: "limits.cpu"}}},
        {name: "PROXY_CONFIG", value: "{}\n"},
        {name: "ISTIO_META_POD_PORTS", value: ($ports | tojson)},
        {name: "ISTIO_META_APP_CONTAINERS", value: ($apps | join(","))},
        {name: "GOMEMLIMIT", valueFrom: {resourceFieldRef: {divisor: "0", resource: "limits.memory"}}},
        {name: "GOMAXPROCS", valueFrom: {resourceFieldRef: {divisor: "0", resource: "limits.cpu"}}},
        {name: "ISTIO_META_CLUSTER_ID", value: "Kubernetes"},
        {name: "ISTIO_META_NODE_NAME", valueFrom: {fieldRef: {fieldPath: "spec.nodeName"}}},
        {name: "ISTIO_META_INTERCEPTION_MODE", value: "REDIRECT"},
        {name: "ISTIO_META_WORKLOAD_NAME", value: $workload},
        {name: "ISTIO_META_OWNER", value: $owner},
        {name: "ISTIO_META_MESH_ID", value: "cluster.local"},
        {name: "TRUST_DOMAIN", value: "cluster.local"}
      ],
      ports: [{containerPort: 15090, name: "http-envoy-prom", protocol: "TCP"}],
      readinessProbe: {failureThreshold: 4, httpGet: {path: "/healthz/ready", port: 15021}, periodSeconds: 15, timeoutSeconds: 3},
      resources: {limits: {cpu: "2", memory: "1Gi"}, requests: {cpu: "100m", memory: "128Mi"}},
      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: ["ALL"]}, privileged: false,
                        readOnlyRootFilesystem: true, runAsGroup: 1337, runAsNonRoot: true, runAsUser: 1337},
      startupProbe: {failureThreshold: 600, httpGet: {path: "/healthz/ready", port: 15021}, periodSeconds: 1, timeoutSeconds: 3},
      volumeMounts: [
        {mountPath: "/var/run/secrets/workload-spiffe-uds", name: "workload-socket"},
        {mountPath: "/var/run/secrets/credential-uds", name: "credential-socket"},
        {mountPath: "/var/run/secrets/workload-spiffe-credentials", name: "workload-certs"},
        {mountPath: "/var/run/secrets/istio", name: "istiod-ca-cert"},
        {mountPath: "/var/lib/istio/data", name: "istio-data"},
        {mountPath: "/etc/istio/proxy", name: "istio-envoy"},
        {mountPath: "/var/run/secrets/tokens", name: "istio-token"},
        {mountPath: "/etc/istio/pod", name: "istio-podinfo"}
      ]
    }]
  | .spec.volumes = ((.spec.volumes // []) + [
      {name: "workload-socket", emptyDir: {}},
      {name: "credential-socket", emptyDir: {}},
      {name: "workload-certs", emptyDir: {}},
      {name: "istio-envoy", emptyDir: {medium: "Memory"}},
      {name: "istio-data", emptyDir: {}},
      {name: "istio-podinfo", downwardAPI: {items: [
        {fieldRef: {fieldPath: "metadata.labels"}, path: "labels"},
        {fieldRef: {fieldPath: "metadata.annotations"}, path: "annotations"}]}},
      {name: "istio-token", projected: {sources: [{serviceAccountToken: {audience: "istio-ca", expirationSeconds: 43200, path: "istio-token"}}]}},
      {name: "istiod-ca-cert", configMap: {name: "istio-ca-root-cert"}}
    ])
  ;

def injected($ns; $image):
  if .kind == "Deployment" then
    .metadata.name as $w
    | .spec.template |= inject_pod($ns; $image; $w; "kubernetes://apis/apps/v1/namespaces/\($ns)/deployments/\($w)")
  elif .kind == "Pod" then
    .metadata.name as $w
    | inject_pod($ns; $image; $w; "kubernetes://apis/v1/namespaces/\($ns)/pods/\($w)")
  else . end;

if .kind == "List" then .items |= map(injected($ns; $image)) else injected($ns; $image) end
