package checkpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// FileName is the checkpoint's name in the agent's state directory.
const FileName = "uplinks.json"

// Version is the format this package writes and the newest it reads.
// Files without a version are the format agents wrote before there was
// one (see unversioned.go); they and Version 1 files are read and
// rewritten as this one.
const Version = 2

// FileV2 is the on-disk form of Version 2: Version 1's uplinks, and what
// the probes and rollback of a change need (see State). Field names are
// part of the contract.
type FileV2 struct {
	Version int `json:"version"`
	// Checksum is "sha256:" and the hex SHA-256 of the compact JSON of
	// every other field, in this order (payloadV2).
	Checksum   string            `json:"checksum"`
	Uplinks    map[string]Uplink `json:"uplinks"`
	Applied    *Input            `json:"applied,omitempty"`
	Pending    *PendingChange    `json:"pending,omitempty"`
	RolledBack *Rollback         `json:"rolledBack,omitempty"`
}

type payloadV2 struct {
	Version    int               `json:"version"`
	Uplinks    map[string]Uplink `json:"uplinks"`
	Applied    *Input            `json:"applied,omitempty"`
	Pending    *PendingChange    `json:"pending,omitempty"`
	RolledBack *Rollback         `json:"rolledBack,omitempty"`
}

func checksumV2(f FileV2) string {
	return hash(payloadV2{Version: f.Version, Uplinks: f.Uplinks, Applied: f.Applied, Pending: f.Pending, RolledBack: f.RolledBack})
}

// File is the on-disk form of Version 1. Field names are part of the contract: change
// them only with a new Version and a reader for the old one.
type File struct {
	Version int `json:"version"`
	// Checksum is "sha256:" and the hex SHA-256 of the canonical payload:
	// the compact JSON of the version and uplinks (canonicalPayload).
	Checksum string            `json:"checksum"`
	Uplinks  map[string]Uplink `json:"uplinks"`
}

// Uplink is what harvnet carries for one NIC it enslaved: the NIC's own
// permanent addresses and routes, which live on the bridge while it is a
// port. Both are empty for a NIC that had none.
type Uplink struct {
	Addrs  []Addr  `json:"addrs,omitempty"`
	Routes []Route `json:"routes,omitempty"`
}

// Addr is a permanent interface address. Addresses with a lifetime belong
// to a DHCP or SLAAC client and are never carried, so none is stored.
type Addr struct {
	Prefix string `json:"prefix"` // address and prefix length: 10.0.0.5/24
	Scope  int    `json:"scope"`  // RT_SCOPE_*: 0 universe, 253 link, 254 host
}

// Route is a route as the kernel keys it, less the device: the device is
// the one it is put back on, and an interface index does not survive a
// reboot. The names are netlink's (priority is what `ip route` calls
// metric), which also lets an agent from before Version 1 read this file
// unchanged after a downgrade.
type Route struct {
	Family   int    `json:"family"`        // 2 IPv4, 10 IPv6
	Dst      string `json:"dst,omitempty"` // prefix; absent for a default route
	Gw       string `json:"gw,omitempty"`
	Src      string `json:"src,omitempty"`
	Table    int    `json:"table"`
	Priority int    `json:"priority"`
	Protocol int    `json:"protocol"` // RTPROT_*: 3 boot, 4 static, 16 dhcp, ...
	Scope    int    `json:"scope"`
}

// payload is what the checksum covers, in a fixed field order.
type payload struct {
	Version int               `json:"version"`
	Uplinks map[string]Uplink `json:"uplinks"`
}

// checksum of a version and uplinks. encoding/json writes struct fields in
// declaration order and map keys sorted, so equal content hashes equal
// whatever whitespace the file itself has.
func checksum(version int, uplinks map[string]Uplink) string {
	return hash(payload{Version: version, Uplinks: uplinks})
}

func hash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Strings, ints and JSON this package made: Marshal cannot fail.
		return "unhashable: " + err.Error()
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
