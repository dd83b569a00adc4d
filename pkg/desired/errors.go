package desired

import (
	"errors"
	"fmt"
)

// Reasons for input that the agent refuses to apply. They become the Reason
// of the Node's Ready condition.
const (
	ReasonInvalidSpec          = "InvalidSpec"
	ReasonInvalidNIC           = "InvalidNIC"
	ReasonInvalidVLAN          = "InvalidVLAN"
	ReasonNICNotFound          = "NICNotFound"
	ReasonNICTypeNotAllowed    = "NICTypeNotAllowed"
	ReasonNICEnslavedElsewhere = "NICEnslavedElsewhere"
	ReasonNICHasUpperDevices   = "NICHasUpperDevices"
)

// InvalidError is input that must not change the host.
type InvalidError struct {
	Reason  string
	Message string
}

func (e *InvalidError) Error() string { return e.Message }

// Invalidf builds an InvalidError.
func Invalidf(reason, format string, args ...any) error {
	return &InvalidError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// AsInvalid returns the InvalidError in err's chain, if any.
func AsInvalid(err error) (*InvalidError, bool) {
	var ie *InvalidError
	ok := errors.As(err, &ie)
	return ie, ok
}
