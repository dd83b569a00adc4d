// Package nad reads the VLAN IDs a NetworkAttachmentDefinition's CNI config
// asks of a bridge. It is pure and links nothing host-side, so both the
// agent (which applies the VLANs) and the controller (which warns about
// configs it cannot read) use it.
package nad

import (
	"encoding/json"
	"fmt"
	"sort"
)

// VLAN ID range usable on a Linux bridge port.
const (
	MinVLAN = 1
	MaxVLAN = 4094
)

// pluginConf says which plugin a config is for, and holds the plugins of a
// conflist, which Multus accepts as a NAD's config too.
type pluginConf struct {
	Type    string            `json:"type"`
	Bridge  string            `json:"bridge"`
	Plugins []json.RawMessage `json:"plugins"`
}

// bridgeNetConf is the part of the CNI bridge plugin's config that matters here.
type bridgeNetConf struct {
	VLAN      int         `json:"vlan"`
	VLANTrunk []trunkItem `json:"vlanTrunk"`
}

type trunkItem struct {
	MinID *int `json:"minID,omitempty"`
	MaxID *int `json:"maxID,omitempty"`
	ID    *int `json:"id,omitempty"`
}

// VLANs returns the VLAN IDs a NAD's CNI config asks of the named
// bridge. A config for another plugin or bridge asks for nothing; a config
// that is malformed or out of range is an error and must be skipped whole.
func VLANs(config, bridge string) ([]int, error) {
	var p pluginConf
	if err := json.Unmarshal([]byte(config), &p); err != nil {
		return nil, fmt.Errorf("CNI config is not valid JSON: %v", err)
	}
	set := map[int]bool{}
	if p.Type == "bridge" && p.Bridge == bridge {
		if err := addVLANs(set, []byte(config)); err != nil {
			return nil, err
		}
	}
	for i, raw := range p.Plugins {
		var pp pluginConf
		if err := json.Unmarshal(raw, &pp); err != nil {
			return nil, fmt.Errorf("plugins[%d]: %v", i, err)
		}
		if pp.Type == "bridge" && pp.Bridge == bridge {
			if err := addVLANs(set, raw); err != nil {
				return nil, fmt.Errorf("plugins[%d]: %w", i, err)
			}
		}
	}
	if len(set) == 0 {
		return nil, nil
	}
	out := make([]int, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Ints(out)
	return out, nil
}

// addVLANs adds the VLAN IDs of one bridge plugin config to set.
func addVLANs(set map[int]bool, config []byte) error {
	var c bridgeNetConf
	if err := json.Unmarshal(config, &c); err != nil {
		return fmt.Errorf("CNI config is not valid JSON for the bridge plugin: %v", err)
	}
	if c.VLAN != 0 {
		if err := checkVID("vlan", c.VLAN); err != nil {
			return err
		}
		set[c.VLAN] = true
	}
	for i, t := range c.VLANTrunk {
		lo, hi, err := t.bounds(i)
		if err != nil {
			return err
		}
		for v := lo; v <= hi; v++ {
			set[v] = true
		}
	}
	return nil
}

func (t trunkItem) bounds(i int) (int, int, error) {
	field := fmt.Sprintf("vlanTrunk[%d]", i)
	switch {
	case t.ID != nil && t.MinID == nil && t.MaxID == nil:
		return *t.ID, *t.ID, checkVID(field+".id", *t.ID)
	case t.ID == nil && t.MinID != nil && t.MaxID != nil:
		if err := checkVID(field+".minID", *t.MinID); err != nil {
			return 0, 0, err
		}
		if err := checkVID(field+".maxID", *t.MaxID); err != nil {
			return 0, 0, err
		}
		if *t.MinID > *t.MaxID {
			return 0, 0, fmt.Errorf("%s: minID %d is greater than maxID %d", field, *t.MinID, *t.MaxID)
		}
		return *t.MinID, *t.MaxID, nil
	}
	return 0, 0, fmt.Errorf("%s: give either id, or both minID and maxID", field)
}

func checkVID(field string, v int) error {
	if v < MinVLAN || v > MaxVLAN {
		return fmt.Errorf("%s: VLAN ID %d is outside %d..%d", field, v, MinVLAN, MaxVLAN)
	}
	return nil
}
