package watch

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/dnsname"

	"github.com/miekg/dns"
)

// Check events (README.md, "Watching CAA queries"): a CA checks CAA for a name by querying
// every label from the name up, often from several vantage points at once. Queries for labels
// of one name within the window from the first of them form one event, logged when it closes.
//
// An attributed CA's queries form the CA's own events. No CA publishes its resolvers' addresses,
// so most queries come from unknown sources; a CA checking from several perspectives (5 from
// 2026-12-15, CA/B Forum BR 3.2.2.9) sends the same climb from distant networks at once. So the
// queries of all unattributed sources for one name form one event, which counts the source
// networks (/24 for IPv4, /48 for IPv6) it came from and is multi-perspective from 2 of them.
// Two unknown CAs checking the same name within the window therefore make one event, with the
// networks of both.
//
// The tracker finds a query's event by map lookups on the query name and its parents (one per
// label), never by scanning the open events, and closes events by time from the front of a
// queue: a flood of distinct names costs the same per query as a quiet hour.
//
// A fleet of servers sees one CA check on several nodes, each perspective's queries on the node
// it reaches. Every event and its query lines carry a key that is the same on every node for one
// check (key, below), so that an engine merges the nodes' events by it.

const (
	// DefaultWindow is how long a check event stays open after its first query.
	DefaultWindow = 2 * time.Second
	// maxOpenChecks bounds the open events: beyond it the oldest closes early, so a flood of
	// distinct names cannot grow memory without limit. 2,000 open events hold 1,000 checks a
	// second at the default window, far above what CAs ask of one operator, and the tracker's
	// index and events (under 1 MB) stay in the CPU's caches while the server answers a flood:
	// with 10,000 a flood's records cost measurably more.
	maxOpenChecks = 2000
	// maxVantage bounds the distinct client addresses and networks remembered per event.
	maxVantage = 64
)

// checkEvent is one open or closed check.
type checkEvent struct {
	ca                 string // the attributed CA, or UnknownCA for every unattributed source
	name               string // the deepest name queried, lowercase
	zone, server, view string // zone: the block's zone, within which queries are grouped
	label, apex        string // the metrics' zone label and the zone data's zone (Entry)
	first, last        time.Time
	queries            int
	addrs              []netip.Addr   // distinct client addresses, at most maxVantage
	nets               []netip.Prefix // distinct source networks, at most maxVantage
	path               []string       // the names this event is indexed under
	answers            []caa.Step     // the answers its queries got, one per name
	key                checkKey       // the same for this check on every node
	closed             bool

	// Room for the usual few, so that an event is one allocation.
	addrBuf   [2]netip.Addr
	netBuf    [2]netip.Prefix
	pathBuf   [3]string
	answerBuf [2]caa.Step
}

// multiPerspective reports whether the event came from two networks or more.
func (ev *checkEvent) multiPerspective() bool { return len(ev.nets) >= 2 }

// nameKey indexes events by their CA and a name.
type nameKey struct{ ca, name string }

// indexEntry holds the open events a name leads to: the one whose deepest name it is, and the
// newest whose climb passes through it.
type indexEntry struct{ deepest, onPath *checkEvent }

// checkTracker groups query records into check events. It is used by the log writer goroutine
// only, and takes the time from the records and the caller, so tests drive it with their clock.
type checkTracker struct {
	window time.Duration
	max    int
	index  map[nameKey]indexEntry // open events by their names (one map: one hash per lookup)
	order  []*checkEvent          // open events by first query, oldest first (closed ones skipped)
	free   []*checkEvent          // closed events handed back after logging, to be used again
	n      int                    // open events
}

func newCheckTracker(window time.Duration, max int) *checkTracker {
	return &checkTracker{window: window, max: max, index: map[nameKey]indexEntry{}}
}

// sourceNet returns the network a client address stands for: its /24 (IPv4) or /48 (IPv6).
func sourceNet(client netip.Addr) netip.Prefix {
	bits := 48
	if client.Is4() {
		bits = 24
	}
	p, _ := client.Prefix(bits)
	return p
}

// checkKey identifies one CA check across the nodes of a fleet: the first 16 hex digits of the
// SHA-256 of "NAME SOURCE BUCKET", where NAME is the name the check asked first (lowercase, fully
// qualified), SOURCE the CA or, for unattributed sources, unknown/ipv4 or unknown/ipv6 (the family
// of its first query's client), and BUCKET the Unix time of its first query in nanoseconds divided
// by the window, rounded down. Nodes with the same window give one check the same key unless its
// first queries fall on either side of a bucket's end.
type checkKey [16]byte

// keyOf returns the key of a check that asked name first, from source, at first.
func keyOf(name, source string, first time.Time, window time.Duration) checkKey {
	var buf [320]byte
	b := dnsname.Lower(buf[:0], name)
	b = append(append(b, ' '), source...)
	b = strconv.AppendInt(append(b, ' '), first.UnixNano()/int64(window), 10)
	sum := sha256.Sum256(b)
	var k checkKey
	hex.Encode(k[:], sum[:8])
	return k
}

// keySource is the source part of a check's key: the CA, or for an unattributed client the
// family of its address.
func keySource(ca string, client netip.Addr) string {
	switch {
	case ca != UnknownCA:
		return ca
	case client.Is4():
		return UnknownCA + "/ipv4"
	}
	return UnknownCA + "/ipv6"
}

// observe adds a query to its event, opening one if needed. It returns the event and the events
// it closes: those whose window has passed, and the oldest when too many are open.
func (t *checkTracker) observe(e *Entry) (*checkEvent, []*checkEvent) {
	closed := t.expire(e.Time)
	name := e.checked()
	ev := t.index[nameKey{e.CA, name}].onPath // name is on the climb of an open event
	if ev == nil {
		// A parent of name is the deepest name of an open event: the climb goes deeper.
		for a := parentOrEmpty(name); a != "" && inZone(a, e.Zone); a = parentOrEmpty(a) {
			if ev = t.index[nameKey{e.CA, a}].deepest; ev != nil {
				t.extend(ev, name)
				break
			}
		}
	}
	if ev == nil {
		if t.n >= t.max {
			if old := t.oldest(); old != nil {
				t.close(old)
				closed = append(closed, old)
			}
		}
		ev = t.newEvent()
		ev.ca, ev.name, ev.zone, ev.server, ev.view, ev.first = e.CA, name, e.Zone, e.Server, e.View, e.Time
		ev.label, ev.apex = e.label(), dnsname.LowerString(e.zoneName())
		ev.key = keyOf(name, keySource(e.CA, e.Client.Addr()), e.Time, t.window)
		t.register(ev, name, "")
		t.order = append(t.order, ev)
		t.n++
	}
	ev.queries++
	ev.last = e.Time
	ev.addVantage(e.Client.Addr())
	ev.addAnswer(e)
	return ev, closed
}

// addAnswer keeps the CAA answer the query got, the first for each name: the verdict climbs over
// what the CA saw, and need not look names up again. A dns-persist-01 answer holds no CAA.
func (ev *checkEvent) addAnswer(e *Entry) {
	m := e.Reply
	if m == nil || e.Type == dns.TypeTXT || (m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError) || m.Truncated || len(ev.answers) >= maxVantage {
		return
	}
	for i := range ev.answers {
		if strings.EqualFold(ev.answers[i].Name, e.Name) {
			return
		}
	}
	s := caa.Step{Name: e.Name, Rcode: m.Rcode, Delegation: caa.Referral(m)}
	s.RRset, s.CNAMEs, _ = caa.AnswerRRset(m.Answer, e.Name)
	ev.answers = append(ev.answers, s)
}

// newEvent returns a cleared event: one handed back, or a new one. A flood of distinct names
// opens and closes an event per query; using them again spares the collector.
func (t *checkTracker) newEvent() *checkEvent {
	var ev *checkEvent
	if n := len(t.free); n > 0 {
		ev, t.free[n-1] = t.free[n-1], nil
		t.free = t.free[:n-1]
		*ev = checkEvent{}
	} else {
		ev = &checkEvent{}
	}
	ev.addrs, ev.nets, ev.path, ev.answers = ev.addrBuf[:0], ev.netBuf[:0], ev.pathBuf[:0], ev.answerBuf[:0]
	return ev
}

// recycle hands back a closed event once it is logged: nothing refers to it any more.
func (t *checkTracker) recycle(ev *checkEvent) {
	if ev.closed && len(t.free) < maxFreeEvents {
		t.free = append(t.free, ev)
	}
}

// maxFreeEvents bounds the closed events kept for use again.
const maxFreeEvents = 1024

// parentOrEmpty returns the parent of a fully qualified name, "" above the root.
func parentOrEmpty(n string) string {
	if n == "." || n == "" {
		return ""
	}
	return caa.ParentName(n)
}

// inZone reports whether n lies in zone ("" stands for any zone).
func inZone(n, zone string) bool { return zone == "" || dnsname.AtOrBelow(n, zone) }

// register indexes ev under its deepest name, name, and under every name from name up to (not
// including) stop, or up to its zone's apex when stop is "".
func (t *checkTracker) register(ev *checkEvent, name, stop string) {
	for a := name; a != "" && a != stop && inZone(a, ev.zone); a = parentOrEmpty(a) {
		k := nameKey{ev.ca, a}
		x := t.index[k]
		x.onPath = ev // a parent shared with another climb goes to the newest
		if a == name {
			x.deepest = ev
		}
		t.index[k] = x
		ev.path = append(ev.path, a)
		if a == ev.zone {
			break
		}
	}
}

// extend makes name, below the event's deepest name, its new deepest name.
func (t *checkTracker) extend(ev *checkEvent, name string) {
	k := nameKey{ev.ca, ev.name}
	if x := t.index[k]; x.deepest == ev {
		x.deepest = nil
		t.index[k] = x
	}
	old := ev.name
	ev.name = name
	t.register(ev, name, old)
}

func (ev *checkEvent) addVantage(a netip.Addr) {
	if !slices.Contains(ev.addrs, a) && len(ev.addrs) < maxVantage {
		ev.addrs = append(ev.addrs, a)
	}
	if n := sourceNet(a); !slices.Contains(ev.nets, n) && len(ev.nets) < maxVantage {
		ev.nets = append(ev.nets, n)
	}
}

// expire closes the events whose window has passed at now.
func (t *checkTracker) expire(now time.Time) []*checkEvent {
	var closed []*checkEvent
	for {
		ev := t.oldest()
		if ev == nil || now.Sub(ev.first) < t.window {
			return closed
		}
		t.close(ev)
		closed = append(closed, ev)
	}
}

// flush closes every open event, oldest first.
func (t *checkTracker) flush() []*checkEvent {
	var closed []*checkEvent
	for ev := t.oldest(); ev != nil; ev = t.oldest() {
		t.close(ev)
		closed = append(closed, ev)
	}
	return closed
}

// oldest returns the open event with the earliest first query, dropping closed ones from order.
func (t *checkTracker) oldest() *checkEvent {
	for len(t.order) > 0 && t.order[0].closed {
		t.order[0] = nil
		t.order = t.order[1:]
	}
	if len(t.order) == 0 {
		t.order = nil // let the array go
		return nil
	}
	return t.order[0]
}

// close marks ev closed and removes it from the indexes and, as it is always the oldest open
// event, from the front of the order.
func (t *checkTracker) close(ev *checkEvent) {
	ev.closed = true
	t.n--
	if len(t.order) > 0 && t.order[0] == ev {
		t.order[0] = nil
		t.order = t.order[1:]
	}
	for _, a := range ev.path {
		k := nameKey{ev.ca, a}
		x, ok := t.index[k]
		if !ok || (x.deepest != ev && x.onPath != ev) {
			continue // a newer event holds the name (a parent shared by many climbs)
		}
		if x.deepest == ev {
			x.deepest = nil
		}
		if x.onPath == ev {
			x.onPath = nil
		}
		if x.deepest == nil && x.onPath == nil {
			delete(t.index, k)
		} else {
			t.index[k] = x
		}
	}
}
