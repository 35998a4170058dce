package watch

import (
	"slices"
	"strings"

	"github.com/caapolicy/caapolicy/caa"
)

// A reload replaces every block while CAs keep checking: a check whose first queries reached the
// old instance and whose last reach the new one would be logged and counted as two events, each
// with half the networks, and a multi-perspective check could look single-perspective twice. So
// when an old block retires, its open check events go to the block of the newer instance that
// serves the same zones, and join the event that block has opened for the same climb, if any.
// The verdict is then the new policy's, as for any event that closes after a reload.

// successor returns the block of the newest other started instance that serves exactly the zones
// of l and groups check events, or nil.
func (p *Pipeline) successor(l *Log) *Log {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := len(p.started) - 1; k >= 0; k-- {
		i := p.started[k]
		if i == l.inst || i.done {
			continue
		}
		for _, b := range i.blocks {
			if b != l && !b.retiring && b.pipe == p && b.cfg.Window > 0 && slices.Equal(b.block.Zones, l.block.Zones) {
				return b
			}
		}
	}
	return nil
}

// adopt takes the open events of a retiring block's tracker (which it empties) into the block's
// own, merging each into the event this block opened for the same climb: one with the same deepest
// name, one deeper whose climb passes through it, or one at a parent on its own climb (the climb
// went on after the reload). It runs on the writer goroutine.
func (l *Log) adopt(old *checkTracker) {
	evs := old.flush()
	if len(evs) == 0 {
		return
	}
	if l.checks == nil {
		l.track(evs[0].first)
	}
	t := l.checks
	for _, ev := range evs {
		ev.closed = false
		at := t.index[nameKey{ev.ca, ev.name}]
		switch {
		case at.deepest != nil:
			at.deepest.merge(ev)
			continue
		case at.onPath != nil && at.onPath.zone == ev.zone:
			at.onPath.merge(ev) // a deeper climb of this block passes through ev's name
			continue
		}
		for _, a := range ev.path[1:] { // a parent that is the deepest name of this block's event
			if x := t.index[nameKey{ev.ca, a}].deepest; x != nil && x.zone == ev.zone {
				t.close(x) // not logged, and not used again: order may still hold it
				ev.merge(x)
			}
		}
		for _, a := range ev.path {
			k := nameKey{ev.ca, a}
			x := t.index[k]
			if x.onPath == nil || x.onPath.closed {
				x.onPath = ev
			}
			if a == ev.name {
				x.deepest = ev
			}
			t.index[k] = x
		}
		t.order = append(t.order, ev)
		t.n++
	}
	// Closing goes by first query, oldest first; events merged away (closed) stay where they are.
	slices.SortStableFunc(t.order, func(a, b *checkEvent) int { return a.first.Compare(b.first) })
	if !l.active && t.n > 0 {
		l.active = true
		l.pipe.activate(l)
	}
}

// merge adds the queries of o, an event of the same CA for the same climb, to ev. Addresses and
// networks stay in the order they were first seen.
func (ev *checkEvent) merge(o *checkEvent) {
	older, newer := ev, o
	if o.first.Before(ev.first) {
		older, newer = o, ev
	}
	ev.addrs = union(older.addrs, newer.addrs)
	ev.nets = union(older.nets, newer.nets)
	ev.queries += o.queries
	ev.first, ev.key = older.first, older.key // the key is the first query's
	if o.last.After(ev.last) {
		ev.last = o.last
	}
	for _, s := range o.answers {
		if len(ev.answers) < maxVantage && !slices.ContainsFunc(ev.answers, func(x caa.Step) bool { return strings.EqualFold(x.Name, s.Name) }) {
			ev.answers = append(ev.answers, s)
		}
	}
}

// union returns a new slice of the elements of a, then those of b not in a, at most maxVantage.
func union[T comparable](a, b []T) []T {
	out := slices.Clone(a)
	for _, x := range b {
		if len(out) < maxVantage && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
