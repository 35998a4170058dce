package caapolicy

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/caapolicy/caapolicy/internal/corednstest"
)

// records lists every record h serves from its policy alone (policy and partner records) as
// text, sorted.
func records(h *CAAPolicy) []string {
	var out []string
	for _, n := range h.view.Owners() {
		s, _ := h.view.PolicyLookup(context.Background(), n)
		for i := range s.RRset {
			out = append(out, strings.ReplaceAll(s.RRset[i].String(), "\t", " "))
		}
	}
	slices.Sort(out)
	return out
}

func TestSetupAccepts(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name  string
		input string
		want  []string
		merge bool
	}{
		{"one issuer at the apex, default TTL, zone data merged", `caapolicy example.org {
			issue letsencrypt.org
		}`, []string{`example.org. 300 IN CAA 0 issue "letsencrypt.org"`}, true},
		{"every property form, normalized CA identifiers, parameters in both spellings", `caapolicy example.org {
			issue LetsEncrypt.ORG.
			issue sectigo.com;validationmethods=dns-01
			issue ssl.com accounturi=https://acme.ssl.com/acct/1 validationmethods=dns-01,http-01
			issuewild none
			iodef mailto:security@example.org
			iodef https://example.org/caa
			contactemail security@example.org
			contactphone +1-555-0100
			record 128 tbs "Unknown"
			record 0 issue ";"
			ttl 3600
			zonedata ignore
		}`, []string{
			`example.org. 3600 IN CAA 0 contactemail "security@example.org"`,
			`example.org. 3600 IN CAA 0 contactphone "+1-555-0100"`,
			`example.org. 3600 IN CAA 0 iodef "https://example.org/caa"`,
			`example.org. 3600 IN CAA 0 iodef "mailto:security@example.org"`,
			`example.org. 3600 IN CAA 0 issue ";"`,
			`example.org. 3600 IN CAA 0 issue "letsencrypt.org"`,
			`example.org. 3600 IN CAA 0 issue "sectigo.com; validationmethods=dns-01"`,
			`example.org. 3600 IN CAA 0 issue "ssl.com; accounturi=https://acme.ssl.com/acct/1; validationmethods=dns-01,http-01"`,
			`example.org. 3600 IN CAA 0 issuewild ";"`,
			`example.org. 3600 IN CAA 128 tbs "Unknown"`,
		}, false},
		{"one-line name blocks, and a block closed on its last property's line", `caapolicy example.org {
			name www { issue letsencrypt.org }
			name api { issue sectigo.com
			           issuewild none }
		}`, []string{
			`api.example.org. 300 IN CAA 0 issue "sectigo.com"`,
			`api.example.org. 300 IN CAA 0 issuewild ";"`,
			`www.example.org. 300 IN CAA 0 issue "letsencrypt.org"`,
		}, true},
		{"relative names completed with every zone, absolute names kept, several per line", `caapolicy example.org example.net {
			issue letsencrypt.org
			name www API {
				issue pki.goog
			}
			name shop.example.org. {
				issuewild sectigo.com
			}
		}`, []string{
			`api.example.net. 300 IN CAA 0 issue "pki.goog"`,
			`api.example.org. 300 IN CAA 0 issue "pki.goog"`,
			`example.net. 300 IN CAA 0 issue "letsencrypt.org"`,
			`example.org. 300 IN CAA 0 issue "letsencrypt.org"`,
			`shop.example.org. 300 IN CAA 0 issuewild "sectigo.com"`,
			`www.example.net. 300 IN CAA 0 issue "pki.goog"`,
			`www.example.org. 300 IN CAA 0 issue "pki.goog"`,
		}, true},
		{"only name owners leave the apex no policy owner", `caapolicy example.org {
			name www {
				iodef mailto:a@example.org
			}
		}`, []string{`www.example.org. 300 IN CAA 0 iodef "mailto:a@example.org"`}, true},
		{"a value longer than 255 bytes", `caapolicy example.org {
			record 0 tbs ` + long + `
		}`, []string{`example.org. 300 IN CAA 0 tbs "` + long + `"`}, true},
		{"a bare fallthrough, for every zone of the block", `caapolicy example.org {
			issue letsencrypt.org
			fallthrough
		}`, []string{`example.org. 300 IN CAA 0 issue "letsencrypt.org"`}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			c.Next()
			h, err := newHandler(c)
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if got := records(h); !slices.Equal(got, tc.want) {
				t.Errorf("records\n got %q\nwant %q", got, tc.want)
			}
			if h.view.Merges() != tc.merge {
				t.Errorf("merge = %v, want %v", h.view.Merges(), tc.merge)
			}
		})
	}
}

func TestSetupServerBlockZones(t *testing.T) {
	c := caddy.NewTestController("dns", `caapolicy {
		issue letsencrypt.org
	}`)
	c.ServerBlockKeys = []string{"Example.ORG:1053"}
	c.Next()
	h, err := newHandler(c)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.view.Zones(), []string{"example.org."}) {
		t.Errorf("zones = %q, want the server block's", h.view.Zones())
	}
	if !slices.Contains(h.view.Owners(), "example.org.") {
		t.Errorf("no apex owner for the server block's zone")
	}
}

// TestSetupRegisters runs the setup function registered for the caapolicy directive, as CoreDNS
// does, for two blocks: each becomes a handler of the server block's chain, in Corefile order,
// with its own zones, and answers its own zone's CAA queries through that chain. A block that
// does not parse fails setup with the parse error.
func TestSetupRegisters(t *testing.T) {
	action, err := caddy.DirectiveAction("dns", name)
	if err != nil {
		t.Fatalf("nothing registered for the %s directive: %v", name, err)
	}
	c := caddy.NewTestController("dns", `caapolicy example.org {
		issue letsencrypt.org
	}
	caapolicy example.net {
		issue pki.goog
	}`)
	c.ServerBlockKeys = []string{"example.org:53", "example.net:53"}
	if err := action(c); err != nil {
		t.Fatal(err)
	}

	// The chain as dnsserver builds it: the plugin added last is the innermost.
	var chain plugin.Handler = test.NextHandler(dns.RcodeServerFailure, errors.New("no zone data"))
	cfg := dnsserver.GetConfig(c)
	for i := len(cfg.Plugin) - 1; i >= 0; i-- {
		chain = cfg.Plugin[i](chain)
	}
	t.Run("each block is a handler of the chain, in Corefile order, with its zones", func(t *testing.T) {
		var zones [][]string
		for h := chain; h != nil; {
			p, ok := h.(*CAAPolicy)
			if !ok {
				break
			}
			zones = append(zones, p.view.Zones())
			h = p.view.Next
		}
		if fmt.Sprint(zones) != "[[example.org.] [example.net.]]" {
			t.Errorf("caapolicy handlers at the front of the chain with zones %q, want example.org. then example.net.", zones)
		}
	})
	for _, tc := range []struct{ zone, want string }{
		{"example.org.", `example.org. 300 IN CAA 0 issue "letsencrypt.org"`},
		{"example.net.", `example.net. 300 IN CAA 0 issue "pki.goog"`},
	} {
		t.Run("the chain answers "+tc.zone+" from its own block", func(t *testing.T) {
			w := corednstest.NewWriter("udp", "")
			rcode, err := chain.ServeDNS(context.Background(), w, new(dns.Msg).SetQuestion(tc.zone, dns.TypeCAA))
			if err != nil || rcode != dns.RcodeSuccess || w.Msg == nil {
				t.Fatalf("rcode %s, err %v, reply %v", dns.RcodeToString[rcode], err, w.Msg)
			}
			if got := corednstest.RRStrings(w.Msg.Answer); !slices.Equal(got, []string{tc.want}) {
				t.Errorf("answer %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("a block that does not parse fails setup with the parse error", func(t *testing.T) {
		c := caddy.NewTestController("dns", "caapolicy example.org {\n issue -x\n}")
		err := action(c)
		want := `plugin/caapolicy: Testfile:2 - Error during parsing: issue: CA identifier "-x": "-x" may not start or end with '-'; write the CA's domain, such as letsencrypt.org`
		if err == nil || err.Error() != want {
			t.Errorf("setup error\n got %v\nwant %s", err, want)
		}
	})
}

// TestSetupLimitsAndBlocks: an RRset larger than a TCP message, a zone outside the server block,
// and two blocks covering one zone stop setup with file:line and the fix.
func TestSetupLimitsAndBlocks(t *testing.T) {
	var big strings.Builder
	big.WriteString("caapolicy example.org {\n name big {\n")
	for i := range 70 {
		fmt.Fprintf(&big, "  record 0 tbs \"%03d%s\"\n", i, strings.Repeat("v", 997))
	}
	big.WriteString(" }\n}")
	for _, tc := range []struct {
		name  string
		keys  []string
		input string
		want  string
	}{
		{"an RRset larger than a TCP message", []string{"example.org:53"}, big.String(), "plugin/caapolicy: Testfile:2 - Error during parsing: the CAA RRset at big.example.org. (policy and partner records) is 71223 bytes, more than a DNS message over TCP holds (65,535 bytes): no CA could read it; split it across names or shorten its values"},
		{"a zone outside the server block", []string{"example.org:53"}, "caapolicy example.com {\n issue letsencrypt.org\n}", "plugin/caapolicy: Testfile:1 - Error during parsing: zone example.com. is outside this server block's zones (example.org.), so no query for it reaches this block; list the zone in the server block (example.com {) or move this caapolicy block to the server block that serves it"},
		{"two blocks for one zone", []string{"example.org:53"}, "caapolicy {\n issue letsencrypt.org\n}\ncaapolicy {\n issue none\n}", "plugin/caapolicy: Testfile:4 - Error during parsing: zone example.org. is also covered by the caapolicy block at Testfile:1 (zone example.org.): both would answer and their records would add up, so one block's issue none could not lock out a CA the other names; put both policies in one block, with name blocks for the names below the zone"},
		{"a block for a zone below another block's zone", []string{"example.org:53"}, "caapolicy example.org {\n issue letsencrypt.org\n}\ncaapolicy shop.example.org {\n issue none\n}", "plugin/caapolicy: Testfile:4 - Error during parsing: zone shop.example.org. is also covered by the caapolicy block at Testfile:1 (zone example.org.): both would answer and their records would add up, so one block's issue none could not lock out a CA the other names; put both policies in one block, with name blocks for the names below the zone"},
	} {
		t.Run("setup refuses "+tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			c.ServerBlockKeys = tc.keys
			if err := setup(c); err == nil || err.Error() != tc.want {
				t.Errorf("%.40q:\n got %v\nwant %s", tc.input, err, tc.want)
			}
		})
	}
	t.Run("disjoint zones in two blocks, each inside the server block, are fine", func(t *testing.T) {
		c := caddy.NewTestController("dns", "caapolicy example.org {\n issue letsencrypt.org\n}\ncaapolicy example.net {\n issue none\n}")
		c.ServerBlockKeys = []string{"example.org:53", "example.net:53"}
		if err := setup(c); err != nil {
			t.Error(err)
		}
	})
}

// TestStartupNeedsZoneData: with zonedata merge and no plugin after caapolicy, CoreDNS does not
// start, and a reload to such a Corefile keeps the old instance serving.
func TestStartupNeedsZoneData(t *testing.T) {
	caddy.Quiet, dnsserver.Quiet = true, true
	port := corednstest.FreePort(t)
	bare := fmt.Sprintf("example.org:%d {\n    bind 127.0.0.1\n    caapolicy {\n        issue letsencrypt.org\n    }\n}\n", port)
	want := "plugin/caapolicy: Corefile:3 - Error during parsing: zonedata merge needs the zone data after caapolicy in this server block, and there is no plugin after it: every other name and type of example.org. would answer SERVFAIL; add file, auto or secondary (or etcd, kubernetes...) for the zone, or write zonedata ignore"
	if inst, err := caddy.Start(corednstest.Corefile(bare)); err == nil || !strings.Contains(err.Error(), want) {
		if inst != nil {
			inst.Stop()
		}
		t.Fatalf("start without zone data: err %v\nwant %s", err, want)
	}

	zone := filepath.Join(t.TempDir(), "example.org.zone")
	write(t, zone, exampleOrg)
	good := strings.Replace(bare, "    }\n}", "    }\n    file "+zone+"\n}", 1)
	inst, udp, _ := corednstest.Start(t, good)
	before := corednstest.AnswerStrings(exchange(t, "udp", udp, caaQuery("example.org.", false, 1232)), dns.TypeCAA)
	if _, err := inst.Restart(corednstest.Corefile(bare)); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("reload without zone data: err %v", err)
	}
	if got := corednstest.AnswerStrings(exchange(t, "udp", udp, caaQuery("example.org.", false, 1232)), dns.TypeCAA); !slices.Equal(got, before) || len(got) == 0 {
		t.Errorf("after the failed reload: %q, want the old answer %q", got, before)
	}
}
