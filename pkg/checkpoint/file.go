package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/harvnet/harvnet/pkg/plan"
)

// CorruptError says a checkpoint exists but cannot be trusted: it cannot
// be read, is empty, truncated or garbled, fails its checksum, holds
// values harvnet never writes, or comes from a newer agent.
type CorruptError struct {
	Path string
	Err  error // what is wrong with it
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("state file %s is corrupt: %v", e.Path, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Remedy says what an operator can do about it.
func (e *CorruptError) Remedy() string {
	return fmt.Sprintf("move it aside (mv %s %s.corrupt) so the agent starts again from what the kernel shows, or put back a good copy; "+
		"the agent reads it again on its next pass", e.Path, e.Path)
}

// Path is the checkpoint's path in a state directory.
func Path(dir string) string { return filepath.Join(dir, FileName) }

// Read returns the uplinks the checkpoint at path records; see ReadState.
func Read(path string) (uplinks map[string]plan.Carried, old bool, err error) {
	s, old, err := ReadState(path)
	if err != nil {
		return nil, false, err
	}
	return s.Uplinks, old, nil
}

// ReadState returns what the checkpoint at path records, an empty State
// when there is no file. old reports a file in an older format (Version 1
// or unversioned), which the caller should write back in this one.
// Anything that keeps the file from being read exactly is a
// *CorruptError.
func ReadState(path string) (s State, old bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{Uplinks: map[string]plan.Carried{}}, false, nil
	}
	if err != nil {
		return State{}, false, &CorruptError{Path: path, Err: fmt.Errorf("it cannot be read: %w", err)}
	}
	s, old, err = decode(b)
	if err != nil {
		return State{}, false, &CorruptError{Path: path, Err: err}
	}
	return s, old, nil
}

func decode(b []byte) (State, bool, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return State{}, false, errors.New("it is empty")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return State{}, false, notJSON(b, err)
	}
	if top == nil {
		return State{}, false, errors.New("it holds null, not a JSON object")
	}
	raw, versioned := top["version"]
	if !versioned {
		u, old, err := decodeUnversioned(b, top)
		return State{Uplinks: u}, old, err
	}
	var v int
	if err := json.Unmarshal(raw, &v); err != nil {
		return State{}, false, fmt.Errorf("its version %s is not a whole number", raw)
	}
	switch {
	case v > Version:
		return State{}, false, fmt.Errorf("it has version %d, written by a newer agent: this one reads up to version %d", v, Version)
	case v < 1:
		return State{}, false, fmt.Errorf("it has version %d, which no agent writes", v)
	case v == 1:
		u, err := decodeV1(b)
		return State{Uplinks: u}, err == nil, err
	}
	var f FileV2
	if err := strict(b, &f); err != nil {
		return State{}, false, fmt.Errorf("it does not match the version %d format: %w", v, err)
	}
	if f.Checksum == "" {
		return State{}, false, errors.New("it has no checksum")
	}
	if sum := checksumV2(f); sum != f.Checksum {
		return State{}, false, mismatch(f.Checksum, sum)
	}
	s, err := toState(f)
	return s, false, err
}

func mismatch(recorded, sum string) error {
	return fmt.Errorf("checksum mismatch: it records %s but its content hashes to %s, so it changed after it was written", recorded, sum)
}

func decodeV1(b []byte) (map[string]plan.Carried, error) {
	var f File
	if err := strict(b, &f); err != nil {
		return nil, fmt.Errorf("it does not match the version 1 format: %w", err)
	}
	if f.Checksum == "" {
		return nil, errors.New("it has no checksum")
	}
	if sum := checksum(f.Version, f.Uplinks); sum != f.Checksum {
		return nil, mismatch(f.Checksum, sum)
	}
	return toCarried(f.Uplinks)
}

func decodeUnversioned(b []byte, top map[string]json.RawMessage) (map[string]plan.Carried, bool, error) {
	if _, ok := top["uplinks"]; !ok {
		return nil, false, errors.New("it has neither a version nor uplinks")
	}
	var f unversioned
	if err := strict(b, &f); err != nil {
		return nil, false, fmt.Errorf("it has no version and does not match the unversioned format either: %w", err)
	}
	uplinks, err := toCarried(f.upgrade())
	return uplinks, err == nil, err
}

// strict decodes b into v, refusing fields v does not have: a field this
// agent does not know is one it would silently drop on the next write.
func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// notJSON says whether the file ends early (a torn write, a full disk) or
// is garbled somewhere inside.
func notJSON(b []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		if syn.Offset >= int64(len(bytes.TrimRight(b, " \t\r\n"))) {
			return fmt.Errorf("it is truncated: its %d bytes end before the JSON does", len(b))
		}
		return fmt.Errorf("it is garbled: invalid JSON at byte %d: %w", syn.Offset, err)
	}
	return fmt.Errorf("it is not a JSON object: %w", err)
}

// WriteState replaces the checkpoint at path with s, atomically and
// durably: a crash or a power cut leaves the old or the new file, never an
// empty one, because the record is what gives a node its addresses back.
func WriteState(path string, s State) error {
	b, err := encode(s)
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	tmp := path + ".tmp"
	if err := writeSynced(tmp, b); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // the rename itself; without it the old name may come back
		d.Close()
	}
	return nil
}

// encode is the file's bytes: indented, for an operator who looks.
func encode(s State) ([]byte, error) {
	f, err := fromState(s)
	if err != nil {
		return nil, err
	}
	f.Checksum = checksumV2(f)
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
