package watch

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/dnsname"

	"github.com/miekg/dns"
)

// servedZone is what the block of the tests serves, policy, zone data and partners merged, as
// the plugin's served view would answer CAA queries for it.
const servedZone = `$ORIGIN example.org.
@     300 IN SOA   ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600
@     300 IN CAA   0 issue "letsencrypt.org"
@     300 IN CAA   0 issuewild ";"
@     300 IN CAA   0 issue "digicert.com"
wild  300 IN CAA   0 issue "digicert.com"
wild  300 IN CAA   0 issuewild "digicert.com"
shop  300 IN CAA   0 issue "letsencrypt.org"
shop  300 IN CAA   0 issuewild "sectigo.com"
pol   300 IN CAA   0 issue "digicert.com"
pol   300 IN CAA   0 issue "letsencrypt.org"
pol   300 IN CAA   0 issue "sectigo.com"
cname 300 IN CNAME wild
plain 300 IN A     192.0.2.1
`

// testZone is a served view for the tests: the records of one zone, read from zone-file text, and
// the CAA answers a server gives from them.
type testZone struct {
	apex  string
	soa   dns.RR
	rrs   map[string][]dns.RR // lowercase owner -> its records, in file order
	exist map[string]bool     // the owners and the names between them and the apex
}

func newTestZone(t testing.TB, text string) *testZone {
	t.Helper()
	z := &testZone{rrs: map[string][]dns.RR{}, exist: map[string]bool{}}
	zp := dns.NewZoneParser(strings.NewReader(text), "", "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		n := strings.ToLower(rr.Header().Name)
		if rr.Header().Rrtype == dns.TypeSOA {
			z.apex, z.soa = n, rr
			continue
		}
		z.rrs[n] = append(z.rrs[n], rr)
		for a := n; a != z.apex && a != "."; a = caa.ParentName(a) {
			z.exist[a] = true
		}
	}
	if err := zp.Err(); err != nil || z.apex == "" {
		t.Fatalf("test zone: %v (apex %q)", err, z.apex)
	}
	z.exist[z.apex] = true
	return z
}

// reply is the authoritative answer to a CAA query for qname: the CNAMEs from it inside the zone
// and the CAA RRset where they end, NXDOMAIN (with the SOA) where the name does not exist.
func (z *testZone) reply(qname string) *dns.Msg {
	m := new(dns.Msg).SetQuestion(qname, dns.TypeCAA)
	m.Response, m.Authoritative = true, true
	n := strings.ToLower(qname)
	for range caa.MaxCNAMEs {
		if !dnsname.AtOrBelow(n, z.apex) {
			return m // the chain left the zone
		}
		if !z.exist[n] {
			m.Rcode, m.Ns = dns.RcodeNameError, []dns.RR{z.soa}
			return m
		}
		var cname *dns.CNAME
		for _, rr := range z.rrs[n] {
			switch x := rr.(type) {
			case *dns.CAA:
				m.Answer = append(m.Answer, x)
			case *dns.CNAME:
				cname = x
			}
		}
		if cname == nil {
			if len(m.Answer) == 0 {
				m.Ns = []dns.RR{z.soa}
			}
			return m
		}
		m.Answer = append(m.Answer, cname)
		n = strings.ToLower(cname.Target)
	}
	return m
}

// lookup is the Block.Lookup of the zone: its answer for a name inside, Outside for others.
func (z *testZone) lookup(_ context.Context, n string) (caa.Step, error) {
	s := caa.Step{Name: n}
	if !dnsname.AtOrBelow(strings.ToLower(dns.Fqdn(n)), z.apex) {
		s.Outside = true
		return s, nil
	}
	m := z.reply(dns.Fqdn(n))
	s.Rcode = m.Rcode
	s.RRset, s.CNAMEs, _ = caa.AnswerRRset(m.Answer, dns.Fqdn(n))
	return s, nil
}

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 123e6, time.UTC)

// entry is a query record from addr for qname at t0+at, attributed to ca, without its reply.
func entry(ca, addr, qname string, at time.Duration) *Entry {
	return &Entry{Time: t0.Add(at), Client: netip.AddrPortFrom(netip.MustParseAddr(addr), 5353), Transport: "udp", Name: qname, CA: ca, Zone: "example.org.", Source: "passthrough"}
}

// answered gives e the zone's reply to its question, and returns it.
func (z *testZone) answered(e *Entry) *Entry {
	e.Reply = z.reply(e.Name)
	if rrset, _, target := caa.AnswerRRset(e.Reply.Answer, e.Name); len(rrset) > 0 {
		e.Owner, e.ZoneData = strings.ToLower(target), len(rrset)
	}
	return e
}
