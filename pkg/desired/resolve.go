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
	resolved := make([]string, 0, len(refs))
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
		ls, how := match(ref, host)
		switch {
		case len(ls) == 0:
			fail(i, ReasonNICNotFound, "no NIC on this node has %s; pick one from status.nics", how)
			continue
		case len(ls) > 1:
			fail(i, ReasonNICAmbiguous, "%s belongs to several NICs (%s); name one by its name or permanent MAC", how, strings.Join(names(ls), ", "))
			continue
		}
		l := ls[0]
		if j, dup := taken[l.Name]; dup {
			fail(i, ReasonNICAmbiguous, "names NIC %q, which nics[%d] names too", l.Name, j)
			continue
		}
		taken[l.Name] = i
		out[i].Name = l.Name
		resolved = append(resolved, l.Name)
	}
	if firstErr != nil {
		return out, nil, firstErr
	}
	return out, resolved, nil
}

// match finds the links a reference names, and says what it looked for.
// A permanent MAC or PCI address names one physical NIC, but not always
// one link: the ports of a dual-port card behind one PCI function, or
// switchdev representors, share the slot. More than one match is refused
// rather than guessed.
func match(ref v1alpha1.NICRef, host *hoststate.State) ([]hoststate.Link, string) {
	switch {
	case ref.Name != "":
		if l, ok := host.Link(ref.Name); ok {
			return []hoststate.Link{l}, ""
		}
		return nil, fmt.Sprintf("the name %q", ref.Name)
	case ref.MAC != "":
		return filter(host, func(l hoststate.Link) bool { return strings.EqualFold(l.PermanentMAC, ref.MAC) }), "the permanent MAC " + ref.MAC
	case ref.PCIAddress != "":
		return filter(host, func(l hoststate.Link) bool { return strings.EqualFold(l.PCIAddress, ref.PCIAddress) }), "the PCI address " + ref.PCIAddress
	}
	return nil, "no name, MAC or PCI address"
}

func filter(host *hoststate.State, pred func(hoststate.Link) bool) []hoststate.Link {
	var out []hoststate.Link
	for _, l := range host.Links {
		if pred(l) {
			out = append(out, l)
		}
	}
	return out
}

func names(ls []hoststate.Link) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Name
	}
	return out
}
