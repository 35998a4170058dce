package caapolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/corednstest"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// entry is a query record from addr for qname at t0+at, attributed to ca.
func entry(ca, addr, qname string, at time.Duration) *queryEntry {
	return &queryEntry{time: t0.Add(at), client: netip.AddrPortFrom(netip.MustParseAddr(addr), 5353), qname: qname, ca: ca, zone: "example.org."}
}

func eventNames(evs []*checkEvent) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%s %s q=%d a=%d n=%d", checkSource(ev), ev.name, ev.queries, len(ev.addrs), len(ev.nets)))
	}
	return out
}

func TestCheckGrouping(t *testing.T) {
	const le, sec = "letsencrypt.org", "sectigo.com"
	tests := []struct {
		name    string
		entries []*queryEntry
		want    []string // closed events, in closing order, after a flush at t0+10s
	}{
		{"several labels and vantage points", []*queryEntry{
			entry(le, "10.0.0.1", "www.a.example.org.", 0),
			entry(le, "10.0.0.2", "WWW.A.example.org.", 10*time.Millisecond),
			entry(le, "10.0.0.3", "a.example.org.", 20*time.Millisecond),
			entry(le, "10.0.0.1", "example.org.", 30*time.Millisecond),
		}, []string{"letsencrypt.org www.a.example.org. q=4 a=3 n=1"}},
		{"parent first, deeper name later", []*queryEntry{
			entry(le, "10.0.0.1", "example.org.", 0),
			entry(le, "10.0.0.1", "shop.example.org.", time.Second),
		}, []string{"letsencrypt.org shop.example.org. q=2 a=1 n=1"}},
		{"two CAs interleaved", []*queryEntry{
			entry(le, "10.0.0.1", "www.example.org.", 0),
			entry(sec, "172.16.0.1", "shop.example.org.", 1*time.Millisecond),
			entry(le, "10.0.0.2", "example.org.", 2*time.Millisecond),
			entry(sec, "172.16.0.2", "example.org.", 3*time.Millisecond),
		}, []string{"letsencrypt.org www.example.org. q=2 a=2 n=1", "sectigo.com shop.example.org. q=2 a=2 n=1"}},
		{"two names by one CA", []*queryEntry{
			entry(le, "10.0.0.1", "www.example.org.", 0),
			entry(le, "10.0.0.1", "api.example.org.", time.Millisecond),
		}, []string{"letsencrypt.org www.example.org. q=1 a=1 n=1", "letsencrypt.org api.example.org. q=1 a=1 n=1"}},
		// Unattributed sources for one name form one event, whatever their networks.
		{"unknown clients, one name, three networks", []*queryEntry{
			entry(unknownCA, "192.0.2.1", "www.example.org.", 0),
			entry(unknownCA, "192.0.2.200", "example.org.", time.Millisecond),
			entry(unknownCA, "198.51.100.1", "example.org.", 2*time.Millisecond),
			entry(unknownCA, "2001:db8:1:2::1", "www.example.org.", 3*time.Millisecond),
			entry(unknownCA, "2001:db8:1:3::1", "example.org.", 4*time.Millisecond),
		}, []string{"unknown www.example.org. q=5 a=5 n=3"}},
		{"five perspectives climbing in parallel", []*queryEntry{
			entry(unknownCA, "127.0.1.1", "example.org.", 0),
			entry(unknownCA, "127.0.2.1", "b.example.org.", time.Millisecond),
			entry(unknownCA, "127.0.3.1", "a.b.example.org.", 2*time.Millisecond),
			entry(unknownCA, "127.0.4.1", "a.b.example.org.", 3*time.Millisecond),
			entry(unknownCA, "127.0.5.1", "b.example.org.", 4*time.Millisecond),
			entry(unknownCA, "127.0.1.1", "a.b.example.org.", 5*time.Millisecond),
		}, []string{"unknown a.b.example.org. q=6 a=5 n=5"}},
		{"unknown and attributed apart", []*queryEntry{
			entry(unknownCA, "192.0.2.1", "www.example.org.", 0),
			entry(le, "10.0.0.1", "www.example.org.", time.Millisecond),
		}, []string{"unknown www.example.org. q=1 a=1 n=1", "letsencrypt.org www.example.org. q=1 a=1 n=1"}},
		{"window expiry", []*queryEntry{
			entry(le, "10.0.0.1", "www.example.org.", 0),
			entry(le, "10.0.0.1", "example.org.", 1999*time.Millisecond),
			entry(le, "10.0.0.1", "example.org.", 2*time.Second), // the first event has closed
		}, []string{"letsencrypt.org www.example.org. q=2 a=1 n=1", "letsencrypt.org example.org. q=1 a=1 n=1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newCheckTracker(defaultWindow, maxOpenChecks)
			var closed []*checkEvent
			for _, e := range tc.entries {
				closed = append(closed, tr.observe(e)...)
			}
			closed = append(closed, tr.expire(t0.Add(10*time.Second))...)
			if got := eventNames(closed); !slices.Equal(got, tc.want) {
				t.Errorf("closed events\n got %q\nwant %q", got, tc.want)
			}
			if tr.n != 0 || len(tr.index) != 0 || len(tr.order) != 0 {
				t.Errorf("%d events still open", tr.n)
			}
		})
	}
}

// TestCheckBounded floods the tracker with distinct names: memory stays bounded, the oldest
// events close early, and nothing is lost.
func TestCheckBounded(t *testing.T) {
	tr := newCheckTracker(time.Hour, 100)
	closed := 0
	for i := range 10000 {
		closed += len(tr.observe(entry(unknownCA, fmt.Sprintf("10.%d.%d.1", i/256%256, i%256), fmt.Sprintf("n%d.example.org.", i), time.Duration(i))))
		if tr.n > 100 || len(tr.order) > 200 {
			t.Fatalf("after %d queries: %d open, %d in order", i, tr.n, len(tr.order))
		}
	}
	closed += len(tr.flush())
	if closed != 10000 {
		t.Errorf("%d events closed, want 10000", closed)
	}
}

// verdictHandler: Let's Encrypt at the apex with no wildcards; the zone data adds digicert.com
// at the apex and at wild; the shop lets Sectigo issue wildcards only.
func verdictHandler(t *testing.T, extra string) *CAAPolicy {
	t.Helper()
	z, err := fileZone(partnerZone, "example.org.")
	if err != nil {
		t.Fatal(err)
	}
	return newTestHandler(t, `caapolicy example.org {
		issue letsencrypt.org
		issuewild none
		name shop { issue letsencrypt.org
		            issuewild sectigo.com }
		ca letsencrypt.org 10.0.0.0/8
		ca sectigo.com 172.16.0.0/12
		ca digicert.com 192.168.0.0/16
		`+extra+`
	}`, z)
}

func TestCheckVerdicts(t *testing.T) {
	buf := corednstest.CaptureLog(t)
	h := verdictHandler(t, "")
	events := func(ca string) float64 {
		return testutil.ToFloat64(checkEventsTotal.WithLabelValues("", "example.org.", "", ca))
	}
	unauthorized := func(ca string) float64 {
		return testutil.ToFloat64(unauthorizedChecksTotal.WithLabelValues("", "example.org.", "", ca))
	}
	beforeEv, beforeUn := events("sectigo.com"), unauthorized("sectigo.com")

	tr := newCheckTracker(defaultWindow, maxOpenChecks)
	for _, e := range []*queryEntry{
		entry("letsencrypt.org", "10.1.1.1", "www.example.org.", 0),
		entry("letsencrypt.org", "10.2.2.2", "example.org.", 0),
		entry("sectigo.com", "172.16.0.1", "www.example.org.", 0),
		entry("digicert.com", "192.168.0.1", "wild.example.org.", 0),
		entry("sectigo.com", "172.16.0.1", "shop.example.org.", time.Millisecond),
		entry(unknownCA, "203.0.113.5", "nx.shop.example.org.", time.Millisecond),
	} {
		tr.observe(e)
	}
	for _, ev := range tr.flush() {
		h.closeCheck(ev)
	}
	h.qlog.flush()
	want := `[INFO] plugin/caapolicy: check by letsencrypt.org of "www.example.org." (zone example.org.): 2 queries from 2 addresses from 2 networks, multi-perspective, in 0.000s; relevant example.org. [0 issue "letsencrypt.org", 0 issuewild ";", 0 issue "digicert.com"]; authorized yes, wildcard no
[WARNING] plugin/caapolicy: check by sectigo.com of "www.example.org." (zone example.org.): 1 queries from 1 addresses from 1 networks in 0.000s; relevant example.org. [0 issue "letsencrypt.org", 0 issuewild ";", 0 issue "digicert.com"]; NOT AUTHORIZED for the name or its wildcard: no issue property at example.org. authorizes sectigo.com
[INFO] plugin/caapolicy: check by digicert.com of "wild.example.org." (zone example.org.): 1 queries from 1 addresses from 1 networks in 0.000s; relevant wild.example.org. [0 issue "digicert.com", 0 issuewild "digicert.com"]; authorized yes, wildcard yes
[INFO] plugin/caapolicy: check by sectigo.com of "shop.example.org." (zone example.org.): 1 queries from 1 addresses from 1 networks in 0.000s; relevant shop.example.org. [0 issue "letsencrypt.org", 0 issuewild "sectigo.com"]; authorized no, wildcard yes
[INFO] plugin/caapolicy: check by unknown of "nx.shop.example.org." (zone example.org.): 1 queries from 1 addresses from 1 networks in 0.000s; relevant shop.example.org. [0 issue "letsencrypt.org", 0 issuewild "sectigo.com"]
`
	if buf.String() != want {
		t.Errorf("log\n got %s\nwant %s", buf.String(), want)
	}
	if got := events("sectigo.com") - beforeEv; got != 2 {
		t.Errorf("check_events_total{ca=sectigo.com} grew by %v, want 2", got)
	}
	if got := unauthorized("sectigo.com") - beforeUn; got != 1 {
		t.Errorf("unauthorized_checks_total{ca=sectigo.com} grew by %v, want 1", got)
	}
}

func TestCheckVerdictJSON(t *testing.T) {
	h := verdictHandler(t, "log all json")
	var out bytes.Buffer
	logTo(h, &out)
	tr := newCheckTracker(defaultWindow, maxOpenChecks)
	tr.observe(entry("sectigo.com", "172.16.0.1", "www.example.org.", 0))
	tr.observe(entry("sectigo.com", "172.16.0.9", "example.org.", 250*time.Millisecond))
	for _, ev := range tr.flush() {
		h.closeCheck(ev)
	}
	h.qlog.flush() // event lines are batched, as the writer flushes them
	var got checkRecord
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("%v: %q", err, out.String())
	}
	if got.Authorized == nil || got.AuthorizedWild == nil || *got.Authorized || *got.AuthorizedWild {
		t.Fatalf("verdicts %v %v, want false false", got.Authorized, got.AuthorizedWild)
	}
	got.Authorized, got.AuthorizedWild = nil, nil
	want := checkRecord{Type: "check", Level: "warning", Time: "2026-11-23T10:00:00.123Z", CA: "sectigo.com", Name: "www.example.org.",
		Zone: "example.org.", Queries: 2, Addresses: 2, Networks: 1, SourceNetworks: []string{"172.16.0.0/24"}, DurationMS: 250, RelevantOwner: "example.org.",
		RelevantRRset: []string{`0 issue "letsencrypt.org"`, `0 issuewild ";"`, `0 issue "digicert.com"`},
		Reason:        "no issue property at example.org. authorizes sectigo.com"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("JSON\n got %+v\nwant %+v", got, want)
	}
}

// TestCheckEndToEndQueue runs queries through ServeDNS and the writer goroutine, as in a server,
// and checks that one simulated CA check produces one event with the right verdict.
func TestCheckEndToEndQueue(t *testing.T) {
	buf := corednstest.CaptureLog(t)
	h := verdictHandler(t, "log none\nchecks 50ms")
	h.qlog.start()
	t.Cleanup(func() { h.qlog.shutdown() })
	for _, q := range []string{"www.shop.example.org.", "shop.example.org.", "example.org."} {
		query(t, h, &test.ResponseWriter{RemoteIP: "172.16.5.5"}, q, 1232, false)
	}
	// The writer goroutine closes the event when its window has passed, and logs it.
	if !buf.WaitFor("check by", 5*time.Second) {
		t.Errorf("no check event logged within 5s of its 50ms window")
	}
	h.qlog.shutdown()
	if got := strings.Count(buf.String(), "\n"); got != 1 || !strings.Contains(buf.String(), `[INFO] plugin/caapolicy: check by sectigo.com of "www.shop.example.org." (zone example.org.): 3 queries from 1 addresses from 1 networks in `) ||
		!strings.HasSuffix(buf.String(), "; relevant shop.example.org. [0 issue \"letsencrypt.org\", 0 issuewild \"sectigo.com\"]; authorized no, wildcard yes\n") {
		t.Errorf("got %d lines:\n%s", got, buf.String())
	}
}

// TestRelevantOfMatchesRelevant: the verdict of an event of unattributed sources, which skips
// the names its queries found empty and remembers the rest of the climb, is exactly
// caa.Relevant's, first and from the memo, for every kind of climb: a flood's single names, a
// climb that asked the parents, names with their own CAA, below a CNAME, below a policy owner.
func TestRelevantOfMatchesRelevant(t *testing.T) {
	h := logHandler(t, "log none\nchecks 2s")
	client := &test.ResponseWriter{RemoteIP: "198.51.100.7"}
	climbs := [][]string{
		{"r1.example.org."},
		{"r2.example.org."},
		{"x.r3.example.org."},
		{"a.b.example.org.", "b.example.org.", "example.org."},
		{"wild.example.org."},
		{"x.wild.example.org."},
		{"x.cname.example.org.", "cname.example.org."},
		{"cname.example.org."},
		{"www.pol.example.org."},
		{"www.pol.example.org.", "pol.example.org."},
		{"*.plain.example.org."},
		{"Deep.R4.Example.ORG."},
	}
	tr := newCheckTracker(defaultWindow, maxOpenChecks)
	var evs []*checkEvent
	for i, climb := range climbs {
		for _, n := range climb {
			query(t, h, client, n, 0, false)
		}
		for _, e := range h.qlog.pipe.queue.take(nil) {
			e.time = t0.Add(time.Duration(i) * time.Minute) // each climb its own event
			evs = append(evs, tr.observe(&e)...)
		}
	}
	evs = append(evs, tr.flush()...)
	if len(evs) != len(climbs) {
		t.Fatalf("%d events, want %d: %v", len(evs), len(climbs), eventNames(evs))
	}
	for _, round := range []string{"first verdict", "verdict from the memo"} {
		t.Run(round, func(t *testing.T) {
			for i, ev := range evs { // one event per climb, closed in the climbs' order
				t.Run("climb asking "+strings.Join(climbs[i], " then "), func(t *testing.T) {
					lookup := func(n string) (caa.Step, error) { return h.eventLookup(ev, n) }
					got, want := h.relevantOf(ev, lookup), caa.Relevant(ev.name, lookup)
					if got.Owner != want.Owner || !slices.Equal(got.RRset, want.RRset) || got.Err != want.Err || got.Unchecked != want.Unchecked {
						t.Errorf("owner %q %v, want %q %v", got.Owner, got.RRset, want.Owner, want.RRset)
					}
				})
			}
		})
	}
	if len(h.qlog.relevant) == 0 {
		t.Errorf("nothing remembered: the memo is not used")
	}
}
