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
# control plane.
#
# Usage: scripts/vm-demo.sh [-nodes N]
#        scripts/vm-demo.sh --needed   exits 0 when this kernel lacks bridge
#                                      VLAN filtering, so the demo needs the VM
# Env: HARVNET_VM_CACHE, HARVNET_VM_KERNEL, HARVNET_VM_MEM, HARVNET_VM_SMP as
# for scripts/vm-test.sh; HARVNET_VM_DEMO_OUT (default _output/vm-demo).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vmdir=$root/e2e/vm
# shellcheck source=scripts/vm-lib.sh
source "$root/scripts/vm-lib.sh"
export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

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

if [[ $EUID -eq 0 ]]; then
  cache=${HARVNET_VM_CACHE:-/var/cache/harvnet-vm}
else
  cache=${HARVNET_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/harvnet-vm}
fi
out=${HARVNET_VM_DEMO_OUT:-$root/_output/vm-demo}
hdir=$out/cp
log=$out/console.log
kubectl=$root/bin/kubectl

say() { echo "==> $*"; }
phase() { say "$1"; }
fail() {
  echo "vm-demo: $*" >&2
  exit 1
}
tmps=() hpid= qpid=
cleanup() {
  trap - INT TERM
  if [[ -n $qpid$hpid ]]; then
    say "cleaning up: stopping the VM, the controller and the control plane"
  fi
  if [[ -n $qpid ]]; then
    kill -TERM "$qpid" 2>/dev/null || true
    wait "$qpid" 2>/dev/null || true
  fi
  if [[ -n $hpid ]]; then
    kill -TERM "$hpid" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$hpid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$hpid" 2>/dev/null || true
    wait "$hpid" 2>/dev/null || true
  fi
  [[ -d $hdir ]] && vm_host_leftovers "$hdir"
  rm -rf "${tmps[@]}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_busy() { [[ -n $(ss -Hltn "sport = :$1") ]]; }

vm_packages
vm_lock
vm_kernel
exec 9>&- # the cache's lock: the demo runs for long

phase "kube-apiserver, kubectl, etcd (scripts/install-tools.sh)"
"$root/scripts/install-tools.sh" || fail "scripts/install-tools.sh failed"
phase "building harvnet-agent, harvnet-controller, vmhost and vmdemo"
rm -rf "$out/bin" && mkdir -p "$out/bin"
(cd "$root" && go build -ldflags='-s -w' -o "$out/bin/" ./cmd/harvnet-agent ./cmd/harvnet-controller ./e2e/vm/vmhost ./e2e/vm/vmdemo) ||
  fail "go build failed"

[[ -d $hdir ]] && "$root/scripts/controlplane-down.sh" "$hdir" >/dev/null 2>&1
rm -rf "$hdir" && mkdir -p "$hdir"
phase "starting kube-apiserver and etcd on 127.0.0.1, and harvnet-controller"
"$out/bin/vmhost" -root "$root" -dir "$hdir" -bin "$out/bin" -ready "$hdir/ready" >"$hdir/vmhost.log" 2>&1 </dev/null &
hpid=$!
api_port=$(vm_host_port "$hdir" "$hpid") || fail "the control plane or the controller did not start; logs in $hdir"

phase "building the VM image"
vm_hooks=("$vmdir/guest-net:00-guest-net")
vm_main=$vmdir/demo-main
vm_bins=("$out/bin/harvnet-agent:/usr/local/bin/harvnet-agent" "$out/bin/vmdemo:/usr/local/bin/vmdemo")
vm_files=("$hdir/guest/admin.kubeconfig:/etc/harvnet-vm/demo/admin.kubeconfig"
  "$hdir/guest/agent.kubeconfig:/etc/harvnet-vm/demo/agent.kubeconfig")
vm_config="export HARVNET_GUEST_KUBECONFIG=/etc/harvnet-vm/demo/admin.kubeconfig
export HARVNET_GUEST_AGENT_KUBECONFIG=/etc/harvnet-vm/demo/agent.kubeconfig
export DEMO_NODES=$nodes"
vm_image

# A root shell in the VM on its second serial port, served by qemu as a
# telnet server on the host's loopback.
shport=10023
while port_busy "$shport"; do shport=$((shport + 1)); done
vm_net "$api_port"
vm_qemu
# Both ports named: a -device isa-serial would turn off the default stdio one.
qemu+=(-serial stdio -chardev "socket,id=shell,host=127.0.0.1,port=$shport,server=on,wait=off,telnet=on"
  -serial chardev:shell)
phase "booting $kver under qemu (TCG) with $nodes demo nodes; console in ${log#"$root/"}"
qemu+=(-pidfile "$out/qemu.pid")
rm -f "$out/qemu.pid"
vm_watchdog "$out/qemu.pid" # stops qemu should this script be killed outright
"${qemu[@]}" </dev/null > >(sed -u -e 's/\r$//' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' >"$log") 2>&1 &
qpid=$!

phase "enabling the VLAN network with eth1 as default NIC, adding a NAD for VLAN 100, waiting for the nodes"
"$out/bin/vmdemo" host -nodes "$nodes" -kubeconfig "$hdir/admin.kubeconfig" -wait 5m &
wpid=$!
while kill -0 "$wpid" 2>/dev/null; do
  if ! kill -0 "$qpid" 2>/dev/null; then
    kill "$wpid" 2>/dev/null
    qpid=
    tail -n 30 "$log" >&2
    fail "the VM stopped; console in $log"
  fi
  sleep 0.5
done
wait "$wpid" || { tail -n 30 "$log" >&2; fail "the nodes did not get Ready; console in $log, controller log $hdir/controller.log"; }

echo
"$kubectl" --kubeconfig "$hdir/admin.kubeconfig" get hnodes -o wide
cat <<EOF

harvnet is running: the control plane and the controller on this machine,
the demo nodes and their agents in a VM with a full kernel ($kver). Try, in
another shell:

  export KUBECONFIG=$hdir/admin.kubeconfig
  $kubectl get hnodes -o wide
  $kubectl describe hnode node1
  $kubectl patch hnode node1 --type merge -p '{"spec":{"network":{"nic":"eth0"}}}'   # move the management NIC onto the bridge

  busybox telnet 127.0.0.1 $shport   # a root shell in the VM, where the nodes are:
    ip netns exec hdemo-node1 bridge -compressvlans vlan show   # VLAN 100 on the uplink
    ip netns exec hdemo-node1 ip -br addr                       # what the node really has
    ip netns exec hdemo-node1 ip link del harvester-br0          # drift: the agent repairs it at once
    tail /tmp/harvnet-demo/agent-node1.log
  (leave telnet with Ctrl-] then "quit"; the shell stays)

Logs: $hdir/controller.log, the VM's console $log. Press Ctrl-C to stop and clean up.
EOF
wait "$qpid" || true
qpid=
tail -n 20 "$log" >&2
fail "the VM stopped on its own; console in $log"
