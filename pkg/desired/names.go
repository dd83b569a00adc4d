package desired

import (
	"fmt"
	"strings"
	"unicode"
)

// MaxLinkName is IFNAMSIZ less the terminating NUL.
const MaxLinkName = 15

// ValidateLinkName applies the kernel's rules for interface names
// (dev_valid_name) plus ':' which the kernel reserves for aliases.
func ValidateLinkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("interface name is empty")
	case len(name) > MaxLinkName:
		return fmt.Errorf("interface name %q is %d bytes; Linux allows at most %d", name, len(name), MaxLinkName)
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q is not allowed", name)
	case strings.ContainsAny(name, "/:"):
		return fmt.Errorf("interface name %q must not contain '/' or ':'", name)
	case strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("interface name %q must not contain whitespace or control characters", name)
	}
	return nil
}
