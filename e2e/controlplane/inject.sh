#!/usr/bin/env bash
# Prints FILE's objects (JSON, a List) with Istio's sidecar injected into every Deployment's pod template, as
# istiod's injector would do at admission with default settings (see inject.jq). Needs KUBECONFIG (kubectl
# reads the YAML through the server's discovery; nothing is created).
#
#   inject.sh [-n NAMESPACE] FILE|-   | kubectl apply -n NAMESPACE -f -
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ns=default
if [ "${1:-}" = -n ]; then ns="$2"; shift 2; fi
file="${1:--}"
image="docker.io/istio/proxyv2:${ISTIO_VERSION:-1.26.2}"
kubectl create --dry-run=client -o json -n "$ns" -f "$file" \
  | jq --arg ns "$ns" --arg image "$image" -f "$here/inject.jq"
