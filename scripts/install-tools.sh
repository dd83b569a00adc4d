#!/usr/bin/env bash
# Installs what the integration tests and the demo need. Idempotent and quiet
# on success; safe to run from CI on every run.
#   apt:  etcd-server iptables ebtables nftables iproute2 iputils-ping openssl curl
#   Go:   bin/kube-apiserver and bin/kubectl from tools/apiserver (k8s v1.37.2)
#         bin/helm from tools/helm
#   --cluster adds the kubelet tier (make test-deploy): bin/kubelet, kube-proxy,
#         kube-scheduler, kube-controller-manager (tools/kube, same k8s),
#         containerd, ctr, containerd-shim-runc-v2 and bin/cni/* (tools/containerd),
#         runc and conntrack from apt
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=$root/tools/apiserver
bin=$root/bin
log=$(mktemp)
trap 'rm -f "$log"' EXIT

die() { echo "install-tools: $*" >&2; [[ -s $log ]] && tail -n 30 "$log" >&2; exit 1; }

missing=()
for p in etcd-server iptables ebtables nftables iproute2 iputils-ping openssl curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $EUID -eq 0 ]] || die "need root to apt-get install: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >"$log" 2>&1 || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1 ||
    die "apt-get install ${missing[*]} failed"
fi

command -v go >/dev/null || die "go not found in PATH"

# Stamp the release into the binaries (upstream does this via hack/lib/version.sh)
# so `kubectl version` and /version report v1.37.2 instead of v0.0.0-master.
ver=$(cd "$tools" && go list -m -f '{{.Version}}' k8s.io/kubernetes) || die "cannot read k8s version from $tools/go.mod"
minor=$(cut -d. -f2 <<<"$ver")
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$ver -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

# A stamp of the inputs decides rebuilds: cheaper than `go build` loading the
# whole k8s package graph, and still exact when go.mod, flags or Go change.
mkdir -p "$bin"
# build MODULE_DIR PACKAGE NAME LDFLAGS: bin/NAME from a tools module, rebuilt
# only when the module's go.mod/go.sum, the flags or Go changed.
build() {
  local dir=$1 pkg=$2 out=$bin/$3 flags=$4 key
  key="$flags $(go env GOVERSION) $(cat "$dir/go.mod" "$dir/go.sum" | sha256sum)"
  [[ -x $out && -f $out.stamp && $(<"$out.stamp") == "$key" ]] && return 0
  echo "install-tools: building bin/$3 ($pkg; a cold build takes minutes)" >&2
  (cd "$dir" && go build -ldflags "$flags" -o "$out.tmp" "$pkg") >"$log" 2>&1 ||
    die "go build $3 failed"
  mv -f "$out.tmp" "$out"
  echo "$key" >"$out.stamp"
}
for cmd in kube-apiserver kubectl; do
  build "$tools" "k8s.io/kubernetes/cmd/$cmd" "$cmd" "$ldflags"
done

# helm (tools/helm): helm lint in make test, helm install in make test-deploy.
hver=$(cd "$root/tools/helm" && go list -m -f '{{.Version}}' helm.sh/helm/v3) || die "cannot read helm version"
build "$root/tools/helm" helm.sh/helm/v3/cmd/helm helm "-s -w -X helm.sh/helm/v3/internal/version.version=$hver"

# The kubelet cluster of make test-deploy (scripts/cluster-up.sh), only when
# asked: install-tools.sh --cluster. The node binaries come from tools/kube,
# which must name the same k8s.io/kubernetes as the apiserver.
if [[ ${1:-} == --cluster ]]; then
  kver=$(cd "$root/tools/kube" && go list -m -f '{{.Version}}' k8s.io/kubernetes) || die "cannot read tools/kube"
  [[ $kver == "$ver" ]] || die "tools/kube has k8s $kver but tools/apiserver has $ver: they must match"
  for cmd in kubelet kube-proxy kube-scheduler kube-controller-manager; do
    build "$root/tools/kube" "k8s.io/kubernetes/cmd/$cmd" "$cmd" "$ldflags"
  done
  # containerd 2.x: kubelet 1.36+ refuses 1.x runtimes, and Debian 12 ships 1.6.
  cver=$(cd "$root/tools/containerd" && go list -m -f '{{.Version}}' github.com/containerd/containerd/v2) || die "cannot read tools/containerd"
  cflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$cver"
  for cmd in containerd containerd-shim-runc-v2 ctr; do
    build "$root/tools/containerd" "github.com/containerd/containerd/v2/cmd/$cmd" "$cmd" "$cflags"
  done
  mkdir -p "$bin/cni"
  for p in main/bridge ipam/host-local main/loopback meta/portmap; do
    build "$root/tools/containerd" "github.com/containernetworking/plugins/plugins/$p" "cni/${p#*/}" "-s -w"
  done
  need=()
  for p in runc conntrack; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
  done
  if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >"$log" 2>&1 || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${need[@]}" >"$log" 2>&1 || die "apt-get install ${need[*]} failed"
  fi
fi

command -v etcd >/dev/null || die "etcd not found after install"
