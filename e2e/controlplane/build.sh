#!/usr/bin/env bash
# Builds the real Kubernetes control plane that the e2e suite runs against, from the Go modules pinned in this
# directory's go.mod/go.sum: kube-apiserver, kube-controller-manager, kube-scheduler (k8s.io/kubernetes v1.37.2),
# etcd (go.etcd.io/etcd/server/v3 v3.7.0, the release k8s.io/kubernetes v1.37.2 itself pins) and kwok
# (sigs.k8s.io/kwok v0.8.0: fake nodes, and pods made Running and Ready with IPs).
#
# The binaries are cached outside the repository, by version, in
#   ${MESH_CONTROLPLANE_CACHE:-~/.cache/kubectl-mesh/controlplane}/v1.37.2/
# with a stamp file holding the hash of go.mod, go.sum and this script: a rebuild happens only when one of them
# changes. Prints the binary directory on stdout (progress on stderr).
#
#   e2e/controlplane/build.sh           build if needed, print the directory
#   e2e/controlplane/build.sh --force   rebuild
#   e2e/controlplane/build.sh --check   exit 0 if the cache is current, 1 if a build is needed (builds nothing)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
KUBE_VERSION=v1.37.2
cache_root="${MESH_CONTROLPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-mesh/controlplane}"
out="$cache_root/$KUBE_VERSION"
bins=(kube-apiserver kube-controller-manager kube-scheduler etcd kwok)
# kwok's "fast" stages of its own release: nodes Ready (with leases); pods Running and Ready with IPs and
# container start times, then completed or deleted.
stages=(node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml)

key="$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -d' ' -f1)"
current() {
  [ -f "$out/stamp" ] && [ "$(sed -n 's/^key=//p' "$out/stamp")" = "$key" ] || return 1
  for b in "${bins[@]}"; do [ -x "$out/$b" ] || return 1; done
  [ -s "$out/kwok-stages.yaml" ]
}

case "${1:-}" in
  --check) current; exit $? ;;
  --force) rm -f "$out/stamp" ;;
  "") ;;
  *) echo "usage: $0 [--force|--check]" >&2; exit 2 ;;
esac

if current; then
  echo "$out"
  exit 0
fi

command -v go >/dev/null || { echo "error: go is required to build the control plane (Go 1.26 or newer)" >&2; exit 1; }
mkdir -p "$out"
tmp="$(mktemp -d "$out/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# Two cores: two compile jobs. -trimpath for reproducible paths; -s -w drops the symbol tables (~30% smaller).
ldflags="-s -w"
ldflags+=" -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
# The module zip carries no git commit: say so instead of leaving the "$Format:%H$" placeholder.
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.gitCommit=unknown"
start=$(date +%s)
echo "building the control plane $KUBE_VERSION into $out (cold: about 9 minutes on 2 cores; then cached)" >&2
(
  cd "$here"
  export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly"
  # One `go build` for all five so shared packages compile once.
  go build -p "${MESH_GO_JOBS:-2}" -trimpath -ldflags "$ldflags" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    go.etcd.io/etcd/server/v3 \
    sigs.k8s.io/kwok/cmd/kwok
)
# go names the etcd main package after its module path's last non-version element.
mv "$tmp/server" "$tmp/etcd"
kwok_dir="$(cd "$here" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
for s in "${stages[@]}"; do echo "---"; cat "$kwok_dir/kustomize/stage/$s"; done > "$tmp/kwok-stages.yaml"
for b in "${bins[@]}" kwok-stages.yaml; do mv "$tmp/$b" "$out/$b"; done
{
  echo "key=$key"
  echo "kubernetes=$KUBE_VERSION"
  echo "etcd=$(cd "$here" && go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
  echo "kwok=$(cd "$here" && go list -m -f '{{.Version}}' sigs.k8s.io/kwok)"
  echo "go=$(go env GOVERSION)"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ) seconds=$(( $(date +%s) - start ))"
} > "$out/stamp"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$out"
