package nad

import (
	"encoding/json"
	"fmt"
)

// MaxMTU is the largest MTU a Linux link takes (the bridge's and veth's
// max_mtu); a NAD asking for more is malformed.
const MaxMTU = 65535

// MTU returns the MTU a NAD's CNI config gives the VM-side links of the
// named bridge: the bridge plugin's "mtu", the largest when a conflist
// has several bridge plugins for it; 0 when it sets none (the plugin then
// leaves the kernel's default, which is never above the bridge's). A
// config that is malformed or out of range is an error.
func MTU(config, bridge string) (int, error) {
	var p pluginConf
	if err := json.Unmarshal([]byte(config), &p); err != nil {
		return 0, fmt.Errorf("CNI config is not valid JSON: %v", err)
	}
	best := 0
	take := func(raw []byte) error {
		var c struct {
			MTU int `json:"mtu"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return fmt.Errorf("CNI config is not valid JSON for the bridge plugin: %v", err)
		}
		if c.MTU < 0 || c.MTU > MaxMTU {
			return fmt.Errorf("mtu: %d is outside 0..%d", c.MTU, MaxMTU)
		}
		best = max(best, c.MTU)
		return nil
	}
	if p.Type == "bridge" && p.Bridge == bridge {
		if err := take([]byte(config)); err != nil {
			return 0, err
		}
	}
	for i, raw := range p.Plugins {
		var pp pluginConf
		if err := json.Unmarshal(raw, &pp); err != nil {
			return 0, fmt.Errorf("plugins[%d]: %v", i, err)
		}
		if pp.Type == "bridge" && pp.Bridge == bridge {
			if err := take(raw); err != nil {
				return 0, fmt.Errorf("plugins[%d]: %w", i, err)
			}
		}
	}
	return best, nil
}
