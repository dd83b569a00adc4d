package results

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
)

// Record kinds, in the order the guest writes them: per binary a start,
// its test events and an end; a done once every binary has run.
const (
	KindStart = "start"
	KindEvent = "event"
	KindEnd   = "end"
	KindDone  = "done"
)

// Record is one line of the results stream.
type Record struct {
	Kind   string `json:"kind"`
	Binary string `json:"binary,omitempty"`
	// Event is one `go test -json` event (cmd/test2json's format).
	Event *Event `json:"event,omitempty"`
	// End: the binary's exit status (-1: killed or not started) and how
	// long it ran; Error says why the guest could not run it.
	Exit    int     `json:"exit,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	Error   string  `json:"error,omitempty"`
	// Done: how many binaries the guest ran.
	Ran int `json:"ran,omitempty"`
}

// Event is cmd/test2json's TestEvent, less the time stamp.
type Event struct {
	Action  string  `json:"Action"`
	Package string  `json:"Package,omitempty"`
	Test    string  `json:"Test,omitempty"`
	Elapsed float64 `json:"Elapsed,omitempty"`
	Output  string  `json:"Output,omitempty"`
}

// Reader reads records from a stream that may end in the middle of a line
// (qemu killed while the guest wrote): Next returns complete lines only.
// Lines that are not records (line noise before the guest set the port to
// raw mode) are counted in Garbled and skipped.
type Reader struct {
	r       *bufio.Reader
	partial strings.Builder
	Garbled int
}

// NewReader reads records from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Next returns the next complete record, or ok false when r has no whole
// line left for now (io.EOF from a file that is still growing: call Next
// again later) or err when reading failed.
func (rd *Reader) Next() (rec Record, ok bool, err error) {
	for {
		chunk, err := rd.r.ReadString('\n')
		rd.partial.WriteString(chunk)
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return Record{}, false, err
		}
		line := strings.TrimRight(rd.partial.String(), "\r\n")
		rd.partial.Reset()
		if line == "" {
			continue
		}
		var r Record
		if json.Unmarshal([]byte(line), &r) != nil || r.Kind == "" {
			rd.Garbled++
			continue
		}
		return r, true, nil
	}
}

// ReadAll reads every complete record of r.
func ReadAll(r io.Reader) ([]Record, int, error) {
	rd := NewReader(r)
	var recs []Record
	for {
		rec, ok, err := rd.Next()
		if err != nil {
			return recs, rd.Garbled, err
		}
		if !ok {
			return recs, rd.Garbled, nil
		}
		recs = append(recs, rec)
	}
}
