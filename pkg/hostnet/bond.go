package hostnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
)

var errNoBonding = plan.UnsupportedBlocking(plan.CapBonding, "the kernel has no bonding driver (CONFIG_BONDING, module bonding)")

// newBondName is where a bond is made before it is marked and named, as
// the bridge is (createBridge): only harvnet uses it, so one left by a
// crash is harvnet's to reuse.
const newBondName = "harvnet-newbo"

// createBond adds the bond with its options, MAC and MTU in one message
// under newBondName, marks it as harvnet's (the kernel ignores an ifalias
// on create) and gives it its name, so a bond named like harvnet's never
// exists unmarked because of a crash.
func (h *Host) createBond(a plan.Action) error {
	if _, err := h.nl.LinkByName(a.Link); err == nil {
		return nil // made meanwhile; its owner is decided by the next plan
	}
	attrs := netlink.LinkAttrs{Name: newBondName, MTU: a.MTU}
	if a.MAC != "" {
		mac, err := net.ParseMAC(a.MAC)
		if err != nil {
			return err
		}
		attrs.HardwareAddr = mac
	}
	b := netlink.NewLinkBond(attrs)
	setBondOptions(b, a.Bond)
	err := h.nl.LinkAdd(b)
	if errors.Is(err, unix.EOPNOTSUPP) {
		return errNoBonding
	}
	if err := ignore(err, unix.EEXIST); err != nil {
		return err
	}
	return h.withLink(newBondName, func(l netlink.Link) error {
		if l.Type() != "bond" {
			return fmt.Errorf("a %s link named %s is in the way of creating the bond", l.Type(), newBondName)
		}
		if err := h.nl.LinkSetAlias(l, plan.OwnerAlias); err != nil {
			return err
		}
		return h.nl.LinkSetName(l, a.Link)
	})
}

func setBondOptions(b *netlink.Bond, o *desired.Bond) {
	if o == nil {
		return
	}
	b.Mode = netlink.StringToBondMode(o.Mode)
	b.Miimon = o.Miimon
	if o.LACPRate != "" {
		b.LacpRate = netlink.StringToBondLacpRate(o.LACPRate)
	}
	if o.ADSelect != "" {
		b.AdSelect = netlink.StringToBondAdSelectMap[o.ADSelect]
	}
	if o.XmitHashPolicy != "" {
		b.XmitHashPolicy = netlink.StringToBondXmitHashPolicy(o.XmitHashPolicy)
	}
}

// changeBond sets the bond's options on the existing link. Options the
// kernel takes only on a down bond get a down-up around them (the plan
// released the slaves before, for a mode).
func (h *Host) changeBond(a plan.Action) error {
	return h.withLink(a.Link, func(l netlink.Link) error {
		if a.Restart != plan.RestartNone {
			if err := h.nl.LinkSetDown(l); err != nil {
				return err
			}
		}
		err := h.do(func() error { return setBondAttrs(l.Attrs().Index, a.Bond) })
		if a.Restart != plan.RestartNone {
			// Up again even if the change failed: a down uplink is worse.
			if uerr := h.nl.LinkSetUp(l); err == nil {
				err = uerr
			}
		}
		return err
	})
}

// setBondAttrs changes only the bond's options, by index, as `ip link set
// BOND type bond ...` does; netlink's LinkModify would send the link's
// other attributes too.
func setBondAttrs(index int, o *desired.Bond) error {
	b := netlink.NewLinkBond(netlink.LinkAttrs{})
	setBondOptions(b, o)
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bond"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(nl.IFLA_BOND_MODE, nl.Uint8Attr(uint8(b.Mode)))
	data.AddRtAttr(nl.IFLA_BOND_MIIMON, nl.Uint32Attr(uint32(b.Miimon)))
	if o.LACPRate != "" {
		data.AddRtAttr(nl.IFLA_BOND_AD_LACP_RATE, nl.Uint8Attr(uint8(b.LacpRate)))
	}
	if o.ADSelect != "" {
		data.AddRtAttr(nl.IFLA_BOND_AD_SELECT, nl.Uint8Attr(uint8(b.AdSelect)))
	}
	if o.XmitHashPolicy != "" {
		data.AddRtAttr(nl.IFLA_BOND_XMIT_HASH_POLICY, nl.Uint8Attr(uint8(b.XmitHashPolicy)))
	}
	req.AddData(info)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// bondParts fills a bond's options or a bond slave's state into out, and
// returns a bond's active slave index (0 for none).
func bondParts(l netlink.Link, out *hoststate.Link) int {
	if s, ok := l.Attrs().Slave.(*netlink.BondSlave); ok {
		out.BondSlave = toBondSlave(s)
	}
	b, ok := l.(*netlink.Bond)
	if !ok {
		return 0
	}
	out.Bond = toBond(b)
	return max(b.ActiveSlave, 0)
}

// toBond reads a bond's options as the bonding driver names them.
func toBond(b *netlink.Bond) *hoststate.Bond {
	out := &hoststate.Bond{Mode: b.Mode.String(), Miimon: b.Miimon}
	// The kernel always reports every option; -1 is netlink's "not read".
	if out.Mode == "802.3ad" && b.LacpRate >= 0 && b.AdSelect >= 0 {
		out.LACPRate = strings.ToLower(b.LacpRate.String())
		out.ADSelect = b.AdSelect.String()
	}
	if desired.UsesHash(out.Mode) && b.XmitHashPolicy >= 0 {
		out.XmitHashPolicy = b.XmitHashPolicy.String()
	}
	return out
}

// toBondSlave reads a slave's state as its bond sees it.
func toBondSlave(s *netlink.BondSlave) *hoststate.BondSlave {
	out := &hoststate.BondSlave{
		State:            strings.ToLower(s.State.String()),
		MIIStatus:        strings.ToLower(s.MiiStatus.String()),
		LinkFailureCount: int(s.LinkFailureCount),
		AggregatorID:     int(s.AggregatorId),
	}
	if s.PermHardwareAddr != nil {
		out.PermHardwareAddr = s.PermHardwareAddr.String()
	}
	return out
}

// fillBonds completes bonds and slaves with what needs the other links:
// the active slave's name, and under 802.3ad the active aggregator and
// its partner (IFLA_BOND_AD_INFO, which netlink does not parse), given to
// the slaves in that aggregator.
func (h *Host) fillBonds(byIndex map[int]*hoststate.Link, active map[int]int) error {
	for idx, l := range byIndex {
		if l.Bond == nil {
			continue
		}
		if a := byIndex[active[idx]]; a != nil && active[idx] != 0 {
			l.Bond.ActiveSlave = a.Name
		}
		if l.Bond.Mode != "802.3ad" {
			continue
		}
		var agg, ports int
		var partner string
		err := h.do(func() (err error) { agg, ports, partner, err = adInfo(idx); return err })
		if err != nil {
			return fmt.Errorf("reading 802.3ad state of %s: %w", l.Name, err)
		}
		l.Bond.AggregatorID, l.Bond.NumPorts, l.Bond.PartnerMAC = agg, ports, partner
		// Each slave's own partner is only in the bonding driver's proc
		// file; netlink has the active aggregator's. Best effort: without
		// the file a slave in the active aggregator still gets that one.
		var partners map[string]string
		_ = h.do(func() error { partners = slavePartners(l.Name); return nil })
		for _, s := range byIndex {
			if s.MasterIndex != idx || s.BondSlave == nil {
				continue
			}
			switch p, ok := partners[s.Name]; {
			case ok:
				s.BondSlave.PartnerMAC = p
			case agg != 0 && s.BondSlave.AggregatorID == agg:
				s.BondSlave.PartnerMAC = partner
			}
		}
	}
	return nil
}

// adInfo asks the kernel for one bond and reads IFLA_BOND_AD_INFO: the
// active aggregator, its number of ports and the partner's system MAC.
// A bond without an active aggregator (no slave up) has none: zeros.
func adInfo(index int) (agg, ports int, partner string, err error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil || len(msgs) == 0 {
		return 0, 0, "", err
	}
	attrs, err := nl.ParseRouteAttr(msgs[0][unix.SizeofIfInfomsg:])
	if err != nil {
		return 0, 0, "", err
	}
	info := nested(attrs, unix.IFLA_LINKINFO)
	data := nested(info, nl.IFLA_INFO_DATA)
	for _, a := range nested(data, nl.IFLA_BOND_AD_INFO) {
		switch a.Attr.Type {
		case nl.IFLA_BOND_AD_INFO_AGGREGATOR:
			agg = int(binary.NativeEndian.Uint16(a.Value))
		case nl.IFLA_BOND_AD_INFO_NUM_PORTS:
			ports = int(binary.NativeEndian.Uint16(a.Value))
		case nl.IFLA_BOND_AD_INFO_PARTNER_MAC:
			partner = net.HardwareAddr(a.Value[:6]).String()
		}
	}
	return agg, ports, partner, nil
}

// nested returns the attributes inside the first attribute of that type.
func nested(attrs []syscall.NetlinkRouteAttr, typ uint16) []syscall.NetlinkRouteAttr {
	for _, a := range attrs {
		if a.Attr.Type&^unix.NLA_F_NESTED == typ {
			out, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return nil
			}
			return out
		}
	}
	return nil
}

// slavePartners reads each 802.3ad slave's partner system MAC from
// /proc/net/bonding/<bond> as the calling thread's namespace shows it
// (thread-self: h.do switches only this thread), nil when unreadable.
func slavePartners(bond string) map[string]string {
	b, err := os.ReadFile("/proc/thread-self/net/bonding/" + bond)
	if err != nil {
		return nil
	}
	return parseSlavePartners(string(b))
}

// parseSlavePartners reads "details partner lacp pdu: ... system mac
// address: X" under each "Slave Interface: NAME" of the bonding driver's
// proc file. All zeros (no LACPDU received) is kept: status shows it as
// the partner that never answered.
func parseSlavePartners(text string) map[string]string {
	out := map[string]string{}
	slave, inPartner := "", false
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "Slave Interface:"):
			slave, inPartner = strings.TrimSpace(strings.TrimPrefix(line, "Slave Interface:")), false
		case strings.HasPrefix(line, "details "):
			inPartner = strings.HasPrefix(line, "details partner lacp pdu")
		case slave != "" && inPartner && strings.HasPrefix(line, "system mac address:"):
			out[slave] = strings.TrimSpace(strings.TrimPrefix(line, "system mac address:"))
			inPartner = false
		}
	}
	return out
}
