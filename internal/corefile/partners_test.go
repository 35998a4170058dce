package corefile

import (
	"slices"
	"testing"
)

// TestPartnersParse: presets expand to their CAs, several arguments and lines add up, identifiers
// are lowercase without a trailing dot, and a CA listed twice keeps its first value, with a
// warning where the second differs.
func TestPartnersParse(t *testing.T) {
	b := parseBlock(t, `caapolicy example.org {
		partners cloudflare google
		partners aws letsencrypt.org;accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1 Buypass.COM.;validationmethods=dns-01
		trigger any
	}`)
	var got []string
	for _, p := range b.Settings.Partners {
		got = append(got, p.Value)
	}
	want := []string{"pki.goog; cansignhttpexchanges=yes", "letsencrypt.org", "ssl.com", "sectigo.com", "amazon.com", "buypass.com; validationmethods=dns-01"}
	if !slices.Equal(got, want) || b.Settings.Trigger != TriggerAny {
		t.Errorf("partners\n got %q trigger %d\nwant %q trigger any", got, b.Settings.Trigger, want)
	}
	wantWarnings := []string{
		"Testfile:2: partner pki.goog is listed again as \"pki.goog\"; the first, \"pki.goog; cansignhttpexchanges=yes\" from Testfile:2, is used",
		"Testfile:3: partner letsencrypt.org is listed again as \"letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1\"; the first, \"letsencrypt.org\" from Testfile:2, is used",
	}
	if !slices.Equal(b.Warnings, wantWarnings) {
		t.Errorf("warnings\n got %q\nwant %q", b.Warnings, wantWarnings)
	}
}
