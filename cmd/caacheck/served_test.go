package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/core/dnsserver"

	"github.com/caapolicy/caapolicy"
	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/corednstest"

	"github.com/miekg/dns"
)

// TestOfflineMatchesLive is the promise of `caacheck -conf`: for every example Corefile of the
// repository (each corefile block of the READMEs, Corefile.example, the Corefiles of testdata),
// the verdict and the climb that the Corefile loaded offline gives are those of a real CoreDNS
// serving it, for every name the Corefile's policy and zone data speak about, a name below each,
// each CA of a few, plain and wildcard, in both modes.
func TestOfflineMatchesLive(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	corefiles := map[string]string{}
	for _, readme := range []string{"README.md", "cmd/caacheck/README.md"} {
		for i, cf := range corednstest.FencedBlocks(t, filepath.Join(root, readme), "corefile") {
			corefiles[fmt.Sprintf("%s corefile %d", readme, i+1)] = cf
		}
	}
	files, _ := filepath.Glob(filepath.Join(root, "testdata", "*", "*.Corefile"))
	more, _ := filepath.Glob(filepath.Join(root, "testdata", "*.Corefile"))
	for _, p := range append(append(files, more...), filepath.Join(root, "Corefile.example")) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		corefiles[rel] = string(b)
	}
	if len(corefiles) < 8 {
		t.Fatalf("found %d example Corefiles, want the READMEs', Corefile.example and testdata's", len(corefiles))
	}
	// The zone data and keys the examples name, all in one directory, as the READMEs assume (the
	// db.ZONE files for auto's default pattern).
	var data []string
	for _, pattern := range []string{"*.zone", "testdata/served/*.zone", "testdata/keys/*", "examples/platform/db.*", "examples/customers/db.*", "examples/customers/caapolicy.d/*"} {
		m, _ := filepath.Glob(filepath.Join(root, pattern))
		data = append(data, m...)
	}
	names := sortedKeys(corefiles)
	for _, label := range names {
		t.Run(label, func(t *testing.T) {
			dir := t.TempDir()
			for _, p := range data {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				dest := filepath.Join(dir, filepath.Base(p))
				if sub := filepath.Base(filepath.Dir(p)); sub == "caapolicy.d" { // the customers example's imported zone blocks
					if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
						t.Fatal(err)
					}
					dest = filepath.Join(dir, sub, filepath.Base(p))
				}
				if err := os.WriteFile(dest, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Chdir(dir)
			defer func(p string) { dnsserver.Port = p }(dnsserver.Port)
			dnsserver.Port = strconv.Itoa(corednstest.FreePort(t))
			cf := servable(corefiles[label], dnsserver.Port)
			if err := os.WriteFile("Corefile", []byte(cf), 0o644); err != nil {
				t.Fatal(err)
			}
			_, udp, _ := corednstest.Start(t, cf)
			offline, err := caapolicy.LoadCorefile("Corefile")
			if err != nil {
				t.Fatalf("the Corefile the server runs does not load offline: %v", err)
			}
			live := &caa.DNSLookup{Server: udp, Timeout: 2 * time.Second}
			asked := askedNames(t, offline.Owners(), dir)
			compared, allowed := 0, 0
			for _, n := range asked {
				for _, ca := range []string{"letsencrypt.org", "pki.goog", "sectigo.com", "digicert.com"} {
					for _, wild := range []bool{false, true} {
						for _, mode := range []caa.Mode{caa.ModeRFC, caa.ModeLetsEncrypt} {
							req := caa.Request{Name: n, CA: ca, Mode: mode, AnyAccount: true}
							if wild {
								req.Name = "*." + n
							}
							got := describe(caa.Check(t.Context(), req, offline.Lookup), "Corefile")
							want := describe(caa.Check(t.Context(), req, live.Lookup), udp)
							if got != want {
								t.Errorf("%s %s (mode %d):\noffline %s\nlive    %s", ca, req.Name, mode, got, want)
							}
							compared++
							if strings.HasPrefix(want, "allowed=true") {
								allowed++
							}
						}
					}
				}
			}
			// Agreement means something only where the checks decide both ways.
			if allowed == 0 || allowed == compared {
				t.Errorf("%d of %d checks allowed: the Corefile's names do not exercise both verdicts", allowed, compared)
			}
			t.Logf("%d names, %d checks (%d allowed): offline and live agree", len(asked), compared, allowed)
		})
	}
}

// servable makes a README Corefile run in a test: every server block on loopback, listening on
// port (keys with a port of their own lose it), metrics on a free loopback port, NOTIFY to a
// closed loopback port.
func servable(cf, port string) string {
	cf = strings.ReplaceAll(cf, "prometheus localhost:9153", "prometheus 127.0.0.1:0")
	cf = strings.ReplaceAll(cf, "to 192.0.2.53 198.51.100.53", "to 127.0.0.1:9")
	keyPort := regexp.MustCompile(`:[0-9]+(\s)`)
	var b strings.Builder
	depth := 0
	for line := range strings.SplitSeq(cf, "\n") {
		if strings.TrimSpace(line) == "bind 127.0.0.1" {
			continue // added to every block below
		}
		if depth == 0 && strings.HasSuffix(strings.TrimSpace(line), "{") {
			line = keyPort.ReplaceAllString(line, ":"+port+"$1")
			b.WriteString(line + "\n    bind 127.0.0.1\n")
		} else {
			b.WriteString(line + "\n")
		}
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			depth += strings.Count(line, "{") - strings.Count(line, "}")
		}
	}
	return b.String()
}

// askedNames returns the names to check: each name a policy speaks about, each owner of the
// zone files in dir that lies in a caapolicy zone, and a name below each, which exists nowhere.
func askedNames(t *testing.T, owners []string, dir string) []string {
	t.Helper()
	names := slices.Clone(owners)
	zones, _ := filepath.Glob(filepath.Join(dir, "*.zone"))
	dbs, _ := filepath.Glob(filepath.Join(dir, "db.*"))
	zones = append(zones, dbs...)
	for _, z := range zones {
		f, err := os.Open(z)
		if err != nil {
			t.Fatal(err)
		}
		zp := dns.NewZoneParser(f, "", z)
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			names = append(names, strings.ToLower(rr.Header().Name))
		}
		f.Close()
		if err := zp.Err(); err != nil {
			t.Fatal(err)
		}
	}
	inZones := names[:0]
	for _, n := range names {
		for _, o := range owners {
			if dns.IsSubDomain(o, n) {
				inZones = append(inZones, n)
				break
			}
		}
	}
	names = inZones
	for _, n := range slices.Clone(names) {
		if n != "." {
			names = append(names, "below."+n)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for i, n := range names {
		names[i] = strings.TrimSuffix(n, ".")
	}
	return names
}

// describe renders what a check decided and how it climbed, with the source's own name (the
// server address or the Corefile, which errors quote) replaced, so that two sources compare.
func describe(r caa.Result, source string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "allowed=%t code=%d owner=%s reason=%q rrset=%s decided=%s", r.Allowed, r.Code, r.Owner, strings.ReplaceAll(r.Reason, source, "SOURCE"), rrText(r.RRset), rrText(r.Decided))
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "\n  step %s %s cnames=%v rrset=%s outside=%t delegation=%v", s.Name, dns.RcodeToString[s.Rcode], s.CNAMEs, rrText(s.RRset), s.Outside, s.Delegation)
	}
	fmt.Fprintf(&b, "\n  unchecked=%q delegation=%v", r.Unchecked, r.Delegation)
	if r.Err != nil {
		fmt.Fprintf(&b, " error=%q", strings.ReplaceAll(r.Err.Error(), source, "SOURCE"))
	}
	return b.String()
}

func rrText(rrs []dns.CAA) string {
	out := make([]string, len(rrs))
	for i := range rrs {
		out[i] = rrs[i].String()
	}
	return "[" + strings.Join(out, " | ") + "]"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
