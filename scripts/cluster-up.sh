#!/usr/bin/env bash
# Usage: cluster-up.sh [dir]     (default: _output/cluster)
# A real two-node Kubernetes cluster on this machine for make test-deploy,
# built from the same k8s.io/kubernetes as bin/kube-apiserver:
#
#   <p>-sw    switch namespace: bridge "mgmt" (10.77.0.254, the gateway) and
#             bridge "data" (the nodes' eth1/eth2)
#   <p>-cp    control plane: etcd, kube-apiserver (advertises 10.77.0.10),
#             kube-controller-manager, kube-scheduler
#   <p>-n1/2  one node each: eth0 10.77.0.1N/24 (management, default route),
#             eth1/eth2 free; its own containerd (+runc) and kubelet started
#             inside that network namespace, kube-proxy (iptables) there too,
#             pods on a CNI bridge (10.244.N.0/24, routed between nodes)
#
# So a hostNetwork pod of node N lives in node N's namespace, and pods reach
# the API server the way they do in a real cluster: the in-cluster config,
# through the kubernetes Service (10.96.0.1) that kube-proxy translates.
#
# Each node's processes also run in their own mount namespace (kept at
# <dir>/mnt/<node>) where that node's /var/lib/harvnet, /var/log/pods and
# /var/lib/cni are bind mounts of per-node directories: two nodes on one
# machine must not share what a real node keeps to itself. Everything the
# kubelet and containerd mount stays in that namespace and goes with it.
#
# Images come from OCI archives (_output/*.oci.tar, make image), imported
# into each node's containerd; there is no registry.
# Prints "cluster-up: ready in Ns" and the admin kubeconfig (server
# 10.77.0.10, reachable from inside <p>-cp: scripts/cluster-kubectl.sh).
# scripts/cluster-down.sh [dir] stops and removes everything.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-$root/_output/cluster}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin=$root/bin
p=${HARVNET_CLUSTER_PREFIX:-hk}
nodes=(n1 n2)
cp_ip=10.77.0.10
gw=10.77.0.254
timeout=${HARVNET_CLUSTER_TIMEOUT:-180}
start_time=$SECONDS
export PATH=$bin:/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin

die() { echo "cluster-up: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "needs root"
for b in kube-apiserver kubectl kubelet kube-proxy kube-scheduler kube-controller-manager containerd containerd-shim-runc-v2 ctr cni/bridge cni/host-local cni/loopback; do
  [[ -x $bin/$b ]] || die "bin/$b missing; run scripts/install-tools.sh --cluster"
done
for b in runc etcd conntrack openssl; do command -v $b >/dev/null || die "$b missing; run scripts/install-tools.sh --cluster"; done
[[ -f $dir/up ]] && die "$dir holds a running cluster; run scripts/cluster-down.sh $dir first"
"$root/scripts/cluster-down.sh" "$dir" >/dev/null 2>&1 || true # a killed run's leftovers
mkdir -p "$dir"/{pki,log,pid,mnt}
touch "$dir/up"
echo "$p" >"$dir/prefix" # for cluster-down.sh and cluster-kubectl.sh
# unshare --mount=FILE needs FILE's mount to be private.
mount --bind "$dir/mnt" "$dir/mnt"
mount --make-private "$dir/mnt"

alive() { [[ -f $dir/pid/$1 ]] && grep -qaF -- "$dir/" "/proc/$(cat "$dir/pid/$1")/cmdline" 2>/dev/null; }
# run NAME NETNS [MNTNS] CMD...: detached; every command line names $dir so
# cluster-down.sh finds exactly ours.
run() {
  local name=$1 ns=$2 mnt=$3
  shift 3
  local enter=(nsenter --net=/run/netns/$ns)
  [[ -n $mnt ]] && enter+=(--mount="$dir/mnt/$mnt")
  setsid "${enter[@]}" "$@" >"$dir/log/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/pid/$name"
}
wait_for() {
  local what=$1 proc=$2 deadline=$((SECONDS + timeout))
  shift 2
  until "$@" >/dev/null 2>&1; do
    [[ -z $proc ]] || alive "$proc" || { tail -n 20 "$dir/log/$proc.log" >&2; die "$proc exited (log: $dir/log/$proc.log)"; }
    ((SECONDS < deadline)) || { [[ -n $proc ]] && tail -n 20 "$dir/log/$proc.log" >&2; die "$what not ready after ${timeout}s"; }
    sleep 0.5
  done
}

# ---- network: switch, control plane, nodes ---------------------------------
ip netns add $p-sw
ip -n $p-sw link set lo up
for br in mgmt data; do ip -n $p-sw link add $br type bridge && ip -n $p-sw link set $br up; done
ip -n $p-sw addr add $gw/24 dev mgmt
ip netns exec $p-sw sysctl -qw net.ipv4.ip_forward=1
# cable NS NIC BRIDGE PORT: a veth from NS's NIC into the switch.
cable() {
  ip -n $p-sw link add "$4" type veth peer name "$2" netns "$1"
  ip -n $p-sw link set "$4" master "$3" up
  ip -n "$1" link set "$2" up
}
ip netns add $p-cp
ip -n $p-cp link set lo up
cable $p-cp eth0 mgmt cp-eth0
ip -n $p-cp addr add $cp_ip/24 dev eth0
ip -n $p-cp route add default via $gw
for i in "${!nodes[@]}"; do
  n=${nodes[$i]} k=$((i + 1))
  ip netns add $p-$n
  ip -n $p-$n link set lo up
  cable $p-$n eth0 mgmt $n-eth0
  cable $p-$n eth1 data $n-eth1
  cable $p-$n eth2 data $n-eth2
  ip -n $p-$n addr add 10.77.0.1$k/24 dev eth0
  ip -n $p-$n route add default via $gw dev eth0 proto static
  ip netns exec $p-$n sysctl -qw net.ipv4.ip_forward=1
  # Pod CIDRs are routed by the management segment: each node's via its address.
  for j in "${!nodes[@]}"; do
    ((j == i)) || ip -n $p-$n route add 10.244.$((j + 1)).0/24 via 10.77.0.1$((j + 1))
  done
  ip -n $p-cp route add 10.244.$k.0/24 via 10.77.0.1$k
  ip -n $p-sw route add 10.244.$k.0/24 via 10.77.0.1$k
done

# ---- PKI and credentials ---------------------------------------------------
(
  cd "$dir/pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=harvnet-cluster-ca -keyout ca.key -out ca.crt
  printf '%s\n' "subjectAltName=IP:$cp_ip,IP:10.96.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
    "extendedKeyUsage=serverAuth" >apiserver.ext
  openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout apiserver.key -out apiserver.csr
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 -extfile apiserver.ext -out apiserver.crt
  # The apiserver's client identity towards the kubelets (logs, exec).
  echo "extendedKeyUsage=clientAuth" >client.ext
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" -keyout kubelet-client.key -out kubelet-client.csr
  openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 -extfile client.ext -out kubelet-client.crt
  openssl genrsa -out sa.key 2048
  openssl rsa -in sa.key -pubout -out sa.pub
) >"$dir/log/openssl.log" 2>&1 || die "openssl failed; see $dir/log/openssl.log"
tok() { openssl rand -hex 16; }
# Static tokens for the components (token,user,uid,"groups"); the pods get
# real ServiceAccount tokens from the TokenRequest API.
declare -A token
{
  for u in admin kube-controller-manager kube-scheduler kube-proxy; do
    token[$u]=$(tok)
    case $u in
      admin | kube-controller-manager) g=system:masters ;;
      kube-scheduler) g=system:kube-scheduler ;;
      kube-proxy) g=system:node-proxier ;;
    esac
    user=$u
    [[ $u == kube-scheduler ]] && user=system:kube-scheduler
    [[ $u == kube-proxy ]] && user=system:kube-proxy
    echo "${token[$u]},$user,$u,\"$g\""
  done
  for n in "${nodes[@]}"; do
    token[$n]=$(tok)
    echo "${token[$n]},system:node:$n,node-$n,\"system:nodes\""
  done
} >"$dir/pki/tokens.csv"
kubeconfig() { # NAME TOKEN
  cat >"$dir/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: harvnet
  cluster: {server: "https://$cp_ip:6443", certificate-authority: "$dir/pki/ca.crt"}
users:
- name: $1
  user: {token: $2}
contexts:
- name: harvnet
  context: {cluster: harvnet, user: $1}
current-context: harvnet
EOF
}
for u in "${!token[@]}"; do kubeconfig "$u" "${token[$u]}"; done

# ---- control plane ---------------------------------------------------------
run etcd $p-cp "" env -i PATH="$PATH" etcd --name harvnet --logger zap --log-level warn \
  --data-dir "$dir/etcd" --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster harvnet=http://127.0.0.1:2380
wait_for etcd etcd ip netns exec $p-cp curl -fsS http://127.0.0.1:2379/health
run kube-apiserver $p-cp "" "$bin/kube-apiserver" \
  --etcd-servers http://127.0.0.1:2379 \
  --bind-address 0.0.0.0 --advertise-address $cp_ip --secure-port 6443 \
  --cert-dir "$dir/pki" --tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
  --client-ca-file "$dir/pki/ca.crt" --token-auth-file "$dir/pki/tokens.csv" \
  --kubelet-client-certificate "$dir/pki/kubelet-client.crt" --kubelet-client-key "$dir/pki/kubelet-client.key" \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
  --service-cluster-ip-range 10.96.0.0/16 --allow-privileged \
  --kubelet-preferred-address-types InternalIP
wait_for kube-apiserver kube-apiserver ip netns exec $p-cp \
  curl -fsS --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer ${token[admin]}" https://$cp_ip:6443/readyz
run kube-controller-manager $p-cp "" "$bin/kube-controller-manager" \
  --kubeconfig "$dir/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig "$dir/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig "$dir/kube-controller-manager.kubeconfig" \
  --service-account-private-key-file "$dir/pki/sa.key" --root-ca-file "$dir/pki/ca.crt" \
  --cluster-cidr 10.244.0.0/16 --service-cluster-ip-range 10.96.0.0/16 \
  --leader-elect=false --bind-address 127.0.0.1 --secure-port 10257
run kube-scheduler $p-cp "" "$bin/kube-scheduler" \
  --kubeconfig "$dir/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig "$dir/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig "$dir/kube-scheduler.kubeconfig" \
  --leader-elect=false --bind-address 127.0.0.1 --secure-port 10259

# ---- nodes -----------------------------------------------------------------
cgroots() { for c in /sys/fs/cgroup/*/; do [[ -f $c/cgroup.procs ]] && echo "$c"; done; }
for i in "${!nodes[@]}"; do
  n=${nodes[$i]} k=$((i + 1)) nd=$dir/nodes/${nodes[$i]}
  mkdir -p "$nd"/{containerd,containerd-state,kubelet,var-lib-harvnet,var-log-pods,var-log-containers,var-lib-cni,cni-conf,opt}
  # The node's mount namespace: its own /var/lib/harvnet, pod logs and CNI
  # state, slave to the host so the host's later mounts still show.
  touch "$dir/mnt/$n"
  unshare --mount="$dir/mnt/$n" --propagation slave sh -c "
    set -e
    mkdir -p /var/lib/harvnet /var/log/pods /var/log/containers /var/lib/cni
    mount --bind '$nd/var-lib-harvnet' /var/lib/harvnet
    mount --bind '$nd/var-log-pods' /var/log/pods
    mount --bind '$nd/var-log-containers' /var/log/containers
    mount --bind '$nd/var-lib-cni' /var/lib/cni
    mount --make-rshared /
  " || die "mount namespace for $n"
  # The node's cgroup parent in every v1 hierarchy (the kubelet wants it to exist).
  for c in $(cgroots); do mkdir -p "$c/harvnet-$n"; done
  cat >"$nd/cni-conf/10-bridge.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "harvnet-pods",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.$k.0/24"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$nd/var-lib-cni/networks"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"$nd/containerd.toml" <<EOF
version = 3
root = "$nd/containerd"
state = "$nd/containerd-state"
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$nd/containerd.sock"
[ttrpc]
  address = "$nd/containerd.sock.ttrpc"
[debug]
  address = "$nd/containerd-debug.sock"
[plugins.'io.containerd.internal.v1.opt']
  path = "$nd/opt"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "registry.k8s.io/pause:3.10.2"
[plugins.'io.containerd.cri.v1.runtime']
  # This machine's sandbox lacks CAP_SYS_RESOURCE, so no process may lower
  # its oom_score_adj below its parent's: clamp what the kubelet asks (-998
  # for sandboxes) instead of failing every pod.
  restrict_oom_score_adj = true
  # Pod network namespaces under the node's own state dir, not the host's
  # /run/netns: they go with the node at cluster-down, even after a kill.
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$bin/cni"]
    conf_dir = "$nd/cni-conf"
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      SystemdCgroup = false
      BinaryName = "$(command -v runc)"
      Root = "$nd/runc"
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
EOF
  run containerd-$n $p-$n $n "$bin/containerd" --config "$nd/containerd.toml"
done
for n in "${nodes[@]}"; do
  nd=$dir/nodes/$n
  wait_for "containerd on $n" containerd-$n "$bin/ctr" -a "$nd/containerd.sock" version
  # HARVNET_IMAGES: more archives (space-separated), e.g. the harvnet image.
  for a in "$root"/_output/pause-*.oci.tar ${HARVNET_IMAGES:-}; do
    [[ -f $a ]] || die "image archive $a missing; run make image"
    "$bin/ctr" -a "$nd/containerd.sock" -n k8s.io images import "$a" >>"$dir/log/import-$n.log" 2>&1 ||
      die "importing $a into $n failed; see $dir/log/import-$n.log"
  done
done

for i in "${!nodes[@]}"; do
  n=${nodes[$i]} k=$((i + 1)) nd=$dir/nodes/${nodes[$i]}
  cat >"$nd/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine has cgroup v1 (hybrid); kubelet 1.35+ refuses it unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /harvnet-$n
cgroupsPerQOS: true
containerRuntimeEndpoint: unix://$nd/containerd.sock
address: 10.77.0.1$k
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$dir/pki/ca.crt"}
authorization: {mode: Webhook}
failSwapOn: false
staticPodPath: ""
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
# Two kubelets share this machine's disk: never evict for it here.
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
podPidsLimit: -1
protectKernelDefaults: false
makeIPTablesUtilChains: false
localStorageCapacityIsolation: false
EOF
  run kubelet-$n $p-$n $n "$bin/kubelet" --config "$nd/kubelet.yaml" \
    --kubeconfig "$dir/$n.kubeconfig" --hostname-override $n --node-ip 10.77.0.1$k \
    --root-dir "$nd/kubelet" --cert-dir "$nd/kubelet/pki" -v 1
  cat >"$nd/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: "$dir/kube-proxy.kubeconfig"}
hostnameOverride: $n
clusterCIDR: 10.244.0.0/16
bindAddress: 10.77.0.1$k
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# conntrack limits are machine-wide sysctls: leave them alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  run kube-proxy-$n $p-$n $n "$bin/kube-proxy" --config "$nd/kube-proxy.yaml"
done

kc() { ip netns exec $p-cp "$bin/kubectl" --kubeconfig "$dir/admin.kubeconfig" "$@"; }
for n in "${nodes[@]}"; do
  wait_for "node $n Ready" kubelet-$n sh -c "ip netns exec $p-cp '$bin/kubectl' --kubeconfig '$dir/admin.kubeconfig' get node $n -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
done
wait_for "default ServiceAccount" kube-controller-manager kc get serviceaccount default -n default
echo "cluster-up: ready in $((SECONDS - start_time))s" >&2
echo "$dir/admin.kubeconfig"
