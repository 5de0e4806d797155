#!/usr/bin/env bash
# Installs the users' guide state (shared/guides/istio-gateway-api-on-k3d.md) on the cluster of $KUBECONFIG,
# from the upstream files in ../shared/fixtures (SOURCES.md there says where each comes from):
#   - Gateway API standard CRDs: v1.0.0 (fixtures/gateway-api) or v1.6.1 (fixtures/gateway-api/latest, with its
#     ValidatingAdmissionPolicy);
#   - istio-system as a helm install of istiod leaves it: an istiod Deployment (docker.io/istio/pilot), its
#     Service, the self-signed CA Secret istio-ca-secret, and the ConfigMap istio-ca-root-cert in every namespace
#     istiod writes it to; Istio's PeerAuthentication CRD (minimal schema). No Istio control plane runs: istiod's
#     pod is made Ready by kwok, nobody injects, nobody programs Gateways;
#   - Bookinfo in istio-demo (labelled istio-injection=enabled) with the istio-proxy sidecar injected ahead of
#     time (inject.jq), bookinfo-versions.yaml and route-reviews-v1.yaml.
#
#   install-state.sh [--gateway-api v1.0.0|v1.6.1] [--pki DIR]
#       --pki: where the Istio root CA key and certificate are written (istio-root-key.pem, istio-root-cert.pem)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
gateway_api=v1.0.0 pki=""
while [ $# -gt 0 ]; do
  case "$1" in
    --gateway-api) gateway_api="$2"; shift 2 ;;
    --pki) pki="$2"; shift 2 ;;
    *) sed -n '2,17p' "$0" >&2; exit 2 ;;
  esac
done
: "${KUBECONFIG:?KUBECONFIG must point at the cluster}"
fixtures="${MESH_SHARED_FIXTURES:-$here/../../../shared/fixtures}"
[ -d "$fixtures" ] || { echo "error: shared fixtures not found at $fixtures (set MESH_SHARED_FIXTURES)" >&2; exit 1; }
[ -n "$pki" ] || pki="$(mktemp -d)"
ISTIO_VERSION=1.26.2
PROXY_IMAGE="docker.io/istio/proxyv2:$ISTIO_VERSION"

# 1. Gateway API CRDs. Server-side apply: the v1.6.1 HTTPRoute CRD is bigger than client-side apply's
#    last-applied annotation may be.
case "$gateway_api" in
  v1.0.0) crds=("$fixtures"/gateway-api/gateway.networking.k8s.io_*.yaml) ;;
  v1.6.1) crds=("$fixtures"/gateway-api/latest/gateway.networking.k8s.io_*.yaml) ;;
  *) echo "error: unknown Gateway API version $gateway_api" >&2; exit 2 ;;
esac
for f in "${crds[@]}"; do kubectl apply --server-side --field-manager=install-state -f "$f" >/dev/null; done
kubectl wait --for=condition=Established crd -l gateway.networking.k8s.io/bundle-version --timeout=60s >/dev/null 2>&1 \
  || kubectl wait --for=condition=Established crd/httproutes.gateway.networking.k8s.io crd/gateways.gateway.networking.k8s.io --timeout=60s >/dev/null

# Istio's PeerAuthentication CRD (doctor lists it). The schema is left open: no Istio validation runs here.
kubectl apply --server-side --field-manager=install-state -f - >/dev/null <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: peerauthentications.security.istio.io
  labels: {app: istio-pilot, chart: istio, heritage: Tiller, istio: security, release: istio}
spec:
  group: security.istio.io
  names: {kind: PeerAuthentication, listKind: PeerAuthenticationList, plural: peerauthentications, singular: peerauthentication, shortNames: [pa], categories: [istio-io, security-istio-io]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
  - name: v1beta1
    served: true
    storage: false
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
EOF
kubectl wait --for=condition=Established crd/peerauthentications.security.istio.io --timeout=60s >/dev/null

# 2. istio-system. istiod's self-signed root: O=cluster.local, made now (so every pod started later trusts it).
kubectl create namespace istio-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/O=cluster.local" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
  -keyout "$pki/istio-root-key.pem" -out "$pki/istio-root-cert.pem" 2>/dev/null
kubectl -n istio-system create secret generic istio-ca-secret --type=istio.io/ca-root \
  --from-file=ca-cert.pem="$pki/istio-root-cert.pem" --from-file=ca-key.pem="$pki/istio-root-key.pem" \
  --from-file=root-cert.pem="$pki/istio-root-cert.pem" --from-literal=cert-chain.pem= --from-literal=key.pem= \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: istiod, namespace: istio-system, labels: {app: istiod, release: istiod}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istiod
  namespace: istio-system
  labels: {app: istiod, istio: pilot, istio.io/rev: default, release: istiod, app.kubernetes.io/name: istiod, app.kubernetes.io/version: "$ISTIO_VERSION"}
spec:
  replicas: 1
  selector: {matchLabels: {istio: pilot}}
  template:
    metadata:
      labels: {app: istiod, istio: pilot, istio.io/rev: default, sidecar.istio.io/inject: "false"}
      annotations: {prometheus.io/port: "15014", prometheus.io/scrape: "true", sidecar.istio.io/inject: "false"}
    spec:
      serviceAccountName: istiod
      containers:
      - name: discovery
        image: docker.io/istio/pilot:$ISTIO_VERSION
        args: [discovery, --monitoringAddr=:15014, --log_output_level=default:info, --domain, cluster.local, --keepaliveMaxServerConnectionAge, 30m]
        ports:
        - {containerPort: 8080, protocol: TCP, name: http-debug}
        - {containerPort: 15010, protocol: TCP, name: grpc-xds}
        - {containerPort: 15012, protocol: TCP, name: tls-xds}
        - {containerPort: 15017, protocol: TCP, name: https-webhooks}
        - {containerPort: 15014, protocol: TCP, name: http-monitoring}
        readinessProbe: {httpGet: {path: /ready, port: 8080}, initialDelaySeconds: 1, periodSeconds: 3, timeoutSeconds: 5}
        env:
        - {name: REVISION, value: default}
        - {name: PILOT_CERT_PROVIDER, value: istiod}
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        resources: {requests: {cpu: 500m, memory: 2048Mi}}
---
apiVersion: v1
kind: Service
metadata:
  name: istiod
  namespace: istio-system
  labels: {app: istiod, istio: pilot, istio.io/rev: default, release: istiod}
spec:
  selector: {app: istiod, istio: pilot}
  ports:
  - {port: 15010, name: grpc-xds, protocol: TCP}
  - {port: 15012, name: https-dns, protocol: TCP}
  - {port: 443, name: https-webhook, targetPort: 15017, protocol: TCP}
  - {port: 15014, name: http-monitoring, protocol: TCP}
EOF

# 3. Bookinfo in an injected namespace.
kubectl create namespace istio-demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl label namespace istio-demo istio-injection=enabled --overwrite >/dev/null

# istiod writes istio-ca-root-cert (label istio.io/config=true, key root-cert.pem) into every namespace but
# the system ones (see fixtures/istio-objects/SHAPES.md).
"$here/root-cert.sh" --cert "$pki/istio-root-cert.pem" --all >/dev/null

"$here/inject.sh" -n istio-demo "$fixtures/istio-bookinfo/bookinfo.yaml" | kubectl apply -n istio-demo -f - >/dev/null
kubectl apply -n istio-demo -f "$fixtures/istio-bookinfo/bookinfo-versions.yaml" >/dev/null
# route-reviews-v1.yaml sets parentRefs[].port, which the v1.0.0 standard schema does not have: kubectl's
# default strict field validation rejects it there (the guide's own step fails on v1.0.0 CRDs), so it is
# applied with validation off and the server prunes the port, as a v1.0.0 cluster stores it.
if [ "$gateway_api" = v1.0.0 ]; then validate=--validate=false; else validate=--validate=strict; fi
kubectl apply -n istio-demo "$validate" -f "$fixtures/istio-bookinfo/route-reviews-v1.yaml" >/dev/null

kubectl -n istio-system rollout status deploy/istiod --timeout=120s >/dev/null
kubectl -n istio-demo wait --for=condition=Available deploy --all --timeout=180s >/dev/null
# The EndpointSlice controller has filled the per-version Services once their pods are Ready.
for _ in $(seq 1 150); do
  n=$(kubectl -n istio-demo get endpointslices -l kubernetes.io/service-name=reviews-v3 \
    -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}x{end}' 2>/dev/null)
  [ -n "$n" ] && break
  sleep 0.2
done
echo "state: Gateway API $gateway_api, istio-system (istiod $ISTIO_VERSION, root $(openssl x509 -noout -startdate -in "$pki/istio-root-cert.pem")), Bookinfo in istio-demo" >&2
