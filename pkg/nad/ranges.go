package nad

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// FormatVLANs writes sorted, distinct VLAN IDs as comma-separated ranges,
// as `bridge -compressvlans` prints them: [100 200 201 202] is
// "100,200-202". A full trunk is "2-4094" rather than 4093 numbers, which
// keeps the ClusterNetwork every agent watches small.
func FormatVLANs(vids []int) string {
	var b strings.Builder
	for i := 0; i < len(vids); {
		j := i
		for j+1 < len(vids) && vids[j+1] == vids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(vids[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(vids[j]))
		}
		i = j + 1
	}
	return b.String()
}

// ParseVLANs reads what FormatVLANs writes, strictly: ranges ascending,
// not overlapping, each ID in MinVLAN..MaxVLAN. The string comes from an
// object anyone with access to the status subresource can write, so
// anything else is an error, not a guess.
func ParseVLANs(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	last := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := vid(lo)
		if err != nil {
			return nil, fmt.Errorf("VLAN list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = vid(hi); err != nil {
				return nil, fmt.Errorf("VLAN list %q: %w", s, err)
			}
			if b <= a {
				return nil, fmt.Errorf("VLAN list %q: range %q does not ascend", s, part)
			}
		}
		if a <= last {
			return nil, fmt.Errorf("VLAN list %q: %q is not above the ID before it", s, part)
		}
		for v := a; v <= b; v++ {
			out = append(out, v)
		}
		last = b
	}
	return out, nil
}

func vid(s string) (int, error) {
	// Atoi alone would take "+5", " 5" and "05".
	if s == "" || len(s) > 4 || s[0] == '0' || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a VLAN ID", s)
	}
	v, _ := strconv.Atoi(s)
	if err := checkVID("VLAN ID", v); err != nil {
		return 0, err
	}
	return v, nil
}

// Bridges names the bridges a CNI config's bridge plugins are for, in the
// order they appear (a conflist may have several).
func Bridges(config string) ([]string, error) {
	var p pluginConf
	if err := json.Unmarshal([]byte(config), &p); err != nil {
		return nil, fmt.Errorf("CNI config is not valid JSON: %v", err)
	}
	var out []string
	add := func(c pluginConf) {
		if c.Type == "bridge" && c.Bridge != "" && !slices.Contains(out, c.Bridge) {
			out = append(out, c.Bridge)
		}
	}
	add(p)
	for i, raw := range p.Plugins {
		var pp pluginConf
		if err := json.Unmarshal(raw, &pp); err != nil {
			return nil, fmt.Errorf("plugins[%d]: %v", i, err)
		}
		add(pp)
	}
	return out, nil
}
