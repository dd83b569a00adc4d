#!/usr/bin/env bash
# make demo: runs harvnet locally until Ctrl-C (see e2e/demo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ $EUID -eq 0 ]] || { echo "demo: needs root (network namespaces); run: sudo make demo" >&2; exit 1; }
case ${HARVNET_DEMO_VM:-auto} in
1) exec scripts/vm-demo.sh "$@" ;;
auto) if scripts/vm-demo.sh --needed; then
    echo "demo: this kernel lacks bridge VLAN filtering; the demo nodes run in a VM (HARVNET_DEMO_VM=0 keeps them here)" >&2
    exec scripts/vm-demo.sh "$@"
  fi ;;
esac
exec go run ./e2e/demo "$@"
