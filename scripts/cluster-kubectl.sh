#!/usr/bin/env bash
# kubectl (or helm: cluster-kubectl.sh --helm ...) as admin against the
# kubelet cluster of scripts/cluster-up.sh, whose API server is reachable
# only from inside its control-plane network namespace.
#   scripts/cluster-kubectl.sh get pods -n harvester-system -o wide
#   scripts/cluster-kubectl.sh get hnodes
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${HARVNET_CLUSTER_DIR:-$root/_output/cluster}
tool=kubectl
[[ ${1:-} == --helm ]] && { tool=helm; shift; }
export KUBECONFIG=$dir/admin.kubeconfig
p=${HARVNET_CLUSTER_PREFIX:-hk}
[[ -f $dir/prefix ]] && p=$(<"$dir/prefix")
exec nsenter --net=/run/netns/$p-cp "$root/bin/$tool" "$@"
