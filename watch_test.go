package caapolicy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caapolicy/caapolicy/internal/corednstest"
	"github.com/caapolicy/caapolicy/internal/served"
	"github.com/caapolicy/caapolicy/internal/watch"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// exchangeFrom sends m over UDP to addr from the loopback address src (127.x.y.z: the kernel
// routes all of 127/8 to lo), as a client in another network would.
func exchangeFrom(t *testing.T, src, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: "udp", Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}}}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s from %s: %v", m.Question[0].Name, src, err)
	}
	return r
}

// watchCorefile serves partnerZone with cache in front of caapolicy, and two attributed CAs;
// between names the plugins between cache and caapolicy.
func watchCorefile(t *testing.T, logLine, between string) string {
	t.Helper()
	zone := filepath.Join(t.TempDir(), "example.org.zone")
	write(t, zone, partnerZone)
	return fmt.Sprintf(`example.org:0 {
    bind 127.0.0.1
    cache
    %s
    caapolicy {
        issue letsencrypt.org
        name pol { issue digicert.com }
        ca one.test 127.0.1.0/24
        ca two.test 127.0.2.0/24
        checks 300ms
        %s
    }
    file %s
}
`, between, logLine, zone)
}

// counterSum is the sum of the counter name over its label sets, those of server only unless
// server is empty.
func counterSum(t testing.TB, name, server string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "server" && (server == "" || l.GetValue() == server) {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// cacheCounter is the sum of CoreDNS's cache counter coredns_cache_NAME over its label sets.
func cacheCounter(t *testing.T, name string) float64 {
	t.Helper()
	return counterSum(t, "coredns_cache_"+name, "")
}

// waitFor waits until buf holds n lines containing sub, and returns those lines.
func waitFor(t *testing.T, read func() string, sub string, n int) []string {
	t.Helper()
	var got []string
	corednstest.Poll(5*time.Second, 20*time.Millisecond, func() bool {
		got = got[:0]
		for l := range strings.SplitSeq(read(), "\n") {
			if strings.Contains(l, sub) {
				got = append(got, l)
			}
		}
		return len(got) >= n
	})
	if len(got) != n {
		t.Fatalf("%d lines with %q, want %d:\n%s", len(got), sub, n, read())
	}
	return got
}

// TestWatchThroughCache: with cache in front of caapolicy, every CAA query is logged and counted
// as caapolicy answered it, for cache bypasses caapolicy's zones (cache.go); two attributed CAs checking one name
// within the TTL make two events; five unattributed sources in five networks climbing
// a.b.example.org make one multi-perspective event.
func TestWatchThroughCache(t *testing.T) {
	buf := captureLog(t)
	const server = "dns://127.0.0.1:0"
	count := func(ca, source string) float64 {
		return testutil.ToFloat64(queriesTotal.WithLabelValues(server, "example.org.", "", ca, source))
	}
	policyBefore := count("unknown", served.FromPolicy.String())
	_, udp, _ := corednstest.Start(t, watchCorefile(t, "log all", ""))
	hitsBefore, missesBefore := cacheCounter(t, "hits_total"), cacheCounter(t, "misses_total")

	for range 5 {
		if r := exchange(t, "udp", udp, caaQuery("pol.example.org.", false, 1232)); len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 300 {
			t.Fatalf("pol: %v", r)
		}
	}
	for _, l := range waitFor(t, buf.String, `"pol.example.org." edns=1232`, 5) {
		if !strings.HasSuffix(normalLine(l), "owner=pol.example.org. policy=1 zone=0 partners=0 source=policy ca=unknown node="+hostName+" check=K") {
			t.Errorf("query: %s", l)
		}
	}
	if got := count("unknown", served.FromPolicy.String()) - policyBefore; got != 5 {
		t.Errorf("queries_total{source=policy} grew by %v, want 5", got)
	}
	if hits, misses := cacheCounter(t, "hits_total")-hitsBefore, cacheCounter(t, "misses_total")-missesBefore; hits != 0 || misses != 0 {
		t.Errorf("cache: %v hits and %v misses, want neither: it bypasses caapolicy's zones", hits, misses)
	}

	// Two CAs check www.example.org within the TTL, which cache would have answered the second.
	for _, src := range []string{"127.0.1.1", "127.0.2.1"} {
		for _, q := range []string{"www.example.org.", "example.org."} {
			exchangeFrom(t, src, udp, caaQuery(q, false, 1232))
		}
	}
	events := waitFor(t, buf.String, `check by one.test of "www.example.org."`, 1)
	events = append(events, waitFor(t, buf.String, `check by two.test of "www.example.org."`, 1)...)
	for _, e := range events {
		if !strings.Contains(e, "2 queries from 1 addresses from 1 networks in ") {
			t.Errorf("event: %s", e)
		}
	}

	// Five perspectives in five networks climb a.b.example.org, in no particular order.
	for i, src := range []string{"127.0.3.1", "127.0.4.1", "127.0.5.1", "127.0.6.1", "127.0.7.1"} {
		names := []string{"a.b.example.org.", "b.example.org.", "example.org."}
		for j := range names {
			exchangeFrom(t, src, udp, caaQuery(names[(i+j)%3], false, 1232))
		}
	}
	ev := waitFor(t, buf.String, `check by unknown of "a.b.example.org."`, 1)[0]
	if !strings.Contains(ev, `(zone example.org.): 15 queries from 5 addresses from 5 networks, multi-perspective, in `) ||
		!strings.HasSuffix(normalLine(ev), `relevant example.org. [0 issue "letsencrypt.org", 0 issue "digicert.com"]; node=`+hostName+` check=K`) {
		t.Errorf("multi-perspective event: %s", ev)
	}
}

// TestWatchMultiPerspectiveJSON: the same five-network check as one JSON event with networks 5
// and multi_perspective true, and its counter.
func TestWatchMultiPerspectiveJSON(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w // the query log takes standard output when it is made
	defer func() { os.Stdout = stdout }()
	const server = "dns://127.0.0.1:0"
	before := testutil.ToFloat64(multiPerspectiveChecksTotal.WithLabelValues(server, "example.org.", ""))
	_, udp, _ := corednstest.Start(t, watchCorefile(t, "log all json", ""))
	os.Stdout = stdout

	for _, src := range []string{"127.0.3.1", "127.0.4.1", "127.0.5.1", "127.0.6.1", "127.0.7.1"} {
		for _, q := range []string{"a.b.example.org.", "b.example.org.", "example.org."} {
			exchangeFrom(t, src, udp, caaQuery(q, false, 1232))
		}
	}
	lines := make(chan string, 64)
	go func() {
		for s := bufio.NewScanner(r); s.Scan(); {
			lines <- s.Text()
		}
	}()
	var ev watch.CheckRecord
	deadline := time.After(5 * time.Second)
	for ev.Type != "check" {
		select {
		case l := <-lines:
			if strings.Contains(l, `"type":"check"`) {
				if err := json.Unmarshal([]byte(l), &ev); err != nil {
					t.Fatalf("%v: %s", err, l)
				}
			}
		case <-deadline:
			t.Fatal("no check event on standard output")
		}
	}
	if ev.CA != watch.UnknownCA || ev.Name != "a.b.example.org." || ev.Queries != 15 || ev.Addresses != 5 || ev.Networks != 5 || !ev.MultiPerspective ||
		strings.Join(ev.SourceNetworks, " ") != "127.0.3.0/24 127.0.4.0/24 127.0.5.0/24 127.0.6.0/24 127.0.7.0/24" {
		t.Errorf("event %+v", ev)
	}
	if got := testutil.ToFloat64(multiPerspectiveChecksTotal.WithLabelValues(server, "example.org.", "")) - before; got != 1 {
		t.Errorf("multi_perspective_checks_total grew by %v, want 1", got)
	}
}

// TestCAAQueriesBehindCache: with cache in front, and each plugin the order puts between cache and
// caapolicy, every repeated CAA query, over UDP and TCP, is answered by caapolicy with its whole
// TTL, logged and counted with the source of its answer, and grouped into one check event; with
// dnssec in the block each answer is signed by that dnssec. cache answers none of them.
func TestCAAQueriesBehindCache(t *testing.T) {
	const server = "dns://127.0.0.1:0"
	tests := []struct {
		name    string
		between func(t *testing.T) string // the plugins between cache and caapolicy
		do      bool
		check   func(t *testing.T, r *dns.Msg)
	}{
		{name: "cache alone", between: func(*testing.T) string { return "" }},
		{
			name:    "header between sets its flags",
			between: func(*testing.T) string { return "header {\n        response set ra\n    }" },
			check: func(t *testing.T, r *dns.Msg) {
				if !r.RecursionAvailable {
					t.Error("RA not set by header")
				}
			},
		},
		{name: "minimal between", between: func(*testing.T) string { return "minimal" }},
		{
			name: "dnssec between signs each answer",
			between: func(t *testing.T) string {
				_, keyBase, _ := signedZone(t, t.TempDir(), partnerZone)
				return "dnssec {\n        key file " + keyBase + "\n    }"
			},
			do: true,
			check: func(t *testing.T, r *dns.Msg) {
				sigs := 0
				for _, rr := range r.Answer {
					if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == dns.TypeCAA {
						sigs++
					}
				}
				if sigs != 1 {
					t.Errorf("%d RRSIG CAA in the answer, want 1: %v", sigs, r.Answer)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := captureLog(t)
			count := func() float64 {
				return testutil.ToFloat64(queriesTotal.WithLabelValues(server, "example.org.", "", "one.test", served.FromPolicy.String()))
			}
			events := func() float64 {
				return testutil.ToFloat64(checkEventsTotal.WithLabelValues(server, "example.org.", "", "one.test"))
			}
			queriesBefore, eventsBefore := count(), events()
			_, udp, tcp := corednstest.Start(t, watchCorefile(t, "log all", tc.between(t)))
			hitsBefore := cacheCounter(t, "hits_total")

			// Three queries over UDP from one address of one.test, three over TCP from another.
			for i, q := range []struct{ net, addr, src string }{
				{"udp", udp, "127.0.1.1"}, {"udp", udp, "127.0.1.1"}, {"udp", udp, "127.0.1.1"},
				{"tcp", tcp, "127.0.1.2"}, {"tcp", tcp, "127.0.1.2"}, {"tcp", tcp, "127.0.1.2"},
			} {
				r := exchangeOver(t, q.net, q.src, q.addr, caaQuery("pol.example.org.", tc.do, 1232))
				caas := corednstest.AnswerStrings(r, dns.TypeCAA)
				if r.Rcode != dns.RcodeSuccess || !slices.Equal(caas, []string{`pol.example.org. 300 IN CAA 0 issue "digicert.com"`}) {
					t.Fatalf("query %d over %s: rcode %s, CAA %q, want the policy record with its whole TTL", i, q.net, dns.RcodeToString[r.Rcode], caas)
				}
				if tc.check != nil {
					tc.check(t, r)
				}
			}
			do := map[bool]string{false: "do=0", true: "do=1"}[tc.do]
			lines := waitFor(t, buf.String, `"pol.example.org." edns=1232 `+do+` NOERROR`, 6)
			for _, l := range lines {
				if !strings.HasSuffix(normalLine(l), "owner=pol.example.org. policy=1 zone=0 partners=0 source=policy ca=one.test node="+hostName+" check=K") {
					t.Errorf("query: %s", l)
				}
			}
			if got := count() - queriesBefore; got != 6 {
				t.Errorf("queries_total{ca=one.test,source=policy} grew by %v, want 6", got)
			}
			ev := waitFor(t, buf.String, `check by one.test of "pol.example.org."`, 1)[0]
			if !strings.Contains(ev, "6 queries from 2 addresses from 1 networks in ") {
				t.Errorf("event: %s", ev)
			}
			if got := events() - eventsBefore; got != 1 {
				t.Errorf("check_events_total{ca=one.test} grew by %v, want 1", got)
			}
			if hits := cacheCounter(t, "hits_total") - hitsBefore; hits != 0 {
				t.Errorf("cache answered %v of the queries, want none", hits)
			}
		})
	}
}

// exchangeOver sends m over net (udp or tcp) to addr from the loopback address src.
func exchangeOver(t *testing.T, network, src, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	var local net.Addr = &net.UDPAddr{IP: net.ParseIP(src)}
	if network == "tcp" {
		local = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c := &dns.Client{Net: network, Dialer: &net.Dialer{LocalAddr: local}}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %s from %s: %v", network, m.Question[0].Name, src, err)
	}
	return r
}

// TestCacheBypassScope: cache bypasses the zones of every caapolicy block of the server block, for
// every type (the cost of the hook, cache.go), and still answers repeated queries in other zones.
func TestCacheBypassScope(t *testing.T) {
	dir := t.TempDir()
	org, net, com := filepath.Join(dir, "org.zone"), filepath.Join(dir, "net.zone"), filepath.Join(dir, "com.zone")
	write(t, org, partnerZone)
	write(t, net, exampleNet)
	write(t, com, strings.NewReplacer("example.net.", "example.com.", "shop", "www").Replace(exampleNet))
	_, udp, _ := corednstest.Start(t, fmt.Sprintf(`example.org:0 example.net:0 example.com:0 {
    bind 127.0.0.1
    cache
    caapolicy example.org {
        issue letsencrypt.org
        log none
    }
    caapolicy example.net {
        issue pki.goog
        log none
    }
    file %s example.org
    file %s example.net
    file %s example.com
}
`, org, net, com))
	for _, tc := range []struct {
		name        string
		qname       string
		qtype       uint16
		rcode, hits int
	}{
		{"A in the first block's zone", "plain.example.org.", dns.TypeA, dns.RcodeSuccess, 0},
		{"CAA in the first block's zone", "example.org.", dns.TypeCAA, dns.RcodeSuccess, 0},
		{"A in the second block's zone", "shop.example.net.", dns.TypeA, dns.RcodeSuccess, 0},
		{"NXDOMAIN in the second block's zone", "missing.example.net.", dns.TypeTXT, dns.RcodeNameError, 0},
		{"A outside caapolicy's zones", "www.example.com.", dns.TypeA, dns.RcodeSuccess, 2},
		{"CAA outside caapolicy's zones", "www.example.com.", dns.TypeCAA, dns.RcodeSuccess, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := cacheCounter(t, "hits_total")
			for range 3 {
				if r := exchange(t, "udp", udp, new(dns.Msg).SetQuestion(tc.qname, tc.qtype)); r.Rcode != tc.rcode {
					t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
				}
			}
			if got := cacheCounter(t, "hits_total") - before; got != float64(tc.hits) {
				t.Errorf("cache answered %v of 3 queries, want %d", got, tc.hits)
			}
		})
	}
}

// TestCAABehindCacheOnTheWire: with cache and dnssec in front, a repeated CAA question gets the
// same answer with its own ID and EDNS, truncated over UDP without room for it and whole over TCP, and each
// is logged as caapolicy's answer.
func TestCAABehindCacheOnTheWire(t *testing.T) {
	buf := captureLog(t)
	dir := t.TempDir()
	zonePath, keyBase, _ := signedZone(t, dir, exampleOrg)
	_, udp, tcp := corednstest.Start(t, e2eCorefile(zonePath, keyBase, e2ePolicy(" log all\n")))

	var answers [][]string
	for _, q := range []struct {
		net, addr string
		edns      uint16
	}{{"udp", udp, 1232}, {"tcp", tcp, 1232}, {"udp", udp, 0}} {
		m := caaQuery("www.example.org.", false, q.edns)
		m.Id = dns.Id()
		r := exchange(t, q.net, q.addr, m)
		if r.Id != m.Id || r.Rcode != dns.RcodeSuccess || !r.Authoritative {
			t.Fatalf("%s: id %d rcode %s aa %v, want id %d NOERROR aa", q.net, r.Id, dns.RcodeToString[r.Rcode], r.Authoritative, m.Id)
		}
		if (r.IsEdns0() != nil) != (q.edns > 0) {
			t.Errorf("%s, EDNS %d: the answer has OPT %v", q.net, q.edns, r.IsEdns0())
		}
		answers = append(answers, corednstest.AnswerStrings(r, 0))
	}
	if !slices.Equal(answers[0], answers[1]) || !slices.Equal(answers[1], answers[2]) || len(answers[0]) == 0 {
		t.Errorf("answers differ:\n%q\n%q\n%q", answers[0], answers[1], answers[2])
	}
	waitFor(t, buf.String, `"www.example.org." edns=1232 do=0 NOERROR`, 2)
	waitFor(t, buf.String, `"www.example.org." edns=none do=0 NOERROR`, 1)

	// 30 records do not fit 512 bytes: truncated over UDP each time, whole over TCP.
	for _, q := range []struct{ net, addr string }{{"udp", udp}, {"tcp", tcp}, {"udp", udp}, {"tcp", tcp}} {
		r := exchange(t, q.net, q.addr, caaQuery("big.example.org.", false, 0))
		if n := len(corednstest.AnswerStrings(r, dns.TypeCAA)); (q.net == "udp") != r.Truncated || (q.net == "tcp" && n != 30) {
			t.Errorf("%s: TC=%v with %d records", q.net, r.Truncated, n)
		}
	}
}

// TestFailureNotCached: where the zone data fails with an error and writes nothing (forward to an
// upstream that refuses), cache stores no SERVFAIL for caapolicy's zones, so every repeated CAA
// query is answered, logged and counted.
func TestFailureNotCached(t *testing.T) {
	buf := captureLog(t)
	hitsBefore := cacheCounter(t, "hits_total")
	_, udp, _ := corednstest.Start(t, fmt.Sprintf(`example.org:0 {
    bind 127.0.0.1
    errors
    cache
    caapolicy {
        issue letsencrypt.org
        log all
    }
    forward . 127.0.0.1:%d
}
`, corednstest.FreePort(t)))
	for range 3 {
		if r := exchange(t, "udp", udp, caaQuery("www.example.org.", false, 1232)); r.Rcode != dns.RcodeServerFailure {
			t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
		}
	}
	waitFor(t, buf.String, `"www.example.org." edns=1232 do=0 SERVFAIL`, 3)
	if hits := cacheCounter(t, "hits_total") - hitsBefore; hits != 0 {
		t.Errorf("cache answered %v of the queries, want none", hits)
	}
	// errors logs each error, with the rcode returned, as without cache.
	waitFor(t, buf.String, "[ERROR] plugin/errors: 2 www.example.org. CAA: read udp", 3)
}
