package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caapolicy/caapolicy/caa"
)

func TestCheckVerdicts(t *testing.T) {
	buf := captureLog(t)
	l, m := testLog(t, newTestZone(t, servedZone), nil)
	tr := newCheckTracker(DefaultWindow, maxOpenChecks)
	for _, e := range []*Entry{
		entry("letsencrypt.org", "10.1.1.1", "www.example.org.", 0),
		entry("letsencrypt.org", "10.2.2.2", "example.org.", 0),
		entry("sectigo.com", "172.16.0.1", "www.example.org.", 0),
		entry("digicert.com", "192.168.0.1", "wild.example.org.", 0),
		entry("sectigo.com", "172.16.0.1", "shop.example.org.", time.Millisecond),
		entry(UnknownCA, "203.0.113.5", "nx.shop.example.org.", time.Millisecond),
	} {
		tr.observe(e)
	}
	for _, ev := range tr.flush() {
		l.closeCheck(ev)
	}
	l.flush()
	t.Run("lines", func(t *testing.T) {
		want := `[INFO] plugin/caapolicy: check by letsencrypt.org of "www.example.org." (zone example.org.): 2 queries from 2 addresses from 2 networks, multi-perspective, in 0.000s; relevant example.org. [0 issue "letsencrypt.org", 0 issuewild ";", 0 issue "digicert.com"]; authorized yes, wildcard no; node=ns1 check=74e91a3278cfba83
[WARNING] plugin/caapolicy: check by sectigo.com of "www.example.org." (zone example.org.): 1 queries from 1 addresses from 1 networks in 0.000s; relevant example.org. [0 issue "letsencrypt.org", 0 issuewild ";", 0 issue "digicert.com"]; NOT AUTHORIZED for the name or its wildcard: no issue property at example.org. authorizes sectigo.com; node=ns1 check=b9138accda1501ab
[INFO] plugin/caapolicy: check by digicert.com of "wild.example.org." (zone example.org.): 1 queries from 1 addresses from 1 networks in 0.000s; relevant wild.example.org. [0 issue "digicert.com", 0 issuewild "digicert.com"]; authorized yes, wildcard yes; node=ns1 check=660c587961f1e183
[INFO] plugin/caapolicy: check by sectigo.com of "shop.example.org." (zone example.org.): 1 queries from 1 addresses from 1 networks in 0.000s; relevant shop.example.org. [0 issue "letsencrypt.org", 0 issuewild "sectigo.com"]; authorized no, wildcard yes; node=ns1 check=bcbad66e1d8321c9
[INFO] plugin/caapolicy: check by unknown of "nx.shop.example.org." (zone example.org.): 1 queries from 1 addresses from 1 networks in 0.000s; relevant shop.example.org. [0 issue "letsencrypt.org", 0 issuewild "sectigo.com"]; node=ns1 check=95b15d01491dcf04
`
		if buf.String() != want {
			t.Errorf("log\n got %s\nwant %s", buf.String(), want)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		want := `check  example.org.  letsencrypt.org multi-perspective=true unauthorized=false
check  example.org.  sectigo.com multi-perspective=false unauthorized=true
check  example.org.  digicert.com multi-perspective=false unauthorized=false
check  example.org.  sectigo.com multi-perspective=false unauthorized=false
check  example.org.  unknown multi-perspective=false unauthorized=false`
		if m.String() != want {
			t.Errorf("counted\n%s\nwant\n%s", m, want)
		}
	})
}

func TestCheckVerdictJSON(t *testing.T) {
	var out bytes.Buffer
	l, _ := testLog(t, newTestZone(t, servedZone), &out, "log all json")
	tr := newCheckTracker(DefaultWindow, maxOpenChecks)
	tr.observe(entry("sectigo.com", "172.16.0.1", "www.example.org.", 0))
	tr.observe(entry("sectigo.com", "172.16.0.9", "example.org.", 250*time.Millisecond))
	for _, ev := range tr.flush() {
		l.closeCheck(ev)
	}
	l.flush() // event lines are batched, as the writer flushes them
	var got CheckRecord
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("%v: %q", err, out.String())
	}
	if got.Authorized == nil || got.AuthorizedWild == nil || *got.Authorized || *got.AuthorizedWild {
		t.Fatalf("verdicts %v %v, want false false", got.Authorized, got.AuthorizedWild)
	}
	got.Authorized, got.AuthorizedWild = nil, nil
	want := CheckRecord{Type: "check", Level: "warning", Time: "2026-11-23T10:00:00.123Z", CA: "sectigo.com", Name: "www.example.org.",
		Zone: "example.org.", Queries: 2, Addresses: 2, Networks: 1, SourceNetworks: []string{"172.16.0.0/24"}, DurationMS: 250, RelevantOwner: "example.org.",
		RelevantRRset: []string{`0 issue "letsencrypt.org"`, `0 issuewild ";"`, `0 issue "digicert.com"`},
		Reason:        "no issue property at example.org. authorizes sectigo.com", Node: "ns1", Check: "b9138accda1501ab"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("JSON\n got %+v\nwant %+v", got, want)
	}
}

// TestRelevantOfMatchesRelevant: the verdict of an event of unattributed sources, which skips
// the names its queries found empty and remembers the rest of the climb, is exactly
// caa.Relevant's, first and from the memo, for every kind of climb: a flood's single names, a
// climb that asked the parents, names with their own CAA, below a CNAME, below a policy owner.
func TestRelevantOfMatchesRelevant(t *testing.T) {
	z := newTestZone(t, servedZone)
	l, _ := testLog(t, z, nil, "log none", "checks 2s")
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
	tr := newCheckTracker(DefaultWindow, maxOpenChecks)
	var evs []*checkEvent
	for i, climb := range climbs {
		for _, n := range climb {
			// each climb its own event
			_, closed := tr.observe(z.answered(entry(UnknownCA, "198.51.100.7", n, time.Duration(i)*time.Minute)))
			evs = append(evs, closed...)
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
					lookup := func(_ context.Context, n string) (caa.Step, error) { return l.eventLookup(ev, n) }
					got, want := l.relevantOf(ev, lookup), caa.Relevant(t.Context(), ev.name, lookup)
					if got.Owner != want.Owner || !slices.Equal(got.RRset, want.RRset) || got.Err != want.Err || got.Unchecked != want.Unchecked {
						t.Errorf("owner %q %v, want %q %v", got.Owner, got.RRset, want.Owner, want.RRset)
					}
				})
			}
		})
	}
	if len(l.relevant) == 0 {
		t.Errorf("nothing remembered: the memo is not used")
	}
}
