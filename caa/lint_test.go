package caa

import (
	"slices"
	"testing"
)

// TestMethodWarnings: the lint names labels that are neither ACME methods nor well-formed
// ca-tbr-N, uppercase labels, and ca-tbr-N labels Let's Encrypt would deny.
func TestMethodWarnings(t *testing.T) {
	tests := []struct {
		name, list string
		want       []string
	}{
		{"ACME methods", "dns-01,http-01", nil},
		{"ca-tbr-7 beside its alias", "ca-tbr-7,dns-01", nil},
		{"ca-tbr-7 alone", "ca-tbr-7", []string{`issue validationmethods "ca-tbr-7": Let's Encrypt (Boulder) reads only ACME names and denies a dns-01 request here; CAs following ballot SC-098 treat it as dns-01. Add dns-01 to the list`}},
		{"ca-tbr-N without an alias", "ca-tbr-2,http-01", []string{`issue validationmethods "ca-tbr-2" names a Baseline Requirements method with no ACME alias: Let's Encrypt skips it and denies unless the list names an ACME method it validates with`}},
		{"uppercase ACME method", "DNS-01", []string{`issue validationmethods "DNS-01" has uppercase letters; lowercase is canonical and Let's Encrypt compares labels byte for byte, so write dns-01`}},
		{"old long form", "ca-tbr-3-2-2-4-7,dns-01", []string{`issue validationmethods "ca-tbr-3-2-2-4-7" is not a Baseline Requirements label: ballot SC-098 writes section 3.2.2.4.N as ca-tbr-N (ca-tbr-7 for DNS Change), so no CA validates with it`}},
		{"unknown label", "email", []string{`issue validationmethods "email" is neither an ACME validation method (http-01, dns-01, tls-alpn-01, dns-account-01, dns-persist-01) nor a Baseline Requirements ca-tbr-N label, so no CA validates with it`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := PropertyWarnings(0, "issue", "letsencrypt.org; validationmethods="+tc.list, "example.org.")
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
