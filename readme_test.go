package caapolicy

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
	"unicode"

	"github.com/coredns/coredns/core/dnsserver"

	"github.com/caapolicy/caapolicy/caa"
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

// readmes are the READMEs whose examples the tests run: the plugin's, then caacheck's (whose
// caacheck sessions cmd/caacheck's TestREADMESessions runs).
var readmes = []string{"README.md", filepath.Join("cmd", "caacheck", "README.md")}

// readmeBlocks returns the fenced blocks of the READMEs in the given language, in order.
func readmeBlocks(t *testing.T, lang string) []string {
	t.Helper()
	var blocks []string
	for _, readme := range readmes {
		if _, err := os.Stat(readme); err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, corednstest.FencedBlocks(t, readme, lang)...)
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

// TestReadme starts a real server from every corefile block in the READMEs, as CoreDNS's own
// readme test does, and checks that the first example answers what the README shows.
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

// TestReadmeSections checks the CoreDNS plugin README order, with the two set-up commands and the
// compile recipe (which .ci/run extracts after its marker) first, and the link to caacheck's README.
func TestReadmeSections(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	at, prev := 0, "the start"
	for _, s := range []string{"go run -v ./cmd/coredns -conf Corefile.example", "go test ./...", "<!-- ci: plugin.cfg recipe -->\n~~~ sh\n", "## Name\n", "## Description\n", "## Syntax\n", "## Examples\n", "## Metrics\n", "## Ready\n", "## Metadata\n", "## Bugs\n", "## See Also\n"} {
		// Each is looked for after the one before: the first missing one ends the test.
		if !t.Run(strings.TrimSpace(s)+" comes after "+strings.TrimSpace(prev), func(t *testing.T) {
			i := strings.Index(text[at:], s)
			if i < 0 {
				t.Fatalf("README.md lacks %q after byte %d (order: commands, plugin.cfg recipe, Name, Description, Syntax, Examples, Metrics, Ready, Metadata, Bugs, See Also)", s, at)
			}
			at += i + len(s)
		}) {
			return
		}
		prev = s
	}
	if !strings.Contains(text, "](cmd/caacheck/README.md") {
		t.Error("README.md does not link cmd/caacheck/README.md")
	}
}

// mdLink finds the target of a Markdown link, [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestReadmeLinks checks that every link of the READMEs, CHANGELOG.md and docs/ that is not a URL
// points at a file of the repository, and that every #anchor names a heading of the file it points
// into.
func TestReadmeLinks(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join("docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("docs/*.md: %v, %d files", err, len(docs))
	}
	for _, readme := range append(append([]string{"CHANGELOG.md"}, readmes...), docs...) {
		b, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(prose(string(b)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			file := readme
			if path != "" {
				file = filepath.Join(filepath.Dir(readme), path)
				if _, err := os.Stat(file); err != nil {
					t.Errorf("%s links %s, which is not in the repository", readme, target)
					continue
				}
			}
			if anchor != "" && !slices.Contains(headingAnchors(t, file), anchor) {
				t.Errorf("%s links %s, but %s has no heading with that anchor", readme, target, file)
			}
		}
	}
}

// prose returns the Markdown text without its fenced blocks, whose brackets are code, not links.
func prose(text string) string {
	var b strings.Builder
	fence := ""
	for line := range strings.SplitSeq(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case fence == "" && (strings.HasPrefix(trimmed, "~~~") || strings.HasPrefix(trimmed, "```")):
			fence = trimmed[:3]
		case fence != "" && trimmed == fence:
			fence = ""
		case fence == "":
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// headingAnchors returns the anchors GitHub gives the headings of a Markdown file: lowercase,
// punctuation other than '-' and '_' dropped, spaces turned into '-'.
func headingAnchors(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var anchors []string
	for line := range strings.SplitSeq(prose(string(b)), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var a strings.Builder
		for _, r := range h {
			switch {
			case r == ' ':
				a.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				a.WriteRune(r)
			}
		}
		anchors = append(anchors, a.String())
	}
	return anchors
}

// TestReadmeFreeze serves README's freeze example with the repository's example.org.zone and checks
// what the README says of it: the shop answers the critical property it shows, blog (a CNAME to
// the shop) the CNAME and the same RRset, names below the shop stay NXDOMAIN, and the apex and www
// keep the zone file's CAA; no CA may issue for the shop, its wildcard or blog, pki.goog still may
// for www.
func TestReadmeFreeze(t *testing.T) {
	var cf string
	for _, b := range readmeBlocks(t, "corefile") {
		if strings.Contains(b, "record 128 frozen") {
			cf = b
		}
	}
	var shown []dns.RR
	for _, b := range readmeBlocks(t, "txt") {
		if strings.HasPrefix(b, "shop.example.org.") {
			shown = corednstest.RRs(strings.Split(strings.TrimSpace(b), "\n")...)
		}
	}
	if cf == "" || len(shown) == 0 {
		t.Fatal("README.md has no freeze example with its answer at shop.example.org.")
	}
	zone, err := os.ReadFile("example.org.zone")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "example.org.zone"), string(zone))
	t.Chdir(dir)
	defer func(p string) { dnsserver.Port = p }(dnsserver.Port)
	dnsserver.Port = strconv.Itoa(corednstest.FreePort(t))
	_, udp, _ := corednstest.Start(t, bindLoopback(cf))

	answers := []struct {
		name  string
		rcode int
		want  []dns.RR
	}{
		{"shop.example.org.", dns.RcodeSuccess, shown},
		{"blog.example.org.", dns.RcodeSuccess, append(corednstest.RRs("blog.example.org. 3600 IN CNAME shop.example.org."), shown...)},
		{"x.shop.example.org.", dns.RcodeNameError, nil},
		{"www.example.org.", dns.RcodeSuccess, nil},
		{"example.org.", dns.RcodeSuccess, corednstest.RRs(`example.org. 3600 IN CAA 0 issue "pki.goog"`)},
	}
	for _, a := range answers {
		r := exchange(t, "udp", udp, caaQuery(a.name, false, 1232))
		if got, want := corednstest.RRStrings(r.Answer), corednstest.RRStrings(a.want); r.Rcode != a.rcode || !slices.Equal(got, want) {
			t.Errorf("%s CAA: %s %q, want %s %q", a.name, dns.RcodeToString[r.Rcode], got, dns.RcodeToString[a.rcode], want)
		}
	}

	lookup := (&caa.DNSLookup{Server: udp, Timeout: 2 * time.Second}).Lookup
	for _, c := range []struct {
		name, ca string
		allowed  bool
	}{
		{"shop.example.org", "pki.goog", false},
		{"*.shop.example.org", "pki.goog", false},
		{"x.shop.example.org", "letsencrypt.org", false},
		{"blog.example.org", "pki.goog", false},
		{"www.example.org", "pki.goog", true},
	} {
		if res := caa.Check(t.Context(), caa.Request{Name: c.name, CA: c.ca}, lookup); res.Err != nil || res.Allowed != c.allowed {
			t.Errorf("%s may issue for %s: %v (%s, %v), want %v", c.ca, c.name, res.Allowed, res.Reason, res.Err, c.allowed)
		}
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
	want := corednstest.RRStrings(corednstest.RRs(
		`example.org. 300 IN CAA 0 issue "letsencrypt.org"`,
		`example.org. 300 IN CAA 0 issuewild ";"`,
		`example.org. 300 IN CAA 0 iodef "mailto:security@example.org"`,
		`example.org. 300 IN CAA 0 issue "pki.goog"`,
	))
	if got := corednstest.RRStrings(r.Answer); !slices.Equal(got, want) {
		t.Errorf("Corefile.example answers\n%q\nwant\n%q", got, want)
	}
	r = exchange(t, "udp", udp, caaQuery("blog.example.org.", false, 1232))
	want = corednstest.RRStrings(corednstest.RRs(
		`blog.example.org. 3600 IN CNAME shop.example.org.`,
		`shop.example.org. 300 IN CAA 0 issue "sectigo.com"`,
		`shop.example.org. 300 IN CAA 0 issue "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/123456; validationmethods=dns-01"`,
	))
	if got := corednstest.RRStrings(r.Answer); !slices.Equal(got, want) {
		t.Errorf("Corefile.example blog\n%q\nwant\n%q", got, want)
	}
}
