package caa

import (
	"strings"
	"testing"
)

func TestNearestCA(t *testing.T) {
	for in, want := range map[string]string{
		"letsencrypt.com": "letsencrypt.org", "pki.google.com": "pki.goog", "digicert.org": "digicert.com",
		"sectgo.com": "sectigo.com", "globalsign.net": "globalsign.com", "Letsencrypt.org.": "",
		"example.com": "", "amazon.de": "amazon.com",
	} {
		got, ok := NearestCA(in)
		if !ok {
			got = ""
		}
		if got != want {
			t.Errorf("NearestCA(%q) = %q, want %q", in, got, want)
		}
	}
	for _, k := range knownCAs {
		if k != strings.ToLower(k) || CheckDomainName(k) != nil {
			t.Errorf("known CA %q is not a lowercase domain name", k)
		}
	}
}
