#!/usr/bin/env bash
# Usage: cluster-down.sh [dir]   (default: _output/cluster)
# Stops everything scripts/cluster-up.sh started for <dir> and removes it:
# every process whose command line names <dir>/ (components, containerd
# shims), every process in the nodes' cgroups (the pods), the nodes' mount
# namespaces (and with them every mount the kubelets and containerd made),
# the network namespaces and the state. Logs stay in <dir>/log.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-$root/_output/cluster}
[[ -d $dir ]] || exit 0
dir=$(cd "$dir" && pwd)
p=${HARVNET_CLUSTER_PREFIX:-hk}
[[ -f $dir/prefix ]] && p=$(<"$dir/prefix")

ours() { # pids whose command line names $dir/
  local f
  for f in /proc/[0-9]*/cmdline; do
    grep -qaF -- "$dir/" "$f" 2>/dev/null && { f=${f#/proc/}; echo "${f%/cmdline}"; }
  done
}
in_cgroups() { cat /sys/fs/cgroup/*/harvnet-n*/cgroup.procs /sys/fs/cgroup/*/harvnet-n*/**/cgroup.procs 2>/dev/null; }
shopt -s globstar nullglob
# The kubelets first (they would restart what is killed), then the rest.
for sig in TERM KILL; do
  pids=$(ours)
  [[ -n $pids ]] && kill -s $sig $pids 2>/dev/null
  for _ in $(seq 50); do [[ -z $(ours) ]] && break; sleep 0.1; done
done
for _ in 1 2 3; do
  pids=$(in_cgroups)
  [[ -z $pids ]] && break
  kill -s KILL $pids 2>/dev/null
  sleep 0.3
done
for c in /sys/fs/cgroup/*/harvnet-n*; do
  find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
done
for m in "$dir"/mnt/*; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
umount "$dir/mnt" 2>/dev/null
for ns in $p-n1 $p-n2 $p-cp $p-sw; do ip netns del $ns 2>/dev/null; done
# Anything still mounted under <dir> in this namespace (should be none).
grep -F " $dir/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
find "$dir" -mindepth 1 -maxdepth 1 ! -name log ! -name prefix -exec rm -rf {} + 2>/dev/null
rc=0
left=$(ours; in_cgroups)
[[ -z $left ]] || { echo "cluster-down: processes left: $left" >&2; rc=1; }
for ns in $p-n1 $p-n2 $p-cp $p-sw; do
  [[ -e /run/netns/$ns ]] && { echo "cluster-down: namespace $ns left" >&2; rc=1; }
done
grep -qF " $dir/" /proc/self/mountinfo && { echo "cluster-down: mounts left under $dir" >&2; rc=1; }
exit $rc
