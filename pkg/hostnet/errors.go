package hostnet

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/plan"
)

// UnsupportedError is a capability the host lacks. The agent records it,
// skips what needs it and keeps doing the rest.
type UnsupportedError struct {
	Cap plan.Capability
	Why string
}

func (e *UnsupportedError) Error() string { return e.Why }

// AsUnsupported returns the UnsupportedError in err's chain, if any.
func AsUnsupported(err error) (*UnsupportedError, bool) {
	var ue *UnsupportedError
	ok := errors.As(err, &ue)
	return ue, ok
}

func unsupported(c plan.Capability, format string, args ...any) error {
	return &UnsupportedError{Cap: c, Why: fmt.Sprintf(format, args...)}
}

// ignore returns nil for the errors that mean the change is already there.
func ignore(err error, already ...unix.Errno) error {
	for _, e := range already {
		if errors.Is(err, e) {
			return nil
		}
	}
	return err
}
