package results

import (
	"fmt"
	"io"
	"strings"
)

// Summary is what a run proved. Passed, Failed and Skipped count tests and
// subtests alike, as `--- PASS:` lines would. Failed also counts, once
// each, a binary that exited non-zero without a failed test (a panic, a
// timeout, a crash), one that never finished, one in the plan that the
// guest never reported, and a guest that never said it was done.
type Summary struct {
	Binaries                []BinaryResult
	Passed, Failed, Skipped int
	Failures                []Failure
	Skips                   []Failure
	Done                    bool // the guest reported that it ran the whole plan
}

// BinaryResult is one binary's share.
type BinaryResult struct {
	Name, Tier              string
	Passed, Failed, Skipped int
	Started, Ended          bool
	Exit                    int
	Seconds                 float64
}

// Failure is a failed (or skipped) test, or a binary-level problem (Test
// empty), with the output that explains it.
type Failure struct {
	Binary, Test, Why, Output string
}

// maxOutput bounds the output kept for one failure, from its end.
const maxOutput = 8 << 10

// Summarize matches the guest's records against the plan.
func Summarize(plan Plan, recs []Record) Summary {
	var s Summary
	idx := map[string]int{}
	for _, b := range plan.Binaries {
		idx[b.Name] = len(s.Binaries)
		s.Binaries = append(s.Binaries, BinaryResult{Name: b.Name, Tier: b.Tier})
	}
	output := map[[2]string]*strings.Builder{} // binary, test -> output
	addOut := func(bin, test, text string) {
		k := [2]string{bin, test}
		if output[k] == nil {
			output[k] = &strings.Builder{}
		}
		output[k].WriteString(text)
	}
	outOf := func(bin, test string) string {
		if b := output[[2]string{bin, test}]; b != nil {
			return tail(b.String(), maxOutput)
		}
		return ""
	}
	for _, r := range recs {
		if r.Kind == KindDone {
			s.Done = true
			continue
		}
		i, known := idx[r.Binary]
		if !known {
			s.Failed++
			s.Failures = append(s.Failures, Failure{Binary: r.Binary, Why: "reported by the guest but not in the plan"})
			idx[r.Binary] = len(s.Binaries)
			i = idx[r.Binary]
			s.Binaries = append(s.Binaries, BinaryResult{Name: r.Binary})
		}
		b := &s.Binaries[i]
		switch r.Kind {
		case KindStart:
			b.Started = true
		case KindEnd:
			b.Ended, b.Exit, b.Seconds = true, r.Exit, r.Seconds
			if r.Error != "" {
				addOut(b.Name, "", r.Error+"\n")
			}
		case KindEvent:
			e := r.Event
			if e == nil {
				continue
			}
			if e.Action == "output" {
				addOut(b.Name, e.Test, e.Output)
				continue
			}
			if e.Test == "" {
				continue // the package's own pass/fail: the exit status says it
			}
			switch e.Action {
			case "pass":
				b.Passed++
			case "fail":
				b.Failed++
				s.Failures = append(s.Failures, Failure{Binary: b.Name, Test: e.Test, Output: outOf(b.Name, e.Test)})
			case "skip":
				b.Skipped++
				s.Skips = append(s.Skips, Failure{Binary: b.Name, Test: e.Test, Output: outOf(b.Name, e.Test)})
			}
		}
	}
	for i := range s.Binaries {
		b := &s.Binaries[i]
		why := ""
		switch {
		case !b.Started && !b.Ended:
			why = "never reported by the guest"
		case !b.Ended:
			why = "did not finish (the VM stopped or hung while it ran)"
		case b.Exit != 0 && b.Failed == 0:
			why = fmt.Sprintf("exited %d without a failed test (a panic, a timeout, a crash, or it could not start)", b.Exit)
		}
		if why != "" {
			b.Failed++
			s.Failures = append(s.Failures, Failure{Binary: b.Name, Why: why, Output: outOf(b.Name, "")})
		}
		s.Passed += b.Passed
		s.Failed += b.Failed
		s.Skipped += b.Skipped
	}
	if !s.Done {
		s.Failed++
		s.Failures = append(s.Failures, Failure{Why: "the guest never reported that it ran the whole plan"})
	}
	if s.Failed == 0 && s.Passed == 0 {
		s.Failed++
		s.Failures = append(s.Failures, Failure{Why: "no test passed: nothing was tested"})
	}
	return s
}

// Write prints the per-binary counts, the skipped tests and the failures
// with their output; the caller prints the final "N passed, M failed".
func (s Summary) Write(w io.Writer) {
	for _, b := range s.Binaries {
		fmt.Fprintf(w, "  tier %-1s %-12s %3d passed, %d failed, %d skipped (%.1fs)\n", b.Tier, b.Name, b.Passed, b.Failed, b.Skipped, b.Seconds)
	}
	if len(s.Skips) > 0 {
		fmt.Fprintf(w, "%d skipped:\n", len(s.Skips))
		for _, f := range s.Skips {
			fmt.Fprintf(w, "  %s %s\n%s", f.Binary, f.Test, indent(f.Output))
		}
	}
	if len(s.Failures) > 0 {
		fmt.Fprintf(w, "%d failed:\n", len(s.Failures))
		for _, f := range s.Failures {
			name := strings.TrimSpace(f.Binary + " " + f.Test)
			switch {
			case name == "":
				name = f.Why
			case f.Why != "":
				name += ": " + f.Why
			}
			fmt.Fprintf(w, "--- FAIL: %s\n%s", name, indent(f.Output))
		}
	}
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	s = strings.TrimRight(s, "\n")
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "[...]\n" + s
}
