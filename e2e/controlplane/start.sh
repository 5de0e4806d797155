#!/usr/bin/env bash
# Starts a real Kubernetes control plane on 127.0.0.1 (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok with two fake nodes), waits for it, writes a kubeconfig and installs the users' guide
# state (install-state.sh). No Istio control plane runs: istiod is a Deployment whose pod kwok marks Ready.
#
#   start.sh up   [--dir DIR] [--gateway-api v1.0.0|v1.6.1] [--owner-pid PID] [--no-state]
#       Start in the background and return when ready. Prints DIR; DIR/kubeconfig (admin token), DIR/env
#       (KUBECONFIG=…, ports), DIR/pids, DIR/logs/*.log. With --owner-pid, everything is stopped when that
#       process exits (the test harness passes its own PID) and etcd's data is removed (the logs stay).
#   start.sh down --dir DIR
#       Stop every process that `up` started in DIR, by PID.
#   start.sh run  [--gateway-api …] [--no-state] -- COMMAND [ARGS…]
#       up in a temporary directory, run COMMAND with KUBECONFIG set, then down and remove the directory (also
#       on Ctrl-C / failure).
#
# Every component listens on 127.0.0.1 only, on free ports picked at start, so several instances can run at
# once. Pod IPs (10.244.0.0/16) are data written by kwok: nothing dials them. The fake nodes' address is
# 127.0.0.1 and nothing serves their kubelet port, so a request the API server would forward to a kubelet
# (logs, exec, port-forward) is refused on loopback instead of leaving the machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

cmd="${1:-}"; [ -n "$cmd" ] || usage; shift
dir="" gateway_api="v1.0.0" owner="" state=1 run_cmd=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --gateway-api) gateway_api="$2"; shift 2 ;;
    --owner-pid) owner="$2"; shift 2 ;;
    --no-state) state=0; shift ;;
    --) shift; run_cmd=("$@"); break ;;
    *) usage ;;
  esac
done
case "$gateway_api" in v1.0.0|v1.6.1) ;; *) echo "error: --gateway-api must be v1.0.0 or v1.6.1" >&2; exit 2 ;; esac

log() { echo "controlplane: $*" >&2; }

# Stop what `up` started, newest first, by the PIDs it recorded. Each PID is checked against the command line
# recorded with it, so a PID reused by an unrelated process is never signalled.
down() {
  local d="$1"
  [ -f "$d/pids" ] || return 0
  local lines=() pid name
  mapfile -t lines < <(tac "$d/pids")
  for line in "${lines[@]}"; do
    pid="${line%% *}"; name="${line#* }"
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$name"; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for _ in $(seq 1 50); do
    local alive=0
    for line in "${lines[@]}"; do
      pid="${line%% *}"; name="${line#* }"
      if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$name"; then alive=1; fi
    done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for line in "${lines[@]}"; do
    pid="${line%% *}"; name="${line#* }"
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$name"; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -f "$d/pids"
}

if [ "$cmd" = down ]; then
  [ -n "$dir" ] || usage
  down "$dir"
  exit 0
fi

if [ "$cmd" = run ]; then
  [ ${#run_cmd[@]} -gt 0 ] || usage
  dir="$(mktemp -d "${TMPDIR:-/tmp}/mesh-controlplane.XXXXXX")"
  trap 'down "$dir"; rm -rf "$dir"' EXIT
  trap 'exit 130' INT TERM
  args=(up --dir "$dir" --gateway-api "$gateway_api")
  [ $state = 1 ] || args+=(--no-state)
  "$0" "${args[@]}" >/dev/null
  rc=0
  KUBECONFIG="$dir/kubeconfig" "${run_cmd[@]}" || rc=$?
  exit $rc
fi

[ "$cmd" = up ] || usage

bin="$("$here/build.sh")"
for b in kube-apiserver kube-controller-manager kube-scheduler etcd kwok; do
  [ -x "$bin/$b" ] || { echo "error: $bin/$b missing (run $here/build.sh)" >&2; exit 1; }
done
for tool in kubectl openssl curl jq ss; do
  command -v "$tool" >/dev/null || { echo "error: $tool is required" >&2; exit 1; }
done

[ -n "$dir" ] || dir="$(mktemp -d "${TMPDIR:-/tmp}/mesh-controlplane.XXXXXX")"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
if [ -f "$dir/pids" ]; then echo "error: $dir already has a running control plane (start.sh down --dir $dir)" >&2; exit 1; fi
mkdir -p "$dir/logs" "$dir/pki"
: > "$dir/pids"
# A failed start leaves nothing running.
trap 'rc=$?; if [ $rc != 0 ]; then log "start failed (logs in $dir/logs)"; tail -n 20 "$dir"/logs/*.log >&2 2>/dev/null || true; down "$dir"; fi' EXIT

# Free loopback ports, distinct from each other; a port is "free" when nothing listens on it now.
taken=" "
free_port() {
  local p
  while :; do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    case "$taken" in *" $p "*) continue ;; esac
    if [ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]; then taken+="$p "; echo "$p"; return; fi
  done
}
etcd_port=$(free_port); etcd_peer=$(free_port); api_port=$(free_port)
p1=$(free_port); p2=$(free_port); p3=$(free_port)
taken+="$p1 $p2 $p3 "

# spawn NAME CMD…: start in the background, detached from our stdin/stdout (callers capture those), log to
# logs/NAME.log, record "PID CMD-PATH" so `down` signals exactly this process.
spawn() {
  local name="$1"; shift
  setsid "$@" </dev/null >"$dir/logs/$name.log" 2>&1 &
  echo "$! $1" >> "$dir/pids"
}

# Credentials: tokens for the admin and each component, the ServiceAccount signing key.
token() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
admin_token=$(token); kcm_token=$(token); sched_token=$(token); kwok_token=$(token)
cat > "$dir/pki/tokens.csv" <<EOF
$admin_token,mesh-admin,mesh-admin,system:masters
$kcm_token,system:kube-controller-manager,system:kube-controller-manager
$sched_token,system:kube-scheduler,system:kube-scheduler
$kwok_token,kwok-controller,kwok-controller,system:masters
EOF
chmod 600 "$dir/pki/tokens.csv"
openssl genrsa -out "$dir/pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$dir/pki/sa.key" -pubout -out "$dir/pki/sa.pub" 2>/dev/null

log "etcd on 127.0.0.1:$etcd_port"
spawn etcd "$bin/etcd" --name=mesh --data-dir="$dir/etcd" \
  --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
  --listen-peer-urls="http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
  --initial-cluster="mesh=http://127.0.0.1:$etcd_peer" --unsafe-no-fsync --log-level=warn
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$etcd_port/health" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$etcd_port/health" >/dev/null || { echo "error: etcd did not become healthy" >&2; exit 1; }

log "kube-apiserver on https://127.0.0.1:$api_port"
# Serving certificate: generated by the API server into --cert-dir (a self-signed CA and a cert signed by it,
# for 127.0.0.1/localhost and the kubernetes Service names).
spawn kube-apiserver "$bin/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$etcd_port" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
  --cert-dir="$dir/pki" \
  --authorization-mode=Node,RBAC --token-auth-file="$dir/pki/tokens.csv" --anonymous-auth=false \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$dir/pki/sa.pub" --service-account-signing-key-file="$dir/pki/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 \
  --endpoint-reconciler-type=none --kubelet-preferred-address-types=InternalIP \
  --profiling=false --enable-priority-and-fairness=true \
  --v=1
for _ in $(seq 1 300); do
  if curl -fsSk -H "Authorization: Bearer $admin_token" "https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$(sed -n '$s/ .*//p' "$dir/pids")" 2>/dev/null; then echo "error: kube-apiserver exited" >&2; exit 1; fi
  sleep 0.2
done
curl -fsSk -H "Authorization: Bearer $admin_token" "https://127.0.0.1:$api_port/readyz" >/dev/null \
  || { echo "error: kube-apiserver not ready" >&2; exit 1; }

# The API server's generated certificate file holds the serving cert then its CA: the CA is what clients trust.
awk '/BEGIN CERTIFICATE/{n++} n==2' "$dir/pki/apiserver.crt" > "$dir/pki/ca.crt"
[ -s "$dir/pki/ca.crt" ] || { echo "error: no CA in $dir/pki/apiserver.crt" >&2; exit 1; }
ca_data=$(base64 -w0 < "$dir/pki/ca.crt")

kubeconfig_for() { # USER TOKEN FILE
  cat > "$3" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: mesh-e2e
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $ca_data
users:
- name: $1
  user:
    token: $2
contexts:
- name: mesh-e2e
  context:
    cluster: mesh-e2e
    user: $1
current-context: mesh-e2e
EOF
  chmod 600 "$3"
}
kubeconfig_for mesh-admin "$admin_token" "$dir/kubeconfig"
kubeconfig_for system:kube-controller-manager "$kcm_token" "$dir/pki/kcm.kubeconfig"
kubeconfig_for system:kube-scheduler "$sched_token" "$dir/pki/scheduler.kubeconfig"
kubeconfig_for kwok-controller "$kwok_token" "$dir/pki/kwok.kubeconfig"
export KUBECONFIG="$dir/kubeconfig"

log "kube-controller-manager, kube-scheduler, kwok"
# secure-port=0: no serving endpoint (nothing to bind); each controller gets its own ServiceAccount token.
spawn kube-controller-manager "$bin/kube-controller-manager" \
  --kubeconfig="$dir/pki/kcm.kubeconfig" --secure-port=0 --leader-elect=false \
  --service-account-private-key-file="$dir/pki/sa.key" --root-ca-file="$dir/pki/ca.crt" \
  --use-service-account-credentials=true \
  --concurrent-deployment-syncs=10 --concurrent-replicaset-syncs=10 \
  --v=1
spawn kube-scheduler "$bin/kube-scheduler" \
  --kubeconfig="$dir/pki/scheduler.kubeconfig" --secure-port=0 --leader-elect=false --v=1
# kwok: node and pod lifecycle from its "fast" stages (nodes Ready, kept so by renewing their Leases: without
# --node-lease-duration-seconds the node controller marks them NotReady after its grace period, and with them
# every pod; pods Running and Ready with IPs
# and container start times). No --server-address and no --node-port: it serves nothing.
spawn kwok "$bin/kwok" --kubeconfig="$dir/pki/kwok.kubeconfig" \
  --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --cidr=10.244.0.0/16 --node-ip=127.0.0.1 --node-lease-duration-seconds=40 --config="$bin/kwok-stages.yaml"

for n in 1 2; do
  kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$n
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: kwok-node-$n
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
status:
  allocatable: {cpu: "64", memory: 256Gi, pods: "1000"}
  capacity: {cpu: "64", memory: 256Gi, pods: "1000"}
EOF
done
kubectl wait --for=condition=Ready node --all --timeout=120s >/dev/null
# The ServiceAccount admission plugin needs each namespace's "default" ServiceAccount (controller-manager).
for _ in $(seq 1 300); do
  kubectl -n default get serviceaccount default >/dev/null 2>&1 && break
  sleep 0.2
done
kubectl -n default get serviceaccount default >/dev/null

cat > "$dir/env" <<EOF
KUBECONFIG=$dir/kubeconfig
MESH_CONTROLPLANE_DIR=$dir
MESH_CONTROLPLANE_API=https://127.0.0.1:$api_port
MESH_CONTROLPLANE_ETCD=http://127.0.0.1:$etcd_port
MESH_CONTROLPLANE_GATEWAY_API=$gateway_api
EOF

if [ $state = 1 ]; then
  log "installing the guide's state (Gateway API $gateway_api, istio-system, Bookinfo)"
  "$here/install-state.sh" --gateway-api "$gateway_api" --pki "$dir/pki" >&2
fi

if [ -n "$owner" ]; then
  # Stop everything once the owner (e.g. the test binary) is gone, however it ended.
  # etcd's data (about 100 MB) goes too; the logs stay for a look after a failure.
  setsid bash -c 'while kill -0 "$1" 2>/dev/null && [ -f "$2/pids" ]; do sleep 1; done; "$3" down --dir "$2"; rm -rf "$2/etcd"' \
    _ "$owner" "$dir" "$here/start.sh" </dev/null >"$dir/logs/watchdog.log" 2>&1 &
fi
trap - EXIT
log "ready: export KUBECONFIG=$dir/kubeconfig   (stop: $here/start.sh down --dir $dir)"
echo "$dir"
