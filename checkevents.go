package caapolicy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/caapolicy/caapolicy/caa"

	"github.com/miekg/dns"
)

// caa.Check events (PRODUCT.md section 6): a CA checks CAA for a name by querying every label from
// the name up, often from several vantage points at once. Queries from one source for labels of
// one name, within the window from the first of them, form one event, logged when it closes.

const (
	// defaultWindow is how long a check event stays open after its first query.
	defaultWindow = 2 * time.Second
	// maxOpenChecks bounds the open events: beyond it the oldest closes early, so a flood of
	// distinct names cannot grow memory without limit.
	maxOpenChecks = 10000
	// maxVantage bounds the distinct client addresses remembered per event.
	maxVantage = 64
)

// checkKey is the source of a check: an attributed CA, or for unknown clients their /24 (IPv4)
// or /48 (IPv6).
type checkKey struct {
	ca  string
	net netip.Prefix
}

// checkEvent is one open or closed check.
type checkEvent struct {
	key                checkKey
	name               string // the deepest name queried, lowercase
	zone, server, view string
	first, last        time.Time
	queries            int
	addrs              []netip.Addr // distinct client addresses, at most maxVantage
	closed             bool
}

// checkTracker groups query records into check events. It is used by the log writer goroutine
// only, and takes the time from the records and the caller, so tests drive it with their clock.
type checkTracker struct {
	window time.Duration
	max    int
	open   map[checkKey][]*checkEvent
	order  []*checkEvent // open events by first query, oldest first (closed ones skipped)
	n      int           // open events
}

func newCheckTracker(window time.Duration, max int) *checkTracker {
	return &checkTracker{window: window, max: max, open: map[checkKey][]*checkEvent{}}
}

func sourceKey(ca string, client netip.Addr) checkKey {
	if ca != unknownCA {
		return checkKey{ca: ca}
	}
	bits := 48
	if client.Is4() {
		bits = 24
	}
	p, _ := client.Prefix(bits)
	return checkKey{ca: ca, net: p}
}

// observe adds a query to its event, opening one if needed, and returns the events it closes:
// those whose window has passed, and the oldest when too many are open.
func (t *checkTracker) observe(e *queryEntry) []*checkEvent {
	closed := t.expire(e.time)
	name := strings.ToLower(e.qname)
	key := sourceKey(e.ca, e.client.Addr())
	for _, ev := range t.open[key] {
		if atOrBelow(name, ev.name) || atOrBelow(ev.name, name) {
			if dns.CountLabel(name) > dns.CountLabel(ev.name) {
				ev.name = name
			}
			ev.queries++
			ev.last = e.time
			ev.addVantage(e.client.Addr())
			return closed
		}
	}
	if t.n >= t.max {
		if ev := t.oldest(); ev != nil {
			t.close(ev)
			closed = append(closed, ev)
		}
	}
	ev := &checkEvent{key: key, name: name, zone: e.zone, server: e.server, view: e.view, first: e.time, last: e.time, queries: 1}
	ev.addVantage(e.client.Addr())
	t.open[key] = append(t.open[key], ev)
	t.order = append(t.order, ev)
	t.n++
	return closed
}

// atOrBelow reports whether the lowercase name n is parent or a name below it. Unlike
// dns.IsSubDomain it does not allocate, as it runs for every logged query.
func atOrBelow(n, parent string) bool {
	switch {
	case n == parent || parent == ".":
		return true
	case len(n) <= len(parent) || n[len(n)-len(parent)-1] != '.' || n[len(n)-len(parent):] != parent:
		return false
	}
	// The dot must end a label: an odd run of backslashes before it makes it "\.", part of one.
	escapes := 0
	for i := len(n) - len(parent) - 2; i >= 0 && n[i] == '\\'; i-- {
		escapes++
	}
	return escapes%2 == 0
}

func (ev *checkEvent) addVantage(a netip.Addr) {
	for _, b := range ev.addrs {
		if a == b {
			return
		}
	}
	if len(ev.addrs) < maxVantage {
		ev.addrs = append(ev.addrs, a)
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

func (t *checkTracker) close(ev *checkEvent) {
	ev.closed = true
	t.n--
	evs := t.open[ev.key]
	for i, x := range evs {
		if x == ev {
			evs = append(evs[:i], evs[i+1:]...)
			break
		}
	}
	if len(evs) == 0 {
		delete(t.open, ev.key)
	} else {
		t.open[ev.key] = evs
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
}

// verdict evaluates a check over what caapolicy serves now (policy, zone data, partners). The
// account and validation method are unknown, so properties bound to them count as authorizing.
func (c *CAAPolicy) verdict(ev *checkEvent) checkVerdict {
	var v checkVerdict
	mode := caa.ModeRFC
	if ev.key.ca == "letsencrypt.org" {
		mode = caa.ModeLetsEncrypt
	}
	req := caa.Request{Name: ev.name, CA: ev.key.ca, Mode: mode, AnyAccount: true}
	if ev.key.ca == unknownCA {
		v.relevant = caa.Check(req, c.localLookup)
		return v
	}
	v.known = true
	v.plain = caa.Check(req, c.localLookup)
	req.Name = "*." + strings.TrimSuffix(ev.name, ".")
	v.wild = caa.Check(req, c.localLookup)
	v.relevant = v.plain
	v.authorized, v.authorizedWild = v.plain.Allowed, v.wild.Allowed
	return v
}

// closeCheck logs a closed check event and counts it.
func (c *CAAPolicy) closeCheck(ev *checkEvent) {
	v := c.verdict(ev)
	checkEventsTotal.WithLabelValues(ev.server, ev.zone, ev.view, ev.key.ca).Inc()
	unauthorized := v.known && !v.authorized && !v.authorizedWild
	if unauthorized {
		unauthorizedChecksTotal.WithLabelValues(ev.server, ev.zone, ev.view, ev.key.ca).Inc()
	}
	if c.qlog.cfg.json {
		c.qlog.writeJSON(checkJSON(ev, v, unauthorized))
		return
	}
	c.qlog.flush()
	if unauthorized {
		log.Warning(checkText(ev, v))
	} else {
		log.Info(checkText(ev, v))
	}
}

func checkSource(ev *checkEvent) string {
	if ev.key.ca == unknownCA {
		return "unknown (" + ev.key.net.String() + ")"
	}
	return ev.key.ca
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func relevantText(r caa.Result) string {
	switch {
	case r.Err != nil:
		return "lookup failed: " + r.Err.Error()
	case r.Owner == "":
		return "none inside the zone"
	}
	var recs []string
	for i := range r.RRset {
		recs = append(recs, caa.Text(&r.RRset[i]))
	}
	return r.Owner + " [" + strings.Join(recs, ", ") + "]"
}

// checkText is the text log line of a check event:
//
//	check by letsencrypt.org of "www.example.org." (zone example.org.): 4 queries from 2 addresses in 0.812s; relevant example.org. [0 issue "letsencrypt.org"]; authorized yes, wildcard no: ...
func checkText(ev *checkEvent, v checkVerdict) string {
	var b strings.Builder
	fmt.Fprintf(&b, "check by %s of %q (zone %s): %d queries from %d addresses in %.3fs; relevant %s",
		checkSource(ev), escapeName(ev.name), ev.zone, ev.queries, len(ev.addrs), ev.last.Sub(ev.first).Seconds(), relevantText(v.relevant))
	if !v.known {
		return b.String()
	}
	if !v.authorized && !v.authorizedWild {
		fmt.Fprintf(&b, "; NOT AUTHORIZED for the name or its wildcard: %s", v.plain.Reason)
		return b.String()
	}
	fmt.Fprintf(&b, "; authorized %s, wildcard %s", yesNo(v.authorized), yesNo(v.authorizedWild))
	return b.String()
}

// checkRecord is the JSON form of a check event.
type checkRecord struct {
	Type           string   `json:"type"` // "check"
	Level          string   `json:"level"`
	Time           string   `json:"time"` // the first query
	CA             string   `json:"ca"`
	Source         string   `json:"source,omitempty"` // the client network of an unknown CA
	Name           string   `json:"name"`
	Zone           string   `json:"zone"`
	Queries        int      `json:"queries"`
	Addresses      int      `json:"addresses"`
	DurationMS     int64    `json:"duration_ms"`
	RelevantOwner  string   `json:"relevant_owner"`
	RelevantRRset  []string `json:"relevant_rrset"`
	Authorized     *bool    `json:"authorized,omitempty"`
	AuthorizedWild *bool    `json:"authorized_wildcard,omitempty"`
	Reason         string   `json:"reason,omitempty"`
	Server         string   `json:"server"`
	View           string   `json:"view,omitempty"`
}

func checkJSON(ev *checkEvent, v checkVerdict, unauthorized bool) checkRecord {
	r := checkRecord{
		Type: "check", Level: "info", Time: ev.first.UTC().Format(logTime), CA: ev.key.ca,
		Name: escapeName(ev.name), Zone: ev.zone, Queries: ev.queries, Addresses: len(ev.addrs),
		DurationMS: ev.last.Sub(ev.first).Milliseconds(), RelevantOwner: v.relevant.Owner, RelevantRRset: []string{},
		Server: ev.server, View: ev.view,
	}
	if ev.key.ca == unknownCA {
		r.Source = ev.key.net.String()
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
	var buf [256]byte
	lname := lowerName(buf[:0], n)
	if _, ok := c.zoneOf(lname); !ok {
		s.Outside = true
		return s, nil
	}
	cw := &captureWriter{}
	r := new(dns.Msg).SetQuestion(dns.Fqdn(n), dns.TypeCAA)
	_, rcode, err := c.serve(context.Background(), cw, r, c.owners[string(lname)])
	if cw.msg == nil {
		if err == nil {
			err = fmt.Errorf("no answer (%s)", dns.RcodeToString[rcode])
		}
		s.Rcode = rcode
		return s, err
	}
	s.Rcode = cw.msg.Rcode
	if s.Rcode != dns.RcodeSuccess && s.Rcode != dns.RcodeNameError {
		return s, fmt.Errorf("answer %s", dns.RcodeToString[s.Rcode])
	}
	s.RRset, s.CNAMEs, _ = caa.AnswerRRset(cw.msg.Answer, r.Question[0].Name)
	s.Delegation = caa.Referral(cw.msg)
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
