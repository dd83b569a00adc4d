package nad

import (
	"slices"
	"testing"
)

func TestFormatAndParseVLANs(t *testing.T) {
	full := make([]int, 0, 4093)
	for v := 2; v <= 4094; v++ {
		full = append(full, v)
	}
	for _, tt := range []struct {
		vids []int
		s    string
	}{
		{nil, ""},
		{[]int{100}, "100"},
		{[]int{1, 2}, "1-2"},
		{[]int{100, 200, 201, 202, 300}, "100,200-202,300"},
		{[]int{1, 3, 5}, "1,3,5"},
		{full, "2-4094"},
	} {
		if got := FormatVLANs(tt.vids); got != tt.s {
			t.Errorf("FormatVLANs(%v) = %q, want %q", tt.vids, got, tt.s)
		}
		got, err := ParseVLANs(tt.s)
		if err != nil || !slices.Equal(got, tt.vids) {
			t.Errorf("ParseVLANs(%q) = %v, %v; want %v", tt.s, got, err, tt.vids)
		}
	}
}

// Anything FormatVLANs does not write is refused: the string is read from
// an object's status, which a person can write too.
func TestParseVLANsRefuses(t *testing.T) {
	for _, s := range []string{
		"0", "4095", "-5", "5-", "-", ",", "5,", ",5", "5,,6", "+5", " 5", "5 ", "05000",
		"10-5", "5-5", "5,5", "6,5", "1-10,10", "1-10,5-20", "a", "01", "1e3", "99999999999999999999",
	} {
		if got, err := ParseVLANs(s); err == nil {
			t.Errorf("ParseVLANs(%q) = %v, want an error", s, got)
		}
	}
}

func TestBridges(t *testing.T) {
	for _, tt := range []struct {
		config string
		want   []string
		bad    bool
	}{
		{`{"type":"bridge","bridge":"br0","vlan":100}`, []string{"br0"}, false},
		{`{"type":"macvlan","master":"eth0"}`, nil, false},
		{`{"type":"bridge"}`, nil, false},
		{`{"plugins":[{"type":"bridge","bridge":"br1"},{"type":"tuning"},{"type":"bridge","bridge":"br0"},{"type":"bridge","bridge":"br1"}]}`, []string{"br1", "br0"}, false},
		{`{"type":"bridge",`, nil, true},
		{`{"plugins":[1]}`, nil, true},
	} {
		got, err := Bridges(tt.config)
		if (err != nil) != tt.bad || !slices.Equal(got, tt.want) {
			t.Errorf("Bridges(%s) = %v, %v; want %v (error: %v)", tt.config, got, err, tt.want, tt.bad)
		}
	}
}

func FuzzParseVLANs(f *testing.F) {
	for _, s := range []string{"", "100", "2-4094", "1,3-5,4094", "5-1", "0", "1,,2", "4095"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseVLANs(s)
		if err != nil {
			return
		}
		for i, v := range got {
			if v < MinVLAN || v > MaxVLAN || (i > 0 && got[i-1] >= v) {
				t.Fatalf("ParseVLANs(%q) = %v: not sorted, distinct IDs in range", s, got)
			}
		}
		// What parses is written back as the same IDs.
		if back, err := ParseVLANs(FormatVLANs(got)); err != nil || !slices.Equal(back, got) {
			t.Fatalf("ParseVLANs(FormatVLANs(%v)) = %v, %v", got, back, err)
		}
	})
}
