package caa

import "strings"

// ACMEMethods are the ACME validation methods in IANA's "ACME Validation Methods" registry that
// validate a domain name, the values validationmethods names (RFC 8657 section 4).
var ACMEMethods = []string{"http-01", "dns-01", "tls-alpn-01", "dns-account-01", "dns-persist-01"}

// TBRPrefix starts the validationmethods labels of non-ACME methods that CA/Browser Forum ballot
// SC-098 defines (Baseline Requirements section 4.2.2.1.3, in force from 2027-03-15).
const TBRPrefix = "ca-tbr-"

// KnownMethod reports whether m is an ACME method in IANA's registry or a CA/Browser Forum
// "ca-tbr-" label. Method names are compared exactly, as CAs compare them.
func KnownMethod(m string) bool {
	if strings.HasPrefix(m, TBRPrefix) && len(m) > len(TBRPrefix) && checkLabel(m) == nil {
		return true
	}
	for _, k := range ACMEMethods {
		if m == k {
			return true
		}
	}
	return false
}

// NearestMethod returns the ACME method closest to an unknown label (http01 -> http-01,
// DNS-01 -> dns-01), if one is close enough to be a likely slip.
func NearestMethod(m string) (string, bool) {
	low := strings.ToLower(m)
	best, bestD := "", 1<<30
	for _, k := range ACMEMethods {
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
