package desired

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

// bridgeNetConf is the part of the CNI bridge plugin's config that matters here.
type bridgeNetConf struct {
	Type      string      `json:"type"`
	Bridge    string      `json:"bridge"`
	VLAN      int         `json:"vlan"`
	VLANTrunk []trunkItem `json:"vlanTrunk"`
}

type trunkItem struct {
	MinID *int `json:"minID,omitempty"`
	MaxID *int `json:"maxID,omitempty"`
	ID    *int `json:"id,omitempty"`
}

// VLANsFromNADConfig returns the VLAN IDs a NAD's CNI config asks of the named
// bridge. A config for another plugin or bridge asks for nothing; a config
// that is malformed or out of range is an error and must be skipped whole.
func VLANsFromNADConfig(config, bridge string) ([]int, error) {
	var c bridgeNetConf
	if err := json.Unmarshal([]byte(config), &c); err != nil {
		return nil, fmt.Errorf("CNI config is not valid JSON: %v", err)
	}
	if c.Type != "bridge" || c.Bridge != bridge {
		return nil, nil
	}
	set := map[int]bool{}
	if c.VLAN != 0 {
		if err := checkVID("vlan", c.VLAN); err != nil {
			return nil, err
		}
		set[c.VLAN] = true
	}
	for i, t := range c.VLANTrunk {
		lo, hi, err := t.bounds(i)
		if err != nil {
			return nil, err
		}
		for v := lo; v <= hi; v++ {
			set[v] = true
		}
	}
	out := make([]int, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Ints(out)
	return out, nil
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
