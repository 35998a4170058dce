package served

import (
	"slices"

	"github.com/caapolicy/caapolicy/internal/corefile"
)

// Lint returns the start-up warnings about the block b that v was built from: the Corefile's
// (corefile.Block.Lint, with the persist lines checked against the CAA v serves from the policy
// alone, PolicyLookup), then the partner conflicts at each owner, found as the partner records
// were added.
func (v *View) Lint(b *corefile.Block) []string {
	out := b.Lint(v.PolicyLookup)
	owners := make([]string, 0, len(v.owners))
	for n, o := range v.owners {
		if o.notes.any() {
			owners = append(owners, n)
		}
	}
	slices.Sort(owners)
	for _, n := range owners {
		o := v.owners[n]
		out = append(out, o.pos+": partners at "+n+": "+o.notes.String())
	}
	return out
}
