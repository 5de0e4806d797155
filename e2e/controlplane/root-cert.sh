#!/usr/bin/env bash
# Writes the ConfigMap istio-ca-root-cert as istiod does (label istio.io/config=true, one key root-cert.pem),
# into the given namespaces or, with --all, every namespace istiod writes to (all but kube-system,
# kube-public, kube-node-lease and local-path-storage). With --new, first makes a new self-signed root
# (O=cluster.local, NotBefore now) at --cert: that is a root rotation, after which every sidecar started
# earlier no longer trusts the root (the guide's CERTIFICATE_VERIFY_FAILED).
#
#   root-cert.sh --cert PEM [--new] (--all | NAMESPACE...)
set -euo pipefail
cert="" new=0 all=0 namespaces=()
while [ $# -gt 0 ]; do
  case "$1" in
    --cert) cert="$2"; shift 2 ;;
    --new) new=1; shift ;;
    --all) all=1; shift ;;
    -*) sed -n '2,8p' "$0" >&2; exit 2 ;;
    *) namespaces+=("$1"); shift ;;
  esac
done
[ -n "$cert" ] || { echo "error: --cert is required" >&2; exit 2; }
if [ $new = 1 ]; then
  key="$(dirname "$cert")/$(basename "$cert" .pem)-key.pem"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/O=cluster.local" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -keyout "$key" -out "$cert" 2>/dev/null
fi
if [ $all = 1 ]; then
  mapfile -t namespaces < <(kubectl get namespaces -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' \
    | grep -vxE 'kube-system|kube-public|kube-node-lease|local-path-storage')
fi
for ns in "${namespaces[@]}"; do
  kubectl -n "$ns" create configmap istio-ca-root-cert --from-file=root-cert.pem="$cert" --dry-run=client -o json \
    | jq '.metadata.labels = {"istio.io/config": "true"}' \
    | kubectl apply -f - >/dev/null
  echo "$ns"
done
