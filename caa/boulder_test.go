package caa

import (
	"testing"

	"github.com/miekg/dns"
)

// TestLetsEncryptNamedCases runs the cases of Boulder's TestCAAChecking (v0.20260921.0,
// va/caa_test.go) by their names, with the same RRsets, account and method: Let's Encrypt's
// identifier, account https://letsencrypt.org/acct/reg/123, validation method http-01. The
// cases after them cover the tags Boulder learnt later and the branches its table leaves out.
func TestLetsEncryptNamedCases(t *testing.T) {
	const acct = "https://letsencrypt.org/acct/reg/123"
	type rr = struct {
		flag       uint8
		tag, value string
	}
	tests := []struct {
		name   string
		domain string
		rrset  []rr
		valid  bool
	}{
		{"Bad (Reserved)", "reserved.com", []rr{{0, "issue", "ca.com"}}, false},
		{"Bad (Reserved, Mixed case Issue)", "mixedcase.com", []rr{{0, "iSsUe", "ca.com"}}, false},
		{"Bad (Critical)", "critical.com", []rr{{1, "issue", "ca.com"}}, false},
		{"Good (absent)", "absent.com", nil, true},
		{"Good (present and valid)", "present.com", []rr{{0, "issue", "letsencrypt.org"}}, true},
		{"Good (multiple critical, one matching)", "multi-crit-present.com", []rr{{1, "issue", "ca.com"}, {1, "issue", "letsencrypt.org"}}, true},
		{"Bad (unknown critical)", "unknown-critical.com", []rr{{128, "foo", "bar"}}, false},
		{"Bad (unknown critical 2)", "unknown-critical2.com", []rr{{1, "foo", "bar"}}, false},
		{"Good (unknown non-critical, no issue/issuewild)", "unknown-noncritical.com", []rr{{0x7e, "foo", "bar"}}, true},
		{"Good (issue rec with unknown params)", "present-with-parameter.com", []rr{{0, "issue", "  letsencrypt.org  ;foo=bar;baz=bar"}}, true},
		{"Bad (issue rec with invalid tag)", "present-with-invalid-tag.com", []rr{{0, "issue", "letsencrypt.org; a_b=123"}}, false},
		{"Bad (issue rec with invalid value)", "present-with-invalid-value.com", []rr{{0, "issue", "letsencrypt.org; ab=1 2 3"}}, false},
		{"Bad (restricts to dns-01, but tested with http-01)", "present-dns-only.com", []rr{{0, "issue", "letsencrypt.org; validationmethods=dns-01"}}, false},
		{"Good (restricts to http-01, tested with http-01)", "present-http-only.com", []rr{{0, "issue", "letsencrypt.org; validationmethods=http-01"}}, true},
		{"Good (restricts to http-01 or dns-01, tested with http-01)", "present-http-or-dns.com", []rr{{0, "issue", "letsencrypt.org; validationmethods=http-01,dns-01"}}, true},
		{"Good (restricts to accounturi, tested with correct account)", "present-correct-accounturi.com", []rr{{0, "issue", "letsencrypt.org; accounturi=" + acct}}, true},
		{"Good (restricts to http-01 and accounturi, tested with correct account)", "present-http-only-correct-accounturi.com", []rr{{0, "issue", "letsencrypt.org; accounturi=" + acct + "; validationmethods=http-01"}}, true},
		{"Bad (restricts to dns-01 and accounturi, tested with http-01)", "present-dns-only-correct-accounturi.com", []rr{{0, "issue", "letsencrypt.org; accounturi=" + acct + "; validationmethods=dns-01"}}, false},
		{"Bad (restricts to http-01 and accounturi, tested with incorrect account)", "present-http-only-incorrect-accounturi.com", []rr{{0, "issue", "letsencrypt.org; accounturi=https://letsencrypt.org/acct/reg/321; validationmethods=http-01"}}, false},
		{"Bad (restricts to accounturi, tested with incorrect account)", "present-incorrect-accounturi.com", []rr{{0, "issue", "letsencrypt.org; accounturi=https://letsencrypt.org/acct/reg/321"}}, false},
		{"Good (restricts to multiple accounturi, tested with a correct account)", "present-multiple-accounturi.com", []rr{{0, "issue", "letsencrypt.org; accounturi=https://letsencrypt.org/acct/reg/321"}, {0, "issue", "letsencrypt.org; accounturi=" + acct}}, true},
		{"Bad (unsatisfiable issue record)", "unsatisfiable.com", []rr{{0, "issue", ";"}}, false},
		{"Bad (unsatisfiable issue, wildcard)", "*.unsatisfiable.com", []rr{{0, "issue", ";"}}, false},
		{"Bad (unsatisfiable wildcard)", "*.unsatisfiable-wildcard.com", []rr{{0, "issuewild", ";"}}, false},
		{"Bad (unsatisfiable wildcard override)", "*.unsatisfiable-wildcard-override.com", []rr{{0, "issue", "letsencrypt.org"}, {0, "issuewild", "ca.com"}}, false},
		{"Good (satisfiable wildcard)", "*.satisfiable-wildcard.com", []rr{{0, "issuewild", "letsencrypt.org"}}, true},
		{"Good (multiple issuewild, one satisfiable)", "*.satisfiable-multi-wildcard.com", []rr{{0, "issuewild", "ca.com"}, {0, "issuewild", "letsencrypt.org"}}, true},
		{"Good (satisfiable wildcard override)", "*.satisfiable-wildcard-override.com", []rr{{0, "issue", "ca.com"}, {0, "issuewild", "letsencrypt.org"}}, true},

		// Tags Boulder knows besides issue, issuewild and iodef: critical ones do not block.
		{"Good (critical issuemail beside issue)", "issuemail.com", []rr{{128, "issuemail", "x"}, {0, "issue", "letsencrypt.org"}}, true},
		{"Good (critical issuevmc beside issue)", "issuevmc.com", []rr{{128, "issuevmc", "x"}, {0, "issue", "letsencrypt.org"}}, true},
		{"Good (critical iodef beside issue)", "iodef.com", []rr{{128, "iodef", "mailto:a@iodef.com"}, {0, "issue", "letsencrypt.org"}}, true},
		{"Bad (critical contactemail, unknown to Boulder)", "contactemail.com", []rr{{128, "contactemail", "a@contactemail.com"}, {0, "issue", "letsencrypt.org"}}, false},
		// Branches the table leaves out.
		{"Good (iodef only)", "iodef-only.com", []rr{{0, "iodef", "mailto:a@iodef-only.com"}}, true},
		{"Good (iodef only, wildcard: no issue or issuewild restricts)", "*.iodef-only.com", []rr{{0, "iodef", "mailto:a@iodef-only.com"}}, true},
		{"Good (unknown tag only, wildcard)", "*.unknown-only.com", []rr{{0, "foo", "bar"}}, true},
		{"Good (issuewild only, not a wildcard)", "issuewild-only.com", []rr{{0, "issuewild", "ca.com"}}, true},
		{"Bad (issuer in uppercase)", "upper.com", []rr{{0, "issue", "LetsEncrypt.org"}}, false},
		{"Bad (issuer with trailing dot)", "dot.com", []rr{{0, "issue", "letsencrypt.org."}}, false},
		{"Bad (hyphenated parameter tag)", "hyphen.com", []rr{{0, "issue", "letsencrypt.org; account-uri=" + acct}}, false},
		{"Bad (repeated accounturi is unsatisfiable)", "repeat.com", []rr{{0, "issue", "letsencrypt.org; accounturi=https://letsencrypt.org/acct/reg/321; accounturi=" + acct}}, false},
		{"Bad (repeated validationmethods is unsatisfiable)", "repeat-methods.com", []rr{{0, "issue", "letsencrypt.org; validationmethods=http-01; validationmethods=http-01"}}, false},
		{"Good (repeated unknown parameter)", "repeat-unknown.com", []rr{{0, "issue", "letsencrypt.org; foo=1; foo=2"}}, true},
		{"Good (parameter tag case: AccountURI is an unknown parameter)", "paramcase.com", []rr{{0, "issue", "letsencrypt.org; AccountURI=https://letsencrypt.org/acct/reg/321"}}, true},
		{"Good (ca-tbr- label beside http-01 is skipped)", "tbr.com", []rr{{0, "issue", "letsencrypt.org; validationmethods=ca-tbr-7,http-01"}}, true},
		{"Bad (ca-tbr-19 alone: Boulder reads only ACME names)", "tbr-only.com", []rr{{0, "issue", "letsencrypt.org; validationmethods=ca-tbr-19"}}, false},
		{"Bad (uppercase HTTP-01 is skipped)", "upper-method.com", []rr{{0, "issue", "letsencrypt.org; validationmethods=HTTP-01"}}, false},
		{"Good (empty label after the matching method goes unseen)", "emptymethod.com", []rr{{0, "issue", "letsencrypt.org; validationmethods=http-01,"}}, true},
		{"Good (bad label after the matching method goes unseen)", "badmethod.com", []rr{{0, "issue", "letsencrypt.org; validationmethods=http-01,a_b"}}, true},
		{"Bad (empty label before the matching method)", "emptyfirst.com", []rr{{0, "issue", "letsencrypt.org; validationmethods=,http-01"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rrset []dns.CAA
			for _, r := range tc.rrset {
				rrset = append(rrset, dns.CAA{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeCAA, Class: dns.ClassINET}, Flag: r.flag, Tag: r.tag, Value: r.value})
			}
			owner := ""
			if len(rrset) > 0 {
				owner = ClimbStart(tc.domain)
			}
			d := Decide(Request{Name: tc.domain, CA: "letsencrypt.org", Account: acct, Method: "http-01", Mode: ModeLetsEncrypt}, owner, rrset)
			if d.Allowed != tc.valid {
				t.Errorf("%s: allowed %v, want %v (%s)", tc.domain, d.Allowed, tc.valid, d.Reason)
			}
			if d.Owner != owner {
				t.Errorf("%s: found at %q, want %q", tc.domain, d.Owner, owner)
			}
		})
	}
}

// TestIssueMailAndVMC: issuemail and issuevmc are known tags in both modes, so critical ones
// beside an issue property for the CA do not block it; an unknown critical tag does.
func TestIssueMailAndVMC(t *testing.T) {
	for _, tag := range []string{"issuemail", "issuevmc", "IssueMail"} {
		for _, mode := range []Mode{ModeRFC, ModeLetsEncrypt} {
			t.Run("critical "+tag+" beside issue does not block, "+mode.String(), func(t *testing.T) {
				rrset := []dns.CAA{{Flag: 128, Tag: tag, Value: "x"}, {Tag: "issue", Value: "letsencrypt.org"}}
				for _, name := range []string{"example.org", "*.example.org"} {
					if d := Decide(Request{Name: name, CA: "letsencrypt.org", Mode: mode}, "example.org.", rrset); !d.Allowed {
						t.Errorf("128 %s (%s, %s): denied: %s", tag, mode, name, d.Reason)
					}
				}
				if !mode.KnownTag(tag) {
					t.Errorf("%s does not know %s", mode, tag)
				}
			})
		}
	}
	rrset := []dns.CAA{{Flag: 128, Tag: "issuesomething", Value: "x"}, {Tag: "issue", Value: "letsencrypt.org"}}
	for _, mode := range []Mode{ModeRFC, ModeLetsEncrypt} {
		t.Run("critical unknown tag blocks, "+mode.String(), func(t *testing.T) {
			if d := Decide(Request{Name: "example.org", CA: "letsencrypt.org", Mode: mode}, "example.org.", rrset); d.Allowed {
				t.Errorf("128 issuesomething (%s): allowed", mode)
			}
		})
	}
}

// TestTBRLabels: Baseline Requirements labels (ballot SC-098) are ca-tbr-N; in ModeRFC a label
// and its ACME alias are one method both ways, in any case; Let's Encrypt reads only ACME names.
func TestTBRLabels(t *testing.T) {
	for m, known := range map[string]bool{"ca-tbr-7": true, "ca-tbr-22": true, "CA-TBR-19": true, "ca-tbr-": false, "ca-tbr-x": false, "ca-tbr-07": false, "ca-tbr-3-2-2-4-7": false, "dns-01": true, "DNS-01": true, "dns-persist-01": true, "http01": false} {
		name := m + " is a known method"
		if !known {
			name = m + " is no known method"
		}
		t.Run(name, func(t *testing.T) {
			if KnownMethod(m) != known {
				t.Errorf("KnownMethod(%q) = %v, want %v", m, !known, known)
			}
		})
	}
	tests := []struct {
		list, method string
		rfc, le      bool
	}{
		{"ca-tbr-7", "dns-01", true, false},
		{"dns-01", "ca-tbr-7", true, false},
		{"ca-tbr-19", "http-01", true, false},
		{"http-01", "ca-tbr-19", true, false},
		{"ca-tbr-20", "tls-alpn-01", true, false},
		{"CA-TBR-7", "dns-01", true, false},
		{"DNS-01", "dns-01", true, false},
		{"ca-tbr-7,dns-01", "dns-01", true, true},
		{"ca-tbr-7", "http-01", false, false},
		{"ca-tbr-3-2-2-4-7", "dns-01", false, false},
		{"ca-tbr-2", "ca-tbr-2", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.list+" for "+tc.method, func(t *testing.T) {
			rrset := []dns.CAA{{Tag: "issue", Value: "letsencrypt.org; validationmethods=" + tc.list}}
			for mode, want := range map[Mode]bool{ModeRFC: tc.rfc, ModeLetsEncrypt: tc.le} {
				d := Decide(Request{Name: "example.org", CA: "letsencrypt.org", Method: tc.method, Mode: mode}, "example.org.", rrset)
				if d.Allowed != want {
					t.Errorf("%s: allowed %v, want %v (%s)", mode, d.Allowed, want, d.Reason)
				}
			}
		})
	}
}

func TestNearestMethod(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http01", "http-01"}, {"dns_01", "dns-01"}, {"DNS-01", "dns-01"}, {"tls-alpn01", "tls-alpn-01"}, {"dns-persist", "dns-persist-01"}, {"email", ""},
	} {
		name := tc.in + " suggests " + tc.want
		if tc.want == "" {
			name = tc.in + " suggests nothing"
		}
		t.Run(name, func(t *testing.T) {
			got, ok := NearestMethod(tc.in)
			if !ok {
				got = ""
			}
			if got != tc.want {
				t.Errorf("NearestMethod(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
