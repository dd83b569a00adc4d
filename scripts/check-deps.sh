#!/usr/bin/env bash
# harvnet-controller runs as a Deployment with no host access; it must not
# link the packages that change a host's network (netlink, iptables, netns,
# harvnet's own host-side packages). Fails naming what pulled one in.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

forbidden='github.com/vishvananda/|github.com/coreos/go-iptables|github.com/containernetworking/|github.com/harvnet/harvnet/pkg/(hostnet|hostloop|reconcile|monitor|agent|plan|desired|hoststate|status)$'
bad=$(go list -deps ./cmd/harvnet-controller | grep -E "$forbidden" || true)
if [[ -n $bad ]]; then
  echo "check-deps: harvnet-controller links host-side packages:" >&2
  echo "$bad" | sed 's/^/  /' >&2
  for p in $bad; do
    echo "  $p is imported by: $(go list -deps -f '{{.ImportPath}} {{join .Imports " "}}' ./cmd/harvnet-controller | awk -v p="$p" '{for(i=2;i<=NF;i++) if($i==p) print $1}' | tr '\n' ' ')" >&2
  done
  exit 1
fi
echo "check-deps: harvnet-controller links no host-side package"
