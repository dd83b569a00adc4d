package main

import (
	"strings"
	"testing"
)

// Bad flags are refused with a message naming the flag, before the agent
// touches the host or the API server.
func TestBadFlags(t *testing.T) {
	t.Setenv("NODE_NAME", "")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "not defined"},
		{[]string{"--node-name=n1", "extra"}, "unexpected arguments"},
		{[]string{"--node-name=n1", "--bridge-name=br/0"}, "bridge name"},
		{[]string{"--node-name=n1", "--bridge-name=a-name-over-15-bytes"}, "bridge name"},
		{[]string{"--node-name=n1", "--uplink-types="}, "uplink types"},
		{[]string{"--node-name=n1", "--uplink-types=device,wifi"}, `"wifi" is not a link type`},
		{[]string{"--node-name=n1", "--resync=0s"}, "--resync must be positive"},
		{[]string{}, "node name is empty"},
		{[]string{"--node-name=n1", "--kubeconfig=/nonexistent/kubeconfig"}, "kubeconfig"},
	} {
		err := run(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%q) = %v, want an error with %q", tt.args, err, tt.want)
		}
	}
}
