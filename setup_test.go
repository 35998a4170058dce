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

// records lists every prepared record of h as text, sorted.
func records(h *CAAPolicy) []string {
	var out []string
	for _, o := range h.owners {
		for i := range o.records {
			out = append(out, strings.ReplaceAll(o.records[i].String(), "\t", " "))
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
			h, err := parse(c)
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if got := records(h); !slices.Equal(got, tc.want) {
				t.Errorf("records\n got %q\nwant %q", got, tc.want)
			}
			if h.base.merge != tc.merge {
				t.Errorf("merge = %v, want %v", h.base.merge, tc.merge)
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
	h, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.Zones, []string{"example.org."}) {
		t.Errorf("zones = %q, want the server block's", h.Zones)
	}
	if h.owners["example.org."] == nil {
		t.Errorf("no apex owner for the server block's zone")
	}
}

// blockSummary names a Corefile block by what it holds: the lines inside its braces (or its
// first line, if none), joined with "; " and cut at 60 bytes, for subtest names.
func blockSummary(input string) string {
	lines := strings.Split(input, "\n")
	var inner []string
	for _, l := range lines[1:] {
		if l = strings.TrimSpace(l); l != "" && l != "}" {
			inner = append(inner, l)
		}
	}
	if len(inner) == 0 {
		inner = lines[:1]
	}
	s := strings.Join(inner, "; ")
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

func TestSetupRejects(t *testing.T) {
	tests := []struct {
		input string
		want  string // the whole error, file:line included
	}{
		{"caapolicy example.org {\n bogus 1\n}", `Testfile:2 - Error during parsing: unknown property "bogus"; a caapolicy block takes issue, issuewild, iodef, contactemail, contactphone, record, persist, ttl, serial, name, zone, partners, trigger, zonedata, fallthrough, log, ca, checks, node, acknowledge`},
		{"caapolicy example.org {\n issue\n}", `Testfile:2 - Error during parsing: issue: needs a CA identifier or none, as in letsencrypt.org accounturi=https://... or none`},
		{"caapolicy example.org {\n issue lets_encrypt.org\n}", `Testfile:2 - Error during parsing: issue: CA identifier "lets_encrypt.org": "lets_encrypt" holds '_'; only letters, digits and inner hyphens are allowed; write the CA's domain, such as letsencrypt.org`},
		{"caapolicy example.org {\n issue https://letsencrypt.org\n}", `Testfile:2 - Error during parsing: issue: CA identifier "https://letsencrypt.org" is a URL; CAA names the CA by its bare domain: write letsencrypt.org`},
		{"caapolicy example.org {\n issue -ca.example\n}", `Testfile:2 - Error during parsing: issue: CA identifier "-ca.example": "-ca" may not start or end with '-'; write the CA's domain, such as letsencrypt.org`},
		{"caapolicy example.org {\n issuewild none validationmethods=dns-01\n}", `Testfile:2 - Error during parsing: issuewild: none stands alone; it authorizes no CA and takes no parameters`},
		{"caapolicy example.org {\n issue accounturi=x\n}", `Testfile:2 - Error during parsing: issue: the CA identifier comes first, then KEY=VALUE parameters: letsencrypt.org validationmethods=dns-01`},
		{"caapolicy example.org {\n issue letsencrypt.org dns-01\n}", `Testfile:2 - Error during parsing: issue: parameter "dns-01" is not KEY=VALUE; write accounturi=https://... or validationmethods=dns-01`},
		{"caapolicy example.org {\n issue letsencrypt.org account_uri=x\n}", `Testfile:2 - Error during parsing: issue: parameter tag "account_uri": "account_uri" holds '_'; only letters, digits and inner hyphens are allowed`},
		{"caapolicy example.org {\n issue letsencrypt.org accounturi=acct/1\n}", `Testfile:2 - Error during parsing: issue: accounturi "acct/1" is not an absolute URI such as https://acme-v02.api.letsencrypt.org/acme/acct/123456`},
		{"caapolicy example.org {\n issue letsencrypt.org validationmethods=dns-01,,http-01\n}", `Testfile:2 - Error during parsing: issue: validationmethods "dns-01,,http-01": empty label; write methods as dns-01,http-01`},
		{"caapolicy example.org {\n iodef security@example.org\n}", `Testfile:2 - Error during parsing: iodef "security@example.org" is not a mailto: or https: URL; write mailto:security@example.org or https://example.org/caa-report`},
		{"caapolicy example.org {\n iodef ftp://example.org/x\n}", `Testfile:2 - Error during parsing: iodef "ftp://example.org/x" is not a mailto: or https: URL; write mailto:security@example.org or https://example.org/caa-report`},
		{"caapolicy example.org {\n iodef\n}", `Testfile:2 - Error during parsing: iodef takes one URL: iodef mailto:security@example.org`},
		{"caapolicy example.org {\n contactemail Sec <security@example.org>\n}", `Testfile:2 - Error during parsing: contactemail takes one address: contactemail security@example.org`},
		{"caapolicy example.org {\n contactemail security.example.org\n}", `Testfile:2 - Error during parsing: contactemail "security.example.org" is not a bare email address; write security@example.org`},
		{"caapolicy example.org {\n contactphone 555-0100\n}", `Testfile:2 - Error during parsing: contactphone "555-0100" is not an international number; write +1-555-0100 ("+", country code, digits)`},
		{"caapolicy example.org {\n contactphone +1234567890123456\n}", `Testfile:2 - Error during parsing: contactphone "+1234567890123456" is not an international number; write +1-555-0100 ("+", country code, digits)`},
		{"caapolicy example.org {\n record 256 issue x\n}", `Testfile:2 - Error during parsing: record flags "256" are not a number from 0 to 255; write 0, or 128 for Issuer Critical`},
		{"caapolicy example.org {\n record 0 is-sue x\n}", `Testfile:2 - Error during parsing: record: tag "is-sue" holds '-'; tags are ASCII letters and digits only`},
		{"caapolicy example.org {\n record 0 issue a b\n}", `Testfile:2 - Error during parsing: record takes FLAGS TAG VALUE, with the value quoted if it holds spaces: record 128 tbs "unknown"`},
		{"caapolicy example.org {\n issue letsencrypt.org\n issue LETSENCRYPT.org\n}", `Testfile:3 - Error during parsing: issue "letsencrypt.org" is declared twice for this owner (first at Testfile:2); remove one`},
		{"caapolicy example.org {\n ttl -1\n}", `Testfile:2 - Error during parsing: ttl "-1" is not a number of seconds from 0 to 2147483647; write ttl 300`},
		{"caapolicy example.org {\n ttl 2147483648\n}", `Testfile:2 - Error during parsing: ttl "2147483648" is not a number of seconds from 0 to 2147483647; write ttl 300`},
		{"caapolicy example.org {\n ttl 60\n ttl 60\n}", `Testfile:3 - Error during parsing: ttl is set twice; keep one ttl line`},
		{"caapolicy example.org {\n zonedata replace\n}", `Testfile:2 - Error during parsing: zonedata takes merge or ignore: zonedata merge`},
		{"caapolicy example.org {\n zonedata ignore\n fallthrough\n}", `Testfile:3 - Error during parsing: fallthrough needs zonedata merge: only the zone data tells caapolicy that a name does not exist`},
		{"caapolicy example..org {\n}", `Testfile:1 - Error during parsing: zone "example..org" is not a domain name; write caapolicy example.org`},
		{"caapolicy example.org {\n name other.example.net. {\n  issue x.example\n }\n}", `Testfile:2 - Error during parsing: name "other.example.net." is outside the zones of this block (example.org.); write a name below one of them, or a relative name`},
		{"caapolicy example.org {\n name example.org. {\n  issue x.example\n }\n}", `Testfile:2 - Error during parsing: name "example.org." is the apex of zone example.org.; write the apex policy at the top level of the block`},
		{"caapolicy example.org {\n name *.www {\n  issue x.example\n }\n}", `Testfile:2 - Error during parsing: name "*.www": wildcard owners are not supported; CAs check the parent name for a wildcard certificate, so put issuewild on the parent`},
		{"caapolicy example.org {\n name www {\n  issue x.example\n }\n name WWW.example.org. {\n  issue y.example\n }\n}", `Testfile:7 - Error during parsing: name www.example.org. is declared twice (first at Testfile:2); merge the two blocks`},
		{"caapolicy example.org {\n name www\n}", `Testfile:2 - Error during parsing: name www needs a block opened on the same line: name www { issue letsencrypt.org }`},
		{"caapolicy example.org {\n name {\n }\n}", `Testfile:2 - Error during parsing: name needs at least one owner name and a block: name www { issue letsencrypt.org }`},
		{"caapolicy example.org {\n name www {\n }\n}", `Testfile:3 - Error during parsing: name www has an empty block; add issue, issuewild, iodef... or remove it`},
		{"caapolicy example.org {\n name www {\n  ttl 5\n }\n}", `Testfile:3 - Error during parsing: unknown property "ttl" in a name block; a name block takes issue, issuewild, iodef, contactemail, contactphone, record, persist`},
		{"caapolicy example.org {\n name www {\n  name api {\n }\n}", `Testfile:3 - Error during parsing: name blocks cannot be nested; list every owner on the outer name line`},
		{"caapolicy example.org {\n name www {\n  issue bad_ca\n }\n}", `Testfile:3 - Error during parsing: issue: CA identifier "bad_ca": "bad_ca" holds '_'; only letters, digits and inner hyphens are allowed; write the CA's domain, such as letsencrypt.org`},
		{"caapolicy example.org {\n partners\n}", "Testfile:2 - Error during parsing: partners takes presets (cloudflare, aws, google) or CA identifiers, or off: partners cloudflare"},
		{"caapolicy example.org {\n partners cloudfare\n}", `Testfile:2 - Error during parsing: partner "cloudfare" is neither a preset nor a CA domain; did you mean the preset cloudflare?`},
		{"caapolicy example.org {\n partners cloudflair.com\n partners letscrypt\n}", `Testfile:3 - Error during parsing: partner "letscrypt" is neither a preset (cloudflare, aws, google) nor a CA domain such as letsencrypt.org`},
		{"caapolicy example.org {\n partners letsencrypt.org accounturi=https://x/1\n}", `Testfile:2 - Error during parsing: partner "accounturi=https://x/1": parameters attach to their CA with ';', as in letsencrypt.org;accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/123456`},
		{"caapolicy example.org {\n partners letsencrypt.org;accounturi=x\n}", `Testfile:2 - Error during parsing: partner "letsencrypt.org;accounturi=x": accounturi "x" is not an absolute URI such as https://acme-v02.api.letsencrypt.org/acme/acct/123456; or name a preset: cloudflare, aws, google`},
		{"caapolicy example.org {\n partners bad_ca.com\n}", `Testfile:2 - Error during parsing: partner "bad_ca.com": CA identifier "bad_ca.com": "bad_ca" holds '_'; only letters, digits and inner hyphens are allowed; write the CA's domain, such as letsencrypt.org; or name a preset: cloudflare, aws, google`},
		{"caapolicy example.org {\n partners cloudflare off\n}", "Testfile:2 - Error during parsing: partners off stands alone on its line; write partners off to add no partner records"},
		{"caapolicy example.org {\n partners cloudflare\n partners off\n}", "Testfile:3 - Error during parsing: partners off conflicts with the partners listed at Testfile:2; keep one of them"},
		{"caapolicy example.org {\n partners off\n partners aws\n}", "Testfile:3 - Error during parsing: partners are listed here but switched off at Testfile:2; keep one of them"},
		{"caapolicy example.org {\n trigger some\n}", "Testfile:2 - Error during parsing: trigger takes restrictive (partners only where issuance is restricted already) or any (at every CAA RRset, as Cloudflare does): trigger restrictive"},
		{"caapolicy example.org {\n trigger any\n trigger any\n}", "Testfile:3 - Error during parsing: trigger is set twice; keep one trigger line"},
		{"caapolicy example.org {\n log verbose\n}", "Testfile:2 - Error during parsing: log takes all or none, json, and a file path (with a /, as ./caapolicy.json) or unix:SOCKET to write to: log all json /var/log/coredns/caapolicy.json"},
		{"caapolicy example.org {\n log all none\n}", "Testfile:2 - Error during parsing: log takes all or none, json, and a file path (with a /, as ./caapolicy.json) or unix:SOCKET to write to: log all json /var/log/coredns/caapolicy.json"},
		{"caapolicy example.org {\n log\n log json\n}", "Testfile:3 - Error during parsing: log is set twice; keep one log line"},
		{"caapolicy example.org {\n checks\n}", "Testfile:2 - Error during parsing: checks takes the window that groups a CA's queries into one check, or off: checks 2s"},
		{"caapolicy example.org {\n checks 2\n}", `Testfile:2 - Error during parsing: checks "2" is not a window from 1ms to 1m, or off; write checks 2s`},
		{"caapolicy example.org {\n checks 5m\n}", `Testfile:2 - Error during parsing: checks "5m" is not a window from 1ms to 1m, or off; write checks 2s`},
		{"caapolicy example.org {\n checks off\n checks 1s\n}", "Testfile:3 - Error during parsing: checks is set twice; keep one checks line"},
		{"caapolicy example.org {\n ca letsencrypt.org\n}", "Testfile:2 - Error during parsing: ca takes the CA's identifier and its source prefixes: ca letsencrypt.org 192.0.2.0/24 2001:db8::/32"},
		{"caapolicy example.org {\n ca letsencrypt 192.0.2.0/24\n}", `Testfile:2 - Error during parsing: ca "letsencrypt" is not a CA identifier; name the CA as CAA records do, such as letsencrypt.org`},
		{"caapolicy example.org {\n ca letsencrypt.org 192.0.2.0/33\n}", `Testfile:2 - Error during parsing: ca letsencrypt.org: "192.0.2.0/33" is not a CIDR prefix; write 192.0.2.0/24 or 2001:db8::/32`},
		{"caapolicy example.org {\n ca letsencrypt.org 192.0.2.1/24\n}", "Testfile:2 - Error during parsing: ca letsencrypt.org: 192.0.2.1/24 has host bits set; write 192.0.2.0/24"},
		// Messages that guess the intent.
		{"caapolicy example.org {\n issue letsencrypt.org digicert.com\n}", `Testfile:2 - Error during parsing: issue: "digicert.com" after letsencrypt.org looks like a second CA; write one CA per line: issue letsencrypt.org, then issue digicert.com on the next line`},
		{"caapolicy example.org {\n issue letsencrypt.org validationmethods:dns-01\n}", `Testfile:2 - Error during parsing: issue: parameter "validationmethods:dns-01": write validationmethods=dns-01, with '='`},
		{"caapolicy example.org {\n issue letsencrypt.org accounturi https://acme-v02.api.letsencrypt.org/acme/acct/1\n}", `Testfile:2 - Error during parsing: issue: parameter accounturi takes its value after '=', not a space: write accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1`},
		// Names that are no domain names.
		{"caapolicy example.org {\n name www } {\n  issue letsencrypt.org\n }\n}", `Testfile:2 - Error during parsing: name "}" is not a domain name; write a relative name such as www, or an absolute one with its trailing dot`},
		{"caapolicy example.org {\n name \"a\x00b\" {\n  issue letsencrypt.org\n }\n}", "Testfile:2 - Error during parsing: name \"a\\x00b\" is not a domain name; write a relative name such as www, or an absolute one with its trailing dot"},
		{"caapolicy example.org {\n name \"a b\" {\n  issue letsencrypt.org\n }\n}", `Testfile:2 - Error during parsing: name "a b" is not a domain name; write a relative name such as www, or an absolute one with its trailing dot`},
		// Limits: what cannot be sent.
		{"caapolicy example.org {\n record 0 tbs \"" + strings.Repeat("v", 1026) + "\"\n}", `Testfile:2 - Error during parsing: tbs value of 1026 bytes cannot be sent in a CAA record (dns: buffer size too small): DNS servers pack values of at most 1,025 bytes; shorten it`},
		{"caapolicy example.org {\n ca letsencrypt.org 192.0.2.0/24\n ca sectigo.com 2001:db8::/32 192.0.2.0/24\n}", "Testfile:3 - Error during parsing: ca sectigo.com: 192.0.2.0/24 is already attributed to letsencrypt.org (at Testfile:2); a source belongs to one CA"},
		{"caapolicy example.org {\n ca letsencrypt.org 2001:db8::/32 2001:DB8::/32\n}", "Testfile:2 - Error during parsing: ca letsencrypt.org: 2001:db8::/32 is listed twice (first at Testfile:2); remove one"},
		{"caapolicy example.org {\n name www {\n  partners aws\n }\n}", `Testfile:3 - Error during parsing: unknown property "partners" in a name block; a name block takes issue, issuewild, iodef, contactemail, contactphone, record, persist`},
		// Guard rails: choices that are always mistakes.
		{"caapolicy example.org {\n issue letsencrypt.org\n name www.example.org {\n  issue pki.goog\n }\n}", "Testfile:3 - Error during parsing: name www.example.org has no trailing dot, so it is relative and stands for www.example.org.example.org.; write name www (relative) or name www.example.org. (absolute)"},
		{"caapolicy example.org {\n name example.org {\n  issue pki.goog\n }\n}", "Testfile:2 - Error during parsing: name example.org has no trailing dot, so it is relative and stands for example.org.example.org.; the apex policy of example.org. is written at the top level of the block"},
		{"caapolicy . {\n issue letsencrypt.org\n}", "Testfile:1 - Error during parsing: a policy at the root zone . is never asked by any CA (the root servers answer for .), so it protects nothing; list the zones the policy is for (caapolicy example.org example.net { ... }), or write it in name blocks with absolute names"},
		{"caapolicy example.org {\n issue letsencrypt.org accounturi=http://acme.example/acct/1\n}", `Testfile:2 - Error during parsing: issue: accounturi "http://acme.example/acct/1" is not an https URL; ACME account URIs are https URLs such as https://acme-v02.api.letsencrypt.org/acme/acct/123456 (RFC 8555 section 7.3)`},
		{"caapolicy example.org {\n partners letsencrypt.org;accounturi=urn:acct:1\n}", `Testfile:2 - Error during parsing: partner "letsencrypt.org;accounturi=urn:acct:1": accounturi "urn:acct:1" is not an https URL; ACME account URIs are https URLs such as https://acme-v02.api.letsencrypt.org/acme/acct/123456 (RFC 8555 section 7.3); or name a preset: cloudflare, aws, google`},
	}
	for _, tc := range tests {
		t.Run("rejects "+blockSummary(tc.input), func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			c.Next()
			_, err := parse(c)
			if err == nil {
				t.Fatalf("expected error for %q", tc.input)
			}
			if err.Error() != tc.want {
				t.Errorf("\n got %s\nwant %s", err, tc.want)
			}
		})
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
			zones = append(zones, p.Zones)
			h = p.Next
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
			if got := rrStrings(w.Msg.Answer); !slices.Equal(got, []string{tc.want}) {
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
	before := answerStrings(exchange(t, "udp", udp, caaQuery("example.org.", false, 1232)), dns.TypeCAA)
	if _, err := inst.Restart(corednstest.Corefile(bare)); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("reload without zone data: err %v", err)
	}
	if got := answerStrings(exchange(t, "udp", udp, caaQuery("example.org.", false, 1232)), dns.TypeCAA); !slices.Equal(got, before) || len(got) == 0 {
		t.Errorf("after the failed reload: %q, want the old answer %q", got, before)
	}
}
