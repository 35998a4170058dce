package caapolicy

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/file"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/test"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	"github.com/miekg/dns"
	ot "github.com/opentracing/opentracing-go"
	"github.com/opentracing/opentracing-go/mocktracer"
)

const exampleOrg = `$ORIGIN example.org.
@        3600 IN SOA   ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600
@        3600 IN NS    ns1
ns1      3600 IN A     127.0.0.1
@        3600 IN CAA   0 issue "letsencrypt.org"
@        3600 IN CAA   0 issue "pki.goog"
www      3600 IN A     192.0.2.1
zonecaa  3600 IN CAA   0 issue "sectigo.com"
cname    3600 IN CNAME shop
shop     3600 IN A     192.0.2.2
shop     3600 IN CAA   0 issue "ssl.com"
alias    3600 IN CNAME www
out      3600 IN CNAME shop.example.net.
sub      3600 IN NS    ns.sub
ns.sub   3600 IN A     192.0.2.53
`

const exampleNet = `$ORIGIN example.net.
@        3600 IN SOA   ns1.example.net. hostmaster.example.net. 1 7200 3600 1209600 3600
@        3600 IN NS    ns1.example.org.
shop     3600 IN A     192.0.2.3
`

// The policy every handler test starts from; the tests append settings to it.
const testPolicy = `caapolicy example.org example.net {
	issue letsencrypt.org
	iodef mailto:security@example.org
	ttl 600
	name www nozone alias sub {
		issue pki.goog
	}
	name shop {
		issue sectigo.com
		issuewild none
	}
`

// zoneData is the file plugin serving example.org and example.net: real zone data behind caapolicy.
func zoneData(t testing.TB) file.File {
	t.Helper()
	f, err := corednstest.FileZone(exampleOrg, "example.org.", exampleNet, "example.net.")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// newTestHandler parses a Corefile block and puts next behind it.
func newTestHandler(t testing.TB, corefile string, next plugin.Handler) *CAAPolicy {
	t.Helper()
	c := caddy.NewTestController("dns", corefile)
	c.Next()
	h, err := newHandler(c)
	if err != nil {
		t.Fatal(err)
	}
	h.view.Next = next
	return h
}

// serveCase is one row of a table of queries and the exact replies h must write.
type serveCase struct {
	name string // what the row specifies
	test.Case
}

// checkCases runs every row as a subtest named for it.
func checkCases(t *testing.T, h plugin.Handler, cases []serveCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { corednstest.CheckCase(t, h, c.Case) })
	}
}

var (
	orgNS  = corednstest.RRs("example.org. 3600 IN NS ns1.example.org.")
	orgSOA = corednstest.RRs("example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600")
)

func TestServeMerge(t *testing.T) {
	h := newTestHandler(t, testPolicy+"}", zoneData(t))
	checkCases(t, h, []serveCase{
		{"apex unites the policy with the zone's CAA RRset, the duplicate once, one TTL", test.Case{Qname: "example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs(
			`example.org. 600 IN CAA 0 issue "letsencrypt.org"`,
			`example.org. 600 IN CAA 0 iodef "mailto:security@example.org"`,
			`example.org. 600 IN CAA 0 issue "pki.goog"`,
		), Ns: orgNS}},
		{"the question's spelling is the owner of every record (DNS 0x20)", test.Case{Qname: "ExAmPlE.oRg.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs(
			`ExAmPlE.oRg. 600 IN CAA 0 issue "letsencrypt.org"`,
			`ExAmPlE.oRg. 600 IN CAA 0 iodef "mailto:security@example.org"`,
			`ExAmPlE.oRg. 600 IN CAA 0 issue "pki.goog"`,
		), Ns: orgNS}},
		{"the block's other zone has the same apex policy and no zone CAA", test.Case{Qname: "example.net.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs(
			`example.net. 600 IN CAA 0 issue "letsencrypt.org"`,
			`example.net. 600 IN CAA 0 iodef "mailto:security@example.org"`,
		)}},
		{"a policy owner without CAA in the zone (NODATA there) answers the policy, no SOA", test.Case{Qname: "www.example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs(
			`www.example.org. 600 IN CAA 0 issue "pki.goog"`,
		)}},
		{"a policy owner the zone lacks (NXDOMAIN there) answers the policy with NOERROR", test.Case{Qname: "nozone.example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs(
			`nozone.example.org. 600 IN CAA 0 issue "pki.goog"`,
		)}},
		{"a CNAME at a policy owner wins and its in-zone target carries its own policy", test.Case{Qname: "alias.example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs(
			`alias.example.org. 3600 IN CNAME www.example.org.`,
			`www.example.org. 600 IN CAA 0 issue "pki.goog"`,
		)}},
		{"a CNAME to a policy owner with zone CAA answers policy and zone data at the target", test.Case{Qname: "cname.example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs(
			`cname.example.org. 3600 IN CNAME shop.example.org.`,
			`shop.example.org. 600 IN CAA 0 issue "sectigo.com"`,
			`shop.example.org. 600 IN CAA 0 issuewild ";"`,
			`shop.example.org. 600 IN CAA 0 issue "ssl.com"`,
		), Ns: orgNS}},
		{"a CNAME into the block's other zone is followed there", test.Case{Qname: "out.example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs(
			`out.example.org. 3600 IN CNAME shop.example.net.`,
			`shop.example.net. 600 IN CAA 0 issue "sectigo.com"`,
			`shop.example.net. 600 IN CAA 0 issuewild ";"`,
		)}},
		{"a name that is no policy owner answers the zone data's CAA untouched", test.Case{Qname: "zonecaa.example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs(
			`zonecaa.example.org. 3600 IN CAA 0 issue "sectigo.com"`,
		), Ns: orgNS}},
		{"a name without CAA answers the zone data's NODATA", test.Case{Qname: "ns1.example.org.", Qtype: dns.TypeCAA, Authoritative: true, Ns: orgSOA}},
		{"a missing name answers the zone data's NXDOMAIN", test.Case{Qname: "missing.example.org.", Qtype: dns.TypeCAA, Rcode: dns.RcodeNameError, Authoritative: true, Ns: orgSOA}},
		{"a delegated policy owner answers the referral", test.Case{Qname: "sub.example.org.", Qtype: dns.TypeCAA, Ns: corednstest.RRs("sub.example.org. 3600 IN NS ns.sub.example.org."),
			Extra: corednstest.RRs("ns.sub.example.org. 3600 IN A 192.0.2.53")}},
		{"an A query at a policy owner passes to the zone data", test.Case{Qname: "www.example.org.", Qtype: dns.TypeA, Authoritative: true, Answer: corednstest.RRs("www.example.org. 3600 IN A 192.0.2.1"), Ns: orgNS}},
		{"an SOA query at the apex passes to the zone data", test.Case{Qname: "example.org.", Qtype: dns.TypeSOA, Authoritative: true, Answer: orgSOA, Ns: orgNS}},
	})
}

func TestServeIgnore(t *testing.T) {
	h := newTestHandler(t, testPolicy+"zonedata ignore\n}", zoneData(t))
	checkCases(t, h, []serveCase{
		{"apex answers the policy alone, without the zone's CAA", test.Case{Qname: "example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs(
			`example.org. 600 IN CAA 0 issue "letsencrypt.org"`,
			`example.org. 600 IN CAA 0 iodef "mailto:security@example.org"`,
		)}},
		{"a policy owner asked in upper case answers its policy in that spelling", test.Case{Qname: "WWW.example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs(
			`WWW.example.org. 600 IN CAA 0 issue "pki.goog"`,
		)}},
		{"a CNAME target's zone CAA is replaced by its policy", test.Case{Qname: "cname.example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs(
			`cname.example.org. 3600 IN CNAME shop.example.org.`,
			`shop.example.org. 600 IN CAA 0 issue "sectigo.com"`,
			`shop.example.org. 600 IN CAA 0 issuewild ";"`,
		), Ns: orgNS}},
		{"a name that is no policy owner answers the zone data's CAA", test.Case{Qname: "zonecaa.example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs(
			`zonecaa.example.org. 3600 IN CAA 0 issue "sectigo.com"`,
		), Ns: orgNS}},
		{"a missing name answers the zone data's NXDOMAIN", test.Case{Qname: "missing.example.org.", Qtype: dns.TypeCAA, Rcode: dns.RcodeNameError, Authoritative: true, Ns: orgSOA}},
	})
}

func TestServeFallthrough(t *testing.T) {
	h := newTestHandler(t, testPolicy+"fallthrough example.org\n}", zoneData(t))
	checkCases(t, h, []serveCase{
		{"a policy owner the zone data lacks keeps the NXDOMAIN", test.Case{Qname: "nozone.example.org.", Qtype: dns.TypeCAA, Rcode: dns.RcodeNameError, Authoritative: true, Ns: orgSOA}},
		{"a policy owner the zone data has answers the policy", test.Case{Qname: "www.example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs(
			`www.example.org. 600 IN CAA 0 issue "pki.goog"`,
		)}},
		{"a missing owner in a zone fallthrough does not cover answers its policy", test.Case{Qname: "nozone.example.net.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs(
			`nozone.example.net. 600 IN CAA 0 issue "pki.goog"`,
		)}},
	})
}

// TestServePassesOn checks that what caapolicy does not answer reaches the next plugin untouched.
func TestServePassesOn(t *testing.T) {
	var seen []string
	next := test.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		seen = append(seen, r.Question[0].String())
		return dns.RcodeRefused, errors.New("next")
	})
	h := newTestHandler(t, testPolicy+"zonedata ignore\n}", next)
	for _, tc := range []struct {
		name string
		m    *dns.Msg
	}{
		{"another type at the apex", new(dns.Msg).SetQuestion("example.org.", dns.TypeA)},
		{"a zone outside the block", new(dns.Msg).SetQuestion("example.com.", dns.TypeCAA)},
		{"a name that only ends like the zone", new(dns.Msg).SetQuestion("notexample.org.", dns.TypeCAA)},
		{"class CHAOS", func() *dns.Msg {
			m := new(dns.Msg).SetQuestion("example.org.", dns.TypeCAA)
			m.Question[0].Qclass = dns.ClassCHAOS
			return m
		}()},
		{"two questions", func() *dns.Msg {
			m := new(dns.Msg).SetQuestion("example.org.", dns.TypeCAA)
			m.Question = append(m.Question, m.Question[0])
			return m
		}()},
		// The zone data answers, here with an error nobody wrote.
		{"a name that is no policy owner", new(dns.Msg).SetQuestion("other.example.org.", dns.TypeCAA)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := corednstest.NewWriter("udp", "")
			rcode, err := h.ServeDNS(context.Background(), rec, tc.m)
			if rcode != dns.RcodeRefused || err == nil || rec.Msg != nil {
				t.Errorf("%v: got rcode %d, err %v, written %v; want the next plugin's REFUSED, nothing written", tc.m.Question, rcode, err, rec.Msg != nil)
			}
		})
	}
	if len(seen) != 6 {
		t.Errorf("next plugin saw %d queries, want 6: %q", len(seen), seen)
	}
}

// TestServeNoZoneData checks that a policy owner is answered when the next plugin writes nothing.
func TestServeNoZoneData(t *testing.T) {
	h := newTestHandler(t, testPolicy+"}", test.NextHandler(dns.RcodeServerFailure, errors.New("no backend")))
	corednstest.CheckCase(t, h, test.Case{Qname: "www.example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs(
		`www.example.org. 600 IN CAA 0 issue "pki.goog"`,
	)})
	rec := corednstest.NewWriter("udp", "")
	rcode, err := h.ServeDNS(context.Background(), rec, new(dns.Msg).SetQuestion("x.example.org.", dns.TypeCAA))
	if rcode != dns.RcodeServerFailure || err == nil || rec.Msg != nil {
		t.Errorf("non-owner without zone data: rcode %d, err %v; want the next plugin's SERVFAIL for the server to write", rcode, err)
	}
}

// TestServeFreshRecords checks that a reply never shares records or slices with the policy or
// with another reply: dnssec appends RRSIGs and rewrite renames owners in place.
func TestServeFreshRecords(t *testing.T) {
	h := newTestHandler(t, testPolicy+"zonedata ignore\n}", zoneData(t))
	ask := func(q string) *dns.Msg {
		rec := corednstest.NewWriter("udp", "")
		h.ServeDNS(context.Background(), rec, new(dns.Msg).SetQuestion(q, dns.TypeCAA))
		return rec.Msg
	}
	a := ask("example.org.")
	a.Answer[0].Header().Name = "changed."
	a.Answer[0].(*dns.CAA).Value = "changed"
	a.Answer = append(a.Answer[:1], &dns.RRSIG{})
	b := ask("example.org.")
	if got := corednstest.RRStrings(b.Answer); !slices.Equal(got, corednstest.RRStrings(corednstest.RRs(
		`example.org. 600 IN CAA 0 issue "letsencrypt.org"`,
		`example.org. 600 IN CAA 0 iodef "mailto:security@example.org"`,
	))) {
		t.Errorf("a later reply saw an earlier reply's changes: %q", got)
	}
}

func TestInsertDirective(t *testing.T) {
	got, err := InsertDirective([]string{"log", "template", "transfer", "file"})
	if err != nil || !slices.Equal(got, []string{"log", "template", "caapolicy", "transfer", "file"}) {
		t.Errorf("InsertDirective = %q, %v", got, err)
	}
	if _, err := InsertDirective([]string{"log", "file"}); err == nil || err.Error() != `the plugin order has no "template" to insert caapolicy after` {
		t.Errorf("missing anchor: err = %v", err)
	}
	if _, err := InsertDirective(got); err == nil {
		t.Errorf("inserting twice did not fail")
	}
}

// TestServeWarnsOnce checks that zone data overriding a policy owner is reported once per owner.
func TestServeWarnsOnce(t *testing.T) {
	buf := corednstest.CaptureLog(t)

	h := newTestHandler(t, testPolicy+"}", zoneData(t))
	for range 3 {
		for _, q := range []string{"alias.example.org.", "ALIAS.example.org.", "sub.example.org."} {
			h.ServeDNS(context.Background(), corednstest.NewWriter("udp", ""), new(dns.Msg).SetQuestion(q, dns.TypeCAA))
		}
	}
	want := "[WARNING] plugin/caapolicy: zone data has a CNAME at policy owner alias.example.org. (declared at Testfile:5); the CNAME wins and the policy is not served there\n" +
		"[WARNING] plugin/caapolicy: zone data delegates policy owner sub.example.org. (declared at Testfile:5) to another zone; the delegation wins\n"
	if buf.String() != want {
		t.Errorf("log\n got %q\nwant %q", buf.String(), want)
	}
}

// labelReference stands where caapolicy stands, or between metrics and caapolicy under the name
// it is given, and passes every query on through plugin.NextOrFailure.
type labelReference struct {
	name string
	next plugin.Handler
}

func (l labelReference) Name() string { return l.name }
func (l labelReference) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	return plugin.NextOrFailure(l.name, l.next, ctx, w, r)
}

// TestNextKeepsPluginLabel: caapolicy passes queries on without plugin.NextOrFailure's writer
// (next), and CoreDNS's metrics still name the same plugin for every reply as when it passes them
// through NextOrFailure: the plugin right after metrics, whose writer wraps metrics' recorder.
func TestNextKeepsPluginLabel(t *testing.T) {
	h := newTestHandler(t, testPolicy+"}", zoneData(t))
	for _, tc := range []struct {
		name  string
		qname string
		qtype uint16
	}{
		{"an A query answered by the zone data", "www.example.org.", dns.TypeA},
		{"an NXDOMAIN through the detour's writer", "nozone.example.org.", dns.TypeA},
		{"a CAA query at a name without a policy", "zonecaa.example.org.", dns.TypeCAA},
		{"a CAA query outside the zones", "example.com.", dns.TypeCAA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			label := func(chain plugin.Handler) string {
				rec := metrics.NewRecorder(corednstest.NewWriter("udp", ""))
				plugin.NextOrFailure("prometheus", chain, context.Background(), rec, new(dns.Msg).SetQuestion(tc.qname, tc.qtype))
				return rec.GetPlugin()
			}
			ref := labelReference{name: name, next: h.view.Next}
			for _, c := range []struct {
				chain, reference plugin.Handler
				want             string
			}{
				{h, ref, name},
				{labelReference{"header", h}, labelReference{"header", ref}, "header"},
			} {
				if got, want := label(c.chain), label(c.reference); got != want || want != c.want {
					t.Errorf("behind %s: plugin %q, through NextOrFailure %q, want %q", c.chain.Name(), got, want, c.want)
				}
			}
		})
	}
}

// TestNextTraces: with the trace plugin's span in the context, the query goes on through
// plugin.NextOrFailure, which gives the next plugin its child span.
func TestNextTraces(t *testing.T) {
	h := newTestHandler(t, testPolicy+"}", zoneData(t))
	tracer := mocktracer.New()
	for _, tc := range []struct {
		name  string
		qname string
		qtype uint16
	}{
		{"an A query", "a.example.org.", dns.TypeA},
		{"an A query at a policy owner, through the detour", "www.example.org.", dns.TypeA},
		{"a CAA query at a name without a policy", "zonecaa.example.org.", dns.TypeCAA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tracer.Reset()
			span := tracer.StartSpan("servedns")
			ctx := ot.ContextWithSpan(context.Background(), span)
			h.ServeDNS(ctx, corednstest.NewWriter("udp", ""), new(dns.Msg).SetQuestion(tc.qname, tc.qtype))
			span.Finish()
			var names []string
			for _, s := range tracer.FinishedSpans() {
				names = append(names, s.OperationName)
			}
			if want := []string{"file", "servedns"}; !slices.Equal(names, want) {
				t.Errorf("finished spans %q, want %q", names, want)
			}
		})
	}
}

// TestZoneDataMessageUnchanged: the message the zone data writes is never changed; the reply is
// built on a copy (CoreDNS's plugin guide), where a negative answer becomes a positive one at a
// policy owner and where an NXDOMAIN becomes NODATA at a name the policy makes exist.
func TestZoneDataMessageUnchanged(t *testing.T) {
	soa := test.SOA("example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600")
	for _, tc := range []struct {
		name, qname string
		rcode       int
	}{
		{"a NODATA at a policy owner becomes the policy", "deny.example.org.", dns.RcodeSuccess},
		{"an NXDOMAIN at a policy owner becomes the policy", "deny.example.org.", dns.RcodeNameError},
		{"an NXDOMAIN above a policy owner becomes NODATA", "ent.example.org.", dns.RcodeNameError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var written *dns.Msg
			next := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
				m := new(dns.Msg).SetRcode(r, tc.rcode)
				m.Ns = []dns.RR{soa}
				written = m
				return tc.rcode, w.WriteMsg(m)
			})
			h := newTestHandler(t, `caapolicy example.org {
				name deny { issue none }
				name x.ent { issue none }
			}`, next)
			rec := corednstest.NewWriter("udp", "")
			if _, err := h.ServeDNS(context.Background(), rec, new(dns.Msg).SetQuestion(tc.qname, dns.TypeCAA)); err != nil || rec.Msg == nil {
				t.Fatalf("no reply: %v", err)
			}
			if rec.Msg == written {
				t.Fatal("the reply is the zone data's own message")
			}
			if written.Rcode != tc.rcode || written.Authoritative || len(written.Ns) != 1 || written.Ns[0] != soa || len(written.Answer) != 0 {
				t.Errorf("the zone data's message changed: %v", written)
			}
		})
	}
}
