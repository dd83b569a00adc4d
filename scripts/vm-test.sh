#!/usr/bin/env bash
# Full-kernel test tier: boots a stock Debian kernel under qemu (software
# emulation, no KVM needed) and runs the project's netns tests inside it,
# where the kernel has bridge VLAN filtering, 8021q, bonding and the
# ebtables broute table, so the tests take their full-kernel branches and
# fail, rather than skip, when a capability is missing (HARVNET_FULL_KERNEL=1).
# See e2e/vm/README.md.
#
# Two tiers share one boot:
#   A  the netns tests (packages with *_netns_test.go / *_fullkernel_test.go)
#   B  the control-plane e2e: kube-apiserver, etcd and harvnet-controller run
#      on the host (e2e/vm/vmhost); in the VM, e2e/guest builds two nodes in
#      namespaces, runs harvnet-agent in each, and drives the story through
#      the host's API server, reached through qemu's user-mode network
#      (restrict=on; one guestfwd from 10.0.2.100:6443 to 127.0.0.1:<port>).
#
#      Tier B runs first; the control plane stops once it is done.
#
# Idempotent: installs missing apt packages (needs root for that only) and,
# for tier B, runs scripts/install-tools.sh; caches the kernel and its
# modules, rebuilds the test binaries and the initramfs every run. Prints
# "N passed, M failed" last; exits non-zero on any failure, a VM that never
# reports (timeout or crash), a control plane or controller that does not
# start or dies, or missing qemu. Leaves nothing running, also when killed
# (a watchdog stops qemu; vmhost stops the control plane when its parent dies).
#
# Usage: scripts/vm-test.sh [-v] [-run REGEX] [-tier a|b|ab]
#   -v          stream the whole serial console, not only progress and failures
#   -run REGEX  run only the tests matching REGEX (go test -run)
#   -tier T     which tiers to run (default ab; HARVNET_VM_TIERS)
# Env:
#   HARVNET_VM_CACHE    kernel cache (default /var/cache/harvnet-vm as root,
#                       else ${XDG_CACHE_HOME:-~/.cache}/harvnet-vm)
#   HARVNET_VM_OUT      image, console log and test binaries (default _output/vm)
#   HARVNET_VM_KERNEL   Debian kernel package (default: the one linux-image-amd64 depends on)
#   HARVNET_VM_PKGS     Go packages to test (default: those with *_netns_test.go
#                       or *_fullkernel_test.go files)
#   HARVNET_VM_FILES    extra file lists in e2e/vm/files format (space-separated)
#   HARVNET_VM_HOOKS    executables /init runs before the tests (space-separated)
#   HARVNET_VM_ENV      NAME=value words exported to the tests in the VM
#   HARVNET_VM_TIMEOUT  seconds until a VM that has not reported is killed
#                       (240 for tier A alone, 360 with tier B)
#   HARVNET_VM_GO_TIMEOUT  -test.timeout per test binary, in seconds (180)
#   HARVNET_VM_MEM (1024), HARVNET_VM_SMP (2)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vmdir=$root/e2e/vm
# shellcheck source=scripts/vm-lib.sh
source "$root/scripts/vm-lib.sh"
export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

verbose=0 run= tiers=${HARVNET_VM_TIERS:-ab}
while (($#)); do
  case $1 in
  -v) verbose=1 ;;
  -run) run=${2:?-run needs a regex}; shift ;;
  -run=*) run=${1#-run=} ;;
  -tier) tiers=${2:?-tier needs a, b or ab}; shift ;;
  -tier=*) tiers=${1#-tier=} ;;
  *) echo "usage: $0 [-v] [-run REGEX] [-tier a|b|ab]" >&2; exit 2 ;;
  esac
  shift
done
tiers=${tiers,,}
[[ $tiers =~ ^(a|b|ab|ba)$ ]] || { echo "$0: -tier must be a, b or ab, not $tiers" >&2; exit 2; }
tiera=0 tierb=0
[[ $tiers == *a* ]] && tiera=1
[[ $tiers == *b* ]] && tierb=1

if [[ $EUID -eq 0 ]]; then
  cache=${HARVNET_VM_CACHE:-/var/cache/harvnet-vm}
else
  cache=${HARVNET_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/harvnet-vm}
fi
out=${HARVNET_VM_OUT:-$root/_output/vm}
boot_timeout=${HARVNET_VM_TIMEOUT:-$((tierb ? 360 : 240))}
go_timeout=${HARVNET_VM_GO_TIMEOUT:-180}
log=$out/console.log
t0=$SECONDS

say() { echo "vm-test: $*" >&2; }
# fail prints the line CI counts, so a run that never got to the VM still
# shows up as a failure, and exits.
fail() {
  say "$*"
  echo "0 passed, 1 failed"
  exit 1
}
phase() { say "$1 ($((SECONDS - t0))s)"; }
tmps=()
# Tier B's host side (e2e/vm/vmhost): its pid, state and log directory.
hpid= hdir=$out/tierb hstatus= api_port=
# stop_host stops the controller and the control plane: SIGTERM to vmhost,
# which stops both and exits 0 (anything else: it failed or died on its
# own; hstatus); then, should it have died without stopping them, the
# control plane by its pid files and the controller by its exact path.
stop_host() {
  ((tierb)) || return 0
  if [[ -n $hpid ]]; then
    kill -TERM "$hpid" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$hpid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$hpid" 2>/dev/null || true
    hstatus=0
    wait "$hpid" 2>/dev/null || hstatus=$?
    hpid=
  fi
  [[ -d $hdir ]] && vm_host_leftovers "$hdir"
  return 0
}
qpidf=$out/qemu.pid
trap 'vm_kill_qemu "$qpidf"; stop_host; rm -rf "${tmps[@]}"' EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

[[ $go_timeout =~ ^[0-9]+$ && $boot_timeout =~ ^[0-9]+$ ]] || fail "HARVNET_VM_GO_TIMEOUT and HARVNET_VM_TIMEOUT are seconds"
for kv in ${HARVNET_VM_ENV:-}; do
  [[ $kv =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || fail "HARVNET_VM_ENV: $kv is not NAME=value"
done
for h in ${HARVNET_VM_HOOKS:-}; do
  [[ -f $h && -x $h ]] || fail "HARVNET_VM_HOOKS: $h is not an executable file"
done

# ------------------------------------------------------- packages, kernel
vm_packages
vm_lock
vm_kernel

# ------------------------------------------------- tier B: the host's side
# The control plane and the controller start while the test binaries build.
if ((tierb)); then
  phase "tier B: kube-apiserver, kubectl, etcd (scripts/install-tools.sh)"
  "$root/scripts/install-tools.sh" || fail "scripts/install-tools.sh failed"
  phase "tier B: building harvnet-agent, harvnet-controller and vmhost"
  rm -rf "$out/bin" && mkdir -p "$out/bin"
  # With the toolchain's default CGO_ENABLED, as the host tiers build them
  # (go test ./..., framework.Build): after those, only the link is left,
  # where a static build would compile client-go and its world again. The
  # agent's libc goes into the VM like iproute2's.
  (cd "$root" && go build -ldflags='-s -w' -o "$out/bin/" ./cmd/harvnet-agent ./cmd/harvnet-controller ./e2e/vm/vmhost) ||
    fail "go build of the tier B binaries failed"
  # A control plane left by a killed run would be mistaken for this one's.
  [[ -d $hdir ]] && "$root/scripts/controlplane-down.sh" "$hdir" >/dev/null 2>&1
  rm -rf "$hdir" && mkdir -p "$hdir"
  phase "tier B: starting kube-apiserver, etcd and harvnet-controller on the host (logs in ${hdir#"$root/"})"
  "$out/bin/vmhost" -root "$root" -dir "$hdir" -bin "$out/bin" -ready "$hdir/ready" >"$hdir/vmhost.log" 2>&1 </dev/null &
  hpid=$!
fi

# ------------------------------------------------------------ test binaries
tpkgs=()
if ((tiera)); then
  if [[ -n ${HARVNET_VM_PKGS:-} ]]; then
    read -ra tpkgs <<<"$HARVNET_VM_PKGS"
  else
    mapfile -t tpkgs < <(cd "$root" && go list -e -f '{{.ImportPath}}{{range .TestGoFiles}} {{.}}{{end}}{{range .XTestGoFiles}} {{.}}{{end}}' ./... |
      awk '/_netns_test\.go|_fullkernel_test\.go/ {print $1}')
  fi
  ((${#tpkgs[@]})) || fail "no Go packages with netns tests found"
fi
shown=("${tpkgs[@]}")
((tierb)) && shown+=(./e2e/guest)
phase "building test binaries for ${shown[*]}"
rm -rf "$out/tests" && mkdir -p "$out/tests"
# One go invocation builds them in parallel; static, so the VM needs no libc for them.
if ((${#tpkgs[@]})); then
  (cd "$root" && CGO_ENABLED=0 go test -c -ldflags='-s -w' -o "$out/tests/" "${tpkgs[@]}") ||
    fail "go test -c failed"
fi
# Tier B's test imports client-go: built like the agent (see above).
if ((tierb)); then
  (cd "$root" && go test -c -ldflags='-s -w' -o "$out/tests/" ./e2e/guest) || fail "go test -c ./e2e/guest failed"
fi

if ((tierb)); then
  phase "tier B: waiting for the host's control plane"
  api_port=$(vm_host_port "$hdir" "$hpid") || fail "tier B: the control plane or the controller did not start; logs in $hdir"
  say "$(tail -n1 "$hdir/vmhost.log")"
fi

# ---------------------------------------------------------------- initramfs
phase "building the initramfs"
# /init runs /tests/*.test in name order: tier B's first (see progress).
guest_test=0-guest.test
for t in "$out"/tests/*.test; do
  n=${t##*/}
  [[ $n == guest.test ]] && n=$guest_test
  vm_tests+=("$t:$n")
done
for l in ${HARVNET_VM_FILES:-}; do vm_lists+=("$l"); done
for h in ${HARVNET_VM_HOOKS:-}; do vm_hooks+=("$h:${h##*/}"); done
vm_config=$(
  if ((tierb)); then
    echo "export HARVNET_GUEST_KUBECONFIG=/etc/harvnet-vm/tierb/admin.kubeconfig"
    echo "export HARVNET_GUEST_AGENT_KUBECONFIG=/etc/harvnet-vm/tierb/agent.kubeconfig"
    echo "export HARVNET_GUEST_AGENT=/usr/local/bin/harvnet-agent"
  fi
  for kv in ${HARVNET_VM_ENV:-}; do printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"; done
  printf 'GO_TIMEOUT=%ss\n' "$go_timeout"
  printf 'KILL_AFTER=%s\n' "$((go_timeout + 30))"
  [[ -n $run ]] && printf 'GO_TEST_ARGS=%q\n' "-test.run=$run"
  true
)
if ((tierb)); then
  # The NIC comes up before any other hook; the agent and the kubeconfigs
  # the host wrote go in, named by the environment of e2e/guest.
  vm_hooks+=("$vmdir/guest-net:00-guest-net")
  vm_bins+=("$out/bin/harvnet-agent:/usr/local/bin/harvnet-agent")
  vm_files+=("$hdir/guest/admin.kubeconfig:/etc/harvnet-vm/tierb/admin.kubeconfig"
    "$hdir/guest/agent.kubeconfig:/etc/harvnet-vm/tierb/agent.kubeconfig")
fi
vm_image

# --------------------------------------------------------------------- boot
phase "booting $kver under qemu (TCG), console in ${log#"$root/"}"
vm_net "$api_port"
vm_qemu
# Progress filter: the VM's own lines, failures and what the tests prove.
show='^harvnet-vm: |^guest: |^ *--- (FAIL|SKIP)|^(FAIL|panic:)|proved:|Kernel panic'
((verbose)) && show=.
# Tier B runs first (see guest_test); once it is done, the control plane
# and the controller are stopped so that tier A's timing-sensitive tests
# (pings every 2 ms) get the host's CPUs as they would without tier B.
progress() {
  local line
  while IFS= read -r line; do
    [[ $line =~ $show ]] && printf '%s\n' "$line" >&2
    if [[ -n $hpid && $line == "harvnet-vm: done $guest_test:"* ]]; then
      kill -TERM "$hpid" 2>/dev/null || true
    fi
  done
}
# In the background, so that a signal to this script is handled at once
# (bash runs traps only between foreground commands): the EXIT trap stops
# qemu, and the watchdog does if this script is killed outright.
qemu+=(-pidfile "$qpidf")
rm -f "$qpidf"
vm_watchdog "$qpidf"
set +e
{
  # The console without carriage returns and the firmware's terminal escapes.
  timeout -k 5 "$boot_timeout" "${qemu[@]}" </dev/null 2>&1 |
    sed -u -e 's/\r$//' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' |
    tee "$log" | progress
  exit "${PIPESTATUS[0]}"
} &
wait $!
rc=$?
set -e
# The VM is done: the controller and the control plane go now, their logs stay.
stop_host

# ------------------------------------------------------------------ summary
((tierb)) && hlogs=", control plane and controller $hdir (controller.log, kube-apiserver.log, vmhost.log)"
result=$(grep -E '^harvnet-vm: result passed=[0-9]+ failed=[0-9]+ skipped=[0-9]+' "$log" | tail -n1 || true)
if [[ -z $result ]]; then
  case $rc in
  124 | 137) why="did not report within ${boot_timeout}s (HARVNET_VM_TIMEOUT)" ;;
  0) why="stopped without reporting (/init died or the kernel panicked)" ;;
  *) why="qemu exited $rc without a report" ;;
  esac
  say "the VM $why; last console lines:"
  tail -n 25 "$log" >&2
  say "logs: console $log${hlogs:-}"
  p=$(grep -cE '^ *--- PASS: ' "$log" || true)
  f=$(grep -cE '^ *--- FAIL: ' "$log" || true)
  echo "$p passed, $((f + 1)) failed"
  exit 1
fi
read -r p f s < <(sed -E 's/.*passed=([0-9]+) failed=([0-9]+) skipped=([0-9]+).*/\1 \2 \3/' <<<"$result")
# isa-debug-exit: /init wrote 0 (qemu exits 1) or 1 (qemu exits 3).
status=0
if [[ $rc -ne 1 ]]; then
  status=1
  [[ $rc -eq 3 ]] || say "qemu exited $rc after the VM reported"
fi
if ((tierb)) && [[ $hstatus != 0 ]]; then
  say "tier B: vmhost (the control plane and the controller) failed or died during the run (exit $hstatus); see $hdir/vmhost.log"
  f=$((f + 1))
fi
((f == 0)) || status=1
if ((s > 0)); then
  say "$s skipped in the VM:"
  grep -E '^ *--- SKIP: ' -B1 "$log" | grep -v '^--$' >&2 || true
fi
if ((f > 0)); then
  say "failed in the VM:"
  grep -E '^ *--- FAIL: |^harvnet-vm: .* counted as one failure|^guest: setting up' "$log" >&2 || true
fi
say "total $((SECONDS - t0))s (console $log)"
((status == 0)) || say "logs: console $log${hlogs:-}"
echo "$p passed, $f failed"
exit $status
