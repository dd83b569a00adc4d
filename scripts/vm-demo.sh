#!/usr/bin/env bash
# The demo on a full kernel, for machines whose kernel lacks bridge VLAN
# filtering: the control plane (kube-apiserver, etcd) and harvnet-controller
# run on this machine as in `make demo`; the demo nodes (namespaces
# hdemo-node1..N with NICs eth0 (management), eth1, eth2) and their agents
# run in a qemu VM with a stock Debian kernel, reaching the API server through
# qemu's user-mode network (see e2e/vm/README.md). It enables the VLAN
# network with eth1 as default NIC, adds a NAD for VLAN 100, waits until
# every node is Ready with VLAN 100 applied, prints how to poke at it, and
# stays up until Ctrl-C, when it stops the VM, the controller and the
# control plane. After the packages and the kernel (scripts/vm-lib.sh) it
# execs e2e/vm/vmrun, which does the rest.
#
# Usage: scripts/vm-demo.sh [-nodes N]
#        scripts/vm-demo.sh --needed   exits 0 when this kernel lacks bridge
#                                      VLAN filtering, so the demo needs the VM
# Env: HARVNET_VM_CACHE, HARVNET_VM_KERNEL, HARVNET_VM_MEM, HARVNET_VM_SMP as
# for scripts/vm-test.sh; HARVNET_VM_DEMO_OUT (default _output/vm-demo).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vmdir=$root/e2e/vm

nodes=3
while (($#)); do
  case $1 in
  --needed) needed=1 ;;
  -nodes | --nodes) nodes=${2:?-nodes needs a number}; shift ;;
  -nodes=* | --nodes=*) nodes=${1#*=} ;;
  *) echo "usage: $0 [-nodes N] | --needed" >&2; exit 2 ;;
  esac
  shift
done
[[ $nodes =~ ^[1-9]$ ]] || { echo "vm-demo: -nodes must be 1 to 9" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "vm-demo: needs root (qemu, network namespaces); run: sudo $0" >&2; exit 1; }

# needs_vm: true when a scratch namespace cannot have a vlan_filtering bridge.
needs_vm() {
  local ns=hvmprobe$$ rc=0
  ip netns add "$ns" 2>/dev/null || return 1
  if ip -n "$ns" link add probe-br type bridge 2>/dev/null; then
    ip -n "$ns" link set probe-br type bridge vlan_filtering 1 2>/dev/null && rc=1
  fi
  ip netns del "$ns"
  return $rc
}
if [[ -n ${needed:-} ]]; then
  needs_vm
  exit
fi

# shellcheck source=scripts/vm-lib.sh
source "$root/scripts/vm-lib.sh"
out=${HARVNET_VM_DEMO_OUT:-$root/_output/vm-demo}
say() { echo "==> $*"; }
phase() { say "$1"; }
fail() {
  echo "vm-demo: $*" >&2
  exit 1
}
tmps=()
trap 'rm -rf "${tmps[@]}"' EXIT

vm_packages
vm_lock
vm_kernel
exec 9>&- # the cache's lock: the demo runs for long
rm -rf "${tmps[@]}" # exec skips the EXIT trap
vm_exec_vmrun "$out" demo -nodes "$nodes"
