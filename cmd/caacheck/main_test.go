package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/caapolicy/caapolicy/internal/corednstest"
	"github.com/caapolicy/caapolicy/internal/version"
)

// The plugins and their order are cmd/coredns's (cmd/internal/plugins, imported by main.go).
func init() { clog.Discard() }

const acct = "https://acme-v02.api.letsencrypt.org/acme/acct/1"

// tablePolicy holds one owner per row of the decision table, under a zone whose apex has none.
const tablePolicy = `
    caapolicy {
        name issuex      { issue letsencrypt.org }
        name issuey      { issue sectigo.com }
        name none        { issue none }
        name nonex       { issue none
                           issue letsencrypt.org }
        name wildx       { issuewild letsencrypt.org }
        name wildy       { issuewild sectigo.com }
        name xwildy      { issue letsencrypt.org
                           issuewild sectigo.com }
        name ywildx      { issue sectigo.com
                           issuewild letsencrypt.org }
        name iodef       { iodef mailto:security@example.org }
        name unknown     { record 0 tbs "x" }
        name critical    { record 128 tbs "x"
                           issue letsencrypt.org }
        name critknown   { record 128 issue "letsencrypt.org" }
        name malformed   { record 0 issue "letsencrypt.org; nonsense" }
        name flag1       { record 1 tbs "x"
                           issue letsencrypt.org }
        name upper       { record 0 issue "LetsEncrypt.org" }
        name hyphen      { issue letsencrypt.org account-id=1 }
        name acct        { issue letsencrypt.org accounturi=` + acct + ` }
        name method      { issue letsencrypt.org validationmethods=http-01 }
        name dupacct     { record 0 issue "letsencrypt.org; accounturi=` + acct + `; accounturi=` + acct + `" }
        name badmethods  { record 0 issue "letsencrypt.org; validationmethods=dns-01,,http-01" }
        name restrict    { issue sectigo.com }
        name www.restrict { iodef mailto:security@example.org }
        name mail        { record 128 issuemail "ca.example; s=1"
                           issue letsencrypt.org }
        name vmc         { record 128 issuevmc "ca.example"
                           issue letsencrypt.org }
        name contact     { record 128 contactemail "security@example.org"
                           issue letsencrypt.org }
    }`

const tableZone = `$ORIGIN example.org.
@       3600 IN SOA   ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600
@       3600 IN NS    ns1
ns1     3600 IN A     127.0.0.1
alias   3600 IN CNAME issuex
chain   3600 IN CNAME alias
b.issuey 3600 IN TXT  "an empty non-terminal for a.b.issuey"
sub     3600 IN NS    ns1.elsewhere.test.
sub     3600 IN NS    ns2.elsewhere.test.
`

// row is one question; verdicts are "A" or "D" for name and wildcard, in rfc and letsencrypt modes.
type row struct {
	name    string
	flags   []string
	rfc, le string // "name/wildcard"
	live    bool   // only the live check sees it (zone data: CNAMEs, NXDOMAIN)
}

var table = []row{
	{name: "apexonly.example.org", rfc: "A/A", le: "A/A"}, // no RRset up to the zone
	{name: "issuex.example.org", rfc: "A/A", le: "A/A"},
	{name: "issuey.example.org", rfc: "D/D", le: "D/D"},
	{name: "none.example.org", rfc: "D/D", le: "D/D"},
	{name: "nonex.example.org", rfc: "A/A", le: "A/A"},
	{name: "wildx.example.org", rfc: "A/A", le: "A/A"},
	{name: "wildy.example.org", rfc: "A/D", le: "A/D"},
	{name: "xwildy.example.org", rfc: "A/D", le: "A/D"},
	{name: "ywildx.example.org", rfc: "D/A", le: "D/A"},
	{name: "iodef.example.org", rfc: "A/A", le: "A/A"}, // no issue/issuewild: wildcards too (Boulder)
	{name: "unknown.example.org", rfc: "A/A", le: "A/A"},
	{name: "critical.example.org", rfc: "D/D", le: "D/D"},
	{name: "critknown.example.org", rfc: "A/A", le: "A/A"},
	{name: "malformed.example.org", rfc: "D/D", le: "D/D"},
	{name: "flag1.example.org", rfc: "A/A", le: "D/D"},
	{name: "upper.example.org", rfc: "A/A", le: "D/D"},
	{name: "hyphen.example.org", rfc: "A/A", le: "D/D"},
	{name: "acct.example.org", flags: []string{"-account", acct}, rfc: "A/A", le: "A/A"},
	{name: "acct.example.org", flags: []string{"-account", acct + "0"}, rfc: "D/D", le: "D/D"},
	{name: "method.example.org", flags: []string{"-method", "http-01"}, rfc: "A/A", le: "A/A"},
	{name: "method.example.org", flags: []string{"-method", "dns-01"}, rfc: "D/D", le: "D/D"},
	{name: "dupacct.example.org", flags: []string{"-account", acct}, rfc: "D/D", le: "D/D"},       // unsatisfiable for Boulder too
	{name: "badmethods.example.org", flags: []string{"-method", "dns-01"}, rfc: "D/D", le: "A/A"}, // Boulder stops at the matching dns-01
	{name: "a.b.issuey.example.org", rfc: "D/D", le: "D/D"},                                       // empty non-terminal
	{name: "www.restrict.example.org", rfc: "A/A", le: "A/A"},
	// Boulder knows issuemail and issuevmc: critical ones do not block; contactemail it does not know.
	{name: "mail.example.org", rfc: "A/A", le: "A/A"},
	{name: "vmc.example.org", rfc: "A/A", le: "A/A"},
	{name: "contact.example.org", rfc: "A/A", le: "D/D"},
	{name: "nx.issuey.example.org", rfc: "D/D", le: "D/D", live: true}, // NXDOMAIN climbs on
	{name: "alias.example.org", rfc: "A/A", le: "A/A", live: true},
	{name: "chain.example.org", rfc: "A/A", le: "A/A", live: true},
}

// tableServer writes the Corefile and zone to a temporary directory and starts CoreDNS on it.
func tableServer(t *testing.T) (conf, udp string) {
	t.Helper()
	dir := t.TempDir()
	zone := filepath.Join(dir, "example.org.zone")
	conf = filepath.Join(dir, "Corefile")
	cf := "example.org:0 {\n    bind 127.0.0.1\n" + tablePolicy + "\n    file " + zone + "\n}\n"
	if err := os.WriteFile(zone, []byte(tableZone), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	_, udp, _ = corednstest.Start(t, cf)
	return conf, udp
}

func runCheck(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestDecisionTable answers the RFC 8659 decision table offline (from the Corefile) and live
// (from the same Corefile served by a real CoreDNS), in both modes, for each name and its wildcard.
func TestDecisionTable(t *testing.T) {
	conf, udp := tableServer(t)
	for _, r := range table {
		for _, mode := range []string{"rfc", "letsencrypt"} {
			want := r.rfc
			if mode == "letsencrypt" {
				want = r.le
			}
			for _, source := range [][]string{{"-conf", conf}, {"-server", udp}} {
				if r.live && source[0] == "-conf" {
					continue
				}
				var got []string
				for _, wild := range []bool{false, true} {
					args := append(append([]string{}, source...), "-mode", mode)
					args = append(args, r.flags...)
					if wild {
						args = append(args, "-wildcard")
					}
					code, out, errs := runCheck(append(args, r.name)...)
					switch code {
					case exitAllow:
						got = append(got, "A")
					case exitDeny:
						got = append(got, "D")
					default:
						t.Fatalf("%s %v: exit %d\n%s%s", r.name, args, code, out, errs)
					}
				}
				if g := strings.Join(got, "/"); g != want {
					t.Errorf("%s %v (%s, %s): got %s, want %s", r.name, r.flags, mode, source[0], g, want)
				}
			}
		}
	}
}

// TestDelegation: a referral met on the live climb is reported with the name servers it points
// to, and decides nothing (exit 2), instead of reading as "no CAA".
func TestDelegation(t *testing.T) {
	_, udp := tableServer(t)
	code, out, errs := runCheck("-server", udp, "www.sub.example.org")
	if code != exitError {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitError, out, errs)
	}
	wantLines(t, "output", out,
		"UNDECIDED www.sub.example.org. is delegated: its CAA records are on other name servers\n",
		"reason:   www.sub.example.org. is delegated to sub.example.org. (NS ns1.elsewhere.test., ns2.elsewhere.test.), whose CAA records this source cannot see: ask those name servers\n",
		"www.sub.example.org.           NOERROR  referral to sub.example.org. NS ns1.elsewhere.test. ns2.elsewhere.test.\n",
		"note:     www.sub.example.org. is delegated to sub.example.org. (NS ns1.elsewhere.test., ns2.elsewhere.test.); those name servers were not asked: run caacheck -server against one of them\n",
	)
	code, out, _ = runCheck("-server", udp, "-json", "sub.example.org")
	var rep struct {
		Delegation struct {
			Zone string
			NS   []string
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitError {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	if rep.Delegation.Zone != "sub.example.org." || strings.Join(rep.Delegation.NS, " ") != "ns1.elsewhere.test. ns2.elsewhere.test." {
		t.Errorf("delegation %+v", rep.Delegation)
	}
}

func TestTextOutput(t *testing.T) {
	conf, udp := tableServer(t)
	code, out, _ := runCheck("-conf", conf, "-ca", "letsencrypt.org", "-wildcard", "xwildy.example.org")
	want := `DENY   letsencrypt.org may not issue for *.xwildy.example.org
reason:   no issuewild property at xwildy.example.org. authorizes letsencrypt.org
relevant: xwildy.example.org.
          xwildy.example.org.	300	IN	CAA	0 issue "letsencrypt.org"
          xwildy.example.org.	300	IN	CAA	0 issuewild "sectigo.com"
decided:
          xwildy.example.org.	300	IN	CAA	0 issuewild "sectigo.com"
climb (offline, the Corefile policy ` + conf + `, mode rfc):
          xwildy.example.org.            NOERROR  2 CAA
`
	if code != exitDeny || out != want {
		t.Errorf("exit %d, output\n%s\nwant\n%s", code, out, want)
	}

	code, out, _ = runCheck("-server", udp, "alias.example.org")
	want = `ALLOW  letsencrypt.org may issue for alias.example.org
reason:   issue "letsencrypt.org" at alias.example.org. authorizes letsencrypt.org
relevant: alias.example.org.
          issuex.example.org.	300	IN	CAA	0 issue "letsencrypt.org"
decided:
          issuex.example.org.	300	IN	CAA	0 issue "letsencrypt.org"
climb (live, server ` + udp + `, mode rfc):
          alias.example.org.             NOERROR  1 CAA via CNAME issuex.example.org.
`
	if code != exitAllow || out != want {
		t.Errorf("exit %d, output\n%s\nwant\n%s", code, out, want)
	}

	code, out, _ = runCheck("-server", udp, "apexonly.example.org")
	want = `ALLOW  letsencrypt.org may issue for apexonly.example.org
reason:   no CAA records from apexonly.example.org. up to example.org.; org. and above were not checked, so their CAA records decide
climb (live, server ` + udp + `, mode rfc):
          apexonly.example.org.          NXDOMAIN no CAA
          example.org.                   NOERROR  no CAA
note:     org. and its parents are not served here and were not checked; the CA will look there too
`
	if code != exitAllow || out != want {
		t.Errorf("exit %d, output\n%s\nwant\n%s", code, out, want)
	}
}

func TestJSONOutput(t *testing.T) {
	conf, udp := tableServer(t)
	for _, source := range [][]string{{"-conf", conf}, {"-server", udp}} {
		code, out, _ := runCheck(append(source, "-json", "-method", "dns-01", "method.example.org")...)
		var r report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v: %v\n%s", source, err, out)
		}
		if code != exitDeny || r.Allowed || r.Name != "method.example.org" || r.CA != "letsencrypt.org" || r.Method != "dns-01" ||
			r.Owner != "method.example.org." || len(r.RRset) != 1 || len(r.Decided) != 1 || r.Code != "not-authorized" || len(r.Steps) != 1 || r.Steps[0].Rcode != "NOERROR" ||
			r.Reason != `no issue property at method.example.org. authorizes letsencrypt.org: issue "letsencrypt.org; validationmethods=http-01" allows only the validation methods http-01, not dns-01` {
			t.Errorf("%v: exit %d, report %+v", source, code, r)
		}
	}
}

func TestExitErrors(t *testing.T) {
	conf, udp := tableServer(t)
	dir := t.TempDir()
	broken := filepath.Join(dir, "Corefile")
	os.WriteFile(broken, []byte("example.org {\n caapolicy {\n  issue letsencrypt.org accounturi\n }\n}\n"), 0o644)
	// A UDP port nobody listens on: the kernel refuses at once.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().String()
	pc.Close()

	tests := []struct {
		args []string
		err  string
	}{
		{[]string{"-nonsense", "x"}, "flag provided but not defined: -nonsense"},
		{[]string{"-conf", conf}, "give exactly one NAME"},
		{[]string{"example.org"}, "give either -conf Corefile (offline) or -server HOST:PORT (live)"},
		{[]string{"-conf", conf, "-server", "127.0.0.1:53", "example.org"}, "give either"},
		{[]string{"-conf", conf, "-mode", "boulder", "example.org"}, `mode "boulder" is neither rfc nor letsencrypt`},
		{[]string{"-conf", conf, "-ca", "https://letsencrypt.org", "example.org"}, `-ca "https://letsencrypt.org" is not a CA identifier`},
		{[]string{"-conf", conf, "exa mple.org"}, `"exa mple.org" is not a domain name`},
		{[]string{"-conf", conf, "*.*.example.org"}, `"*.*.example.org" is not a domain name`},
		{[]string{"-conf", conf, "example.net"}, "example.net. is in no zone of a caapolicy block in " + conf},
		{[]string{"-server", udp, "example.net"}, "example.net. is not served by " + udp + " (it answers REFUSED)"},
		{[]string{"-conf", filepath.Join(dir, "missing"), "example.org"}, "no such file or directory"},
		{[]string{"-conf", broken, "example.org"}, broken + `:3 - Error during parsing: issue: parameter "accounturi" is not KEY=VALUE`},
		{[]string{"-server", closed, "-timeout", "500ms", "example.org"}, "no answer from " + closed + " for example.org. CAA"},
		{[]string{"-lint", "-conf", broken}, broken + ":3"},
		{[]string{"-lint", "-server", "127.0.0.1:53"}, "-lint takes -conf Corefile and nothing else"},
	}
	for _, tc := range tests {
		code, out, errs := runCheck(tc.args...)
		if code != exitError || !strings.Contains(errs, tc.err) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 with %q", tc.args, code, out, errs, tc.err)
		}
	}
}

func TestLint(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "Corefile.bad")
	os.WriteFile(bad, []byte("example.org {\n caapolicy {\n  issue letsencrypt.com\n  issuewild none\n  zonedata ignore\n }\n}\n"), 0o644)
	code, out, _ := runCheck("-lint", "-conf", bad)
	want := bad + ":3: issue letsencrypt.com is not a known CA identifier; did you mean letsencrypt.org? A misspelt identifier locks the CA out\n"
	if code != exitDeny || out != want {
		t.Errorf("exit %d, output %q, want %q", code, out, want)
	}
	code, out, _ = runCheck("-lint", "-json", "-conf", bad)
	var got map[string][]string
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != exitDeny || len(got["warnings"]) != 1 {
		t.Errorf("exit %d, json %q (%v)", code, out, err)
	}

	example := filepath.Join("..", "..", "Corefile.example")
	code, out, _ = runCheck("-lint", "-conf", example)
	if code != exitAllow || out != example+": no warnings\n" {
		t.Errorf("Corefile.example: exit %d, output %q", code, out)
	}
}

// TestLintAcknowledged: acknowledged warnings are listed apart and do not fail lint; an
// unacknowledged one still does.
func TestLintAcknowledged(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, other string
		code        int
		want        string
	}{
		{"only acknowledged warnings: exit 0", "", exitAllow, "Corefile: no warnings\n1 warnings acknowledged as intended:\n  Corefile:4: partners at legacy.example.org.: issue is locked down (only empty issuers, issue \";\"), so no partner may issue there (acknowledged at Corefile:6: the customer asked, ticket 4711)\n"},
		{"an unacknowledged warning beside them: exit 1", "  name other {\n   issue none\n  }\n", exitDeny, "Corefile:8: partners at other.example.org.: issue is locked down (only empty issuers, issue \";\"), so no partner may issue there\n1 warnings acknowledged as intended:\n  Corefile:4: partners at legacy.example.org.: issue is locked down (only empty issuers, issue \";\"), so no partner may issue there (acknowledged at Corefile:6: the customer asked, ticket 4711)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cf := filepath.Join(dir, "Corefile")
			os.WriteFile(cf, []byte("example.org {\n caapolicy {\n  partners letsencrypt.org\n  name legacy {\n   issue none\n   acknowledge the customer asked, ticket 4711\n  }\n"+tc.other+" }\n file db.example.org\n}\n"), 0o644)
			code, out, _ := runCheck("-lint", "-conf", cf)
			want := strings.ReplaceAll(tc.want, "Corefile", cf)
			if code != tc.code || out != want {
				t.Errorf("exit %d, output\n%s\nwant exit %d,\n%s", code, out, tc.code, want)
			}
		})
	}
}

// TestREADMESessions runs every caacheck session shown in cmd/caacheck/README.md and in the
// plugin's README.md, from the repository root, against Corefile.example served as in the quick
// start, and compares the output and exit status.
func TestREADMESessions(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	cf, err := os.ReadFile("Corefile.example")
	if err != nil {
		t.Fatal(err)
	}
	_, udp, _ := corednstest.Start(t, strings.Replace(string(cf), "example.org:1053", "example.org:0", 1))
	var sessions [][]string
	for _, readme := range []string{"cmd/caacheck/README.md", "README.md"} {
		f, err := os.Open(readme)
		if err != nil {
			t.Fatal(err)
		}
		in := false
		for sc := bufio.NewScanner(f); sc.Scan(); {
			line := sc.Text()
			switch {
			case line == "~~~ caacheck":
				in = true
				sessions = append(sessions, nil)
			case in && line == "~~~":
				in = false
			case in:
				sessions[len(sessions)-1] = append(sessions[len(sessions)-1], strings.ReplaceAll(line, "127.0.0.1:1053", udp))
			}
		}
		f.Close()
	}
	if len(sessions) < 8 {
		t.Fatalf("the READMEs show %d caacheck sessions, want at least 8 (-conf, -server, -lint, -cert, -zone)", len(sessions))
	}
	for _, lines := range sessions {
		cmd, ok := strings.CutPrefix(lines[0], "$ caacheck ")
		if !ok || !strings.HasPrefix(lines[len(lines)-1], "(exit status ") {
			t.Fatalf("a session must start with $ caacheck and end with (exit status N): %q", lines)
		}
		code, out, errs := runCheck(strings.Fields(cmd)...)
		want := strings.Join(lines[1:len(lines)-1], "\n") + "\n"
		if got := out + fmt.Sprintf("(exit status %d)", code); got != want+lines[len(lines)-1] {
			t.Errorf("$ caacheck %s\n got:\n%s%s\nwant:\n%s%s", cmd, out, errs, want, lines[len(lines)-1])
		}
	}
}

// wantLines reports each of wants that out, the output called what, does not contain.
func wantLines(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, out)
		}
	}
}

// TestVersionAndUsage checks -version and that -h lists every form and the exit codes.
func TestVersionAndUsage(t *testing.T) {
	t.Run("version", func(t *testing.T) {
		code, out, errs := runCheck("-version")
		if want := "caacheck " + version.String() + "\n"; code != exitAllow || out != want || errs != "" {
			t.Errorf("exit %d, stdout %q, stderr %q; want exit 0 and %q", code, out, errs, want)
		}
	})
	t.Run("help", func(t *testing.T) {
		code, out, errs := runCheck("-h")
		if code != exitError || out != "" {
			t.Fatalf("exit %d, stdout %q; want exit 2 and the usage on stderr", code, out)
		}
		for _, want := range []string{
			"usage: caacheck -conf Corefile ",
			"\n       caacheck -server HOST:PORT ",
			"\n       caacheck -ns -server RESOLVER ",
			"\n       caacheck -cert FILE | -tls HOST:PORT ",
			"\n       caacheck -zone ZONE -server HOST:PORT ",
			"\n       caacheck -lint -conf Corefile [-json]\n",
			"\n       caacheck -version\n",
			"\n  -version\n",
			"\nexit status:\n  0  the CA may issue",
			"\n  1  it may not",
			"\n  2  the question could not be answered",
			"\n  3  the servers given (several -server, or -ns) disagree\n",
		} {
			if !strings.Contains(errs, want) {
				t.Errorf("usage lacks %q:\n%s", want, errs)
			}
		}
	})
}
