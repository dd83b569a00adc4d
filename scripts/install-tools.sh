#!/usr/bin/env bash
# Installs what the integration tests and the demo need. Idempotent and quiet
# on success; safe to run from CI on every run.
#   apt:  etcd-server iptables ebtables iproute2 iputils-ping openssl curl
#   Go:   bin/kube-apiserver and bin/kubectl from tools/apiserver (k8s v1.37.2)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=$root/tools/apiserver
bin=$root/bin
log=$(mktemp)
trap 'rm -f "$log"' EXIT

die() { echo "install-tools: $*" >&2; [[ -s $log ]] && tail -n 30 "$log" >&2; exit 1; }

missing=()
for p in etcd-server iptables ebtables iproute2 iputils-ping openssl curl; do
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
key="$ldflags $(go env GOVERSION) $(cat "$tools/go.mod" "$tools/go.sum" | sha256sum)"
mkdir -p "$bin"
for cmd in kube-apiserver kubectl; do
  out=$bin/$cmd
  [[ -x $out && -f $out.stamp && $(<"$out.stamp") == "$key" ]] && continue
  echo "install-tools: building bin/$cmd (k8s $ver; a cold build takes ~6-10 min)" >&2
  (cd "$tools" && go build -ldflags "$ldflags" -o "$out.tmp" "k8s.io/kubernetes/cmd/$cmd") >"$log" 2>&1 ||
    die "go build $cmd failed"
  mv -f "$out.tmp" "$out"
  echo "$key" >"$out.stamp"
done

command -v etcd >/dev/null || die "etcd not found after install"
