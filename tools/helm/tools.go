//go:build tools

// Package tools pins the binaries built from this module so `go mod tidy`
// keeps their dependencies.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
