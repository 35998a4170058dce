package caapolicy

import (
	"fmt"
	"strings"

	"github.com/caapolicy/caapolicy/internal/corefile"
	"github.com/caapolicy/caapolicy/internal/dnsname"
)

// Configurations that look right and cannot work stop start-up (and a reload keeps the old
// instance serving), with the file, the line and what to write instead.

// checkZones fails for a zone of the block that no query of the server block can reach, and
// for a zone another caapolicy block of the server block covers too (their records would add
// up: an issue none in one could not lock out the CA the other names).
func (c *CAAPolicy) checkZones(serverZones []string, earlier []*CAAPolicy) error {
	for _, z := range c.view.Zones() {
		inside := false
		for _, s := range serverZones {
			if dnsname.AtOrBelow(z, s) {
				inside = true
			}
		}
		if !inside {
			return corefile.ErrAt(c.pos, fmt.Sprintf("zone %s is outside this server block's zones (%s), so no query for it reaches this block; list the zone in the server block (%s {) or move this caapolicy block to the server block that serves it",
				z, strings.Join(serverZones, " "), strings.TrimSuffix(z, ".")))
		}
		for _, e := range earlier {
			for _, y := range e.view.Zones() {
				if dnsname.AtOrBelow(z, y) || dnsname.AtOrBelow(y, z) {
					return corefile.ErrAt(c.pos, fmt.Sprintf("zone %s is also covered by the caapolicy block at %s (zone %s): both would answer and their records would add up, so one block's issue none could not lock out a CA the other names; put both policies in one block, with name blocks for the names below the zone",
						z, e.pos, y))
				}
			}
		}
	}
	return nil
}

// checkNext runs at start-up, when the chain is built: with zonedata merge, the zone data must
// come after caapolicy, or every query but the policy owners' CAA answers SERVFAIL, and no CA
// may issue after a SERVFAIL.
func (c *CAAPolicy) checkNext() error {
	if c.view.Next != nil {
		return nil
	}
	if c.view.Merges() {
		return corefile.ErrAt(c.pos, fmt.Sprintf("zonedata merge needs the zone data after caapolicy in this server block, and there is no plugin after it: every other name and type of %s would answer SERVFAIL; add file, auto or secondary (or etcd, kubernetes...) for the zone, or write zonedata ignore",
			strings.Join(c.view.Zones(), " ")))
	}
	log.Warningf("%s: no plugin after caapolicy: queries of other types, and CAA queries at names without a policy, answer SERVFAIL; add file, auto or secondary for %s", c.pos, strings.Join(c.view.Zones(), " "))
	return nil
}
