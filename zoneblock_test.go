package caapolicy

import (
	"slices"
	"strings"
	"testing"
)

func TestZoneBlocks(t *testing.T) {
	h := newTestHandler(t, `caapolicy . {
		partners cloudflare
		zone cust0002.test { partners off }
		zone Cust0003.Test. {
			partners aws
			trigger any
			ttl 60
		}
		zone cust0004.test {
			issue none
			issuewild none
			acknowledge lock-down asked for by the customer, ticket 4711
			name www { issue digicert.com }
		}
		zone cust0005.test { zonedata ignore
			name shop { issue letsencrypt.org } }
		zone sub.cust0005.test { ttl 30 }
		ttl 600
	}`, nil)
	t.Run("the zone blocks' policies are owners in their zones, with their zone's settings", func(t *testing.T) {
		got := records(h)
		want := []string{
			`cust0004.test. 600 IN CAA 0 issue ";"`,
			`cust0004.test. 600 IN CAA 0 issuewild ";"`,
			`shop.cust0005.test. 600 IN CAA 0 issue "letsencrypt.org"`,
			`shop.cust0005.test. 600 IN CAA 0 issue "pki.goog; cansignhttpexchanges=yes"`,
			`shop.cust0005.test. 600 IN CAA 0 issue "sectigo.com"`,
			`shop.cust0005.test. 600 IN CAA 0 issue "ssl.com"`,
			`www.cust0004.test. 600 IN CAA 0 issue "digicert.com"`,
			`www.cust0004.test. 600 IN CAA 0 issue "letsencrypt.org"`,
			`www.cust0004.test. 600 IN CAA 0 issue "pki.goog; cansignhttpexchanges=yes"`,
			`www.cust0004.test. 600 IN CAA 0 issue "sectigo.com"`,
			`www.cust0004.test. 600 IN CAA 0 issue "ssl.com"`,
		}
		if !slices.Equal(got, want) {
			t.Errorf("records\n got %q\nwant %q", got, want)
		}
	})
	t.Run("metrics and events name the zone block's zone", func(t *testing.T) {
		for q, want := range map[string]string{"www.Cust0002.test.": "cust0002.test.", "cust0001.test.": ".", "sub.cust0005.test.": "sub.cust0005.test."} {
			if _, label, _, ok := h.view.Find(q); !ok || label != want {
				t.Errorf("find(%s) = %q %v, want the label %q", q, label, ok, want)
			}
		}
	})
	t.Run("the acknowledged lock-down warns nothing and is listed as acknowledged", func(t *testing.T) {
		for _, w := range h.Warnings() {
			if strings.Contains(w, "cust0004") {
				t.Errorf("warning about the acknowledged owner: %s", w)
			}
		}
		want := []string{
			"Testfile:9: partners at cust0004.test.: issue is locked down (only empty issuers, issue \";\"), so no partner may issue there; issuewild is locked down (only empty issuers, issuewild \";\"), so no partner may issue wildcard certificates there (acknowledged at Testfile:12: lock-down asked for by the customer, ticket 4711)",
		}
		if got := h.Acknowledged(); !slices.Equal(got, want) {
			t.Errorf("acknowledged\n got %q\nwant %q", got, want)
		}
	})
}

func TestAcknowledge(t *testing.T) {
	for _, tc := range []struct {
		name          string
		input         string
		warned, acked []string
	}{
		{"an acknowledged name block is quiet, the other warns", `caapolicy example.org {
			issue letsencrypt.org
			partners sectigo.com
			name legacy {
				issue none
				acknowledge kept locked for the old CA migration
			}
			name other {
				issue none
			}
		}`, []string{
			`Testfile:8: partners at other.example.org.: issue is locked down (only empty issuers, issue ";"), so no partner may issue there`,
		}, []string{
			`Testfile:4: partners at legacy.example.org.: issue is locked down (only empty issuers, issue ";"), so no partner may issue there (acknowledged at Testfile:6: kept locked for the old CA migration)`,
		}},
		{"an acknowledge with nothing to cover is a warning", `caapolicy example.org {
			issue letsencrypt.org
			acknowledge nothing to see
		}`, []string{
			`Testfile:3: acknowledge covers no warning: nothing in this policy is warned about; remove the acknowledge line`,
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHandler(t, tc.input, nil)
			if got := h.Warnings(); !slices.Equal(got, tc.warned) {
				t.Errorf("warnings\n got %q\nwant %q", got, tc.warned)
			}
			if got := h.Acknowledged(); !slices.Equal(got, tc.acked) {
				t.Errorf("acknowledged\n got %q\nwant %q", got, tc.acked)
			}
		})
	}
}

// TestZoneBlockFingerprint: the policy fingerprint (internal/served, serial.go), which a reload under the same
// serial must keep, moves when a zone block changes what is served, and not when zone blocks are
// reordered (as renamed imported files are) or when one changes nothing.
func TestZoneBlockFingerprint(t *testing.T) {
	fp := func(body string) uint64 {
		return newTestHandler(t, "caapolicy . {\n partners aws\n"+body+"}", nil).view.Fingerprint(".")
	}
	base := fp(" zone a.test { partners off }\n zone b.test { ttl 60 }\n")
	for _, tc := range []struct {
		name string
		body string
		same bool
	}{
		{"zone blocks reordered", " zone b.test { ttl 60 }\n zone a.test { partners off }\n", true},
		{"a zone block that changes nothing added", " zone a.test { partners off }\n zone b.test { ttl 60 }\n zone c.test { }\n zone d.test { partners aws }\n", true},
		{"a zone block's setting changed", " zone a.test { partners off }\n zone b.test { ttl 61 }\n", false},
		{"a zone block's policy added", " zone a.test { partners off }\n zone b.test {\n  ttl 60\n  issue none\n }\n", false},
		{"a zone block removed", " zone a.test { partners off }\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fp(tc.body) == base; got != tc.same {
				t.Errorf("fingerprint unchanged = %v, want %v", got, tc.same)
			}
		})
	}
}

// TestAcknowledgeNameBlockOfSeveralOwners: one acknowledge in a name block of several owners
// covers each owner's warning and is not itself reported as covering nothing.
func TestAcknowledgeNameBlockOfSeveralOwners(t *testing.T) {
	h := newTestHandler(t, `caapolicy example.org {
		issue letsencrypt.org
		partners sectigo.com
		name a b {
			issue none
			acknowledge both kept locked
		}
	}`, nil)
	if w := h.Warnings(); len(w) != 0 {
		t.Errorf("warnings %q, want none", w)
	}
	if got := len(h.Acknowledged()); got != 2 {
		t.Errorf("%d acknowledged, want 2: %q", got, h.Acknowledged())
	}
}
