#!/usr/bin/env bash
# make demo: runs harvnet locally until Ctrl-C (see e2e/demo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ $EUID -eq 0 ]] || { echo "demo: needs root (network namespaces); run: sudo make demo" >&2; exit 1; }
exec go run ./e2e/demo "$@"
