#!/usr/bin/env bash
# Full-kernel test tier: boots a stock Debian kernel under qemu (software
# emulation, no KVM needed) and runs the project's tests inside it, where the
# kernel has bridge VLAN filtering, 8021q, bonding and the ebtables broute
# table, so the tests take their full-kernel branches and fail, rather than
# skip, when a capability is missing (HARVNET_FULL_KERNEL=1). Two tiers share
# one boot, in this order (e2e/vm/results.TierOrder):
#   B  the control-plane e2e: kube-apiserver, etcd and harvnet-controller on
#      the host (e2e/vm/vmhost), e2e/guest with two nodes and their agents in
#      the VM; the control plane stops once it is done
#   A  the netns tests (packages with *_netns_test.go / *_fullkernel_test.go)
# See e2e/vm/README.md.
#
# This script installs missing apt packages (needs root for that only) and
# caches the kernel and its modules (scripts/vm-lib.sh), then execs
# e2e/vm/vmrun, which builds the binaries and the initramfs, runs qemu, reads
# the results the guest writes on its second serial port and prints
# "N passed, M failed" last. It exits non-zero on any failed test, a VM that
# never reports or reports fewer binaries than it was given, a control plane
# that does not start or dies, or a setup step that fails, and leaves nothing
# running, also when killed.
#
# Usage: scripts/vm-test.sh [-v] [-run REGEX] [-tier a|b|ab]
#   -v          stream the whole serial console and every test's output
#   -run REGEX  run only the tests matching REGEX (go test -run)
#   -tier T     which tiers to run (default ab; HARVNET_VM_TIERS)
# Env:
#   HARVNET_VM_CACHE    kernel cache (default /var/cache/harvnet-vm as root,
#                       else ${XDG_CACHE_HOME:-~/.cache}/harvnet-vm)
#   HARVNET_VM_OUT      binaries, image, console log and results (default _output/vm)
#   HARVNET_VM_KERNEL   Debian kernel package (default: the one linux-image-amd64 depends on)
#   HARVNET_VM_PKGS     Go packages to test in tier A (default: those with
#                       *_netns_test.go or *_fullkernel_test.go files)
#   HARVNET_VM_FILES    extra file lists in e2e/vm/files format (space-separated)
#   HARVNET_VM_HOOKS    executables /init runs before the tests (space-separated)
#   HARVNET_VM_ENV      NAME=value words exported to the tests in the VM
#   HARVNET_VM_TIMEOUT  seconds until a VM that has not reported is killed
#                       (900 for tier A alone, 1080 with tier B)
#   HARVNET_VM_GO_TIMEOUT  -test.timeout per test binary, in seconds (480)
#   HARVNET_VM_MEM (1024), HARVNET_VM_SMP (2), HARVNET_VM_ACCEL (tcg,thread=multi)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vmdir=$root/e2e/vm
# shellcheck source=scripts/vm-lib.sh
source "$root/scripts/vm-lib.sh"
out=${HARVNET_VM_OUT:-$root/_output/vm}

say() { echo "vm-test: $*" >&2; }
# fail prints the line CI counts, so a run that never got to the VM still
# shows up as a failure, and exits.
fail() {
  say "$*"
  echo "0 passed, 1 failed"
  exit 1
}
phase() { say "$1 ($(($(date +%s) - HARVNET_VM_T0))s)"; }
tmps=()
trap 'rm -rf "${tmps[@]}"' EXIT

vm_packages
vm_lock
vm_kernel
rm -rf "${tmps[@]}" # exec skips the EXIT trap
vm_exec_vmrun "$out" test "$@"
