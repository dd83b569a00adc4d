package agent

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The agent's writes are patches of what changed, conditional on the
// resourceVersion they were computed from: a field it does not set is not
// in the patch, so a newer agent's fields survive an older one's write.
func TestMergePatch(t *testing.T) {
	tests := []struct {
		name     string
		old, new any
		want     map[string]any
	}{
		{
			name: "changed and removed fields, untouched ones left out",
			old:  map[string]any{"status": map[string]any{"uplinkStatus": "up", "bridge": "br0", "networkIDs": []int{10, 20}}},
			new:  map[string]any{"status": map[string]any{"uplinkStatus": "down", "bridge": "br0"}},
			want: map[string]any{
				"metadata": map[string]any{"resourceVersion": "7"},
				"status":   map[string]any{"uplinkStatus": "down", "networkIDs": nil},
			},
		},
		{
			name: "a finalizer added",
			old:  map[string]any{"metadata": map[string]any{"finalizers": []string{"other/keep"}}},
			new:  map[string]any{"metadata": map[string]any{"finalizers": []string{"other/keep", "network.harvesterhci.io/agent"}}},
			want: map[string]any{"metadata": map[string]any{
				"resourceVersion": "7",
				"finalizers":      []any{"other/keep", "network.harvesterhci.io/agent"},
			}},
		},
		{
			name: "nothing changed: the precondition alone",
			old:  map[string]any{"status": map[string]any{"bridge": "br0"}},
			new:  map[string]any{"status": map[string]any{"bridge": "br0"}},
			want: map[string]any{"metadata": map[string]any{"resourceVersion": "7"}},
		},
	}
	for _, tt := range tests {
		p, err := mergePatch("7", tt.old, tt.new)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var got map[string]any
		if err := json.Unmarshal(p, &got); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		want, _ := json.Marshal(tt.want)
		var w map[string]any
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s: patch %s, want %s", tt.name, p, want)
		}
	}
}
