package main

import (
	"strings"
	"testing"
)

// Bad flags are refused with a message naming the flag, before the
// controller talks to the API server.
func TestBadFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "not defined"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--namespace="}, "--namespace is empty"},
		{[]string{"--kube-api-qps=0"}, "--kube-api-qps must be positive"},
		{[]string{"--kube-api-burst=0"}, "--kube-api-burst at least 1"},
		{[]string{"--kubeconfig=/nonexistent/kubeconfig"}, "kubeconfig"},
	} {
		err := run(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%q) = %v, want an error with %q", tt.args, err, tt.want)
		}
	}
}
