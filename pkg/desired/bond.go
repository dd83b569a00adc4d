package desired

import (
	"fmt"
	"slices"
	"strings"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// Reasons for a bond or MTU the agent refuses. The CRD rejects all of
// these; an object written under an older CRD can still carry them.
const (
	ReasonInvalidBond = "InvalidBond"
	ReasonInvalidMTU  = "InvalidMTU"
)

// MTU bounds of spec.network.mtu (the CRD's, and the predecessor's).
const (
	MinMTU = 576
	MaxMTU = 9000
)

// Bond defaults when spec.network.uplink.bond leaves them unset.
const (
	DefaultBondMode   = string(v1alpha1.BondModeActiveBackup)
	DefaultBondMiimon = 100
)

// The kernel's own defaults of the options harvnet compares: an option
// removed from the spec goes back to these.
const (
	defaultLACPRate       = "slow"
	defaultADSelect       = "stable"
	defaultXmitHashPolicy = "layer2"
)

var (
	bondModes = []string{"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"}
	// hashModes are the modes that pick a slave by xmit_hash_policy.
	hashModes    = []string{"802.3ad", "balance-xor", "balance-tlb", "balance-alb"}
	lacpRates    = []string{"slow", "fast"}
	adSelects    = []string{"stable", "bandwidth", "count"}
	hashPolicies = []string{"layer2", "layer2+3", "layer3+4", "encap2+3", "encap3+4", "vlan+srcmac"}
)

// Bond is the bond harvnet builds from the uplink's NICs. Options are
// normalized: every option the mode uses is set (to the kernel's default
// when the spec leaves it out), those it does not use are empty, so a
// plan compares them with the kernel's as they are.
type Bond struct {
	Name   string
	Slaves []string // today's names, in the spec's order; set by Resolve
	Mode   string
	Miimon int
	// LACPRate and ADSelect for 802.3ad only; XmitHashPolicy for hashModes.
	LACPRate       string
	XmitHashPolicy string
	ADSelect       string
}

// UsesHash reports whether the mode picks slaves by xmit_hash_policy.
func UsesHash(mode string) bool { return slices.Contains(hashModes, mode) }

// DefaultBondName derives the bond's name from the bridge's: "br" becomes
// "bo" (harvester-br0 -> harvester-bo0), else "-bo" is appended, cut to
// the kernel's 15 bytes.
func DefaultBondName(bridge string) string {
	if i := strings.LastIndex(bridge, "br"); i >= 0 {
		return bridge[:i] + "bo" + bridge[i+2:]
	}
	n := bridge + "-bo"
	if len(n) > MaxLinkName {
		n = bridge[:MaxLinkName-3] + "-bo"
	}
	return n
}

// Bond returns the bond name: --bond-name, or the one derived from the bridge.
func (o Options) Bond() string {
	if o.BondName != "" {
		return o.BondName
	}
	return DefaultBondName(o.BridgeName)
}

// computeMTU checks spec.network.mtu: 0 leaves the kernel's MTU.
func computeMTU(mtu int) error {
	if mtu != 0 && (mtu < MinMTU || mtu > MaxMTU) {
		return Invalidf(ReasonInvalidMTU, "spec.network.mtu %d is outside %d..%d (0 leaves the NICs' MTU as it is)", mtu, MinMTU, MaxMTU)
	}
	return nil
}

// computeUplink checks spec.network.uplink without looking at the host:
// the references' form and the bond options. The NICs are resolved to
// names by Resolve.
func computeUplink(st *State, u *v1alpha1.UplinkSpec, opts Options) error {
	if len(u.NICs) == 0 || len(u.NICs) > 8 {
		return Invalidf(ReasonInvalidNIC, "spec.network.uplink.nics has %d entries; name 1 to 8 NICs", len(u.NICs))
	}
	for i, r := range u.NICs {
		if err := checkRef(r, st.Bridge, st.BondName); err != nil {
			return Invalidf(ReasonInvalidNIC, "spec.network.uplink.nics[%d]: %v", i, err)
		}
	}
	st.UplinkRefs = slices.Clone(u.NICs)
	if u.Bond == nil {
		if len(u.NICs) > 1 {
			return Invalidf(ReasonInvalidBond, "spec.network.uplink.bond is required with more than one NIC (%d named)", len(u.NICs))
		}
		return nil
	}
	b, err := bondOptions(*u.Bond)
	if err != nil {
		return err
	}
	b.Name = st.BondName
	st.Bond = &b
	st.Uplink = b.Name
	return nil
}

func checkRef(r v1alpha1.NICRef, bridge, bond string) error {
	set := 0
	for _, s := range []string{r.Name, r.MAC, r.PCIAddress} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("name exactly one of name, mac or pciAddress")
	}
	if r.Name != "" {
		if err := ValidateLinkName(r.Name); err != nil {
			return err
		}
		if r.Name == bridge || r.Name == bond {
			return fmt.Errorf("%q is harvnet's own bridge or bond; name a NIC", r.Name)
		}
	}
	return nil
}

// bondOptions applies the defaults and refuses combinations the kernel
// would ignore or refuse, naming the field.
func bondOptions(o v1alpha1.BondOptions) (Bond, error) {
	b := Bond{Mode: string(o.Mode), Miimon: DefaultBondMiimon}
	if b.Mode == "" {
		b.Mode = DefaultBondMode
	}
	if !slices.Contains(bondModes, b.Mode) {
		return Bond{}, Invalidf(ReasonInvalidBond, "spec.network.uplink.bond.mode %q is not a bonding mode; use one of %s", b.Mode, strings.Join(bondModes, ", "))
	}
	if o.Miimon != nil {
		b.Miimon = *o.Miimon
	}
	if b.Miimon < 0 || b.Miimon > 10000 {
		return Bond{}, Invalidf(ReasonInvalidBond, "spec.network.uplink.bond.miimon %d is outside 0..10000 (milliseconds)", b.Miimon)
	}
	is8023ad := b.Mode == string(v1alpha1.BondMode8023AD)
	for _, f := range []struct {
		field, value, def string
		allowed           []string
		valid             bool
		only              string
	}{
		{"lacpRate", o.LACPRate, defaultLACPRate, lacpRates, is8023ad, "802.3ad"},
		{"adSelect", o.ADSelect, defaultADSelect, adSelects, is8023ad, "802.3ad"},
		{"xmitHashPolicy", o.XmitHashPolicy, defaultXmitHashPolicy, hashPolicies, UsesHash(b.Mode), strings.Join(hashModes, ", ")},
	} {
		if f.value != "" && !f.valid {
			return Bond{}, Invalidf(ReasonInvalidBond, "spec.network.uplink.bond.%s is valid only with mode %s, not %s", f.field, f.only, b.Mode)
		}
		if f.value != "" && !slices.Contains(f.allowed, f.value) {
			return Bond{}, Invalidf(ReasonInvalidBond, "spec.network.uplink.bond.%s %q is not one of %s", f.field, f.value, strings.Join(f.allowed, ", "))
		}
	}
	if is8023ad {
		b.LACPRate, b.ADSelect = or(o.LACPRate, defaultLACPRate), or(o.ADSelect, defaultADSelect)
	}
	if UsesHash(b.Mode) {
		b.XmitHashPolicy = or(o.XmitHashPolicy, defaultXmitHashPolicy)
	}
	return b, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Resolve finishes the desired state against the host: the uplink's NIC
// references become today's names (the resolutions go to NICs for
// status), and the uplink, or each slave of the bond, is checked to be
// usable. Like CheckUplink it runs before any planning, so a refused
// uplink leaves the host untouched. On error the state comes back as far
// as it got, for status (NICs: how each reference resolved) and for
// telling a vanished uplink from a mistyped one (Uplink, Bridge); it must
// not be planned.
func Resolve(st State, host *hoststate.State, opts Options) (State, error) {
	if st.Teardown {
		return st, nil
	}
	if len(st.UplinkRefs) > 0 {
		nics, names, err := ResolveNICs(st.UplinkRefs, host)
		st.NICs = nics
		if err != nil {
			return st, err
		}
		if st.Bond == nil {
			st.Uplink = names[0]
		} else {
			b := *st.Bond
			b.Slaves = names
			st.Bond = &b
			if err := checkSlaves(st, host, opts); err != nil {
				return st, err
			}
			return st, nil
		}
	}
	if err := CheckUplink(st, host, opts); err != nil {
		return st, err
	}
	return st, nil
}

func checkSlaves(st State, host *hoststate.State, opts Options) error {
	for _, s := range st.Bond.Slaves {
		l, _ := host.Link(s)
		if reason, why := Unusable(l, host, st.Bridge, opts); reason != "" {
			return Invalidf(reason, "NIC %q cannot be a slave of bond %s: %s", s, st.Bond.Name, why)
		}
		switch {
		case l.Name == st.Bond.Name:
			return Invalidf(ReasonInvalidNIC, "NIC %q is the bond itself; name its NICs", s)
		case l.Type == "bond" || l.Type == "bridge":
			return Invalidf(ReasonNICTypeNotAllowed, "NIC %q is a %s, which cannot be a slave of bond %s; name the NICs under it", s, l.Type, st.Bond.Name)
		}
	}
	return nil
}
