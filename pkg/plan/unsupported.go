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
