package caapolicy

import (
	"slices"
	"testing"

	"github.com/coredns/caddy"
)

func lintBlock(t *testing.T, body string) []string {
	t.Helper()
	c := caddy.NewTestController("dns", "caapolicy example.org {\n"+body+"\n}")
	c.Next()
	h, err := parse(c)
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return h.Warnings()
}

// TestLintWarnings has one row per start-up warning: the mistake and the exact warning.
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
		{"partner lock-down conflict", "issue none\npartners letsencrypt.org",
			[]string{`Testfile:1: partners at example.org.: issue is locked down (only empty issuers, issue ";"), so no partner may issue there`}},
		{"malformed issuer is a lock-down for partners", `record 0 issue "<script>alert(1)</script>"` + "\npartners letsencrypt.org",
			[]string{
				`Testfile:1: partners at example.org.: issue is locked down (only issuers that authorize nobody: issue "<script>alert(1)</script>" is malformed and read as ";" (RFC 8659 section 4.2)), so no partner may issue there`,
				`Testfile:2: issue "<script>alert(1)</script>" is malformed (issuer "<script>alert(1)</script>": "<script>alert(1)</script>" holds '<'; only letters, digits and inner hyphens are allowed) and authorizes no CA`,
			}},
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := lintBlock(t, tc.body); !slices.Equal(got, tc.want) {
				t.Errorf("\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestLintCorrectPolicies proves that sound policies start without a single warning.
func TestLintCorrectPolicies(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"one issuer", "issue letsencrypt.org"},
		{"a lock-down", "issue none"},
		{"every property with bound parameters", "issue letsencrypt.org accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1 validationmethods=dns-01,http-01\nissuewild none\niodef mailto:security@example.org\ncontactemail security@example.org\ncontactphone +1-555-0100"},
		{"several issuers and a name block with its own", "issue pki.goog\nissue digicert.com\nissuewild sectigo.com\nname www {\nissue letsencrypt.org\niodef https://example.org/caa\n}"},
		{"contacts only, under an unrestricted apex", "iodef mailto:security@example.org\nname www {\ncontactemail security@example.org\n}"},
		{"partner presets beside an issuer", "issue amazon.com\npartners cloudflare aws\ntrigger restrictive"},
		{"a critical known tag and a non-critical unknown one", `issue letsencrypt.org` + "\n" + `record 128 issue "sectigo.com"` + "\n" + `record 0 tbs "x"`},
		{"a ca-tbr-N label beside its alias, and an absolute name", "issue sectigo.com validationmethods=ca-tbr-7,dns-01\nname www.example.org. {\nissue letsencrypt.org\n}"},
	} {
		t.Run(tc.name+" starts without a warning", func(t *testing.T) {
			if got := lintBlock(t, tc.body); len(got) != 0 {
				t.Errorf("%q: unexpected warnings %q", tc.body, got)
			}
		})
	}
}
