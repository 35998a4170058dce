package caapolicy

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/corednstest"

	_ "github.com/coredns/coredns/plugin/transfer"

	"github.com/miekg/dns"
)

// transferZone has a CAA RRset the policy merges with (apex), one partners add to (zonecaa), a
// CNAME to a name with CAA (cname -> shop), an owner with other data (www), and a delegation.
const transferZone = `$ORIGIN example.org.
@        3600 IN SOA   ns1.example.org. hostmaster.example.org. 2026112601 7200 3600 1209600 3600
@        3600 IN NS    ns1
ns1      3600 IN A     127.0.0.1
@        3600 IN CAA   0 issue "pki.goog"
www      3600 IN A     192.0.2.1
zonecaa  3600 IN CAA   0 issue "digicert.com"
cname    3600 IN CNAME shop
shop     3600 IN A     192.0.2.2
shop     3600 IN CAA   0 issue "ssl.com"
sub      3600 IN NS    ns.sub
ns.sub   3600 IN A     192.0.2.53
`

func transferPolicy(issuer string, serial int) string {
	return `caapolicy {
		serial ` + fmt.Sprint(serial) + `
		issue ` + issuer + `
		iodef mailto:security@example.org
		partners letsencrypt.org sectigo.com
		name www {
			issue pki.goog
		}
		name policyonly {
			issue none
		}
		name a.b.deep {
			issue digicert.com
		}
		name x.sub {
			issue digicert.com
		}
	}`
}

func transferCorefile(port, secondary int, zonePath, policy string) string {
	return fmt.Sprintf(`example.org:%d {
	bind 127.0.0.1
	%s
	transfer {
		to 127.0.0.1:%d
	}
	file %s
}
`, port, policy, secondary, zonePath)
}

// axfr returns the records of a zone transfer from addr, the first and last SOA included.
func axfr(t testing.TB, addr, zone string) []dns.RR {
	t.Helper()
	m := new(dns.Msg).SetAxfr(zone)
	env, err := new(dns.Transfer).In(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var out []dns.RR
	for e := range env {
		if e.Error != nil {
			t.Fatalf("AXFR from %s: %v", addr, e.Error)
		}
		out = append(out, e.RR...)
	}
	return out
}

// caaSetAt asks addr for name CAA and returns the CAA records of the answer as text, lowercase
// owner, sorted.
func caaSetAt(t *testing.T, addr, name string) []string {
	t.Helper()
	r := exchange(t, "tcp", addr, new(dns.Msg).SetQuestion(name, dns.TypeCAA))
	var out []string
	for _, rr := range r.Answer {
		if c, ok := rr.(*dns.CAA); ok {
			x := *c
			x.Hdr.Name = strings.ToLower(x.Hdr.Name)
			out = append(out, strings.ReplaceAll(x.String(), "\t", " "))
		}
	}
	slices.Sort(out)
	return out
}

func soaSerial(t *testing.T, addr, zone string) uint32 {
	t.Helper()
	r := exchange(t, "udp", addr, new(dns.Msg).SetQuestion(zone, dns.TypeSOA))
	if len(r.Answer) == 0 {
		t.Fatalf("no SOA from %s: %v", addr, r)
	}
	return r.Answer[0].(*dns.SOA).Serial
}

// TestTransferCarriesPolicy: the AXFR stream holds, at every owner, the CAA RRset a query
// returns there, policy owners the zone data lacks, lowercase owners, the served SOA first and
// last; an IXFR for the served serial gets the single SOA.
func TestTransferCarriesPolicy(t *testing.T) {
	dir := t.TempDir()
	zonePath := filepath.Join(dir, "example.org.zone")
	write(t, zonePath, transferZone)
	port := corednstest.FreePort(t)
	corednstest.Start(t, transferCorefile(port, corednstest.FreePort(t), zonePath, transferPolicy("letsencrypt.org", 1)))
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	rrs := axfr(t, addr, "example.org.")
	first, last := rrs[0].(*dns.SOA), rrs[len(rrs)-1].(*dns.SOA)
	served := soaSerial(t, addr, "example.org.")
	if first.Serial != served || last.Serial != served || served == 2026112601 {
		t.Errorf("SOA serials: first %d last %d, served %d; want the served serial, above the zone's 2026112601", first.Serial, last.Serial, served)
	}
	byOwner := map[string][]string{}
	for _, rr := range rrs {
		if c, ok := rr.(*dns.CAA); ok {
			if c.Hdr.Name != strings.ToLower(c.Hdr.Name) {
				t.Errorf("owner %q is not lowercase", c.Hdr.Name)
			}
			byOwner[c.Hdr.Name] = append(byOwner[c.Hdr.Name], strings.ReplaceAll(c.String(), "\t", " "))
		}
	}
	for _, tc := range []struct{ kind, owner string }{
		{"the apex, policy merged with zone data", "example.org."},
		{"a policy owner with other data", "www.example.org."},
		{"a policy owner the zone data lacks", "policyonly.example.org."},
		{"a policy owner below empty non-terminals", "a.b.deep.example.org."},
		{"a zone-data owner with partners", "zonecaa.example.org."},
		{"a CNAME target with zone CAA", "shop.example.org."},
	} {
		t.Run("the AXFR carries what a query returns at "+tc.kind, func(t *testing.T) {
			got := byOwner[tc.owner]
			slices.Sort(got)
			if want := caaSetAt(t, addr, tc.owner); len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("%s in AXFR\n got %q\nwant %q (what a query returns)", tc.owner, got, want)
			}
		})
	}
	t.Run("nothing below the delegation is transferred", func(t *testing.T) {
		for owner := range byOwner {
			if strings.HasSuffix(owner, "sub.example.org.") {
				t.Errorf("policy records below the delegation sub.example.org. were transferred: %s", owner)
			}
		}
	})

	for _, tc := range []struct {
		name   string
		serial uint32
		want   int
	}{
		{"an IXFR from the served serial gets the single SOA", served, 1},
		{"an IXFR from an older serial gets the whole zone", 2026112601, len(rrs)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := new(dns.Msg).SetIxfr("example.org.", tc.serial, "ns1.example.org.", "hostmaster.example.org.")
			env, err := new(dns.Transfer).In(m, addr)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for e := range env {
				if e.Error != nil {
					t.Fatal(e.Error)
				}
				n += len(e.RR)
			}
			if n != tc.want {
				t.Errorf("IXFR from serial %d: %d records, want %d", tc.serial, n, tc.want)
			}
		})
	}
}

// knotZoneConf is the zone part of a Knot secondary's configuration for a primary at port.
func knotZoneConf(primaryPort int) string {
	return fmt.Sprintf(`remote:
  - id: primary
    address: 127.0.0.1@%d
acl:
  - id: notify_from_primary
    address: 127.0.0.1
    action: notify
zone:
  - domain: example.org
    master: primary
    acl: notify_from_primary
`, primaryPort)
}

// startKnot starts Debian's Knot DNS on a loopback port as a secondary, with zoneConf (its
// remote, acl and zone sections) after a server section of the test's own.
func startKnot(t *testing.T, port int, zoneConf string) string {
	t.Helper()
	bin := needProgram(t, "knotd")
	dir := t.TempDir()
	conf := fmt.Sprintf(`server:
    rundir: "%[1]s"
    listen: 127.0.0.1@%[2]d
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "%[1]s"
log:
  - target: stderr
    any: info
template:
  - id: default
    storage: "%[1]s"
    zonefile-sync: -1
    zonefile-load: none
    journal-content: none
`, dir, port) + zoneConf
	return startSecondary(t, "knotd", dir, "knot.conf", conf, port, bin, "-c")
}

// startNSD starts Debian's NSD on a loopback port as a secondary, with zoneConf (its pattern and
// zone sections) after a server section of the test's own.
func startNSD(t *testing.T, port int, zoneConf string) string {
	t.Helper()
	bin := needProgram(t, "nsd")
	dir := t.TempDir()
	conf := fmt.Sprintf(`server:
    ip-address: 127.0.0.1@%[2]d
    port: %[2]d
    do-ip6: no
    server-count: 1
    zonesdir: "%[1]s"
    database: ""
    zonelistfile: "%[1]s/zone.list"
    xfrdfile: "%[1]s/xfrd.state"
    xfrdir: "%[1]s"
    pidfile: "%[1]s/nsd.pid"
    username: ""
    chroot: ""
    verbosity: 2
remote-control:
    control-enable: no
`, dir, port) + zoneConf
	return startSecondary(t, "nsd", dir, "nsd.conf", conf, port, bin, "-d", "-c")
}

// startSecondary writes conf into dir and runs bin with args and the configuration's path until
// the test ends, returning its loopback address.
func startSecondary(t *testing.T, what, dir, file, conf string, port int, bin string, args ...string) string {
	t.Helper()
	confPath := filepath.Join(dir, file)
	write(t, confPath, conf+"\n")
	runDaemon(t, what, bin, append(args, confPath)...)
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// waitSerial waits until addr answers SOA for example.org with a serial s for which ok(s), and
// returns it. A secondary announces no transfer a test can wait on, so its SOA is polled, up to
// 20 s.
func waitSerial(t *testing.T, addr string, ok func(uint32) bool, what string) uint32 {
	t.Helper()
	var (
		r      *dns.Msg
		err    error
		serial uint32
	)
	if !corednstest.Poll(20*time.Second, 100*time.Millisecond, func() bool {
		r, _, err = new(dns.Client).Exchange(new(dns.Msg).SetQuestion("example.org.", dns.TypeSOA), addr)
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			return false
		}
		serial = r.Answer[0].(*dns.SOA).Serial
		return ok(serial)
	}) {
		t.Fatalf("%s: %s never answered the expected SOA serial (last: %v %v)", what, addr, r, err)
	}
	return serial
}

// TestKnotSecondary: a Knot secondary fed by AXFR from a CoreDNS + caapolicy primary answers
// every CAA query as the primary does; a policy change and reload reach it through NOTIFY with
// a higher serial within seconds once the policy serial is raised (a change without it is
// refused); a restart of the primary serves the same serial.
func TestKnotSecondary(t *testing.T) {
	dir := t.TempDir()
	zonePath := filepath.Join(dir, "example.org.zone")
	write(t, zonePath, transferZone)
	port, knotPort := corednstest.FreePort(t), corednstest.FreePort(t)
	inst, _, _ := corednstest.Start(t, transferCorefile(port, knotPort, zonePath, transferPolicy("letsencrypt.org", 1)))
	primary := fmt.Sprintf("127.0.0.1:%d", port)
	served := soaSerial(t, primary, "example.org.")
	knot := startKnot(t, knotPort, knotZoneConf(port))
	waitSerial(t, knot, func(s uint32) bool { return s == served }, "first transfer")

	owners := []string{"example.org.", "www.example.org.", "policyonly.example.org.", "a.b.deep.example.org.", "zonecaa.example.org.", "shop.example.org.", "cname.example.org.", "nothing.example.org.", "x.sub.example.org."}
	same := func(stage string) {
		t.Helper()
		t.Run("the secondary answers as the primary "+stage, func(t *testing.T) {
			for _, o := range owners {
				t.Run(o, func(t *testing.T) {
					p, k := caaSetAt(t, primary, o), caaSetAt(t, knot, o)
					if !slices.Equal(p, k) {
						t.Errorf("%s CAA\nprimary   %q\nsecondary %q", o, p, k)
					}
					// Let's Encrypt's checker decides alike on both, for the name and its wildcard.
					for _, n := range []string{o, "*." + o} {
						for _, ca := range []string{"letsencrypt.org", "sectigo.com", "pki.goog"} {
							t.Run("Let's Encrypt's check of "+ca+" for "+n+" decides alike", func(t *testing.T) {
								req := caa.Request{Name: n, CA: ca, Mode: caa.ModeLetsEncrypt, AnyAccount: true}
								dp := caa.Check(t.Context(), req, (&caa.DNSLookup{Server: primary, Timeout: 2 * time.Second}).Lookup)
								dk := caa.Check(t.Context(), req, (&caa.DNSLookup{Server: knot, Timeout: 2 * time.Second}).Lookup)
								if dp.Allowed != dk.Allowed || dp.Owner != dk.Owner {
									t.Errorf("%s for %s: primary %v at %s, secondary %v at %s", ca, n, dp.Allowed, dp.Owner, dk.Allowed, dk.Owner)
								}
							})
						}
					}
				})
			}
		})
	}
	same("first transfer")
	if got := caaSetAt(t, knot, "policyonly.example.org."); len(got) != 1 || !strings.Contains(got[0], `issue ";"`) {
		t.Errorf("secondary policyonly: %q, want the lock-down", got)
	}

	// A policy change without a higher serial: the reload is refused, the old policy serves on.
	before := caaSetAt(t, primary, "example.org.")
	if _, err := inst.Restart(corednstest.Corefile(transferCorefile(port, knotPort, zonePath, transferPolicy("sectigo.com", 1)))); err == nil ||
		!strings.Contains(err.Error(), "the policy for example.org. changed but its serial is still 1, so secondaries would keep the old CAA records; raise it: serial 2") {
		t.Fatalf("reload with a changed policy under the same serial: %v, want it refused", err)
	}
	if got := caaSetAt(t, primary, "example.org."); !slices.Equal(got, before) {
		t.Errorf("the refused reload changed the primary's answer: %q, was %q", got, before)
	}

	// A policy change and reload with serial 2: NOTIFY brings the secondary up to date.
	next, err := inst.Restart(corednstest.Corefile(transferCorefile(port, knotPort, zonePath, transferPolicy("sectigo.com", 2))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { next.Stop() })
	start := time.Now()
	newSerial := waitSerial(t, knot, func(s uint32) bool { return s == served+1 }, "after the reload")
	t.Logf("the secondary had serial %d %v after the reload (was %d)", newSerial, time.Since(start).Round(time.Millisecond), served)
	same("after the reload")
	if got := caaSetAt(t, knot, "example.org."); !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "sectigo.com") }) {
		t.Errorf("secondary apex after the reload: %q", got)
	}

	// A restart serves the same serial for the same Corefile and zone data. (This process
	// remembers the last load, as a restarted one would not; the refusal it could cause needs a
	// changed policy, and the policy is the same.)
	next.Stop()
	restarted, _, _ := corednstest.Start(t, transferCorefile(port, knotPort, zonePath, transferPolicy("sectigo.com", 2)))
	defer restarted.Stop()
	if s := soaSerial(t, primary, "example.org."); s != newSerial {
		t.Errorf("after a restart the primary serves serial %d, want %d as before", s, newSerial)
	}
}

// TestReadmeSecondaries runs README's hidden primary with README's Knot and NSD secondaries
// (addresses made loopback ones): both answer every CAA query as the primary does.
func TestReadmeSecondaries(t *testing.T) {
	var primaryCF, knotConf, nsdConf string
	for _, cf := range readmeBlocks(t, "corefile") {
		if strings.Contains(cf, "transfer {") {
			primaryCF = cf
		}
	}
	knotConf, nsdConf = readmeBlocks(t, "knot")[0], readmeBlocks(t, "nsd")[0]
	if primaryCF == "" {
		t.Fatal("README has no hidden-primary Corefile")
	}
	zone, err := os.ReadFile("example.org.zone")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	zonePath := filepath.Join(dir, "example.org.zone")
	write(t, zonePath, string(zone))
	port, knotPort, nsdPort := corednstest.FreePort(t), corednstest.FreePort(t), corednstest.FreePort(t)
	cf := strings.NewReplacer(
		"example.org {", fmt.Sprintf("example.org:%d {\n    bind 127.0.0.1", port),
		"to 192.0.2.53 198.51.100.53", fmt.Sprintf("to 127.0.0.1:%d 127.0.0.1:%d", knotPort, nsdPort),
		"file example.org.zone", "file "+zonePath,
	).Replace(primaryCF)
	corednstest.Start(t, cf)
	primary := fmt.Sprintf("127.0.0.1:%d", port)
	toLoopback := strings.NewReplacer("192.0.2.1@53", fmt.Sprintf("127.0.0.1@%d", port), "192.0.2.1", "127.0.0.1")
	secondaries := []struct{ name, addr string }{
		{"Knot", startKnot(t, knotPort, toLoopback.Replace(knotConf))},
		{"NSD", startNSD(t, nsdPort, toLoopback.Replace(nsdConf))},
	}
	served := soaSerial(t, primary, "example.org.")
	for _, s := range secondaries {
		t.Run(s.name+" answers as the primary", func(t *testing.T) {
			waitSerial(t, s.addr, func(x uint32) bool { return x == served }, "README secondary")
			for _, o := range []string{"example.org.", "shop.example.org.", "www.example.org.", "blog.example.org."} {
				t.Run(o, func(t *testing.T) {
					if p, k := caaSetAt(t, primary, o), caaSetAt(t, s.addr, o); !slices.Equal(p, k) || (o == "example.org." && len(p) == 0) {
						t.Errorf("%s CAA\nprimary   %q\nsecondary %s %q", o, p, s.addr, k)
					}
				})
			}
		})
	}
}
