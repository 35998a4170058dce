package corefile

import "strings"

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

// acknowledge reads "acknowledge REASON..." into pol; the dispenser stood on "acknowledge", at.
func (p *parser) acknowledge(at string, args []string, pol *Policy) error {
	if len(args) == 0 {
		return p.c.Errf("acknowledge takes the reason the warned-about choice is intended: acknowledge lock-down requested by the customer")
	}
	if pol.Ack != "" {
		return p.c.Errf("acknowledge is written twice for this owner (first at %s); keep one", pol.AckPos)
	}
	pol.Ack, pol.AckPos = strings.Join(args, " "), at
	return nil
}

// Acknowledge splits the block's warnings ("file:line: text", from Warnings, Lint and the
// plugin's own) into those still shown and those a policy acknowledges, each of these followed
// by the acknowledging line and its reason; both sorted by file and line. It adds a warning for
// each acknowledge that covers nothing.
func (b *Block) Acknowledge(warnings []string) (shown, acked []string) {
	type ack struct {
		pos, reason string
		used        bool
	}
	covers := map[string]*ack{} // "file:line" -> the acknowledge covering it
	byPos := map[string]*ack{}  // one per acknowledge line, shared by the owners of a name block
	var acks []*ack
	add := func(p Policy) {
		if p.Ack == "" {
			return
		}
		a := byPos[p.AckPos]
		if a == nil {
			a = &ack{pos: p.AckPos, reason: p.Ack}
			byPos[p.AckPos] = a
			acks = append(acks, a)
		}
		covers[p.Pos] = a
		for _, pr := range p.Props {
			covers[pr.Pos] = a
		}
		for _, l := range p.Persist {
			covers[l.Pos] = a
		}
	}
	add(b.Apex)
	for _, p := range b.Names {
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
