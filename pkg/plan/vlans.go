package plan

import "fmt"

func vlanStep(in Input) Step {
	s := Step{Phase: PhaseVLANs, Requires: []Phase{PhaseBridge, PhaseUplink}}
	uplink := in.Desired.Uplink
	if uplink == "" {
		return s
	}
	if why := in.Missing[CapVLANFiltering]; why != "" {
		if len(in.Desired.VLANs) > 0 {
			s.Skipped = fmt.Sprintf("VLAN IDs %v cannot be allowed on %s: %s", in.Desired.VLANs, uplink, why)
		}
		return s
	}
	add, del := diffInts(in.Desired.VLANs, in.Host.TaggedVLANs(uplink))
	if len(del) > 0 {
		s.add(Action{Op: DelVLANs, Link: uplink, VIDs: Ranges(del)})
	}
	if len(add) > 0 {
		s.add(Action{Op: AddVLANs, Link: uplink, VIDs: Ranges(add)})
	}
	return s
}

// diffInts returns what want has and have lacks, and the other way round.
// VLAN IDs are 12 bits: two bitmaps cost a fraction of what maps of
// thousands of IDs do (a trunk of 4093 is diffed twice per pass). A value
// outside 0-4095, which neither side can hold, counts as missing on the
// other side.
func diffInts(want, have []int) (add, del []int) {
	var w, h vidSet
	for _, v := range want {
		w.add(v)
	}
	for _, v := range have {
		h.add(v)
	}
	for _, v := range want {
		if !h.has(v) {
			add = append(add, v)
		}
	}
	for _, v := range have {
		if !w.has(v) {
			del = append(del, v)
		}
	}
	return add, del
}

// vidSet is a set of 12-bit VLAN IDs.
type vidSet [4096 / 64]uint64

func (s *vidSet) add(v int) {
	if v >= 0 && v < 4096 {
		s[v/64] |= 1 << (v % 64)
	}
}

func (s *vidSet) has(v int) bool {
	return v >= 0 && v < 4096 && s[v/64]&(1<<(v%64)) != 0
}

// Ranges compresses sorted VLAN IDs into inclusive ranges, so thousands of
// trunked VLANs cost a handful of netlink messages.
func Ranges(vids []int) []Range {
	var out []Range
	for _, v := range vids {
		if n := len(out); n > 0 && out[n-1].To+1 == v {
			out[n-1].To = v
			continue
		}
		out = append(out, Range{From: v, To: v})
	}
	return out
}
