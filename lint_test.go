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
	h, err := newHandler(c)
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return h.Warnings()
}

// TestLintPartnerWarnings has one row per warning the plugin adds to the Corefile's
// (internal/corefile's lint_test.go has those): the partner conflicts at each owner, found as
// its partner records are built.
func TestLintPartnerWarnings(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"partner lock-down conflict", "issue none\npartners letsencrypt.org",
			[]string{`Testfile:1: partners at example.org.: issue is locked down (only empty issuers, issue ";"), so no partner may issue there`}},
		{"malformed issuer is a lock-down for partners", `record 0 issue "<script>alert(1)</script>"` + "\npartners letsencrypt.org",
			[]string{
				`Testfile:1: partners at example.org.: issue is locked down (only issuers that authorize nobody: issue "<script>alert(1)</script>" is malformed and read as ";" (RFC 8659 section 4.2)), so no partner may issue there`,
				`Testfile:2: issue "<script>alert(1)</script>" is malformed (issuer "<script>alert(1)</script>": "<script>alert(1)</script>" holds '<'; only letters, digits and inner hyphens are allowed) and authorizes no CA`,
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
