#!/usr/bin/env bash
# Usage: controlplane-down.sh <dir> [apiserver]
# Stops the kube-apiserver and etcd started by controlplane-up.sh <dir>
# (only the apiserver with "apiserver", e.g. for outage tests). Leaves the
# files in <dir>; safe to run when nothing is running.
set -euo pipefail

[[ $# -ge 1 && -n $1 ]] || { echo "usage: $0 <dir> [apiserver]" >&2; exit 2; }
[[ -d $1 ]] || exit 0
dir=$(cd "$1" && pwd)

# stop <name>: SIGTERM, then SIGKILL after 20 s. Only a pid whose command line
# names <dir>/ is ours (see controlplane-up.sh): a stale pid file is harmless.
ours() { grep -qaF -- "$dir/" "/proc/$1/cmdline" 2>/dev/null; }
# Wait for zombie, not for an empty cmdline: a dying process drops its
# cmdline before it closes its listening sockets and the etcd data lock.
running() { local st; st=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) && [[ -n $st && $st != Z ]]; }
stop() {
  local pidf=$dir/$1.pid pid
  [[ -f $pidf ]] || return 0
  pid=$(cat "$pidf")
  if ours "$pid"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 200); do running "$pid" || break; sleep 0.1; done
    if running "$pid"; then
      echo "controlplane-down: $1 ($pid) ignored SIGTERM, killing" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 50); do running "$pid" || break; sleep 0.1; done
    fi
  fi
  rm -f "$pidf"
}

# apiserver first so it doesn't spend its shutdown retrying a dead etcd.
stop kube-apiserver
[[ ${2:-} == apiserver ]] || stop etcd
