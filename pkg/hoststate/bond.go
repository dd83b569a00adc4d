package hoststate

// Bond is a bond's configuration as the kernel reports it (IFLA_BOND_*),
// in the names the bonding driver and `ip -d link` use.
type Bond struct {
	Mode           string // "active-backup", "802.3ad", ...
	Miimon         int
	LACPRate       string // "slow", "fast"; 802.3ad only
	XmitHashPolicy string // "layer2", "layer3+4", ...
	ADSelect       string // "stable", "bandwidth", "count"
	ActiveSlave    string // active-backup: the slave carrying traffic now
	// AggregatorID is the active 802.3ad aggregator (IFLA_BOND_AD_INFO),
	// PartnerMAC the system MAC of the switch that answered LACPDUs on it
	// (all zeros when none did) and NumPorts the slaves in it.
	AggregatorID int
	PartnerMAC   string
	NumPorts     int
}

// BondSlave is one slave's state as the bond sees it (IFLA_BOND_SLAVE_*).
type BondSlave struct {
	State            string // "active", "backup"
	MIIStatus        string // "up", "down", "going_back", "going_down"
	LinkFailureCount int
	PermHardwareAddr string
	// AggregatorID is the 802.3ad aggregator this slave is in, 0 outside 802.3ad.
	AggregatorID int
	// PartnerMAC is the 802.3ad partner's system MAC seen on this slave
	// ("" or all zeros when the switch never answered LACP).
	PartnerMAC string
}
