package hostnet

import (
	"errors"

	"golang.org/x/sys/unix"
)

// ignore returns nil for the errors that mean the change is already there.
func ignore(err error, already ...unix.Errno) error {
	for _, e := range already {
		if errors.Is(err, e) {
			return nil
		}
	}
	return err
}
