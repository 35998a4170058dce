package caapolicy

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	"github.com/miekg/dns"
)

// negativeZone holds no records at the policy-only owners deny, x.ent and deny (example.net),
// nor at the empty non-terminal ent; names below wild match a wildcard.
const negativeZone = exampleOrg + `
txtonly  3600 IN TXT   "a name with data but no CAA"
*.wild   3600 IN TXT   "a wildcard"
`

// negativePolicy declares owners the zone data lacks: deny, and x.ent below a name (ent) that
// exists only because of it; example.net's owners fall through.
const negativePolicy = `caapolicy example.org example.net {
	issue letsencrypt.org
	name deny {
		issue none
	}
	name x.ent {
		issue pki.goog
	}
	fallthrough example.net
}`

func negativeCorefile(zonePath, netPath, keyBase string) string {
	signer := ""
	if keyBase != "" {
		signer = "dnssec example.org {\n\t\tkey file " + keyBase + "\n\t}"
	}
	return `example.org:0 example.net:0 {
	bind 127.0.0.1
	cache
	` + signer + `
	` + negativePolicy + `
	file ` + zonePath + ` example.org
	file ` + netPath + ` example.net
}
`
}

func startNegative(t *testing.T, signed bool) (addrs map[string]string, key *dns.DNSKEY) {
	t.Helper()
	dir := t.TempDir()
	zonePath, keyBase, key := signedZone(t, dir, negativeZone)
	netPath := filepath.Join(dir, "example.net.zone")
	write(t, netPath, exampleNet)
	if !signed {
		keyBase = ""
	}
	_, udp, tcp := corednstest.Start(t, negativeCorefile(zonePath, netPath, keyBase))
	return map[string]string{"udp": udp, "tcp": tcp}, key
}

// TestPolicyOwnersExist: a policy owner the zone data lacks, and the names between it and the
// apex, exist for every type (NODATA with the zone's SOA, never NXDOMAIN); names below an owner,
// other names and owners that fallthrough covers keep the zone data's answers.
func TestPolicyOwnersExist(t *testing.T) {
	addrs, _ := startNegative(t, false)
	// file puts the SOA in negative answers with the minimum TTL as its TTL (RFC 2308 section 3),
	// 3600 s here. cache, in front, bypasses caapolicy's zones (cache.go), so it caps no TTL (to
	// 1800 s for denials): every answer carries the zone's own TTLs, as a secondary serves them.
	const soa = "example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600"
	const soaNet = "example.net. 3600 IN SOA ns1.example.net. hostmaster.example.net. 1 7200 3600 1209600 3600"
	const soaCAA, soaNetCAA = soa, soaNet
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer []string
		ns     string
	}{
		{"a policy-only owner exists for A", "deny.example.org.", dns.TypeA, dns.RcodeSuccess, nil, soa},
		{"a policy-only owner asked in mixed case exists for TXT", "DeNy.example.org.", dns.TypeTXT, dns.RcodeSuccess, nil, soa},
		{"a policy-only owner exists for AAAA", "deny.example.org.", dns.TypeAAAA, dns.RcodeSuccess, nil, soa},
		{"a policy-only owner answers its policy", "deny.example.org.", dns.TypeCAA, dns.RcodeSuccess, []string{`deny.example.org. 300 IN CAA 0 issue ";"`}, ""},
		{"an empty non-terminal above an owner exists for A", "ent.example.org.", dns.TypeA, dns.RcodeSuccess, nil, soa},
		{"an empty non-terminal above an owner has no CAA", "ent.example.org.", dns.TypeCAA, dns.RcodeSuccess, nil, soaCAA},
		{"an owner below an empty non-terminal exists for MX", "x.ent.example.org.", dns.TypeMX, dns.RcodeSuccess, nil, soa},
		{"an owner below an empty non-terminal answers its policy", "x.ent.example.org.", dns.TypeCAA, dns.RcodeSuccess, []string{`x.ent.example.org. 300 IN CAA 0 issue "pki.goog"`}, ""},
		{"a name below an owner keeps the zone data's NXDOMAIN", "y.deny.example.org.", dns.TypeA, dns.RcodeNameError, nil, soa},
		{"a name below an owner keeps the zone data's NXDOMAIN for CAA", "y.deny.example.org.", dns.TypeCAA, dns.RcodeNameError, nil, soaCAA},
		{"a missing name keeps the zone data's NXDOMAIN", "missing.example.org.", dns.TypeA, dns.RcodeNameError, nil, soa},
		{"an owner the zone data lacks does not exist where fallthrough covers it", "deny.example.net.", dns.TypeA, dns.RcodeNameError, nil, soaNet},
		{"an owner the zone data lacks does not exist for CAA where fallthrough covers it", "deny.example.net.", dns.TypeCAA, dns.RcodeNameError, nil, soaNetCAA},
		{"a positive answer passes unchanged", "www.example.org.", dns.TypeA, dns.RcodeSuccess, []string{"www.example.org. 3600 IN A 192.0.2.1"}, "example.org. 3600 IN NS ns1.example.org."},
	}
	for _, net := range []string{"udp", "tcp"} {
		t.Run("over "+net, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					m := new(dns.Msg).SetQuestion(tc.qname, tc.qtype)
					r := exchange(t, net, addrs[net], m)
					ns := strings.Join(corednstest.AnswerStrings(&dns.Msg{Answer: r.Ns}, 0), "; ")
					got := corednstest.AnswerStrings(r, 0)
					for i := range got {
						got[i] = strings.Replace(got[i], strings.TrimSuffix(tc.qname, "."), strings.ToLower(strings.TrimSuffix(tc.qname, ".")), 1)
					}
					if r.Rcode != tc.rcode || !r.Authoritative || !slices.Equal(got, tc.answer) || ns != tc.ns {
						t.Errorf("%s %s %s: rcode %s aa %v answer %q ns %q\nwant rcode %s aa true answer %q ns %q", net, tc.qname, dns.TypeToString[tc.qtype],
							dns.RcodeToString[r.Rcode], r.Authoritative, got, ns, dns.RcodeToString[tc.rcode], tc.answer, tc.ns)
					}
				})
			}
		})
	}
}

// TestSignedDenialsListCAA asks with DO: the NSEC of a negative answer for another type at any
// name of caapolicy's zones lists CAA, and its signature verifies with the zone's key; the NSEC
// of a CAA NODATA does not list CAA.
func TestSignedDenialsListCAA(t *testing.T) {
	addrs, key := startNegative(t, true)
	for _, tc := range []struct {
		kind    string
		qname   string
		qtype   uint16
		wantCAA bool
	}{
		{"a policy-only owner", "deny.example.org.", dns.TypeTXT, true},
		{"an empty non-terminal above an owner", "ent.example.org.", dns.TypeA, true},
		{"the apex, a merged owner", "example.org.", dns.TypeTXT, true},
		{"a zone-data owner", "zonecaa.example.org.", dns.TypeA, true},
		{"an owner with other data", "www.example.org.", dns.TypeTXT, true},
		{"a missing name, made NODATA by the black lie", "missing.example.org.", dns.TypeA, true},
		{"a missing name asked for NSEC", "MiSsInG.example.org.", dns.TypeNSEC, true},
		{"a name without CAA asked for CAA", "ns1.example.org.", dns.TypeCAA, false},
		{"a missing name asked for CAA", "missing.example.org.", dns.TypeCAA, false},
	} {
		verdict := "lists CAA"
		if !tc.wantCAA {
			verdict = "does not list CAA"
		}
		t.Run("the NSEC of "+tc.kind+" "+verdict, func(t *testing.T) {
			for _, net := range []string{"udp", "tcp"} {
				m := new(dns.Msg).SetQuestion(tc.qname, tc.qtype)
				m.SetEdns0(4096, true)
				r := exchange(t, net, addrs[net], m)
				name := fmt.Sprintf("%s %s %s", net, tc.qname, dns.TypeToString[tc.qtype])
				if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
					t.Errorf("%s: rcode %s aa %v", name, dns.RcodeToString[r.Rcode], r.Authoritative)
				}
				var nsec *dns.NSEC
				var sig *dns.RRSIG
				for _, rr := range append(r.Answer, r.Ns...) {
					switch x := rr.(type) {
					case *dns.NSEC:
						nsec = x
					case *dns.RRSIG:
						if x.TypeCovered == dns.TypeNSEC {
							sig = x
						}
					}
				}
				if nsec == nil || sig == nil {
					t.Errorf("%s: no NSEC with its RRSIG: %v %v", name, r.Answer, r.Ns)
					continue
				}
				if got := slices.Contains(nsec.TypeBitMap, dns.TypeCAA); got != tc.wantCAA {
					t.Errorf("%s: NSEC bitmap lists CAA %v, want %v: %s", name, got, tc.wantCAA, nsec)
				}
				if slices.Contains(nsec.TypeBitMap, tc.qtype) && tc.qtype != dns.TypeNSEC {
					t.Errorf("%s: NSEC bitmap claims the type asked: %s", name, nsec)
				}
				if !slices.IsSorted(nsec.TypeBitMap) {
					t.Errorf("%s: bitmap out of order: %v", name, nsec.TypeBitMap)
				}
				if err := sig.Verify(key, []dns.RR{nsec}); err != nil || !sig.ValidityPeriod(time.Now()) {
					t.Errorf("%s: RRSIG NSEC does not verify: %v", name, err)
				}
				sigs := 0
				for _, rr := range append(r.Answer, r.Ns...) {
					if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == dns.TypeNSEC {
						sigs++
					}
				}
				if sigs != 1 {
					t.Errorf("%s: %d RRSIG NSEC, want 1", name, sigs)
				}
			}
		})
	}
	t.Run("a denial in a zone of the block that dnssec does not sign stays unsigned, as CoreDNS answers it", func(t *testing.T) {
		for _, q := range []struct {
			name  string
			qtype uint16
			rcode int
		}{{"shop.example.net.", dns.TypeTXT, dns.RcodeSuccess}, {"missing.example.net.", dns.TypeA, dns.RcodeNameError}} {
			m := new(dns.Msg).SetQuestion(q.name, q.qtype)
			m.SetEdns0(4096, true)
			r := exchange(t, "udp", addrs["udp"], m)
			if r.Rcode != q.rcode || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
				t.Errorf("%s %s with DO: rcode %s ns %v, want %s with the SOA alone", q.name, dns.TypeToString[q.qtype], dns.RcodeToString[r.Rcode], r.Ns, dns.RcodeToString[q.rcode])
			}
		}
	})
	t.Run("without DO nothing is signed and NXDOMAIN stays NXDOMAIN below an owner", func(t *testing.T) {
		r := exchange(t, "udp", addrs["udp"], new(dns.Msg).SetQuestion("y.deny.example.org.", dns.TypeA))
		if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 {
			t.Errorf("y.deny A without DO: rcode %s ns %v", dns.RcodeToString[r.Rcode], r.Ns)
		}
	})
}

// TestUnboundAggressiveNSEC: through a validating Unbound that uses its NSEC cache (aggressive-nsec,
// RFC 8198) and randomizes case, a TXT query at a name must not hide the CAA RRset there: for
// each kind of owner, TXT first, then CAA, which comes back whole and secure.
func TestUnboundAggressiveNSEC(t *testing.T) {
	dir := t.TempDir()
	zonePath, keyBase, key := signedZone(t, dir, exampleOrg)
	_, udp, _ := corednstest.Start(t, e2eCorefile(zonePath, keyBase, e2ePolicy(" partners letsencrypt.org\n name deny {\n  issue none\n }\n")))
	resolver := startUnbound(t, udp, key)
	for _, tc := range []struct {
		kind, txt, caa string
		want           []string
	}{
		{"apex policy, merged with zone data", "example.org.", "example.org.", []string{"iodef mailto:security@example.org", "issue letsencrypt.org", "issue pki.goog"}},
		{"policy-only owner", "deny.example.org.", "deny.example.org.", []string{"issue ;"}},
		{"policy owner with other data", "www.example.org.", "www.example.org.", []string{"issue letsencrypt.org", "issue pki.goog"}},
		{"zone data only, partner-augmented", "zonecaa.example.org.", "zonecaa.example.org.", []string{"issue letsencrypt.org", "issue sectigo.com"}},
		{"in-zone CNAME target", "shop.example.org.", "cname.example.org.", []string{"issue letsencrypt.org", "issue ssl.com"}},
		{"in-zone CNAME target, asked directly", "shop.example.org.", "shop.example.org.", []string{"issue letsencrypt.org", "issue ssl.com"}},
	} {
		t.Run(tc.kind+": a TXT query first does not hide the CAA RRset", func(t *testing.T) {
			m := new(dns.Msg).SetQuestion(tc.txt, dns.TypeTXT)
			m.SetEdns0(4096, true)
			r := exchange(t, "udp", resolver, m)
			if !r.AuthenticatedData {
				t.Errorf("%s: TXT %s not secure (rcode %s)", tc.kind, tc.txt, dns.RcodeToString[r.Rcode])
			}
			m = new(dns.Msg).SetQuestion(tc.caa, dns.TypeCAA)
			m.SetEdns0(4096, true)
			r = exchange(t, "udp", resolver, m)
			var got []string
			for _, rr := range r.Answer {
				if c, ok := rr.(*dns.CAA); ok {
					got = append(got, c.Tag+" "+c.Value)
				}
			}
			slices.Sort(got)
			if !r.AuthenticatedData || !slices.Equal(got, tc.want) {
				t.Errorf("%s: after TXT %s, CAA %s: AD %v rcode %s\n got %q\nwant %q", tc.kind, tc.txt, tc.caa, r.AuthenticatedData, dns.RcodeToString[r.Rcode], got, tc.want)
			}
		})
	}
}

// startNamed starts Debian's BIND (named) on a loopback port as a non-validating resolver that
// forwards every example.org query to the CoreDNS at coredns, and returns its address.
func startNamed(t *testing.T, coredns string) string {
	t.Helper()
	bin := needProgram(t, "named")
	dir := t.TempDir()
	port := corednstest.FreePort(t)
	host, cport, _ := strings.Cut(coredns, ":")
	conf := fmt.Sprintf(`options {
	directory "%[1]s";
	pid-file "%[1]s/named.pid";
	listen-on port %[2]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion yes;
	allow-query { any; };
	allow-recursion { any; };
	dnssec-validation no;
	qname-minimization off;
};
controls { };
zone "example.org" {
	type forward;
	forward only;
	forwarders { %[3]s port %[4]s; };
};
`, dir, port, host, cport)
	confPath := filepath.Join(dir, "named.conf")
	write(t, confPath, conf)
	out := runDaemon(t, "named", bin, "-g", "-4", "-c", confPath)
	return waitSOA(t, "named", fmt.Sprintf("127.0.0.1:%d", port), out)
}

// TestBINDNegativeCache: a BIND resolver caches an NXDOMAIN for the name whatever the type
// (RFC 2308 section 5). Asking A first at a policy-only owner, at an owner below an empty
// non-terminal, and at that non-terminal must not hide the policy RRset from the CAA query after.
func TestBINDNegativeCache(t *testing.T) {
	addrs, _ := startNegative(t, false)
	resolver := startNamed(t, addrs["udp"])
	for _, tc := range []struct{ name, first, caa, want string }{
		{"a policy-only owner asked A and TXT first", "deny.example.org.", "deny.example.org.", `issue ";"`},
		{"an owner below an empty non-terminal asked A and TXT first", "x.ent.example.org.", "x.ent.example.org.", `issue "pki.goog"`},
		{"an owner below an empty non-terminal asked A and TXT at the non-terminal", "ent.example.org.", "x.ent.example.org.", `issue "pki.goog"`},
	} {
		t.Run(tc.name+" still answers its policy through BIND", func(t *testing.T) {
			for _, qt := range []uint16{dns.TypeA, dns.TypeTXT} {
				r := exchange(t, "udp", resolver, new(dns.Msg).SetQuestion(tc.first, qt))
				if r.Rcode != dns.RcodeSuccess {
					t.Errorf("%s %s through BIND: %s, want NOERROR (NODATA)", tc.first, dns.TypeToString[qt], dns.RcodeToString[r.Rcode])
				}
			}
			r := exchange(t, "udp", resolver, new(dns.Msg).SetQuestion(tc.caa, dns.TypeCAA))
			var got []string
			for _, rr := range r.Answer {
				if c, ok := rr.(*dns.CAA); ok {
					got = append(got, c.Tag+" "+fmt.Sprintf("%q", c.Value))
				}
			}
			if r.Rcode != dns.RcodeSuccess || strings.Join(got, ", ") != tc.want {
				t.Errorf("CAA %s after A at %s through BIND: rcode %s answer %q, want %s", tc.caa, tc.first, dns.RcodeToString[r.Rcode], got, tc.want)
			}
		})
	}
}

// TestDSDenialBitmaps asks DS with DO (dig +dnssec NAME DS): below the apex, only a delegation
// point of the zone data may get an NSEC whose bitmap lists NS (and no SOA), the proof of an
// insecure delegation; every other name, existing or not, gets a bitmap without NS that lists CAA,
// signed with the zone's key. The apex keeps NS and SOA.
func TestDSDenialBitmaps(t *testing.T) {
	addrs, key := startNegative(t, true)
	for _, tc := range []struct {
		kind, qname     string
		wantNS, wantSOA bool
	}{
		{"policy-only owner", "deny.example.org.", false, false},
		{"policy-only owner, mixed case", "DeNy.ExAmPlE.oRg.", false, false},
		{"empty non-terminal above an owner", "ent.example.org.", false, false},
		{"owner below an empty non-terminal", "x.ent.example.org.", false, false},
		{"zone-data owner", "zonecaa.example.org.", false, false},
		{"name with other data", "www.example.org.", false, false},
		{"name that does not exist", "missing.example.org.", false, false},
		{"name below a policy owner that does not exist", "y.deny.example.org.", false, false},
		{"wildcard match", "a.wild.example.org.", false, false},
		{"empty non-terminal above a wildcard", "wild.example.org.", false, false},
		{"delegation point", "sub.example.org.", true, false},
		{"delegation point, mixed case", "SuB.eXaMpLe.org.", true, false},
		{"apex", "example.org.", true, true},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			for _, net := range []string{"udp", "tcp"} {
				m := new(dns.Msg).SetQuestion(tc.qname, dns.TypeDS)
				m.SetEdns0(4096, true)
				r := exchange(t, net, addrs[net], m)
				if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 0 {
					t.Fatalf("%s: rcode %s aa %v answer %v, want NOERROR aa NODATA", net, dns.RcodeToString[r.Rcode], r.Authoritative, r.Answer)
				}
				nsec, sigs := nsecProof(r.Ns)
				if nsec == nil || len(sigs) != 1 {
					t.Fatalf("%s: want one NSEC and one RRSIG NSEC: %v", net, r.Ns)
				}
				if !strings.EqualFold(nsec.Hdr.Name, tc.qname) {
					t.Errorf("%s: NSEC owner %s, want %s", net, nsec.Hdr.Name, tc.qname)
				}
				bm := nsec.TypeBitMap
				if got := slices.Contains(bm, dns.TypeNS); got != tc.wantNS {
					t.Errorf("%s: bitmap lists NS %v, want %v: %s", net, got, tc.wantNS, nsec)
				}
				if got := slices.Contains(bm, dns.TypeSOA); got != tc.wantSOA {
					t.Errorf("%s: bitmap lists SOA %v, want %v: %s", net, got, tc.wantSOA, nsec)
				}
				if slices.Contains(bm, dns.TypeDS) || !slices.Contains(bm, dns.TypeCAA) || !slices.IsSorted(bm) {
					t.Errorf("%s: bitmap must lack DS, list CAA and be sorted: %s", net, nsec)
				}
				if err := sigs[0].Verify(key, []dns.RR{nsec}); err != nil || !sigs[0].ValidityPeriod(time.Now()) {
					t.Errorf("%s: RRSIG NSEC does not verify: %v", net, err)
				}
			}
		})
	}
}

// TestSignedDenialInChildZone: dnssec signs example.org, and the zone data serves sub.example.org
// as a zone of its own (its own SOA). dnssec signs names there with example.org's key, so a
// denial there must list CAA and be signed by example.org, as at the apex; a zone first seen
// unsigned (example.net) does not change that.
func TestSignedDenialInChildZone(t *testing.T) {
	dir := t.TempDir()
	zonePath, keyBase, key := signedZone(t, dir, negativeZone)
	subPath := filepath.Join(dir, "sub.zone")
	write(t, subPath, "$ORIGIN sub.example.org.\n@ 3600 IN SOA ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600\n@ 3600 IN NS ns1.example.org.\nwww 3600 IN A 192.0.2.9\n")
	netPath := filepath.Join(dir, "example.net.zone")
	write(t, netPath, exampleNet)
	_, udp, _ := corednstest.Start(t, `example.org:0 example.net:0 {
	bind 127.0.0.1
	dnssec example.org {
		key file `+keyBase+`
	}
	caapolicy example.org example.net {
		issue letsencrypt.org
	}
	file `+subPath+` sub.example.org
	file `+zonePath+` example.org
	file `+netPath+` example.net
}
`)
	for _, tc := range []struct {
		name   string
		qname  string
		signed bool
	}{
		{"a denial in example.net, which dnssec does not sign, stays unsigned", "missing.example.net.", false},
		{"a denial in the child zone is signed by example.org and lists CAA", "missing.sub.example.org.", true},
		{"a NODATA in the child zone is signed by example.org and lists CAA", "www.sub.example.org.", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := new(dns.Msg).SetQuestion(tc.qname, dns.TypeTXT)
			m.SetEdns0(4096, true)
			r := exchange(t, "udp", udp, m)
			nsec, sigs := nsecProof(r.Ns)
			if !tc.signed {
				if nsec != nil || len(sigs) != 0 || len(r.Ns) != 1 {
					t.Errorf("unsigned zone: authority %v, want the SOA alone", r.Ns)
				}
				return
			}
			if nsec == nil || len(sigs) != 1 {
				t.Fatalf("no NSEC with its one RRSIG: %v", r.Ns)
			}
			sig := sigs[0]
			if !slices.Contains(nsec.TypeBitMap, dns.TypeCAA) {
				t.Errorf("NSEC bitmap does not list CAA: %s", nsec)
			}
			if sig.SignerName != "example.org." {
				t.Errorf("signer %s, want example.org.", sig.SignerName)
			}
			if err := sig.Verify(key, []dns.RR{nsec}); err != nil {
				t.Errorf("RRSIG NSEC does not verify: %v", err)
			}
		})
	}
}

// nsecProof returns the NSEC of rrs (the last one) and the signatures over NSEC records.
func nsecProof(rrs []dns.RR) (*dns.NSEC, []*dns.RRSIG) {
	var nsec *dns.NSEC
	var sigs []*dns.RRSIG
	for _, rr := range rrs {
		switch x := rr.(type) {
		case *dns.NSEC:
			nsec = x
		case *dns.RRSIG:
			if x.TypeCovered == dns.TypeNSEC {
				sigs = append(sigs, x)
			}
		}
	}
	return nsec, sigs
}

// TestNonCAAAllocations: a query of another type that the detour cannot change (the writer is
// made only where it may) allocates nothing beyond what the zone data allocates to answer it; an
// NXDOMAIN that becomes NODATA allocates the writer and the changed reply besides.
func TestNonCAAAllocations(t *testing.T) {
	h := newTestHandler(t, testPolicy+"}", zoneData(t))
	w := corednstest.NewWriter("udp", "")
	ctx := context.Background()
	allocs := func(qname string, qtype uint16, serve func(r *dns.Msg)) float64 {
		r := new(dns.Msg).SetQuestion(qname, qtype)
		return testing.AllocsPerRun(200, func() { serve(r) })
	}
	direct := func(r *dns.Msg) { h.view.Next.ServeDNS(ctx, w, r) }
	through := func(r *dns.Msg) { h.ServeDNS(ctx, w, r) }
	for _, tc := range []struct {
		name   string
		qname  string
		qtype  uint16
		detour float64 // allocated by the detour: its writer, and the reply it changes
	}{
		{"an A query", "a.example.org.", dns.TypeA, 0},
		{"a name as long as a policy owner's, not one (the length lookup lets it through)", "xyz.example.org.", dns.TypeA, 0},
		{"an SOA query without a policy serial", "example.org.", dns.TypeSOA, 0},
		{"an NXDOMAIN at a policy owner the zone data lacks becomes NODATA", "nozone.example.org.", dns.TypeA, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.qname == "xyz.example.org." && !h.view.Rewrites(dns.TypeA, tc.qname) {
				t.Fatalf("no name the policy makes exist is as long as %s: the case tests nothing", tc.qname)
			}
			want := allocs(tc.qname, tc.qtype, direct) + tc.detour
			if got := allocs(tc.qname, tc.qtype, through); got != want {
				t.Errorf("%v allocations through caapolicy, want %v", got, want)
			}
		})
	}
}
