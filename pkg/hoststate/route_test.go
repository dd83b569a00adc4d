package hoststate

import (
	"net/netip"
	"testing"
)

func TestRouteFormat(t *testing.T) {
	tests := []struct {
		name string
		r    Route
		dev  string
		want string
	}{
		{
			name: "kernel connected route",
			r:    Route{Dst: netip.MustParsePrefix("10.0.0.0/24"), Src: netip.MustParseAddr("10.0.0.5"), Protocol: 2, Scope: 253, Table: 254, Family: 2},
			dev:  "br0",
			want: "10.0.0.0/24 dev br0 proto kernel scope link src 10.0.0.5",
		},
		{
			name: "static default",
			r:    Route{Gw: netip.MustParseAddr("10.0.0.1"), Protocol: 4, Table: 254, Priority: 100, Family: 2},
			dev:  "br0",
			want: "default via 10.0.0.1 dev br0 proto static metric 100",
		},
		{
			name: "dhcp default with src",
			r:    Route{Gw: netip.MustParseAddr("10.0.0.1"), Src: netip.MustParseAddr("10.0.0.5"), Protocol: 16, Table: 254, Priority: 100, Family: 2},
			dev:  "eth0",
			want: "default via 10.0.0.1 dev eth0 proto dhcp src 10.0.0.5 metric 100",
		},
		{
			name: "boot protocol is not shown",
			r:    Route{Dst: netip.MustParsePrefix("192.168.50.0/24"), Protocol: 3, Table: 254, Family: 2},
			dev:  "br0",
			want: "192.168.50.0/24 dev br0",
		},
		{
			name: "IPv6 kernel route",
			r:    Route{Dst: netip.MustParsePrefix("2001:db8::/64"), Protocol: 2, Table: 254, Priority: 256, Family: 10},
			dev:  "br0",
			want: "2001:db8::/64 dev br0 proto kernel metric 256",
		},
		{
			name: "IPv6 default from a router advert",
			r:    Route{Gw: netip.MustParseAddr("fe80::1"), Protocol: 9, Table: 254, Priority: 1024, Family: 10},
			dev:  "br0",
			want: "default via fe80::1 dev br0 proto ra metric 1024",
		},
		{
			name: "host scope and unnamed protocol",
			r:    Route{Dst: netip.MustParsePrefix("10.9.9.9/32"), Protocol: 42, Scope: 254, Table: 254, Family: 2},
			dev:  "br0",
			want: "10.9.9.9/32 dev br0 proto 42 scope host",
		},
	}
	for _, tt := range tests {
		if got := tt.r.Format(tt.dev); got != tt.want {
			t.Errorf("%s: Format() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// `ip route show table all` prints the table right after the device
// (iproute2 ip/iproute.c print_route: dev, table, proto, scope, src, metric).
func TestRouteFormatOtherTable(t *testing.T) {
	r := Route{Dst: netip.MustParsePrefix("10.1.0.0/16"), Gw: netip.MustParseAddr("10.0.0.254"), Protocol: 4, Table: 100, Priority: 5, Family: 2}
	if got, want := r.Format("br0"), "10.1.0.0/16 via 10.0.0.254 dev br0 table 100 proto static metric 5"; got != want {
		t.Errorf("Format() = %q, want %q", got, want)
	}
}
