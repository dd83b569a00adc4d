package desired

import (
	"fmt"
	"strings"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// ReasonNICAmbiguous is a spec whose NIC references do not name distinct
// NICs: two entries match the same NIC.
const ReasonNICAmbiguous = "NICAmbiguous"

// ResolveNICs maps each reference of spec.network.uplink.nics to today's
// interface name: by name as given, by permanent MAC or by PCI address as
// the host reports them, so a NIC renamed by a kernel or firmware upgrade
// is still found. The resolutions (for status.uplinkNICs) come back in the
// spec's order, one per reference, also when the error is not nil; names
// holds the resolved interface names and is nil on error.
func ResolveNICs(refs []v1alpha1.NICRef, host *hoststate.State) ([]v1alpha1.ResolvedNIC, []string, error) {
	out := make([]v1alpha1.ResolvedNIC, len(refs))
	names := make([]string, 0, len(refs))
	var firstErr error
	fail := func(i int, reason, format string, args ...any) {
		out[i].Message = fmt.Sprintf(format, args...)
		if firstErr == nil {
			firstErr = Invalidf(reason, "spec.network.uplink.nics[%d]: %s", i, out[i].Message)
		}
	}
	taken := map[string]int{}
	for i, ref := range refs {
		out[i].Ref = ref
		l, ok, how := match(ref, host)
		if !ok {
			fail(i, ReasonNICNotFound, "no NIC on this node has %s; pick one from status.nics", how)
			continue
		}
		if j, dup := taken[l.Name]; dup {
			fail(i, ReasonNICAmbiguous, "names NIC %q, which nics[%d] names too", l.Name, j)
			continue
		}
		taken[l.Name] = i
		out[i].Name = l.Name
		names = append(names, l.Name)
	}
	if firstErr != nil {
		return out, nil, firstErr
	}
	return out, names, nil
}

// match finds the link a reference names, and says what it looked for.
// A permanent MAC or PCI address that several links share (a bond's slaves
// report their own permanent MAC; VFs their own slot) cannot happen for
// physical NICs, so the first one in index order is taken.
func match(ref v1alpha1.NICRef, host *hoststate.State) (hoststate.Link, bool, string) {
	switch {
	case ref.Name != "":
		l, ok := host.Link(ref.Name)
		return l, ok, fmt.Sprintf("the name %q", ref.Name)
	case ref.MAC != "":
		l, ok := find(host, func(l hoststate.Link) bool { return strings.EqualFold(l.PermanentMAC, ref.MAC) })
		return l, ok, "the permanent MAC " + ref.MAC
	case ref.PCIAddress != "":
		l, ok := find(host, func(l hoststate.Link) bool { return strings.EqualFold(l.PCIAddress, ref.PCIAddress) })
		return l, ok, "the PCI address " + ref.PCIAddress
	}
	return hoststate.Link{}, false, "no name, MAC or PCI address"
}

func find(host *hoststate.State, pred func(hoststate.Link) bool) (hoststate.Link, bool) {
	for _, l := range host.Links {
		if pred(l) {
			return l, true
		}
	}
	return hoststate.Link{}, false
}
