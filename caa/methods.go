package caa

import (
	"slices"
	"strings"
)

// acmeMethods are the ACME validation methods in IANA's "ACME Validation Methods" registry that
// validate a domain name, the values validationmethods names (RFC 8657 section 4). They are also
// the methods Boulder implements (core.AcmeChallenge.IsValid), the only labels it matches.
var acmeMethods = [...]string{"http-01", "dns-01", "tls-alpn-01", "dns-account-01", "dns-persist-01"}

// ACMEMethods returns the ACME validation methods that validate a domain name, in IANA's
// registry order.
func ACMEMethods() []string { return slices.Clone(acmeMethods[:]) }

// TBRPrefix starts the validationmethods labels that name a Baseline Requirements method by its
// section: ca-tbr-N for section 3.2.2.4.N (ballot SC-098, BR 4.2.2.1.2).
const TBRPrefix = "ca-tbr-"

// tbrAliases is the one table of BR method labels with an ACME alias. Source: CA/Browser Forum
// Baseline Requirements 4.2.2.1.2 as amended by ballot SC-098 (in force 2026-06-16), which says
// a CA should treat a label and its ACME alias as the same method.
var tbrAliases = [...]struct{ label, acme string }{
	{"ca-tbr-7", "dns-01"},       // 3.2.2.4.7 DNS Change
	{"ca-tbr-19", "http-01"},     // 3.2.2.4.19 Agreed-Upon Change to Website - ACME
	{"ca-tbr-20", "tls-alpn-01"}, // 3.2.2.4.20 TLS Using ALPN
}

// TBRAlias returns the ACME method that a ca-tbr-N label names (ca-tbr-7 -> dns-01), or the
// ca-tbr-N label of an ACME method (http-01 -> ca-tbr-19), in any case; ok is false when the
// method has no alias.
func TBRAlias(m string) (alias string, ok bool) {
	m = strings.ToLower(m)
	for _, a := range tbrAliases {
		switch m {
		case a.label:
			return a.acme, true
		case a.acme:
			return a.label, true
		}
	}
	return "", false
}

// IsTBRLabel reports whether m is a well-formed ca-tbr-N label in any case: the prefix, then a
// section number N in decimal without leading zeros. The long form ca-tbr-3-2-2-4-7 is not
// the ballot's.
func IsTBRLabel(m string) bool {
	n, ok := strings.CutPrefix(strings.ToLower(m), TBRPrefix)
	if !ok || n == "" || n[0] == '0' || len(n) > 3 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}

// CanonicalMethod returns a validationmethods label in the form methods are compared in under
// ModeRFC: lowercase, and a ca-tbr-N label with an ACME alias replaced by the alias.
func CanonicalMethod(m string) string {
	m = strings.ToLower(m)
	if IsTBRLabel(m) {
		if a, ok := TBRAlias(m); ok {
			return a
		}
	}
	return m
}

// SameMethod reports whether two validationmethods labels name the same method under ModeRFC:
// equal after [CanonicalMethod], so ca-tbr-7 and DNS-01 are dns-01.
func SameMethod(a, b string) bool { return CanonicalMethod(a) == CanonicalMethod(b) }

// KnownMethod reports whether m, in any case, is an ACME method in IANA's registry or a
// well-formed ca-tbr-N label.
func KnownMethod(m string) bool {
	return IsTBRLabel(m) || slices.Contains(acmeMethods[:], strings.ToLower(m))
}

// NearestMethod returns the ACME method closest to an unknown label (http01 -> http-01,
// DNS-01 -> dns-01), if one is close enough to be a likely slip.
func NearestMethod(m string) (string, bool) {
	low := strings.ToLower(m)
	best, bestD := "", 1<<30
	for _, k := range acmeMethods {
		d := editDistance(low, k)
		if strings.ReplaceAll(low, "-", "") == strings.ReplaceAll(k, "-", "") || strings.ReplaceAll(low, "_", "-") == k || low+"-01" == k {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = k, d
		}
	}
	return best, bestD <= 2
}
