#!/usr/bin/env bash
# Usage: controlplane-up.sh <dir>
# Starts a local etcd + kube-apiserver on 127.0.0.1 with state in <dir> and
# prints the path of <dir>/admin.kubeconfig once /readyz is ok.
#
#   etcd not running       -> fresh start: etcd data, certs and tokens are
#                             regenerated (HARVNET_CP_REUSE=1 keeps them)
#   etcd running, no apisv -> starts only kube-apiserver with the same certs,
#                             tokens and etcd (apiserver restart tests)
#   both running           -> just waits for /readyz
#
# Env: HARVNET_APISERVER_PORT (6443), HARVNET_ETCD_PORT / HARVNET_ETCD_PEER_PORT
# (default: first free port from 12379 / 12380), HARVNET_CP_REUSE,
# HARVNET_CP_TIMEOUT (seconds, 90), HARVNET_EXTRA_TOKENS (a token-auth csv
# appended to <dir>/tokens.csv on a fresh start). Lines appended to
# <dir>/tokens.csv later take effect on the next apiserver start
# (controlplane-down.sh <dir> apiserver; controlplane-up.sh <dir>).
set -euo pipefail

[[ $# -eq 1 && -n $1 ]] || { echo "usage: $0 <dir>" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$1"
dir=$(cd "$1" && pwd)
apiserver_bin=${HARVNET_KUBE_APISERVER:-$root/bin/kube-apiserver}
api_port=${HARVNET_APISERVER_PORT:-6443}
timeout=${HARVNET_CP_TIMEOUT:-90}
pki=$dir/pki

die() { echo "controlplane-up: $*" >&2; exit 1; }
# A pid counts only if its command line names <dir>/, so a recycled pid or a
# process of another control plane is never mistaken for ours.
alive() { [[ -f $dir/$1.pid ]] && grep -qaF -- "$dir/" "/proc/$(cat "$dir/$1.pid")/cmdline" 2>/dev/null; }
port_busy() { [[ -n $(ss -Hltn "sport = :$1") ]]; }
free_port() { local p=$1; while port_busy "$p" || [[ $p == "${2:-}" ]]; do p=$((p + 1)); done; echo "$p"; }

# wait_for <name> <pid-name> <cmd...>: polls cmd until it succeeds; fails
# early with the log tail if the process died, or at the deadline.
wait_for() {
  local name=$1 proc=$2 deadline=$((SECONDS + timeout))
  shift 2
  until "$@" >/dev/null 2>&1; do
    alive "$proc" || { tail -n 30 "$dir/$proc.log" >&2; die "$name exited; log: $dir/$proc.log"; }
    ((SECONDS < deadline)) || { tail -n 30 "$dir/$proc.log" >&2; die "$name not ready after ${timeout}s"; }
    sleep 0.5
  done
}

# start <name> <cmd...>: detached in its own session so it outlives this
# script and its terminal; pid and log go in <dir>.
start() {
  local name=$1
  shift
  setsid "$@" >"$dir/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
  # The fork redirects and execs asynchronously; until it has, alive() would
  # call it dead (and the log would still be the previous run's).
  for _ in $(seq 100); do alive "$name" && break; sleep 0.05; done
}

[[ -x $apiserver_bin ]] || die "$apiserver_bin missing; run scripts/install-tools.sh"
command -v etcd >/dev/null || die "etcd missing; run scripts/install-tools.sh"

gen_pki() {
  rm -rf "$pki" && mkdir -p "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=harvnet-ca \
      -keyout ca.key -out ca.crt
    # 10.0.2.100: the qemu guest reaches the apiserver there; 10.96.0.1 is
    # the in-cluster kubernetes Service IP (first IP of the service range).
    openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver \
      -keyout apiserver.key -out apiserver.csr
    printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,IP:10.0.2.100,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
      "extendedKeyUsage=serverAuth" >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -days 3650 -extfile apiserver.ext -out apiserver.crt
    openssl genrsa -out sa.key 2048
    openssl rsa -in sa.key -pubout -out sa.pub
  ) >"$dir/openssl.log" 2>&1 || die "openssl failed; see $dir/openssl.log"
  # token,user,uid,"groups"
  echo "$(openssl rand -hex 16),admin,admin,\"system:masters\"" >"$dir/tokens.csv"
  if [[ -n ${HARVNET_EXTRA_TOKENS:-} ]]; then cat "$HARVNET_EXTRA_TOKENS" >>"$dir/tokens.csv"; fi
}

# A running apiserver keeps the port it was started with.
if alive kube-apiserver; then
  api_port=$(<"$dir/kube-apiserver.port")
else
  port_busy "$api_port" && die "port $api_port busy; set HARVNET_APISERVER_PORT"
fi
if ! alive etcd; then
  alive kube-apiserver && die "kube-apiserver runs without its etcd; run controlplane-down.sh $dir first"
  if [[ ${HARVNET_CP_REUSE:-} != 1 || ! -f $dir/etcd.env || ! -f $pki/sa.key ]]; then
    rm -rf "$dir/etcd" "$dir/etcd.env"
    gen_pki
  fi
  # Reuse keeps the old ports unless overridden, so the data and URLs agree.
  [[ -f $dir/etcd.env ]] && source "$dir/etcd.env"
  etcd_port=${HARVNET_ETCD_PORT:-${etcd_port:-$(free_port 12379)}}
  peer_port=${HARVNET_ETCD_PEER_PORT:-${peer_port:-$(free_port 12380 "$etcd_port")}}
  for p in "$etcd_port" "$peer_port"; do
    port_busy "$p" && die "port $p busy; set HARVNET_ETCD_PORT / HARVNET_ETCD_PEER_PORT"
  done
  printf 'etcd_port=%s\npeer_port=%s\n' "$etcd_port" "$peer_port" >"$dir/etcd.env"
  # env -i: etcd refuses to start if an ETCD_* variable shadows a flag.
  start etcd env -i PATH="$PATH" etcd --name harvnet --logger zap \
    --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "harvnet=http://127.0.0.1:$peer_port"
fi
source "$dir/etcd.env"
wait_for etcd etcd curl -fsS "http://127.0.0.1:$etcd_port/health"

token=$(head -n 1 "$dir/tokens.csv" | cut -d, -f1)
if ! alive kube-apiserver; then
  start kube-apiserver "$apiserver_bin" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --cert-dir "$pki" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --token-auth-file "$dir/tokens.csv" \
    --authorization-mode Node,RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --allow-privileged \
    --endpoint-reconciler-type none
  echo "$api_port" >"$dir/kube-apiserver.port"
  # ^ the default (lease) reconciler rejects a loopback --advertise-address,
  # so the "kubernetes" Service gets no Endpoints; clients use the kubeconfig.
fi

cat >"$dir/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: harvnet
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: admin
  user:
    token: $token
contexts:
- name: harvnet
  context: {cluster: harvnet, user: admin}
current-context: harvnet
EOF
chmod 600 "$dir/admin.kubeconfig"

wait_for kube-apiserver kube-apiserver \
  curl -fsS --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$api_port/readyz"
echo "$dir/admin.kubeconfig"
