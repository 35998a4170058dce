package caapolicy

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	"github.com/miekg/dns"
)

// The key CoreDNS's own readme test uses for the dnssec examples.
const (
	readmeKeyPub = `example.org. IN DNSKEY 256 3 13 eNMYFZYb6e0oJOV47IPo5f/UHy7wY9aBebotvcKakIYLyyGscBmXJQhbKLt/LhrMNDE2Q96hQnI5PdTBeOLzhQ==
`
	readmeKeyPriv = `Private-key-format: v1.3
Algorithm: 13 (ECDSAP256SHA256)
PrivateKey: f03VplaIEA+KHI9uizlemUSbUJH86hPBPjmcUninPoM=
`
	readmeNetZone = `$ORIGIN example.net.
@ 3600 IN SOA ns1.example.net. hostmaster.example.net. 1 7200 3600 1209600 3600
@ 3600 IN NS  ns1.example.net.
ns1 3600 IN A 127.0.0.1
`
)

// readmeBlocks returns the fenced blocks of README.md in the given language, in order.
func readmeBlocks(t *testing.T, lang string) []string {
	t.Helper()
	f, err := os.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []string
	var cur strings.Builder
	in := false
	for s := bufio.NewScanner(f); s.Scan(); {
		line := strings.TrimSpace(s.Text())
		switch {
		case !in && line == "~~~ "+lang:
			in = true
			cur.Reset()
		case in && line == "~~~":
			in = false
			blocks = append(blocks, cur.String())
		case in:
			cur.WriteString(s.Text() + "\n")
		}
	}
	return blocks
}

// bindLoopback makes every server block of a README Corefile listen on 127.0.0.1 only, and the
// metrics endpoint on a free loopback port.
func bindLoopback(cf string) string {
	cf = strings.ReplaceAll(cf, "prometheus localhost:9153", "prometheus 127.0.0.1:0")
	// Secondaries to notify: a closed loopback port, never the documentation addresses.
	cf = strings.ReplaceAll(cf, "to 192.0.2.53 198.51.100.53", "to 127.0.0.1:9")
	var b strings.Builder
	depth := 0
	for line := range strings.SplitSeq(cf, "\n") {
		b.WriteString(line + "\n")
		if depth == 0 && strings.HasSuffix(strings.TrimSpace(line), "{") {
			b.WriteString("    bind 127.0.0.1\n")
		}
		depth += strings.Count(line, "{") - strings.Count(line, "}")
	}
	return b.String()
}

// TestReadme starts a real server from every corefile block in README.md, as CoreDNS's own readme
// test does, checks the sections, and checks that the first example answers what the README shows.
func TestReadme(t *testing.T) {
	zone, err := os.ReadFile("example.org.zone")
	if err != nil {
		t.Fatal(err)
	}
	shown := readmeBlocks(t, "txt")
	corefiles := readmeBlocks(t, "corefile")
	if len(corefiles) < 3 {
		t.Fatalf("README.md has %d corefile blocks, want the 3 examples", len(corefiles))
	}

	dir := t.TempDir()
	write(t, filepath.Join(dir, "example.org.zone"), string(zone))
	write(t, filepath.Join(dir, "example.net.zone"), readmeNetZone)
	write(t, filepath.Join(dir, "Kexample.org.+013+45330.key"), readmeKeyPub)
	write(t, filepath.Join(dir, "Kexample.org.+013+45330.private"), readmeKeyPriv)
	t.Chdir(dir)
	defer func(p string) { dnsserver.Port = p }(dnsserver.Port)

	for i, cf := range corefiles {
		t.Run(fmt.Sprintf("Corefile example %d starts", i+1), func(t *testing.T) {
			dnsserver.Port = strconv.Itoa(corednstest.FreePort(t))
			_, udp, _ := corednstest.Start(t, bindLoopback(cf))
			if i > 0 {
				return
			}
			t.Run("and answers what the README shows under dig example.org CAA", func(t *testing.T) {
				var want []string
				for _, b := range shown {
					if strings.HasPrefix(b, "example.org.") && strings.Contains(b, "CAA") {
						for line := range strings.SplitSeq(strings.TrimSpace(b), "\n") {
							rr, err := dns.NewRR(line)
							if err != nil {
								t.Fatalf("README answer line %q: %v", line, err)
							}
							want = append(want, rr.String())
						}
					}
				}
				var got []string
				for _, rr := range exchange(t, "udp", udp, caaQuery("example.org.", false, 1232)).Answer {
					got = append(got, rr.String())
				}
				if len(want) == 0 || !slices.Equal(got, want) {
					t.Errorf("README shows\n%q\nthe server answers\n%q", want, got)
				}
			})
		})
	}
}

// TestReadmeSections checks the CoreDNS plugin README order and the two set-up commands.
func TestReadmeSections(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	at, prev := 0, "the start"
	for _, s := range []string{"go run -v ./cmd/coredns -conf Corefile.example", "go test ./...", "## Name", "## Description", "## Syntax", "## Examples", "## Metrics", "## Ready", "## Bugs", "## See Also"} {
		// Each is looked for after the one before: the first missing one ends the test.
		if !t.Run(s+" comes after "+prev, func(t *testing.T) {
			i := strings.Index(text[at:], s)
			if i < 0 {
				t.Fatalf("README.md lacks %q after byte %d (order: commands, Name, Description, Syntax, Examples, Metrics, Ready, Bugs, See Also)", s, at)
			}
			at += i + len(s)
		}) {
			return
		}
		prev = s
	}
}

// TestCorefileExample serves Corefile.example (on a free port instead of 1053) and checks the
// answer the README's first command shows.
func TestCorefileExample(t *testing.T) {
	cf, err := os.ReadFile("Corefile.example")
	if err != nil {
		t.Fatal(err)
	}
	zone, err := os.ReadFile("example.org.zone")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "example.org.zone"), string(zone))
	t.Chdir(dir)
	_, udp, _ := corednstest.Start(t, strings.Replace(string(cf), "example.org:1053", "example.org:0", 1))
	r := exchange(t, "udp", udp, caaQuery("example.org.", false, 1232))
	want := rrStrings(rrs(
		`example.org. 300 IN CAA 0 issue "letsencrypt.org"`,
		`example.org. 300 IN CAA 0 issuewild ";"`,
		`example.org. 300 IN CAA 0 iodef "mailto:security@example.org"`,
		`example.org. 300 IN CAA 0 issue "pki.goog"`,
	))
	if got := rrStrings(r.Answer); !slices.Equal(got, want) {
		t.Errorf("Corefile.example answers\n%q\nwant\n%q", got, want)
	}
	r = exchange(t, "udp", udp, caaQuery("blog.example.org.", false, 1232))
	want = rrStrings(rrs(
		`blog.example.org. 3600 IN CNAME shop.example.org.`,
		`shop.example.org. 300 IN CAA 0 issue "sectigo.com"`,
		`shop.example.org. 300 IN CAA 0 issue "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/123456; validationmethods=dns-01"`,
	))
	if got := rrStrings(r.Answer); !slices.Equal(got, want) {
		t.Errorf("Corefile.example blog\n%q\nwant\n%q", got, want)
	}
}
