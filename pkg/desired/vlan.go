package desired

import "github.com/harvnet/harvnet/pkg/nad"

// VLAN ID range usable on a Linux bridge port (pkg/nad reads NAD configs
// against the same range).
const (
	MinVLAN = nad.MinVLAN
	MaxVLAN = nad.MaxVLAN
)
