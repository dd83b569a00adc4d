package results

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func plan(names ...string) Plan {
	var p Plan
	for i, n := range names {
		tier := TierA
		if i == 0 {
			tier = TierB
		}
		p.Binaries = append(p.Binaries, Binary{Name: n, Tier: tier, Path: "/tests/" + n})
	}
	return p
}

func ev(bin, action, test, output string) Record {
	return Record{Kind: KindEvent, Binary: bin, Event: &Event{Action: action, Test: test, Output: output}}
}

// binary is the records of one binary that ran: every test passes unless
// listed in fail or skip; subtests are "Parent/sub".
func binary(name string, exit int, pass, fail, skip []string) []Record {
	recs := []Record{{Kind: KindStart, Binary: name}}
	for _, t := range pass {
		recs = append(recs, ev(name, "run", t, ""), ev(name, "pass", t, ""))
	}
	for _, t := range fail {
		recs = append(recs, ev(name, "run", t, ""), ev(name, "output", t, "    x_test.go:9: "+t+" broke\n"), ev(name, "fail", t, ""))
	}
	for _, t := range skip {
		recs = append(recs, ev(name, "output", t, "    x_test.go:3: not here\n"), ev(name, "skip", t, ""))
	}
	return append(recs, Record{Kind: KindEnd, Binary: name, Exit: exit, Seconds: 1})
}

func cat(parts ...[]Record) []Record {
	var all []Record
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

var done = []Record{{Kind: KindDone, Ran: 2}}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		recs                    []Record
		passed, failed, skipped int
		why                     string // in the failures, when failed > 0
	}{
		{"all pass, subtests counted",
			cat(binary("guest", 0, []string{"TestStory", "TestStory/enable"}, nil, nil), binary("hostnet", 0, []string{"TestA"}, nil, []string{"TestB"}), done),
			3, 0, 1, ""},
		{"a failed subtest and its parent",
			cat(binary("guest", 1, []string{"TestStory/enable"}, []string{"TestStory/nads", "TestStory"}, nil), binary("hostnet", 0, []string{"TestA"}, nil, nil), done),
			2, 2, 0, "TestStory/nads broke"},
		{"exit without a failed test (panic, timeout)",
			cat(binary("guest", 0, []string{"TestX"}, nil, nil), binary("hostnet", 2, []string{"TestA"}, nil, nil), done),
			2, 1, 0, "exited 2 without a failed test"},
		{"a binary the guest never reported",
			cat(binary("guest", 0, []string{"TestX"}, nil, nil), done),
			1, 1, 0, "never reported by the guest"},
		{"a binary that never finished, and no done",
			cat(binary("guest", 0, []string{"TestX"}, nil, nil), []Record{{Kind: KindStart, Binary: "hostnet"}, ev("hostnet", "pass", "TestA", "")}),
			2, 2, 0, "did not finish"},
		{"nothing at all",
			nil,
			0, 3, 0, "never reported that it ran the whole plan"},
		{"all binaries exit 0 but nothing passed",
			cat(binary("guest", 0, nil, nil, []string{"TestX"}), binary("hostnet", 0, nil, nil, nil), done),
			0, 1, 1, "no test passed"},
		{"a binary not in the plan",
			cat(binary("guest", 0, []string{"TestX"}, nil, nil), binary("hostnet", 0, []string{"TestA"}, nil, nil), binary("stray", 0, []string{"TestS"}, nil, nil), done),
			3, 1, 0, "not in the plan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Summarize(plan("guest", "hostnet"), tc.recs)
			if s.Passed != tc.passed || s.Failed != tc.failed || s.Skipped != tc.skipped {
				t.Errorf("passed %d failed %d skipped %d, want %d %d %d", s.Passed, s.Failed, s.Skipped, tc.passed, tc.failed, tc.skipped)
			}
			var out bytes.Buffer
			s.Write(&out)
			if tc.failed > 0 && !strings.Contains(out.String(), tc.why) {
				t.Errorf("the summary does not say %q:\n%s", tc.why, out.String())
			}
			if tc.failed == 0 && strings.Contains(out.String(), "FAIL") {
				t.Errorf("a run without failures shows one:\n%s", out.String())
			}
		})
	}
}

// The stream comes from a serial port and a file that grows while qemu
// runs: garbage before the first record is skipped, and a half-written
// last line waits until it is whole.
func TestReaderPartialAndGarbledLines(t *testing.T) {
	var buf bytes.Buffer
	rd := NewReader(&buf)
	line, _ := json.Marshal(Record{Kind: KindStart, Binary: "guest"})
	buf.WriteString("\x00\r\nnoise\n")
	buf.Write(line[:5])
	if r, ok, err := rd.Next(); ok || err != nil {
		t.Fatalf("half a line gave %+v %v %v", r, ok, err)
	}
	buf.Write(line[5:])
	buf.WriteString("\r\n")
	r, ok, err := rd.Next()
	if !ok || err != nil || r.Kind != KindStart || r.Binary != "guest" {
		t.Fatalf("got %+v %v %v, want the start record", r, ok, err)
	}
	if rd.Garbled != 2 {
		t.Errorf("garbled %d, want 2 (the NUL and the noise line)", rd.Garbled)
	}
}

func TestPlan(t *testing.T) {
	p := plan("guest", "hostnet", "reconcile")
	if got := p.LastOfTier(TierB); got != "guest" {
		t.Errorf("last of tier B %q", got)
	}
	if got := p.LastOfTier(TierA); got != "reconcile" {
		t.Errorf("last of tier A %q", got)
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
	p.Binaries = append(p.Binaries, p.Binaries[0])
	if err := p.Validate(); err == nil {
		t.Error("a plan with two binaries of one name is valid")
	}
	if err := (Plan{}).Validate(); err == nil {
		t.Error("an empty plan is valid")
	}
	b, err := json.Marshal(Binary{Name: "x", Path: "/x", Timeout: Duration(90e9)})
	if err != nil || !strings.Contains(string(b), `"timeout":"1m30s"`) {
		t.Errorf("marshal: %s %v", b, err)
	}
	var back Binary
	if err := json.Unmarshal(b, &back); err != nil || back.Timeout != Duration(90e9) {
		t.Errorf("unmarshal: %+v %v", back, err)
	}
}
