package caapolicy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A platform (issue 24): customer zones found by auto under one caapolicy . block, partners for
// everyone, and per-customer zone blocks in imported files.

// platformZone is the zone file of customer zone i, of one of four kinds: no CAA, issue only,
// issue and issuewild, iodef only.
func platformZone(i int) string {
	z := fmt.Sprintf("cust%04d.test.", i)
	caa := []string{"", `@ 3600 IN CAA 0 issue "digicert.com"`, "@ 3600 IN CAA 0 issue \"digicert.com\"\n@ 3600 IN CAA 0 issuewild \"digicert.com\"", `@ 3600 IN CAA 0 iodef "mailto:security@` + strings.TrimSuffix(z, ".") + `"`}[i%4]
	return "$ORIGIN " + z + `
@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 3600
@ 3600 IN NS ns1
ns1 3600 IN A 127.0.0.1
www 3600 IN A 127.0.0.1
` + caa + "\n"
}

// platformOverrides are the zone blocks of a few customers, one file each.
var platformOverrides = map[string]string{
	"cust0002.test": "zone cust0002.test { partners off }\n",
	"cust0003.test": "zone cust0003.test {\n  partners aws\n  trigger any\n}\n",
	"cust0005.test": "zone cust0005.test {\n  issue none\n  issuewild none\n  acknowledge lock-down asked for by the customer\n}\n",
	"cust0006.test": "zone cust0006.test {\n  name www { issue sectigo.com }\n}\n",
}

func platformCorefile(port, serial int, zones, overrides string) string {
	return fmt.Sprintf(`.:%d {
	bind 127.0.0.1
	caapolicy . {
		partners cloudflare
		serial %d
		import %s/*.conf
	}
	transfer {
		to *
	}
	auto {
		directory %s
		reload 3s
	}
}
`, port, serial, overrides, zones)
}

// cloudflare is what partners cloudflare adds to an RRset that restricts issue.
var cloudflare = []string{`0 issue "letsencrypt.org"`, `0 issue "pki.goog; cansignhttpexchanges=yes"`, `0 issue "sectigo.com"`, `0 issue "ssl.com"`}

// caaAt is caaSetAt with the owner name and TTL cut off: "0 issue \"x\"".
func caaAt(t *testing.T, addr, name string) []string {
	t.Helper()
	var out []string
	for _, s := range caaSetAt(t, addr, name) {
		f := strings.SplitN(s, " ", 5)
		out = append(out, f[4])
	}
	return out
}

func sorted(s ...string) []string { return slices.Sorted(slices.Values(s)) }

// platformScale is the number of customer zones of TestPlatform, a tenth of which have a zone
// block of their own: 10,000 as a platform has, 400 under the race detector.
func platformScale() int {
	if raceEnabled {
		return 400
	}
	return 10000
}

// genericOverride is the zone block of customer i when i is a multiple of 10: partners off or
// partners aws, in turn.
func genericOverride(i int) string {
	if (i/10)%2 == 0 {
		return fmt.Sprintf("zone cust%04d.test { partners off }\n", i)
	}
	return fmt.Sprintf("zone cust%04d.test { partners aws }\n", i)
}

// genericCAA is the CAA RRset (as caaAt gives it) that customer i's apex is served with: its
// zone file's (platformZone) with the partners of its zone block (genericOverride), or the
// block's Cloudflare list, added where the RRset restricts issuance.
func genericCAA(i int) []string {
	partners := cloudflare
	if i%10 == 0 {
		partners = nil
		if (i/10)%2 == 1 {
			partners = []string{`0 issue "amazon.com"`}
		}
	}
	wild := func(ps []string) []string {
		var out []string
		for _, p := range ps {
			out = append(out, strings.Replace(p, " issue ", " issuewild ", 1))
		}
		return out
	}
	switch i % 4 {
	case 1:
		return sorted(append([]string{`0 issue "digicert.com"`}, partners...)...)
	case 2:
		return sorted(append(append([]string{`0 issue "digicert.com"`, `0 issuewild "digicert.com"`}, partners...), wild(partners)...)...)
	case 3:
		return []string{fmt.Sprintf(`0 iodef "mailto:security@cust%04d.test"`, i)}
	}
	return nil
}

func TestPlatform(t *testing.T) {
	zones, overrides := t.TempDir(), t.TempDir()
	n := platformScale()
	for i := range n {
		write(t, filepath.Join(zones, fmt.Sprintf("db.cust%04d.test", i)), platformZone(i))
		if i%10 == 0 {
			write(t, filepath.Join(overrides, fmt.Sprintf("cust%04d.test.conf", i)), genericOverride(i))
		}
	}
	for z, conf := range platformOverrides {
		write(t, filepath.Join(overrides, z+".conf"), conf)
	}
	port := corednstest.FreePort(t)
	inst, _, _ := corednstest.Start(t, platformCorefile(port, 3, zones, overrides))
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	cases := []struct{ name, qname string }{
		{"a customer without overrides, issue only, gets the block's partners", "cust0001.test."},
		{"a customer without overrides, no CAA, gets nothing", "cust0004.test."},
		{"a customer without overrides, iodef only, gets nothing (trigger restrictive)", "cust0007.test."},
		{"partners off", "cust0002.test."},
		{"other partners and trigger any", "cust0003.test."},
		{"a zone block's lock-down wins over the customer's zone data and gets no partners", "cust0005.test."},
		{"a zone block's name block", "www.cust0006.test."},
		{"the apex of a zone with a zone block but no apex policy: the block's partners", "cust0006.test."},
	}
	want := map[string][]string{
		"cust0001.test.":     sorted(append([]string{`0 issue "digicert.com"`}, cloudflare...)...),
		"cust0004.test.":     nil,
		"cust0007.test.":     {`0 iodef "mailto:security@cust0007.test"`},
		"cust0002.test.":     {`0 issue "digicert.com"`, `0 issuewild "digicert.com"`},
		"cust0003.test.":     sorted(`0 iodef "mailto:security@cust0003.test"`, `0 issue "amazon.com"`),
		"cust0005.test.":     {`0 issue ";"`, `0 issuewild ";"`},
		"www.cust0006.test.": sorted(cloudflare...),
		"cust0006.test.": sorted(append([]string{`0 issue "digicert.com"`, `0 issuewild "digicert.com"`}, append(slices.Clone(cloudflare),
			`0 issuewild "letsencrypt.org"`, `0 issuewild "pki.goog; cansignhttpexchanges=yes"`, `0 issuewild "sectigo.com"`, `0 issuewild "ssl.com"`)...)...),
	}
	answers := func(stage string) {
		for _, tc := range cases {
			t.Run(stage+": "+tc.name, func(t *testing.T) {
				if got := caaAt(t, addr, tc.qname); !slices.Equal(got, want[tc.qname]) {
					t.Errorf("%s CAA\n got %q\nwant %q", tc.qname, got, want[tc.qname])
				}
			})
		}
	}
	answers("queries")

	// A sample of every kind of zone file, with and without a zone block of either kind.
	var sample []int
	for i := 0; i < n; i += n / 40 {
		for d := range 4 {
			for _, j := range []int{i + d, i + 10 + d, i + 20 + d} { // i+10: partners aws when i is a multiple of 20
				if j < n {
					sample = append(sample, j)
				}
			}
		}
	}
	t.Run(fmt.Sprintf("a sample of the %d zones, %d with zone blocks, answers and transfers as their overrides say", n, n/10), func(t *testing.T) {
		for _, i := range sample {
			z := fmt.Sprintf("cust%04d.test.", i)
			if _, special := platformOverrides[strings.TrimSuffix(z, ".")]; special {
				continue // checked above, with its own zone block
			}
			want := genericCAA(i)
			if got := caaAt(t, addr, z); !slices.Equal(got, want) {
				t.Errorf("%s CAA\n got %q\nwant %q", z, got, want)
			}
			var inAXFR []string
			for _, rr := range axfr(t, addr, z) {
				if c, ok := rr.(*dns.CAA); ok && c.Hdr.Name == z {
					inAXFR = append(inAXFR, fmt.Sprintf("%d %s %q", c.Flag, c.Tag, c.Value))
				}
			}
			if slices.Sort(inAXFR); !slices.Equal(inAXFR, want) {
				t.Errorf("%s in its AXFR\n got %q\nwant %q", z, inAXFR, want)
			}
		}
	})

	for _, z := range []string{"cust0001.test.", "cust0002.test.", "cust0003.test.", "cust0005.test.", "cust0006.test."} {
		t.Run("the AXFR of "+z+" carries what queries answer, with the served serial", func(t *testing.T) {
			rrs := axfr(t, addr, z)
			if len(rrs) < 2 {
				t.Fatalf("AXFR of %s: %d records", z, len(rrs))
			}
			first, last := rrs[0].(*dns.SOA), rrs[len(rrs)-1].(*dns.SOA)
			if first.Serial != 4 || last.Serial != 4 {
				t.Errorf("SOA serials %d and %d, want 4 (the zone's 1 + serial 3)", first.Serial, last.Serial)
			}
			byOwner := map[string][]string{}
			for _, rr := range rrs {
				if c, ok := rr.(*dns.CAA); ok {
					byOwner[c.Hdr.Name] = append(byOwner[c.Hdr.Name], fmt.Sprintf("%d %s %q", c.Flag, c.Tag, c.Value))
				}
			}
			for _, n := range []string{z, "www." + z} {
				got := byOwner[n]
				slices.Sort(got)
				if q := caaAt(t, addr, n); !slices.Equal(got, q) {
					t.Errorf("%s in the AXFR\n got %q\nwant %q (the query's answer)", n, got, q)
				}
			}
		})
	}
	t.Run("SOA answers and negative answers of an auto zone carry the served serial", func(t *testing.T) {
		if s := soaSerial(t, addr, "cust0009.test."); s != 4 {
			t.Errorf("SOA serial %d, want 4", s)
		}
		r := exchange(t, "udp", addr, new(dns.Msg).SetQuestion("nothing.cust0009.test.", dns.TypeA))
		if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 || r.Ns[0].(*dns.SOA).Serial != 4 {
			t.Errorf("NXDOMAIN: %v", r)
		}
	})

	t.Run("a Knot secondary of an auto-discovered zone answers as the primary", func(t *testing.T) {
		knotPort := corednstest.FreePort(t)
		knot := startKnot(t, knotPort, fmt.Sprintf("remote:\n  - id: primary\n    address: 127.0.0.1@%d\nzone:\n  - domain: cust0002.test\n    master: primary\n  - domain: cust0001.test\n    master: primary\n", port))
		for _, z := range []string{"cust0001.test.", "cust0002.test."} {
			if !corednstest.Poll(20*time.Second, 100*time.Millisecond, func() bool {
				r, _, err := new(dns.Client).Exchange(new(dns.Msg).SetQuestion(z, dns.TypeSOA), knot)
				return err == nil && len(r.Answer) == 1 && r.Answer[0].(*dns.SOA).Serial == 4
			}) {
				t.Fatalf("Knot never served %s with serial 4", z)
			}
			for _, n := range []string{z, "www." + z} {
				if p, k := caaSetAt(t, addr, n), caaSetAt(t, knot, n); !slices.Equal(p, k) {
					t.Errorf("%s CAA\nprimary   %q\nsecondary %q", n, p, k)
				}
			}
		}
	})

	// A customer zone auto finds later (at its next directory walk, every 3 s here: each zone's
	// file is also checked at that interval, which for 10,000 zones must not be much shorter):
	// the block's defaults at once, without a reload.
	write(t, filepath.Join(zones, "db.cust0101.test"), platformZone(101))
	t.Run("a new zone gets the block's defaults without a reload", func(t *testing.T) {
		w := sorted(append([]string{`0 issue "digicert.com"`}, cloudflare...)...)
		var got []string
		if !corednstest.Poll(20*time.Second, 100*time.Millisecond, func() bool {
			r, _, err := new(dns.Client).Exchange(new(dns.Msg).SetQuestion("cust0101.test.", dns.TypeCAA), addr)
			if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
				return false
			}
			got = caaAt(t, addr, "cust0101.test.")
			return true
		}) || !slices.Equal(got, w) {
			t.Fatalf("cust0101.test CAA %q, want %q", got, w)
		}
	})

	// Its override, and a change to an existing one, after one reload. The policy changed, so its
	// serial is raised (secondaries must see the change; internal/served/serial.go).
	write(t, filepath.Join(overrides, "cust0101.test.conf"), "zone cust0101.test { partners off }\n")
	if err := os.Remove(filepath.Join(overrides, "cust0002.test.conf")); err != nil {
		t.Fatal(err)
	}
	next, err := inst.Restart(corednstest.Corefile(platformCorefile(port, 4, zones, overrides)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { next.Stop() })
	// auto's walk goroutine stops with the shutdown callbacks only (Stop leaves it running, and it
	// logs into the next test's captured log once the zone directory is gone); run before Stop.
	t.Cleanup(func() { next.ShutdownCallbacks() })
	want["cust0101.test."] = []string{`0 issue "digicert.com"`}
	want["cust0002.test."] = sorted(append([]string{`0 issue "digicert.com"`, `0 issuewild "digicert.com"`}, append(slices.Clone(cloudflare),
		`0 issuewild "letsencrypt.org"`, `0 issuewild "pki.goog; cansignhttpexchanges=yes"`, `0 issuewild "sectigo.com"`, `0 issuewild "ssl.com"`)...)...)
	cases = append(cases, struct{ name, qname string }{"a new zone's override, after the reload", "cust0101.test."})
	cases[3].name = "an override removed: the block's partners again"
	answers("after the reload")
}

// TestPlatformVisibility: under caapolicy . over auto, query lines and check events name the
// customer's zone, the zone the zone data answered from; the metrics' zone label is the zone
// block's zone, or the block's (.), so its values stay bounded; and a check's relevant owner
// never lies above the customer's zone.
func TestPlatformVisibility(t *testing.T) {
	zones, overrides := t.TempDir(), t.TempDir()
	for i := range 8 {
		write(t, filepath.Join(zones, fmt.Sprintf("db.cust%04d.test", i)), platformZone(i))
	}
	write(t, filepath.Join(overrides, "cust0002.test.conf"), platformOverrides["cust0002.test"])
	logPath := filepath.Join(t.TempDir(), "caapolicy.json")
	port := corednstest.FreePort(t)
	corednstest.Start(t, fmt.Sprintf(`.:%d {
	bind 127.0.0.1
	caapolicy . {
		partners cloudflare
		node ns1
		log all json %s
		checks 200ms
		ca letsencrypt.org 127.0.0.0/8
		import %s/*.conf
	}
	auto {
		directory %s
	}
}
`, port, logPath, overrides, zones))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	server := fmt.Sprintf("dns://127.0.0.1:%d", port)
	before := map[string]float64{}
	for _, z := range []string{".", "cust0002.test."} {
		before[z] = testutil.ToFloat64(queriesTotal.WithLabelValues(server, z, "", "letsencrypt.org", "passthrough")) +
			testutil.ToFloat64(queriesTotal.WithLabelValues(server, z, "", "letsencrypt.org", "partners"))
	}
	for _, n := range []string{"www.cust0004.test.", "cust0004.test.", "www.cust0002.test.", "cust0002.test."} {
		caaFrom(t, "127.0.5.1", addr, n)
	}
	lines := checkLines(t, logPath, 2)
	t.Run("check events name the customer's zone and climb no higher", func(t *testing.T) {
		got := map[string]string{}
		for _, l := range lines {
			var ev struct{ Name, Zone, Relevant string }
			var raw map[string]any
			json.Unmarshal([]byte(l), &raw)
			ev.Name, ev.Zone = fmt.Sprint(raw["name"]), fmt.Sprint(raw["zone"])
			ev.Relevant = fmt.Sprint(raw["relevant_owner"])
			got[ev.Name] = ev.Zone + " " + ev.Relevant
		}
		want := map[string]string{
			"www.cust0004.test.": "cust0004.test. ",
			"www.cust0002.test.": "cust0002.test. cust0002.test.",
		}
		for n, w := range want {
			if got[n] != w {
				t.Errorf("event for %s: zone and relevant owner %q, want %q (all events: %q)", n, got[n], w, got)
			}
		}
	})
	t.Run("query lines name the customer's zone", func(t *testing.T) {
		b, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		for name, zone := range map[string]string{"www.cust0004.test.": "cust0004.test.", "cust0002.test.": "cust0002.test."} {
			var line string
			for l := range strings.SplitSeq(string(b), "\n") {
				if strings.Contains(l, `"type":"query"`) && strings.Contains(l, `"name":"`+name+`",`) {
					line = l
				}
			}
			if !strings.Contains(line, `"zone":"`+zone+`"`) {
				t.Errorf("query line %q does not name zone %s", line, zone)
			}
		}
	})
	t.Run("the metrics' zone label is the zone block's, else the block's", func(t *testing.T) {
		for z, n := range map[string]float64{".": 2, "cust0002.test.": 2} {
			got := testutil.ToFloat64(queriesTotal.WithLabelValues(server, z, "", "letsencrypt.org", "passthrough")) +
				testutil.ToFloat64(queriesTotal.WithLabelValues(server, z, "", "letsencrypt.org", "partners")) - before[z]
			if got != n {
				t.Errorf("queries_total{zone=%q} grew by %v, want %v", z, got, n)
			}
		}
	})
}

// TestKeptMergeNamesCustomerZone: under caapolicy . over file, every query at a merged policy
// owner names the customer's zone in its query line: the first, built from file's answer, and the
// next, served from the reply kept for the zone's version.
func TestKeptMergeNamesCustomerZone(t *testing.T) {
	dir := t.TempDir()
	zonePath := filepath.Join(dir, "db.cust.test")
	write(t, zonePath, `$ORIGIN cust.test.
@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 3600
@ 3600 IN NS ns1
ns1 3600 IN A 127.0.0.1
shop 3600 IN CAA 0 issue "digicert.com"
`)
	logPath := filepath.Join(dir, "caapolicy.json")
	port := corednstest.FreePort(t)
	corednstest.Start(t, fmt.Sprintf(`.:%d {
	bind 127.0.0.1
	caapolicy . {
		log all json %s
		checks off
		name shop.cust.test {
			issue letsencrypt.org
		}
	}
	file %s cust.test
}
`, port, logPath, zonePath))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for range 3 {
		caaFrom(t, "127.0.5.1", addr, "shop.cust.test.")
	}
	var lines []string
	if !corednstest.Poll(10*time.Second, 10*time.Millisecond, func() bool {
		b, _ := os.ReadFile(logPath)
		lines = nil
		for l := range strings.SplitSeq(string(b), "\n") {
			if strings.Contains(l, `"type":"query"`) && strings.Contains(l, `"name":"shop.cust.test."`) {
				lines = append(lines, l)
			}
		}
		return len(lines) == 3
	}) {
		t.Fatalf("%d query lines for shop.cust.test., want 3: %q", len(lines), lines)
	}
	for i, l := range lines {
		t.Run(fmt.Sprintf("query %d", i+1), func(t *testing.T) {
			if !strings.Contains(l, `"zone":"cust.test."`) || !strings.Contains(l, `"source":"merged"`) {
				t.Errorf("query line %s: want zone cust.test. and source merged", l)
			}
		})
	}
}
