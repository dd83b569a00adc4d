package plan

import (
	"errors"
	"fmt"
)

// UnsupportedError is a capability the host lacks, found while applying an
// action. The reconciler records it, skips what needs it and does the rest.
type UnsupportedError struct {
	Cap Capability
	Why string
	// Blocking is set when the rest of the step, and the steps that
	// require it, depend on what could not be done (no bond to enslave):
	// the reconciler holds them until it has planned again without it.
	Blocking bool
}

func (e *UnsupportedError) Error() string { return e.Why }

// Unsupported builds an UnsupportedError.
func Unsupported(c Capability, format string, args ...any) error {
	return &UnsupportedError{Cap: c, Why: fmt.Sprintf(format, args...)}
}

// AsUnsupported returns the UnsupportedError in err's chain, if any.
func AsUnsupported(err error) (*UnsupportedError, bool) {
	var ue *UnsupportedError
	ok := errors.As(err, &ue)
	return ue, ok
}

// UnsupportedBlocking builds an UnsupportedError that holds the rest of
// its step and the steps requiring it.
func UnsupportedBlocking(c Capability, format string, args ...any) error {
	return &UnsupportedError{Cap: c, Why: fmt.Sprintf(format, args...), Blocking: true}
}
