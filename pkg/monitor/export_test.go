package monitor

import "maps"

// KnownLinks returns the monitor's table of links (index -> name), which
// decides whether an address or route event is about a watched link.
func (m *Monitor) KnownLinks() map[int]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int]string{}
	for i, l := range maps.All(m.links) {
		out[i] = l.name
	}
	return out
}
