package corefile

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy"
)

// parseBlock parses the one caapolicy block of input, or fails the test.
func parseBlock(t *testing.T, input string) *Block {
	t.Helper()
	c := caddy.NewTestController("dns", input)
	c.Next()
	b, err := Parse(c)
	if err != nil {
		t.Fatalf("%s: %v", input, err)
	}
	return b
}

// TestParseBlock: what a block holds once read: zones and names lowercase and fully qualified,
// issue values normalized, relative names completed with every zone, and zone blocks given the
// block's settings where they write none, wherever in the block those are written.
func TestParseBlock(t *testing.T) {
	b := parseBlock(t, `caapolicy Example.ORG example.net {
		issue LetsEncrypt.ORG.
		issuewild none
		name www shop.example.org. { issue sectigo.com;validationmethods=dns-01 }
		zone cust.example.org {
			partners off
			ttl 60
		}
		zone other.example.net { zonedata ignore }
		partners aws
		trigger any
		ttl 600
		serial 7
		fallthrough example.org
	}`)
	if want := []string{"example.org.", "example.net."}; !slices.Equal(b.Zones, want) {
		t.Errorf("zones %q, want %q", b.Zones, want)
	}
	var apex []string
	for _, pr := range b.Apex.Props {
		apex = append(apex, pr.Tag+" "+pr.Value+" "+pr.Pos)
	}
	if want := []string{"issue letsencrypt.org Testfile:2", "issuewild ; Testfile:3"}; !slices.Equal(apex, want) || b.Apex.Pos != "Testfile:1" || b.Pos != "Testfile:1" {
		t.Errorf("apex %q at %s, want %q at Testfile:1", apex, b.Apex.Pos, want)
	}
	names := slices.Sorted(maps.Keys(b.Names))
	if want := []string{"shop.example.org.", "www.example.net.", "www.example.org."}; !slices.Equal(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
	if p := b.Names["www.example.net."]; len(p.Props) != 1 || p.Props[0].Value != "sectigo.com; validationmethods=dns-01" || p.Pos != "Testfile:4" {
		t.Errorf("www.example.net.: %+v", p)
	}
	if b.Serial != 7 || !b.FallSet || !slices.Equal(b.Fall, []string{"example.org"}) {
		t.Errorf("serial %d, fallthrough %v %q", b.Serial, b.FallSet, b.Fall)
	}
	summary := func(s Scope) string {
		var ps []string
		for _, p := range s.Partners {
			ps = append(ps, p.Value)
		}
		return fmt.Sprintf("ttl %d merge %v trigger %d partners %s", s.TTL, s.Merge, s.Trigger, strings.Join(ps, ","))
	}
	for _, tc := range []struct{ name, got, want string }{
		{"the block", summary(b.Settings), "ttl 600 merge true trigger 1 partners amazon.com"},
		{"cust.example.org.", summary(b.Overrides[0].Settings), "ttl 60 merge true trigger 1 partners "},
		{"other.example.net.", summary(b.Overrides[1].Settings), "ttl 600 merge false trigger 1 partners amazon.com"},
	} {
		if tc.got != tc.want {
			t.Errorf("settings of %s: %s, want %s", tc.name, tc.got, tc.want)
		}
	}
	if b.Overrides[0].Name != "cust.example.org." || b.Overrides[0].Pos != "Testfile:5" {
		t.Errorf("zone block %s at %s", b.Overrides[0].Name, b.Overrides[0].Pos)
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

func TestParseRejects(t *testing.T) {
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
			_, err := Parse(c)
			if err == nil {
				t.Fatalf("expected error for %q", tc.input)
			}
			if err.Error() != tc.want {
				t.Errorf("\n got %s\nwant %s", err, tc.want)
			}
		})
	}
}

func TestZoneBlockRejects(t *testing.T) {
	for _, tc := range []struct{ name, input, want string }{
		{"a block-wide setting in a zone block", "caapolicy . {\n zone a.test {\n  log none\n }\n}", `Testfile:3 - Error during parsing: log applies to the whole caapolicy block; write it at the block's top level, not in zone a.test.`},
		{"fallthrough in a zone block", "caapolicy . {\n zone a.test { fallthrough }\n}", `Testfile:2 - Error during parsing: fallthrough applies to the whole caapolicy block; write it at the block's top level, not in zone a.test.`},
		{"a zone outside the block", "caapolicy example.org {\n zone a.test { partners off }\n}", `Testfile:2 - Error during parsing: zone a.test. is outside the zones of this block (example.org.); a zone block overrides settings for a zone below them`},
		{"the block's own zone", "caapolicy example.org {\n zone example.org { partners off }\n}", `Testfile:2 - Error during parsing: zone example.org. is a zone of this caapolicy block itself; write its settings at the block's top level`},
		{"two zone blocks for one zone", "caapolicy . {\n zone a.test { partners off }\n zone A.TEST. { ttl 5 }\n}", `Testfile:3 - Error during parsing: zone a.test. has two zone blocks (the first at Testfile:2); merge them`},
		{"a nested zone block", "caapolicy . {\n zone a.test {\n  zone b.a.test { ttl 5 }\n }\n}", `Testfile:3 - Error during parsing: zone blocks cannot be nested; write each zone block at the top level of the caapolicy block`},
		{"a bare zone in a zone block", "caapolicy . {\n zone a.test {\n  zone\n }\n}", `Testfile:3 - Error during parsing: zone blocks cannot be nested; write each zone block at the top level of the caapolicy block`},
		{"zonedata ignore in a zone that fallthrough covers", "caapolicy . {\n fallthrough\n zone a.test {\n  zonedata ignore\n }\n}", `Testfile:3 - Error during parsing: zone a.test. ignores zone data, but fallthrough (at Testfile:2) covers it, and fallthrough needs zonedata merge: only the zone data tells caapolicy that a name does not exist; keep zonedata merge in zone a.test. or leave it out of the fallthrough zones`},
		{"a one-line caapolicy block", "caapolicy example.org { issue letsencrypt.org }", `Testfile:1 - Error during parsing: a one-line caapolicy block is not supported: put its closing } on a line of its own`},
		{"no block", "caapolicy . {\n zone a.test\n}", `Testfile:2 - Error during parsing: zone takes one zone name and a block opened on the same line: zone cust.example { partners off }`},
		{"not a name", "caapolicy . {\n zone a..test { ttl 5 }\n}", `Testfile:2 - Error during parsing: zone "a..test" is not a domain name; write the zone's full name: zone cust.example { partners off }`},
		{"an unknown setting", "caapolicy . {\n zone a.test { bogus 1 }\n}", `Testfile:2 - Error during parsing: unknown setting "bogus" in zone a.test.; a zone block takes ttl, zonedata, partners, trigger, name, acknowledge and the properties issue, issuewild, iodef, contactemail, contactphone, record, persist`},
		{"partners off beside partners in one zone block", "caapolicy . {\n zone a.test {\n  partners aws\n  partners off\n }\n}", `Testfile:4 - Error during parsing: partners off conflicts with the partners listed at Testfile:3; keep one of them`},
		{"the zone apex declared by a name block too", "caapolicy . {\n name a.test. { issue x.example }\n zone a.test { issue y.example }\n}", `Testfile:3 - Error during parsing: the policy at a.test. is declared twice (first at Testfile:2); keep it in zone a.test.'s block`},
		{"one brace too many", "caapolicy . {\n zone a.test { ttl 5 } }\n}", `Testfile:2 - Error during parsing: unexpected '}': this line closes more blocks than are open`},
		{"acknowledge without a reason", "caapolicy example.org {\n issue none\n acknowledge\n}", `Testfile:3 - Error during parsing: acknowledge takes the reason the warned-about choice is intended: acknowledge lock-down requested by the customer`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			c.Next()
			_, err := Parse(c)
			if err == nil || err.Error() != tc.want {
				t.Errorf("\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}
