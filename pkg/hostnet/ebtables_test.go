package hostnet

import (
	"slices"
	"testing"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// Every ebtables call harvnet makes goes through ebtablesArgs, so each one
// takes ebtables-legacy's lock and names the broute table.
func TestEbtablesArgsTakeTheLock(t *testing.T) {
	r := hoststate.DHCPRule{NIC: "eth1", MAC: "52:54:00:12:34:56", Dir: hoststate.DirSrc}
	for _, args := range [][]string{
		{"-L", "BROUTING"},
		{"-L", "BROUTING", "--Lmac2"},
		append([]string{"-A"}, ruleArgs(r)...),
		append([]string{"-D"}, ruleArgs(r)...),
	} {
		got := ebtablesArgs(args...)
		want := append([]string{"--concurrent", "-t", "broute"}, args...)
		if !slices.Equal(got, want) {
			t.Errorf("ebtablesArgs(%q) = %q, want %q", args, got, want)
		}
	}
}
