package caapolicy

import (
	"context"
	"fmt"
	"net"
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

const (
	// defaultWindow is how long a check event stays open after its first query.
	defaultWindow = 2 * time.Second
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
	ca                 string // the attributed CA, or unknownCA for every unattributed source
	name               string // the deepest name queried, lowercase
	zone, server, view string
	first, last        time.Time
	queries            int
	addrs              []netip.Addr   // distinct client addresses, at most maxVantage
	nets               []netip.Prefix // distinct source networks, at most maxVantage
	path               []string       // the names this event is indexed under
	answers            []caa.Step     // the answers its queries got, one per name
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

// observe adds a query to its event, opening one if needed, and returns the events it closes:
// those whose window has passed, and the oldest when too many are open.
func (t *checkTracker) observe(e *queryEntry) []*checkEvent {
	closed := t.expire(e.time)
	name := strings.ToLower(e.qname)
	ev := t.index[nameKey{e.ca, name}].onPath // name is on the climb of an open event
	if ev == nil {
		// A parent of name is the deepest name of an open event: the climb goes deeper.
		for a := parentOrEmpty(name); a != "" && inZone(a, e.zone); a = parentOrEmpty(a) {
			if ev = t.index[nameKey{e.ca, a}].deepest; ev != nil {
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
		ev.ca, ev.name, ev.zone, ev.server, ev.view, ev.first = e.ca, name, e.zone, e.server, e.view, e.time
		t.register(ev, name, "")
		t.order = append(t.order, ev)
		t.n++
	}
	ev.queries++
	ev.last = e.time
	ev.addVantage(e.client.Addr())
	ev.addAnswer(e)
	return closed
}

// addAnswer keeps the CAA answer the query got, the first for each name: the verdict climbs over
// what the CA saw, and need not look names up again.
func (ev *checkEvent) addAnswer(e *queryEntry) {
	m := e.served.msg
	if m == nil || (m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError) || m.Truncated || len(ev.answers) >= maxVantage {
		return
	}
	for i := range ev.answers {
		if strings.EqualFold(ev.answers[i].Name, e.qname) {
			return
		}
	}
	s := caa.Step{Name: e.qname, Rcode: m.Rcode, Delegation: caa.Referral(m)}
	s.RRset, s.CNAMEs, _ = caa.AnswerRRset(m.Answer, e.qname)
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

// checkVerdict is what a closed event found: the Relevant RRset of the name inside caapolicy's
// zones and, for an attributed CA, whether it may issue for the name and for its wildcard.
type checkVerdict struct {
	relevant       caa.Result
	known          bool
	plain, wild    caa.Result
	authorized     bool // for the name or for its wildcard
	authorizedWild bool
	relevantText   []byte // appendRelevant(relevant), when the writer has it at hand
}

// verdict evaluates a check over what caapolicy serves now (policy, zone data, partners). The
// account and validation method are unknown, so properties bound to them count as authorizing.
func (c *CAAPolicy) verdict(ev *checkEvent) checkVerdict {
	var v checkVerdict
	mode := caa.ModeRFC
	if ev.ca == "letsencrypt.org" {
		mode = caa.ModeLetsEncrypt
	}
	lookup := func(n string) (caa.Step, error) { return c.eventLookup(ev, n) }
	req := caa.Request{Name: ev.name, CA: ev.ca, Mode: mode, AnyAccount: true}
	if ev.ca == unknownCA {
		v.relevant = c.relevantOf(ev, lookup)
		return v
	}
	v.known = true
	v.plain = caa.Check(req, lookup)
	req.Name = "*." + strings.TrimSuffix(ev.name, ".")
	v.wild = caa.Check(req, lookup)
	v.relevant = v.plain
	v.authorized, v.authorizedWild = v.plain.Allowed, v.wild.Allowed
	return v
}

// closeCheck logs a closed check event and counts it.
func (c *CAAPolicy) closeCheck(ev *checkEvent) {
	v := c.verdict(ev)
	c.counters.checkEvent(ev.server, ev.zone, ev.view, ev.ca).Inc()
	if ev.multiPerspective() {
		c.counters.multiPerspectiveCheck(ev.server, ev.zone, ev.view).Inc()
	}
	unauthorized := v.known && !v.authorized && !v.authorizedWild
	if unauthorized {
		unauthorizedChecksTotal.WithLabelValues(ev.server, ev.zone, ev.view, ev.ca).Inc()
	}
	l := c.qlog
	switch {
	case l.cfg.json:
		l.writeJSON(checkJSON(ev, v, unauthorized))
	case l.viaCoreDNSJSON(): // CoreDNS's own JSON logging formats each line
		l.flush()
		if unauthorized {
			log.Warning(string(appendCheckText(nil, ev, v)))
		} else {
			log.Info(string(appendCheckText(nil, ev, v)))
		}
	default: // batched with the query lines, as log.Info and log.Warning would print them
		prefix := textPrefix
		if unauthorized {
			prefix = warningPrefix
		}
		v.relevantText = l.relevantText(v.relevant)
		l.sink.batch = append(appendCheckText(append(l.sink.batch, prefix...), ev, v), '\n')
	}
}

// eventLookup is the climb's lookup for the verdict of ev: the answer the event's own queries got
// for n (what the CA saw), else what caapolicy serves now, remembered for a window so that a
// parent shared by many checks is looked up once.
func (c *CAAPolicy) eventLookup(ev *checkEvent, n string) (caa.Step, error) {
	for i := range ev.answers {
		if strings.EqualFold(ev.answers[i].Name, n) {
			return ev.answers[i], nil
		}
	}
	l := c.qlog
	var buf [256]byte
	key := dnsname.Lower(buf[:0], n)
	if s, ok := l.memo[string(key)]; ok { // a lookup that does not allocate
		return s, nil
	}
	s, err := c.localLookup(n)
	if err == nil {
		if len(l.memo) >= maxMemo {
			l.clearMemo()
		}
		l.memo[string(key)] = s
	}
	return s, err
}

// relevantOf is caa.Relevant(ev.name) for an event of unattributed sources, whose verdict is its
// Relevant RRset alone. It skips the names the event's own queries found without CAA; from the
// first name they did not ask, the climb is the same for every event and is remembered, with the
// lookups, for a window: a flood of distinct names below one apex climbs once. Where the event's
// answers say more (a CAA RRset, a referral, a name above the first one not asked), it climbs
// as caa.Relevant does.
func (c *CAAPolicy) relevantOf(ev *checkEvent, lookup caa.Lookup) caa.Result {
	n, skipped := caa.ClimbStart(ev.name), 0
	for ; n != "."; n = caa.ParentName(n) {
		i := slices.IndexFunc(ev.answers, func(s caa.Step) bool { return strings.EqualFold(s.Name, n) })
		if i < 0 {
			break
		}
		if s := ev.answers[i]; len(s.RRset) > 0 || s.Outside || s.Delegation != nil {
			return caa.Relevant(ev.name, lookup)
		}
		skipped++
	}
	if n == "." || skipped != len(ev.answers) {
		return caa.Relevant(ev.name, lookup)
	}
	l := c.qlog
	var buf [256]byte
	key := dnsname.Lower(buf[:0], n)
	if r, ok := l.relevant[string(key)]; ok {
		return r
	}
	r := caa.Relevant(n, lookup)
	if len(l.relevant) >= maxMemo {
		l.clearMemo()
	}
	l.relevant[string(key)] = r
	return r
}

// maxMemo bounds the lookups the log writer remembers between two clearings.
const maxMemo = 4096

func checkSource(ev *checkEvent) string { return ev.ca }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// relevantText returns appendRelevant(r), from the last one made when r is the same RRset (one
// remembered by relevantOf, shared by a flood's events): the records are formatted once.
func (l *queryLog) relevantText(r caa.Result) []byte {
	if r.Err != nil || len(r.RRset) == 0 {
		return nil
	}
	t := &l.lastRelevant
	if t.owner != r.Owner || t.first != &r.RRset[0] || t.n != len(r.RRset) {
		t.owner, t.first, t.n = r.Owner, &r.RRset[0], len(r.RRset)
		t.text = appendRelevant(t.text[:0], r)
	}
	return t.text
}

// appendRelevant appends the Relevant RRset of a climb: its owner and records, or why there is none.
func appendRelevant(b []byte, r caa.Result) []byte {
	switch {
	case r.Err != nil:
		return append(append(b, "lookup failed: "...), r.Err.Error()...)
	case r.Owner == "":
		return append(b, "none inside the zone"...)
	}
	b = append(append(b, r.Owner...), " ["...)
	for i := range r.RRset {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = caa.AppendText(b, &r.RRset[i])
	}
	return append(b, ']')
}

// appendCheckText appends the text log line of a check event to b:
//
//	check by letsencrypt.org of "www.example.org." (zone example.org.): 4 queries from 2 addresses from 2 networks, multi-perspective, in 0.812s; relevant example.org. [0 issue "letsencrypt.org"]; authorized yes, wildcard no
func appendCheckText(b []byte, ev *checkEvent, v checkVerdict) []byte {
	b = append(b, "check by "...)
	b = append(b, checkSource(ev)...)
	b = append(b, " of "...)
	b = strconv.AppendQuote(b, escapeName(ev.name))
	b = append(b, " (zone "...)
	b = append(b, ev.zone...)
	b = append(b, "): "...)
	b = strconv.AppendInt(b, int64(ev.queries), 10)
	b = append(b, " queries from "...)
	b = strconv.AppendInt(b, int64(len(ev.addrs)), 10)
	b = append(b, " addresses from "...)
	b = strconv.AppendInt(b, int64(len(ev.nets)), 10)
	b = append(b, " networks"...)
	if ev.multiPerspective() {
		b = append(b, ", multi-perspective,"...)
	}
	b = append(b, " in "...)
	b = strconv.AppendFloat(b, ev.last.Sub(ev.first).Seconds(), 'f', 3, 64)
	b = append(b, "s; relevant "...)
	if v.relevantText != nil {
		b = append(b, v.relevantText...)
	} else {
		b = appendRelevant(b, v.relevant)
	}
	switch {
	case !v.known:
	case !v.authorized && !v.authorizedWild:
		b = append(b, "; NOT AUTHORIZED for the name or its wildcard: "...)
		b = append(b, v.plain.Reason...)
	default:
		b = append(b, "; authorized "...)
		b = append(b, yesNo(v.authorized)...)
		b = append(b, ", wildcard "...)
		b = append(b, yesNo(v.authorizedWild)...)
	}
	return b
}

// checkRecord is the JSON form of a check event.
type checkRecord struct {
	Type             string   `json:"type"` // "check"
	Level            string   `json:"level"`
	Time             string   `json:"time"` // the first query
	CA               string   `json:"ca"`
	Name             string   `json:"name"`
	Zone             string   `json:"zone"`
	Queries          int      `json:"queries"`
	Addresses        int      `json:"addresses"`
	Networks         int      `json:"networks"` // distinct source /24 (IPv4) and /48 (IPv6) networks
	MultiPerspective bool     `json:"multi_perspective"`
	SourceNetworks   []string `json:"source_networks"`
	DurationMS       int64    `json:"duration_ms"`
	RelevantOwner    string   `json:"relevant_owner"`
	RelevantRRset    []string `json:"relevant_rrset"`
	Authorized       *bool    `json:"authorized,omitempty"`
	AuthorizedWild   *bool    `json:"authorized_wildcard,omitempty"`
	Reason           string   `json:"reason,omitempty"`
	Server           string   `json:"server"`
	View             string   `json:"view,omitempty"`
}

func checkJSON(ev *checkEvent, v checkVerdict, unauthorized bool) checkRecord {
	r := checkRecord{
		Type: "check", Level: "info", Time: ev.first.UTC().Format(logTime), CA: ev.ca,
		Name: escapeName(ev.name), Zone: ev.zone, Queries: ev.queries, Addresses: len(ev.addrs),
		Networks: len(ev.nets), MultiPerspective: ev.multiPerspective(), SourceNetworks: []string{},
		DurationMS: ev.last.Sub(ev.first).Milliseconds(), RelevantOwner: v.relevant.Owner, RelevantRRset: []string{},
		Server: ev.server, View: ev.view,
	}
	for _, n := range ev.nets {
		r.SourceNetworks = append(r.SourceNetworks, n.String())
	}
	for i := range v.relevant.RRset {
		r.RelevantRRset = append(r.RelevantRRset, caa.Text(&v.relevant.RRset[i]))
	}
	if v.known {
		r.Authorized, r.AuthorizedWild = &v.authorized, &v.authorizedWild
		r.Reason = v.plain.Reason
		if !v.authorized && v.authorizedWild {
			r.Reason = v.wild.Reason
		}
	}
	if unauthorized {
		r.Level = "warning"
	}
	return r
}

// localLookup is a Lookup over what caapolicy serves now: each name of the climb inside its
// zones is answered by the same code that answers queries; names outside end the climb.
func (c *CAAPolicy) localLookup(n string) (caa.Step, error) {
	s := caa.Step{Name: n}
	if !c.holds(n) {
		s.Outside = true
		return s, nil
	}
	r := new(dns.Msg).SetQuestion(dns.Fqdn(n), dns.TypeCAA)
	m, err := c.exchange(context.Background(), r)
	if err != nil {
		return s, err
	}
	s.Rcode = m.Rcode
	if s.Rcode != dns.RcodeSuccess && s.Rcode != dns.RcodeNameError {
		return s, fmt.Errorf("answer %s", dns.RcodeToString[s.Rcode])
	}
	s.RRset, s.CNAMEs, _ = caa.AnswerRRset(m.Answer, r.Question[0].Name)
	s.Delegation = caa.Referral(m)
	return s, nil
}

// captureWriter keeps the reply of a lookup caapolicy makes of itself.
type captureWriter struct {
	msg    *dns.Msg
	remote net.Addr // the client's address, when the lookup is made for one; loopback otherwise
}

var loopback = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}

func (w *captureWriter) LocalAddr() net.Addr { return loopback }
func (w *captureWriter) RemoteAddr() net.Addr {
	if w.remote != nil {
		return w.remote
	}
	return loopback
}
func (w *captureWriter) WriteMsg(m *dns.Msg) error { w.msg = m; return nil }
func (w *captureWriter) Write([]byte) (int, error) {
	return 0, fmt.Errorf("captureWriter takes messages only")
}
func (w *captureWriter) Close() error        { return nil }
func (w *captureWriter) TsigStatus() error   { return nil }
func (w *captureWriter) TsigTimersOnly(bool) {}
func (w *captureWriter) Hijack()             {}
