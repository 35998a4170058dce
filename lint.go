package caapolicy

import (
	"context"
	"slices"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/corefile"
)

// lint returns the start-up warnings about the block b that h was built from: the Corefile's
// (corefile.Block.Lint, with the persist lines checked against the CAA h serves from the policy
// alone), then the partner conflicts at each owner, found as the partner records were added.
func (c *CAAPolicy) lint(b *corefile.Block) []string {
	out := b.Lint(c.policyLookup)
	owners := make([]string, 0, len(c.owners))
	for n, o := range c.owners {
		if o.notes.any() {
			owners = append(owners, n)
		}
	}
	slices.Sort(owners)
	for _, n := range owners {
		o := c.owners[n]
		out = append(out, o.pos+": partners at "+n+": "+o.notes.String())
	}
	return out
}

// policyLookup is a caa.Lookup over the CAA that c serves from its policy alone: each owner's
// prepared records, nothing elsewhere in its zones; names outside them end the climb.
func (c *CAAPolicy) policyLookup(_ context.Context, n string) (caa.Step, error) {
	s := caa.Step{Name: n}
	if !c.holds(n) {
		s.Outside = true
		return s, nil
	}
	if o := c.ownerOf(n); o != nil {
		s.RRset = o.records
	}
	return s, nil
}

// Warnings returns the start-up warnings for the policy of this handler.
func (c *CAAPolicy) Warnings() []string { return c.warnings }

// Acknowledged returns the start-up warnings that the policy acknowledges as intended, each
// followed by the acknowledge line and its reason (internal/corefile, acknowledge.go).
func (c *CAAPolicy) Acknowledged() []string { return c.acknowledged }
