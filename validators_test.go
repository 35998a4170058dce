package caapolicy

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	_ "github.com/coredns/coredns/plugin/template"

	"github.com/miekg/dns"
)

// A validator is a validating resolver the tests start: it sends every example.org query to
// upstream and trusts key for example.org.
type validator struct {
	name  string // the program
	start func(t *testing.T, upstream string, key *dns.DNSKEY) string
}

var validators = []validator{
	{"unbound", startUnbound},
	{"kresd", startKresd},
	{"pdns_recursor", startPDNSRecursor},
}

// startKresd starts Knot Resolver (Debian's knot-resolver) on a loopback port, forwarding
// example.org to upstream with DNSSEC validation against key (policy.FORWARD validates;
// policy.STUB would not).
func startKresd(t *testing.T, upstream string, key *dns.DNSKEY) string {
	t.Helper()
	bin := needProgram(t, "kresd")
	dir := t.TempDir()
	port := corednstest.FreePort(t)
	host, uport, _ := net.SplitHostPort(upstream)
	conf := fmt.Sprintf(`net.ipv6 = false
net.listen('127.0.0.1', %d, { kind = 'dns' })
cache.open(10 * MB, 'lmdb://%s/cache')
trust_anchors.remove('.')
trust_anchors.add('%s')
policy.add(policy.suffix(policy.FORWARD({'%s@%s'}), {todname('example.org.')}))
`, port, dir, strings.ReplaceAll(key.String(), "\t", " "), host, uport)
	confPath := filepath.Join(dir, "kresd.conf")
	write(t, confPath, conf)
	out := runDaemon(t, "kresd", bin, "-n", "-c", confPath, dir)
	return waitSOA(t, "kresd", fmt.Sprintf("127.0.0.1:%d", port), out)
}

// startPDNSRecursor starts PowerDNS Recursor (Debian's pdns-recursor) on a loopback port,
// forwarding example.org to upstream and validating with the DS of key as trust anchor.
func startPDNSRecursor(t *testing.T, upstream string, key *dns.DNSKEY) string {
	t.Helper()
	bin := needProgram(t, "pdns_recursor")
	dir := t.TempDir()
	port := corednstest.FreePort(t)
	ds := key.ToDS(dns.SHA256)
	write(t, filepath.Join(dir, "ta.lua"), fmt.Sprintf("addTA('example.org', '%d %d %d %s')\n", ds.KeyTag, ds.Algorithm, ds.DigestType, ds.Digest))
	conf := fmt.Sprintf(`local-address=127.0.0.1
local-port=%d
forward-zones=example.org=%s
dnssec=validate
lua-config-file=%s/ta.lua
socket-dir=%s
daemon=no
write-pid=no
threads=1
disable-syslog=yes
dont-query=
`, port, upstream, dir, dir)
	write(t, filepath.Join(dir, "recursor.conf"), conf)
	out := runDaemon(t, "pdns_recursor", bin, "--config-dir="+dir)
	return waitSOA(t, "pdns_recursor", fmt.Sprintf("127.0.0.1:%d", port), out)
}

// forgedOwners are the four kinds of CAA owner the forger attacks, and a name a wildcard answers,
// with what caapolicy serves there (negativeZone and negativePolicy).
var forgedOwners = []struct {
	kind, qname string
	want        []string // the CAA properties served, as "tag value"
}{
	{"apex", "example.org.", []string{"issue letsencrypt.org", "issue pki.goog"}},
	{"policy owner", "deny.example.org.", []string{"issue ;"}},
	{"owner below an empty non-terminal", "x.ent.example.org.", []string{"issue pki.goog"}},
	{"zone-data owner", "zonecaa.example.org.", []string{"issue sectigo.com"}},
	{"wildcard match without CAA", "a.wild.example.org.", nil},
}

// startSignedOnOnePort serves negativeZone, signed, under negativePolicy, as startNegative does,
// but on one free port for UDP and TCP, so that a validator that retries over TCP finds it. It
// returns the address and the zone's key.
func startSignedOnOnePort(t *testing.T) (string, *dns.DNSKEY) {
	t.Helper()
	dir := t.TempDir()
	zonePath, keyBase, key := signedZone(t, dir, negativeZone)
	netPath := filepath.Join(dir, "example.net.zone")
	write(t, netPath, exampleNet)
	port := corednstest.FreePort(t)
	cf := strings.ReplaceAll(negativeCorefile(zonePath, netPath, keyBase), ":0 ", fmt.Sprintf(":%d ", port))
	_, udp, tcp := corednstest.Start(t, cf)
	if udp != tcp {
		t.Fatalf("UDP on %s, TCP on %s", udp, tcp)
	}
	return udp, key
}

// startForger starts an on-path attacker in front of the CoreDNS at upstream: a CoreDNS whose
// template answers CAA at the forgedOwners itself, unsigned, and whose forward passes every other
// query on. attack "strip" answers NODATA (the SOA alone), "forge" answers 0 issue "evil.example".
func startForger(t *testing.T, upstream, attack string) string {
	t.Helper()
	answer := `answer "{{ .Name }} 300 IN CAA 0 issue \"evil.example\""`
	if attack == "strip" {
		answer = `authority "example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600"`
	}
	port := corednstest.FreePort(t)
	inst, udp, _ := corednstest.Start(t, `example.org:`+fmt.Sprint(port)+` {
	bind 127.0.0.1
	template IN CAA example.org {
		match ^((deny|x\.ent|zonecaa|a\.wild)\.)?example\.org\.$
		`+answer+`
		fallthrough
	}
	forward . `+upstream+`
}
`)
	if _, tcp := corednstest.Addrs(inst); tcp != udp {
		t.Fatalf("forger: UDP on %s, TCP on %s", udp, tcp)
	}
	return udp
}

// checkForger makes sure the forger at addr does attack: asked directly, it answers CAA at each
// owner with the forgery, or with no CAA at all.
func checkForger(t *testing.T, addr, attack string) {
	t.Helper()
	want := []string{"issue evil.example"}
	if attack == "strip" {
		want = nil
	}
	for _, o := range forgedOwners {
		r, got := askCAA(t, addr, o.qname)
		if r.Rcode != dns.RcodeSuccess || !slices.Equal(got, want) {
			t.Fatalf("the forger answers CAA %s with rcode %s %q, want NOERROR %q", o.qname, dns.RcodeToString[r.Rcode], got, want)
		}
	}
}

// askDO asks resolver for qtype at qname with DO over TCP, waiting up to 15 s for a validator
// that retries a bogus answer.
func askDO(t *testing.T, resolver, qname string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg).SetQuestion(qname, qtype)
	m.SetEdns0(4096, true)
	c := &dns.Client{Net: "tcp", Timeout: 15 * time.Second}
	r, _, err := c.Exchange(m, resolver)
	if err != nil {
		t.Fatalf("%s %s through %s: %v", dns.TypeToString[qtype], qname, resolver, err)
	}
	return r
}

// askCAA asks resolver for CAA at qname with DO and returns the reply and its CAA properties.
func askCAA(t *testing.T, resolver, qname string) (r *dns.Msg, props []string) {
	t.Helper()
	r = askDO(t, resolver, qname, dns.TypeCAA)
	for _, rr := range r.Answer {
		if x, ok := rr.(*dns.CAA); ok {
			props = append(props, x.Tag+" "+x.Value)
		}
	}
	slices.Sort(props)
	return r, props
}

// TestValidatorsRefuseForgedCAA puts an on-path forger between each validator and caapolicy's
// signed zone. Without it, every CAA answer is the served RRset with AD. With it stripping CAA
// (unsigned NODATA) or forging it (0 issue "evil.example") at the apex, at a policy owner, at an
// owner below an empty non-terminal, at a zone-data owner and at a name a wildcard answers, each
// answer is SERVFAIL or the served RRset with AD: never the forgery, never an insecure answer.
func TestValidatorsRefuseForgedCAA(t *testing.T) {
	for _, v := range validators {
		needProgram(t, v.name)
	}
	addr, key := startSignedOnOnePort(t)
	for _, attack := range []string{"none", "strip", "forge"} {
		t.Run(attack, func(t *testing.T) {
			upstream := addr
			if attack != "none" {
				upstream = startForger(t, upstream, attack)
				checkForger(t, upstream, attack)
			}
			for _, v := range validators {
				t.Run(v.name, func(t *testing.T) {
					resolver := v.start(t, upstream, key)
					for _, o := range forgedOwners {
						t.Run(o.kind, func(t *testing.T) {
							r, got := askCAA(t, resolver, o.qname)
							served := r.Rcode == dns.RcodeSuccess && r.AuthenticatedData && slices.Equal(got, o.want)
							refused := attack != "none" && r.Rcode == dns.RcodeServerFailure && len(got) == 0
							t.Logf("rcode %s AD %v CAA %q", dns.RcodeToString[r.Rcode], r.AuthenticatedData, got)
							if !served && !refused {
								want := "NOERROR, AD, the served RRset"
								if attack != "none" {
									want += ", or SERVFAIL"
								}
								t.Errorf("CAA %s: rcode %s AD %v CAA %q\nwant %s %q", o.qname, dns.RcodeToString[r.Rcode], r.AuthenticatedData, got, want, o.want)
							}
						})
					}
					if attack != "none" {
						return
					}
					// The DS denials themselves validate: the zone cut's proof of an insecure
					// delegation, and the policy owner's proof that it is no cut.
					for _, q := range []struct{ kind, qname string }{
						{"DS at the delegation point", "sub.example.org."},
						{"DS at a policy owner", "deny.example.org."},
					} {
						t.Run(q.kind, func(t *testing.T) {
							r := askDO(t, resolver, q.qname, dns.TypeDS)
							if r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData || len(r.Answer) != 0 {
								t.Errorf("DS %s: rcode %s AD %v answer %v, want NOERROR, AD, no DS", q.qname, dns.RcodeToString[r.Rcode], r.AuthenticatedData, r.Answer)
							}
						})
					}
				})
			}
		})
	}
}
