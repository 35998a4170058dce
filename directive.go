package caapolicy

import (
	"fmt"
	"slices"
)

// After is the plugin caapolicy runs directly after in CoreDNS's plugin order: inside log,
// cache and dnssec (its answers are logged and signed; cache bypasses its zones, cache.go),
// before the zone backends.
const After = "template"

// InsertDirective returns directives with caapolicy placed directly after template, the position
// plugin.cfg gives it ("caapolicy:github.com/caapolicy/caapolicy" on the line after "template").
// It fails if template is missing rather than guess a place.
func InsertDirective(directives []string) ([]string, error) {
	if slices.Contains(directives, name) {
		return nil, fmt.Errorf("%s is already in the plugin order", name)
	}
	i := slices.Index(directives, After)
	if i < 0 {
		return nil, fmt.Errorf("the plugin order has no %q to insert %s after", After, name)
	}
	return slices.Insert(slices.Clone(directives), i+1, name), nil
}
