package caapolicy

import (
	"strings"

	"github.com/coredns/caddy"
)

// A platform locks some customers down on purpose, and each intended lock-down is a start-up
// warning ("partners at X: ... no partner may issue"). Warnings nobody reads hide the ones that
// matter, and `caacheck -lint` gating a platform's CI must pass on intended choices. So a policy
// may say that its warnings are intended:
//
//	name legacy {
//	    issue none
//	    acknowledge lock-down requested by the customer, ticket 4711
//	}
//
// acknowledge stands in a policy (the block's apex, a name block, a zone block's apex) and takes
// the reason, which is required. It covers the warnings about that policy: those at its own
// lines (the owner's declaration and each of its properties and persist lines), at start-up and
// the zone-data warnings for that owner at run time. Start-up then logs one line with the number
// acknowledged instead of each; `caacheck -lint` lists them apart and exits 0 if nothing else is
// warned about. An acknowledge with nothing to cover is itself a warning, so that a stale one is
// found and removed. Warnings that are not about one owner (a partner line, a log destination)
// cannot be acknowledged.

// parseAcknowledge reads "acknowledge REASON..." into p; the dispenser stands on "acknowledge".
func (cfg *blockConfig) parseAcknowledge(c *caddy.Controller, at string, args []string, p *policy) error {
	if len(args) == 0 {
		return c.Errf("acknowledge takes the reason the warned-about choice is intended: acknowledge lock-down requested by the customer")
	}
	if p.ack != "" {
		return c.Errf("acknowledge is written twice for this owner (first at %s); keep one", p.ackPos)
	}
	p.ack, p.ackPos = strings.Join(args, " "), at
	return nil
}

// acknowledgeWarnings splits the block's warnings into those still shown and those a policy
// acknowledges, each of these followed by the acknowledging line and its reason. It adds a
// warning for each acknowledge that covers nothing.
func acknowledgeWarnings(cfg *blockConfig, warnings []string) (shown, acked []string) {
	type ack struct {
		pos, reason string
		used        bool
	}
	covers := map[string]*ack{} // "file:line" -> the acknowledge covering it
	byPos := map[string]*ack{}  // one per acknowledge line, shared by the owners of a name block
	var acks []*ack
	add := func(p policy) {
		if p.ack == "" {
			return
		}
		a := byPos[p.ackPos]
		if a == nil {
			a = &ack{pos: p.ackPos, reason: p.ack}
			byPos[p.ackPos] = a
			acks = append(acks, a)
		}
		covers[p.pos] = a
		for _, pr := range p.props {
			covers[pr.pos] = a
		}
		for _, l := range p.persist {
			covers[l.pos] = a
		}
	}
	add(cfg.apex)
	for _, p := range cfg.names {
		add(p)
	}
	for _, w := range warnings {
		at, _, _ := strings.Cut(w, ": ")
		if a := covers[at]; a != nil {
			a.used = true
			acked = append(acked, w+" (acknowledged at "+a.pos+": "+a.reason+")")
			continue
		}
		shown = append(shown, w)
	}
	for _, a := range acks {
		if !a.used {
			shown = append(shown, a.pos+": acknowledge covers no warning: nothing in this policy is warned about; remove the acknowledge line")
		}
	}
	return byPosition(shown), byPosition(acked)
}

// Acknowledged returns the start-up warnings that the policy acknowledges as intended, each
// followed by the acknowledge line and its reason.
func (c *CAAPolicy) Acknowledged() []string { return c.acknowledged }
