package caa

import (
	"strings"
	"testing"
)

func TestNearestCA(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"letsencrypt.com", "letsencrypt.org"}, {"pki.google.com", "pki.goog"}, {"digicert.org", "digicert.com"},
		{"sectgo.com", "sectigo.com"}, {"globalsign.net", "globalsign.com"}, {"Letsencrypt.org.", ""},
		{"example.com", ""}, {"amazon.de", "amazon.com"},
	} {
		name := tc.in + " suggests " + tc.want
		if tc.want == "" {
			name = tc.in + " suggests nothing"
		}
		t.Run(name, func(t *testing.T) {
			got, ok := NearestCA(tc.in)
			if !ok {
				got = ""
			}
			if got != tc.want {
				t.Errorf("NearestCA(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	t.Run("every known CA is a lowercase domain name", func(t *testing.T) {
		for _, k := range knownCAs {
			if k != strings.ToLower(k) || CheckDomainName(k) != nil {
				t.Errorf("known CA %q is not a lowercase domain name", k)
			}
		}
	})
}
