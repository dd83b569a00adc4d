#!/usr/bin/env bash
# Regenerates everything derived from the API types in pkg/apis:
#   pkg/apis/*/*/zz_generated_deepcopy.go  deepcopy        (pkg/codegen)
#   pkg/generated/                         clientset, applyconfigurations,
#                                          listers, informers, wrangler
#                                          controllers     (pkg/codegen)
#   crds/                                  CRD YAML        (controller-gen)
# Works from any checkout path (no GOPATH layout needed) and from any cwd.
# controller-gen runs as `go run pkg@version`, so it stays out of go.mod.
set -euo pipefail

CONTROLLER_TOOLS_VERSION=${CONTROLLER_TOOLS_VERSION:-v0.23.0}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# pkg/generated is wholly generated: start empty so files of removed types go.
rm -rf pkg/generated
go run ./pkg/codegen

rm -f crds/*_*.yaml
mkdir -p crds
go run "sigs.k8s.io/controller-tools/cmd/controller-gen@${CONTROLLER_TOOLS_VERSION}" \
  crd paths=./pkg/apis/... output:crd:dir=crds
