package corefile

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/dnsname"

	"github.com/miekg/dns"
)

// lintBlock returns the warnings that start-up shows for a block of example.org with body,
// but for the partner conflicts: Parse's, then Lint's, with the acknowledged ones left out.
func lintBlock(t *testing.T, body string) []string {
	t.Helper()
	b := parseBlock(t, "caapolicy example.org {\n"+body+"\n}")
	shown, _ := b.Acknowledge(append(b.Warnings, b.Lint(policyOnly(b))...))
	return shown
}

// policyOnly is a caa.Lookup over the properties that b declares, without the records the plugin
// adds to them (partners, persist): enough for policies whose persist lines have no CAA at their
// own owner.
func policyOnly(b *Block) caa.Lookup {
	return func(_ context.Context, n string) (caa.Step, error) {
		n = strings.ToLower(dns.Fqdn(n))
		s := caa.Step{Name: n, Outside: true}
		for _, z := range b.Zones {
			s.Outside = s.Outside && !dnsname.AtOrBelow(n, z)
		}
		p, ok := b.Names[n]
		if slices.Contains(b.Zones, n) {
			p, ok = b.Apex, true
		}
		if ok && !s.Outside {
			for _, pr := range p.Props {
				s.RRset = append(s.RRset, dns.CAA{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeCAA, Class: dns.ClassINET}, Flag: pr.Flag, Tag: pr.Tag, Value: pr.Value})
			}
		}
		return s, nil
	}
}

// TestLintWarnings has one row per start-up warning found in the block alone: the mistake and the
// exact warning. The partner conflicts at owners are the plugin's (its lint_test.go).
func TestLintWarnings(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"misspelt CA, other TLD", "issue letsencrypt.com",
			[]string{"Testfile:2: issue letsencrypt.com is not a known CA identifier; did you mean letsencrypt.org? A misspelt identifier locks the CA out"}},
		{"misspelt CA, longer", "issue pki.google.com",
			[]string{"Testfile:2: issue pki.google.com is not a known CA identifier; did you mean pki.goog? A misspelt identifier locks the CA out"}},
		{"misspelt CA, typo", "issuewild letsencrpyt.org\nissue letsencrypt.org",
			[]string{"Testfile:2: issuewild letsencrpyt.org is not a known CA identifier; did you mean letsencrypt.org? A misspelt identifier locks the CA out"}},
		{"unknown CA", "issue ca.internal.example",
			[]string{"Testfile:2: issue ca.internal.example is not in caapolicy's table of known CA identifiers; check it against the CA's CPS (section 4.2.4)"}},
		{"uppercase identifier", `record 0 issue "LetsEncrypt.org"`,
			[]string{`Testfile:2: issue "LetsEncrypt.org" has uppercase letters; Let's Encrypt matches the issuer byte for byte, so write letsencrypt.org`}},
		{"URL identifier", `record 0 issue "https://letsencrypt.org/"`,
			[]string{`Testfile:2: issue "https://letsencrypt.org/" names the CA by URL; CAs match the bare domain, so write letsencrypt.org`}},
		{"trailing dot", `record 0 issue "letsencrypt.org."`,
			[]string{`Testfile:2: issue "letsencrypt.org." ends with a dot; no CA matches that, write letsencrypt.org`}},
		{"malformed value", `record 0 issue "letsencrypt.org; oops"`,
			[]string{`Testfile:2: issue "letsencrypt.org; oops" is malformed (parameter "oops" is not of the form tag=value) and authorizes no CA`}},
		{"hyphenated parameter tag", "issue letsencrypt.org account-uri=https://acme-v02.api.letsencrypt.org/acme/acct/1",
			[]string{`Testfile:2: issue parameter "account-uri" has a hyphen; Let's Encrypt ignores the whole record, write accounturi`}},
		{"duplicate accounturi", "issue letsencrypt.org accounturi=https://a.example/1 accounturi=https://a.example/2",
			[]string{`Testfile:2: issue "letsencrypt.org; accounturi=https://a.example/1; accounturi=https://a.example/2" repeats accounturi, which makes it unsatisfiable for every CA (RFC 8657); keep one accounturi, or write two issue lines`}},
		{"duplicate validationmethods", "issue letsencrypt.org validationmethods=dns-01 validationmethods=http-01",
			[]string{`Testfile:2: issue "letsencrypt.org; validationmethods=dns-01; validationmethods=http-01" repeats validationmethods, which makes it unsatisfiable for every CA (RFC 8657); keep one validationmethods, or write two issue lines`}},
		{"issuewild only", "issuewild letsencrypt.org",
			[]string{"Testfile:1: the policy at example.org. has issuewild but no issue, so any CA may issue non-wildcard certificates there; add issue lines (or issue none)"}},
		{"iodef-only name under a restrictive apex", "issue letsencrypt.org\nname www {\niodef mailto:security@example.org\n}",
			[]string{"Testfile:3: the policy at www.example.org. has no issue or issuewild property, so it lifts the restriction of example.org. (declared at Testfile:1): any CA may issue for www.example.org.; repeat the parent's issue lines in this name block"}},
		{"contact-only name under a restrictive name", "name shop {\nissue sectigo.com\n}\nname a.shop {\ncontactemail security@example.org\n}",
			[]string{"Testfile:5: the policy at a.shop.example.org. has no issue or issuewild property, so it lifts the restriction of shop.example.org. (declared at Testfile:2): any CA may issue for a.shop.example.org.; repeat the parent's issue lines in this name block"}},
		{"flags neither 0 nor 128", `issue letsencrypt.org` + "\n" + `record 1 tbs "x"`,
			[]string{"Testfile:3: flags 1 on tbs: only 0 and 128 (Issuer Critical) are defined, write one of them; Let's Encrypt treats bit 1 as critical too"}},
		{"critical unknown tag", `issue letsencrypt.org` + "\n" + `record 128 tbs "x"`,
			[]string{"Testfile:3: critical property tbs at example.org. has a tag no CA knows, so no CA may issue there; use flags 0 unless that is the intent"}},
		{"unknown validation method", "issue letsencrypt.org validationmethods=http01,ca-tbr-3-2-2-4-7,email",
			[]string{
				`Testfile:2: issue validationmethods "http01" is not an ACME validation method, so no CA validates with it; did you mean http-01?`,
				`Testfile:2: issue validationmethods "ca-tbr-3-2-2-4-7" is not a Baseline Requirements label: ballot SC-098 writes section 3.2.2.4.N as ca-tbr-N (ca-tbr-7 for DNS Change), so no CA validates with it`,
				`Testfile:2: issue validationmethods "email" is neither an ACME validation method (http-01, dns-01, tls-alpn-01, dns-account-01, dns-persist-01) nor a Baseline Requirements ca-tbr-N label, so no CA validates with it`,
			}},
		{"issue none beside an issuer", "issue none\nissue letsencrypt.org",
			[]string{`Testfile:2: issue none at example.org. is ignored beside issue "letsencrypt.org" (Testfile:3): CAA properties add up, so that CA may still issue; remove one of them`}},
		{"issuewild none beside an issuer in a name block", "issue letsencrypt.org\nname www {\nissue letsencrypt.org\nissuewild sectigo.com\nissuewild none\n}",
			[]string{`Testfile:6: issuewild none at www.example.org. is ignored beside issuewild "sectigo.com" (Testfile:5): CAA properties add up, so that CA may still issue; remove one of them`}},
		{"misspelt partner", "issue letsencrypt.org\npartners sectigo.net",
			[]string{"Testfile:3: partner sectigo.net is not a known CA identifier; did you mean sectigo.com? A misspelt identifier locks the CA out"}},
		{"plain http iodef", "issue letsencrypt.org\niodef http://example.org/caa",
			[]string{`Testfile:3: iodef "http://example.org/caa" sends incident reports over plain http; prefer https:`}},
		{"partner listed twice", "issue letsencrypt.org\npartners google letsencrypt.org;validationmethods=dns-01",
			[]string{`Testfile:3: partner letsencrypt.org is listed again as "letsencrypt.org; validationmethods=dns-01"; the first, "letsencrypt.org" from Testfile:3, is used`}},
		{"persist under a parent that binds the validation methods", "issue letsencrypt.org validationmethods=dns-01\nname app {\npersist letsencrypt.org https://acme-v02.api.letsencrypt.org/acme/acct/7\n}",
			[]string{
				"Testfile:3: the policy at app.example.org. has no issue or issuewild property, so it lifts the restriction of example.org. (declared at Testfile:1): any CA may issue for app.example.org.; repeat the parent's issue lines in this name block",
				`Testfile:4: _validation-persist.app.example.org. persists an authorization of letsencrypt.org (account https://acme-v02.api.letsencrypt.org/acme/acct/7) for app.example.org, but CAA does not allow it: no issue property at example.org. authorizes letsencrypt.org: issue "letsencrypt.org; validationmethods=dns-01" allows only the validation methods dns-01, not dns-persist-01; add issue letsencrypt.org accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/7 (and issuewild for wildcard) where the policy decides, or remove the persist line`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := lintBlock(t, tc.body); !slices.Equal(got, tc.want) {
				t.Errorf("\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
