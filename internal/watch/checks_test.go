package watch

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

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
		entries []*Entry
		want    []string // closed events, in closing order, after a flush at t0+10s
	}{
		{"several labels and vantage points", []*Entry{
			entry(le, "10.0.0.1", "www.a.example.org.", 0),
			entry(le, "10.0.0.2", "WWW.A.example.org.", 10*time.Millisecond),
			entry(le, "10.0.0.3", "a.example.org.", 20*time.Millisecond),
			entry(le, "10.0.0.1", "example.org.", 30*time.Millisecond),
		}, []string{"letsencrypt.org www.a.example.org. q=4 a=3 n=1"}},
		{"parent first, deeper name later", []*Entry{
			entry(le, "10.0.0.1", "example.org.", 0),
			entry(le, "10.0.0.1", "shop.example.org.", time.Second),
		}, []string{"letsencrypt.org shop.example.org. q=2 a=1 n=1"}},
		{"two CAs interleaved", []*Entry{
			entry(le, "10.0.0.1", "www.example.org.", 0),
			entry(sec, "172.16.0.1", "shop.example.org.", 1*time.Millisecond),
			entry(le, "10.0.0.2", "example.org.", 2*time.Millisecond),
			entry(sec, "172.16.0.2", "example.org.", 3*time.Millisecond),
		}, []string{"letsencrypt.org www.example.org. q=2 a=2 n=1", "sectigo.com shop.example.org. q=2 a=2 n=1"}},
		{"two names by one CA", []*Entry{
			entry(le, "10.0.0.1", "www.example.org.", 0),
			entry(le, "10.0.0.1", "api.example.org.", time.Millisecond),
		}, []string{"letsencrypt.org www.example.org. q=1 a=1 n=1", "letsencrypt.org api.example.org. q=1 a=1 n=1"}},
		// Unattributed sources for one name form one event, whatever their networks.
		{"unknown clients, one name, three networks", []*Entry{
			entry(UnknownCA, "192.0.2.1", "www.example.org.", 0),
			entry(UnknownCA, "192.0.2.200", "example.org.", time.Millisecond),
			entry(UnknownCA, "198.51.100.1", "example.org.", 2*time.Millisecond),
			entry(UnknownCA, "2001:db8:1:2::1", "www.example.org.", 3*time.Millisecond),
			entry(UnknownCA, "2001:db8:1:3::1", "example.org.", 4*time.Millisecond),
		}, []string{"unknown www.example.org. q=5 a=5 n=3"}},
		{"five perspectives climbing in parallel", []*Entry{
			entry(UnknownCA, "127.0.1.1", "example.org.", 0),
			entry(UnknownCA, "127.0.2.1", "b.example.org.", time.Millisecond),
			entry(UnknownCA, "127.0.3.1", "a.b.example.org.", 2*time.Millisecond),
			entry(UnknownCA, "127.0.4.1", "a.b.example.org.", 3*time.Millisecond),
			entry(UnknownCA, "127.0.5.1", "b.example.org.", 4*time.Millisecond),
			entry(UnknownCA, "127.0.1.1", "a.b.example.org.", 5*time.Millisecond),
		}, []string{"unknown a.b.example.org. q=6 a=5 n=5"}},
		{"unknown and attributed apart", []*Entry{
			entry(UnknownCA, "192.0.2.1", "www.example.org.", 0),
			entry(le, "10.0.0.1", "www.example.org.", time.Millisecond),
		}, []string{"unknown www.example.org. q=1 a=1 n=1", "letsencrypt.org www.example.org. q=1 a=1 n=1"}},
		{"window expiry", []*Entry{
			entry(le, "10.0.0.1", "www.example.org.", 0),
			entry(le, "10.0.0.1", "example.org.", 1999*time.Millisecond),
			entry(le, "10.0.0.1", "example.org.", 2*time.Second), // the first event has closed
		}, []string{"letsencrypt.org www.example.org. q=2 a=1 n=1", "letsencrypt.org example.org. q=1 a=1 n=1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newCheckTracker(DefaultWindow, maxOpenChecks)
			var closed []*checkEvent
			for _, e := range tc.entries {
				_, c := tr.observe(e)
				closed = append(closed, c...)
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
		_, c := tr.observe(entry(UnknownCA, fmt.Sprintf("10.%d.%d.1", i/256%256, i%256), fmt.Sprintf("n%d.example.org.", i), time.Duration(i)))
		closed += len(c)
		if tr.n > 100 || len(tr.order) > 200 {
			t.Fatalf("after %d queries: %d open, %d in order", i, tr.n, len(tr.order))
		}
	}
	closed += len(tr.flush())
	if closed != 10000 {
		t.Errorf("%d events closed, want 10000", closed)
	}
}

// TestCheckKeys: an event's key, in its query lines and its own line, is the SHA-256 of the
// name it asked first, its CA or unattributed family, and the bucket of its first query; the
// literal keys were computed apart, with Python's hashlib, from the documented input.
func TestCheckKeys(t *testing.T) {
	const le = "letsencrypt.org"
	bucketEnd := time.Unix(0, (t0.UnixNano()/int64(DefaultWindow)+1)*int64(DefaultWindow))
	for _, tc := range []struct {
		name    string
		entries []*Entry
		want    string // the key every query of the one event gets
	}{
		{"a climb: the deepest name asked first", []*Entry{
			entry(le, "10.0.0.1", "www.example.org.", 0),
			entry(le, "10.0.0.2", "example.org.", 10*time.Millisecond),
		}, "74e91a3278cfba83"}, // "www.example.org. letsencrypt.org 897714000"
		{"the name asked first, not the deepest", []*Entry{
			entry(le, "10.0.0.1", "example.org.", 0),
			entry(le, "10.0.0.1", "shop.example.org.", time.Second),
		}, "8665b98af677f672"}, // "example.org. letsencrypt.org 897714000"
		{"in any case", []*Entry{
			entry(le, "10.0.0.1", "WWW.Example.ORG.", 0),
		}, "74e91a3278cfba83"},
		{"unattributed over IPv4", []*Entry{
			entry(UnknownCA, "192.0.2.1", "www.example.org.", 0),
			entry(UnknownCA, "2001:db8::1", "example.org.", time.Millisecond),
		}, "5af338c58b86d831"}, // "www.example.org. unknown/ipv4 897714000"
		{"unattributed over IPv6", []*Entry{
			entry(UnknownCA, "2001:db8::1", "www.example.org.", 0),
			entry(UnknownCA, "192.0.2.1", "example.org.", time.Millisecond),
		}, "0150a6e8091b3ed3"}, // "www.example.org. unknown/ipv6 897714000"
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newCheckTracker(DefaultWindow, maxOpenChecks)
			for i, e := range tc.entries {
				ev, _ := tr.observe(e)
				if got := string(ev.key[:]); got != tc.want {
					t.Errorf("query %d (%s): key %s, want %s", i, e.Name, got, tc.want)
				}
			}
		})
	}
	t.Run("a bucket's end splits the key", func(t *testing.T) {
		key := func(at time.Time) checkKey { return keyOf("www.example.org.", le, at, DefaultWindow) }
		if key(bucketEnd.Add(-time.Millisecond)) == key(bucketEnd.Add(time.Millisecond)) {
			t.Error("first queries 2ms apart, on either side of a bucket's end, share a key")
		}
		if key(bucketEnd) != key(bucketEnd.Add(DefaultWindow-time.Nanosecond)) {
			t.Error("first queries in one bucket have different keys")
		}
	})
	t.Run("allocations", func(t *testing.T) {
		if n := testing.AllocsPerRun(100, func() { keyOf("www.example.org.", le, t0, DefaultWindow) }); n != 0 {
			t.Errorf("a key allocates %v times", n)
		}
	})
}

// TestPersistQueryJoinsItsCheck: a CA's TXT query for the dns-persist-01 record of a name is part
// of its check of that name: logged as a query of source persist, grouped with the CAA climb
// under the validated name (not below it), and judged by the name's CAA.
func TestPersistQueryJoinsItsCheck(t *testing.T) {
	z := newTestZone(t, servedZone)
	var out bytes.Buffer
	l, m := testLog(t, z, &out, "log all", "checks 2s")
	txt := new(dns.Msg).SetQuestion("_validation-persist.www.example.org.", dns.TypeTXT)
	txt.Response, txt.Authoritative = true, true
	rr, err := dns.NewRR(`_validation-persist.www.example.org. 300 IN TXT "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/7"`)
	if err != nil {
		t.Fatal(err)
	}
	txt.Answer = []dns.RR{rr}
	persist := entry("letsencrypt.org", "10.0.0.1", "_validation-persist.www.example.org.", 0)
	persist.Type, persist.Reply, persist.Owner, persist.Policy, persist.Source = dns.TypeTXT, txt, "_validation-persist.www.example.org.", 1, "persist"
	l.handle(persist)
	l.handle(z.answered(entry("letsencrypt.org", "10.0.0.2", "www.example.org.", 5*time.Millisecond)))
	l.handle(z.answered(entry("letsencrypt.org", "10.0.0.2", "example.org.", 10*time.Millisecond)))
	l.closeEvents(l.checks.flush())
	l.flush()
	want := `[INFO] plugin/caapolicy: 2026-11-23T10:00:00.123Z 10.0.0.1:5353 udp "_validation-persist.www.example.org." edns=none do=0 NOERROR size=177 tc=0 owner=_validation-persist.www.example.org. policy=1 zone=0 partners=0 source=persist ca=letsencrypt.org node=ns1 check=74e91a3278cfba83
[INFO] plugin/caapolicy: 2026-11-23T10:00:00.128Z 10.0.0.2:5353 udp "www.example.org." edns=none do=0 NXDOMAIN size=117 tc=0 owner=- policy=0 zone=0 partners=0 source=passthrough ca=letsencrypt.org node=ns1 check=74e91a3278cfba83
[INFO] plugin/caapolicy: 2026-11-23T10:00:00.133Z 10.0.0.2:5353 udp "example.org." edns=none do=0 NOERROR size=151 tc=0 owner=example.org. policy=0 zone=3 partners=0 source=passthrough ca=letsencrypt.org node=ns1 check=74e91a3278cfba83
[INFO] plugin/caapolicy: check by letsencrypt.org of "www.example.org." (zone example.org.): 3 queries from 2 addresses from 1 networks in 0.010s; relevant example.org. [0 issue "letsencrypt.org", 0 issuewild ";", 0 issue "digicert.com"]; authorized yes, wildcard no; node=ns1 check=74e91a3278cfba83
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	if got := m.String(); got != "check  example.org.  letsencrypt.org multi-perspective=false unauthorized=false" {
		t.Errorf("counted %q, want one check", got)
	}
}
