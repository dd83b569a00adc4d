package checkpoint

import (
	"net/netip"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// unversioned is the file agents wrote before Version 1: the planner's
// types as encoding/json rendered them, with Go's field names, e.g.
//
//	{"uplinks":{"eth0":{"addrs":[{"Prefix":"10.0.0.2/24","Scope":0,"ValidLft":0,"PreferredLft":0}],
//	 "routes":[{"Dst":"","Gw":"10.0.0.1","Src":"","LinkIndex":2,"Protocol":4,"Scope":0,"Table":254,"Priority":0,"Family":2}]}}}
//
// These types freeze that shape here, so the planner's types can change
// without changing what old files mean. testdata/uplinks-unversioned.json
// is such a file, written by that agent.
type unversioned struct {
	Uplinks map[string]unversionedUplink `json:"uplinks"`
}

type unversionedUplink struct {
	Addrs  []unversionedAddr  `json:"addrs"`
	Routes []unversionedRoute `json:"routes"`
}

type unversionedAddr struct {
	Prefix       netip.Prefix
	Scope        int
	ValidLft     int // always 0: only permanent addresses were carried
	PreferredLft int
}

type unversionedRoute struct {
	Dst       netip.Prefix
	Gw, Src   netip.Addr
	LinkIndex int // the NIC's index then: not kept, it does not survive a reboot
	Protocol  int
	Scope     int
	Table     int
	Priority  int
	Family    int
}

// upgrade is the Version 1 form of an unversioned file.
func (f unversioned) upgrade() map[string]Uplink {
	out := make(map[string]Uplink, len(f.Uplinks))
	for nic, u := range f.Uplinks {
		var v Uplink
		for _, a := range u.Addrs {
			v.Addrs = append(v.Addrs, Addr{Prefix: text(a.Prefix), Scope: a.Scope})
		}
		for _, r := range u.Routes {
			v.Routes = append(v.Routes, fromRoute(hoststate.Route{
				Dst: r.Dst, Gw: r.Gw, Src: r.Src,
				Protocol: r.Protocol, Scope: r.Scope, Table: r.Table, Priority: r.Priority, Family: r.Family,
			}))
		}
		out[nic] = v
	}
	return out
}
