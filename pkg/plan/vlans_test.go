package plan

import (
	"slices"
	"testing"
)

func TestDiffInts(t *testing.T) {
	trunk := func(from, to int) []int {
		var out []int
		for v := from; v <= to; v++ {
			out = append(out, v)
		}
		return out
	}
	for _, tc := range []struct {
		name           string
		want, have     []int
		wantAdd, wantD []int
	}{
		{name: "nothing", wantAdd: nil, wantD: nil},
		{name: "all new", want: []int{10, 20}, wantAdd: []int{10, 20}},
		{name: "all gone", have: []int{10, 20}, wantD: []int{10, 20}},
		{name: "same", want: []int{2, 4094}, have: []int{2, 4094}},
		{name: "both ways", want: []int{10, 20, 30}, have: []int{20, 40, 1}, wantAdd: []int{10, 30}, wantD: []int{40, 1}},
		{name: "word edges", want: []int{0, 63, 64, 4095}, have: []int{63, 127, 128}, wantAdd: []int{0, 64, 4095}, wantD: []int{127, 128}},
		{name: "outside 12 bits counts as missing", want: []int{-1, 4096, 5}, have: []int{4096, 5}, wantAdd: []int{-1, 4096}, wantD: []int{4096}},
		{name: "trunk against half", want: trunk(2, 4094), have: trunk(2048, 4094), wantAdd: trunk(2, 2047)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			add, del := diffInts(tc.want, tc.have)
			if !slices.Equal(add, tc.wantAdd) || !slices.Equal(del, tc.wantD) {
				t.Fatalf("diffInts(%v, %v) = add %v, del %v; want add %v, del %v", tc.want, tc.have, add, del, tc.wantAdd, tc.wantD)
			}
		})
	}
}
