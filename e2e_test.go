package caapolicy

import (
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/core/dnsserver"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	// The plugins the end-to-end Corefiles use, as a CoreDNS build would compile them in.
	_ "github.com/coredns/coredns/plugin/auto"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/dnssec"
	_ "github.com/coredns/coredns/plugin/dnstap"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/header"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/metadata"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/minimal"

	"github.com/miekg/dns"
)

func init() {
	d, err := InsertDirective(dnsserver.Directives)
	if err != nil {
		panic(err)
	}
	dnsserver.Directives = d
}

// exchange sends m over net ("udp" or "tcp") to addr and returns the reply.
func exchange(t testing.TB, net, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: net, UDPSize: 65535}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %s to %s: %v", net, m.Question[0].String(), addr, err)
	}
	return r
}

func caaQuery(qname string, do bool, bufsize uint16) *dns.Msg {
	m := new(dns.Msg).SetQuestion(qname, dns.TypeCAA)
	m.RecursionDesired = false
	if bufsize > 0 {
		m.SetEdns0(bufsize, do)
	}
	return m
}

// signedZone writes example.org's zone file and a fresh ECDSA P-256 key pair into dir and returns
// the zone file's path, the key files' base name and the public key (for trust anchors).
func signedZone(t testing.TB, dir, zone string) (zonePath, keyBase string, key *dns.DNSKEY) {
	t.Helper()
	key = &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: "example.org.", Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags:     257,
		Protocol:  3,
		Algorithm: dns.ECDSAP256SHA256,
	}
	priv, err := key.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	keyBase = filepath.Join(dir, fmt.Sprintf("Kexample.org.+013+%05d", key.KeyTag()))
	write(t, keyBase+".key", key.String()+"\n")
	write(t, keyBase+".private", key.PrivateKeyString(priv))
	zonePath = filepath.Join(dir, "example.org.zone")
	write(t, zonePath, zone)
	return zonePath, keyBase, key
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// e2ePolicy is served in front of the file-backed, dnssec-signed, cached example.org.
func e2ePolicy(extra string) string {
	var b strings.Builder
	b.WriteString("caapolicy {\n issue letsencrypt.org\n iodef mailto:security@example.org\n ttl 600\n")
	b.WriteString(" name big {\n")
	for i := range 30 {
		fmt.Fprintf(&b, "  issue ca%02d.example\n", i)
	}
	b.WriteString(" }\n name long {\n  record 0 tbs " + strings.Repeat("v", 300) + "\n }\n")
	b.WriteString(" name www {\n  issue pki.goog\n }\n")
	b.WriteString(extra + "}\n")
	return b.String()
}

func e2eCorefile(zonePath, keyBase, policy string) string {
	return `example.org:0 {
	bind 127.0.0.1
	errors
	cache
	dnssec {
		key file ` + keyBase + `
	}
	` + policy + `
	file ` + zonePath + `
}
`
}

func TestE2EAnswers(t *testing.T) {
	dir := t.TempDir()
	zonePath, keyBase, _ := signedZone(t, dir, exampleOrg)
	_, udp, tcp := corednstest.Start(t, e2eCorefile(zonePath, keyBase, e2ePolicy("")))

	// Merged apex answer. The question's spelling is kept in the question and in every owner
	// name. Asked again in another spelling, over TCP, within the TTL: cache, in front, bypasses
	// caapolicy's zones (cache.go), so the answer is made again, in the new spelling, with
	// the whole TTL.
	for _, q := range []struct{ kind, net, addr, name string }{
		{"asked first", "udp", udp, "eXaMpLe.OrG."},
		{"asked again in another spelling, over TCP, within the TTL", "tcp", tcp, "ExAmPlE.oRg."},
	} {
		t.Run("the merged apex answer in the question's spelling, "+q.kind, func(t *testing.T) {
			r := exchange(t, q.net, q.addr, caaQuery(q.name, false, 1232))
			want := []string{
				q.name + ` 600 IN CAA 0 iodef "mailto:security@example.org"`,
				q.name + ` 600 IN CAA 0 issue "letsencrypt.org"`,
				q.name + ` 600 IN CAA 0 issue "pki.goog"`,
			}
			got := corednstest.AnswerStrings(r, 0)
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative || !slices.Equal(got, want) || r.Question[0].Name != q.name {
				t.Errorf("%s %s: rcode %s aa %v question %s answer\n got %q\nwant %q", q.net, q.name, dns.RcodeToString[r.Rcode], r.Authoritative, r.Question[0].Name, got, want)
			}
		})
	}

	for _, net := range []string{"udp", "tcp"} {
		addr := map[string]string{"udp": udp, "tcp": tcp}[net]
		t.Run("over "+net, func(t *testing.T) {
			t.Run("the policy alone where the zone has no CAA: NOERROR, no SOA", func(t *testing.T) {
				r := exchange(t, net, addr, caaQuery("www.example.org.", false, 1232))
				if got := corednstest.AnswerStrings(r, 0); r.Rcode != dns.RcodeSuccess || len(r.Ns) != 0 || !slices.Equal(got, []string{`www.example.org. 600 IN CAA 0 issue "pki.goog"`}) {
					t.Errorf("%s www: rcode %s ns %v answer %q", net, dns.RcodeToString[r.Rcode], r.Ns, got)
				}
			})

			for _, tc := range []struct {
				kind, q string
				rcode   int
			}{{"NODATA", "ns1.example.org.", dns.RcodeSuccess}, {"NXDOMAIN", "missing.example.org.", dns.RcodeNameError}} {
				t.Run("the zone data's "+tc.kind+" carries exactly one SOA, the zone's", func(t *testing.T) {
					r := exchange(t, net, addr, caaQuery(tc.q, false, 1232))
					if r.Rcode != tc.rcode || len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA || r.Ns[0].Header().Name != "example.org." {
						t.Errorf("%s %s: want %s with one SOA, got rcode %s answer %v ns %v", net, tc.q, dns.RcodeToString[tc.rcode], dns.RcodeToString[r.Rcode], r.Answer, r.Ns)
					}
				})
			}

			t.Run("a value of 300 bytes arrives whole", func(t *testing.T) {
				r := exchange(t, net, addr, caaQuery("long.example.org.", false, 1232))
				if len(r.Answer) != 1 || r.Answer[0].(*dns.CAA).Value != strings.Repeat("v", 300) {
					t.Errorf("%s long: answer %v", net, r.Answer)
				}
			})
		})
	}
}

func TestE2EDNSSEC(t *testing.T) {
	dir := t.TempDir()
	zonePath, keyBase, key := signedZone(t, dir, exampleOrg)
	_, udp, _ := corednstest.Start(t, e2eCorefile(zonePath, keyBase, e2ePolicy("")))

	// Each name twice: cache, in front, bypasses caapolicy's zones (cache.go), and the second
	// answer is signed as the first, by the block's dnssec.
	for _, asked := range []string{"asked first", "asked again"} {
		for _, q := range []struct{ kind, name string }{
			{"the merged apex", "example.org."},
			{"a policy owner asked in mixed case", "WwW.ExAmPlE.oRg."},
			{"a CNAME to a name with zone CAA", "cname.example.org."},
		} {
			t.Run(q.kind+", "+asked+", is signed by the zone's key", func(t *testing.T) {
				r := exchange(t, "udp", udp, caaQuery(q.name, true, 4096))
				var rrset []dns.RR
				var sigs []*dns.RRSIG
				for _, rr := range r.Answer {
					switch x := rr.(type) {
					case *dns.CAA:
						rrset = append(rrset, x)
					case *dns.RRSIG:
						if x.TypeCovered == dns.TypeCAA {
							sigs = append(sigs, x)
						}
					}
				}
				if len(rrset) == 0 || len(sigs) != 1 {
					t.Fatalf("%s with DO=1: %d CAA and %d RRSIG CAA, want the RRset and one signature: %v", q.name, len(rrset), len(sigs), r.Answer)
				}
				if err := sigs[0].Verify(key, rrset); err != nil || sigs[0].KeyTag != key.KeyTag() || sigs[0].SignerName != "example.org." || !sigs[0].ValidityPeriod(time.Now()) {
					t.Errorf("%s: RRSIG by %s/%d does not verify with example.org./%d: %v", q.name, sigs[0].SignerName, sigs[0].KeyTag, key.KeyTag(), err)
				}
			})
		}
	}
}

func TestE2ETruncation(t *testing.T) {
	dir := t.TempDir()
	zonePath, keyBase, _ := signedZone(t, dir, exampleOrg)
	_, udp, tcp := corednstest.Start(t, e2eCorefile(zonePath, keyBase, e2ePolicy("")))

	// Without EDNS the 30 records do not fit in 512 bytes: TC=1 over UDP.
	r := exchange(t, "udp", udp, caaQuery("big.example.org.", false, 0))
	if !r.Truncated {
		t.Errorf("UDP without EDNS: TC=0 with %d records, want TC=1", len(r.Answer))
	}
	// Over TCP the whole RRset arrives.
	r = exchange(t, "tcp", tcp, caaQuery("big.example.org.", false, 0))
	if r.Truncated || len(corednstest.AnswerStrings(r, dns.TypeCAA)) != 30 {
		t.Errorf("TCP: TC=%v with %d CAA records, want all 30", r.Truncated, len(corednstest.AnswerStrings(r, dns.TypeCAA)))
	}
}

// TestE2ECompression checks on the wire that a reply too large for the client's buffer
// uncompressed is name-compressed to fit instead of truncated: every CAA record repeats the owner
// name, which compression writes once. (CoreDNS sends replies that fit uncompressed as they are.)
func TestE2ECompression(t *testing.T) {
	dir := t.TempDir()
	zonePath, keyBase, _ := signedZone(t, dir, exampleOrg)
	_, udp, _ := corednstest.Start(t, e2eCorefile(zonePath, keyBase, e2ePolicy("")))

	conn, err := net.Dial("udp", udp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q, _ := caaQuery("big.example.org.", false, 1232).Pack()
	if _, err := conn.Write(q); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil || len(r.Answer) != 30 || r.Truncated {
		t.Fatalf("reply: %v, %d records, TC=%v; want all 30 within 1232 bytes", err, len(r.Answer), r.Truncated)
	}
	r.Compress = false
	// Uncompressed, each of the 30 records carries the 17-byte owner name; compressed, a 2-byte pointer.
	if uncompressed := r.Len(); uncompressed <= 1232 || n != uncompressed-30*(17-2) {
		t.Errorf("reply is %d bytes on the wire, %d uncompressed: want every owner name compressed", n, uncompressed)
	}
}

// TestE2EReload checks that a Corefile mistake on reload keeps the old policy serving, and that
// a good reload serves the new one.
func TestE2EReload(t *testing.T) {
	dir := t.TempDir()
	zonePath, keyBase, _ := signedZone(t, dir, exampleOrg)
	cf := strings.Replace(e2eCorefile(zonePath, keyBase, e2ePolicy("")), "\tcache\n", "", 1)
	inst, udp, _ := corednstest.Start(t, cf)
	apex := func(addr string) []string {
		return corednstest.AnswerStrings(exchange(t, "udp", addr, caaQuery("example.org.", false, 1232)), dns.TypeCAA)
	}
	before := apex(udp)

	broken := strings.Replace(cf, "issue letsencrypt.org", "issue letsencrypt.org accounturi", 1)
	if _, err := inst.Restart(corednstest.Corefile(broken)); err == nil || !strings.Contains(err.Error(), `plugin/caapolicy: Corefile:8 - Error during parsing: issue: parameter "accounturi" is not KEY=VALUE`) {
		t.Fatalf("reload with a broken Corefile: err = %v, want the parse error with file:line", err)
	}
	if got := apex(udp); !slices.Equal(got, before) {
		t.Errorf("after a failed reload\n got %q\nwant the old policy %q", got, before)
	}

	next, err := inst.Restart(corednstest.Corefile(strings.Replace(cf, "issue letsencrypt.org", "issue sectigo.com", 1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { next.Stop() })
	udp, _ = corednstest.Addrs(next)
	want := []string{
		`example.org. 600 IN CAA 0 iodef "mailto:security@example.org"`,
		`example.org. 600 IN CAA 0 issue "pki.goog"`,
		`example.org. 600 IN CAA 0 issue "letsencrypt.org"`,
		`example.org. 600 IN CAA 0 issue "sectigo.com"`,
	}
	slices.Sort(want)
	if got := apex(udp); !slices.Equal(got, want) {
		t.Errorf("after a good reload\n got %q\nwant %q", got, want)
	}
}

// partnerCorefile serves partnerZone from a file on a fixed loopback port, so that a reload keeps
// the listener, with the given partners line.
func partnerCorefile(port int, zonePath, partners string) string {
	return fmt.Sprintf(`example.org:%d {
	bind 127.0.0.1
	caapolicy {
		%s
		name pol {
			issue pki.goog
		}
	}
	file %s
}
`, port, partners, zonePath)
}

// TestE2EPartnersReload flips partners off and back on with reloads of a running server, checks
// the exact RRsets after each step, and checks that no reply in between mixes the two states.
func TestE2EPartnersReload(t *testing.T) {
	zonePath := filepath.Join(t.TempDir(), "example.org.zone")
	write(t, zonePath, partnerZone)
	port := corednstest.FreePort(t)
	inst, udp, tcp := corednstest.Start(t, partnerCorefile(port, zonePath, "partners letsencrypt.org sectigo.com"))

	on := map[string][]string{
		"pol.example.org.": {
			`pol.example.org. 300 IN CAA 0 issue "letsencrypt.org"`,
			`pol.example.org. 300 IN CAA 0 issue "pki.goog"`,
			`pol.example.org. 300 IN CAA 0 issue "sectigo.com"`,
		},
		"wild.example.org.": {
			`wild.example.org. 3600 IN CAA 0 issue "digicert.com"`,
			`wild.example.org. 3600 IN CAA 0 issue "letsencrypt.org"`,
			`wild.example.org. 3600 IN CAA 0 issue "sectigo.com"`,
			`wild.example.org. 3600 IN CAA 0 issuewild "digicert.com"`,
			`wild.example.org. 3600 IN CAA 0 issuewild "letsencrypt.org"`,
			`wild.example.org. 3600 IN CAA 0 issuewild "sectigo.com"`,
		},
		"locked.example.org.": {`locked.example.org. 3600 IN CAA 0 issue ";"`},
	}
	off := map[string][]string{
		"pol.example.org.": {`pol.example.org. 300 IN CAA 0 issue "pki.goog"`},
		"wild.example.org.": {
			`wild.example.org. 3600 IN CAA 0 issue "digicert.com"`,
			`wild.example.org. 3600 IN CAA 0 issuewild "digicert.com"`,
		},
		"locked.example.org.": {`locked.example.org. 3600 IN CAA 0 issue ";"`},
	}
	check := func(step string, want map[string][]string) {
		t.Helper()
		t.Run("the exact RRsets "+step, func(t *testing.T) {
			for _, q := range slices.Sorted(maps.Keys(want)) {
				t.Run(q, func(t *testing.T) {
					for _, net := range []string{"udp", "tcp"} {
						addr := map[string]string{"udp": udp, "tcp": tcp}[net]
						if got := corednstest.AnswerStrings(exchange(t, net, addr, caaQuery(q, false, 1232)), 0); !slices.Equal(got, want[q]) {
							t.Errorf("%s %s:\n got %q\nwant %q", net, q, got, want[q])
						}
					}
				})
			}
		})
	}
	check("with partners on", on)

	// While the server reloads, a client keeps asking; every reply must be one state or the other.
	stop := make(chan struct{})
	mixed := make(chan string, 1)
	done := make(chan int)
	go func() {
		n := 0
		defer func() { done <- n }()
		c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, _, err := c.Exchange(caaQuery("wild.example.org.", false, 1232), udp)
			if err != nil {
				continue // a reply lost while listeners are handed over is retried, not mixed
			}
			n++
			got := corednstest.AnswerStrings(r, 0)
			if !slices.Equal(got, on["wild.example.org."]) && !slices.Equal(got, off["wild.example.org."]) {
				select {
				case mixed <- fmt.Sprintf("%q", got):
				default:
				}
			}
		}
	}()

	for i, step := range []struct {
		partners string
		want     map[string][]string
	}{{"partners off", off}, {"partners letsencrypt.org sectigo.com", on}, {"partners off", off}} {
		next, err := inst.Restart(corednstest.Corefile(partnerCorefile(port, zonePath, step.partners)))
		if err != nil {
			t.Fatalf("reload %d (%s): %v", i, step.partners, err)
		}
		inst = next
		check(fmt.Sprintf("after reload %d (%s)", i, step.partners), step.want)
	}
	t.Cleanup(func() { inst.Stop() })
	close(stop)
	if n := <-done; n == 0 {
		t.Errorf("the client got no reply during the reloads")
	}
	select {
	case m := <-mixed:
		t.Errorf("a reply during a reload mixed the two states: %s", m)
	default:
	}
}
