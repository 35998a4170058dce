package caa

import (
	"strings"
	"sync"
)

// knownCAs are the CAA issuer domain names that publicly trusted CAs recognize, each as the CA
// documents it: the "CAA Identifiers" each CA owner reports to the CCADB
// (ccadb.my.site.com, AllCertificateRecordsReport, column "CAA Identifiers (Including
// Subordinate CAs)"), and the CP/CPS section 4.2.4 of each CA named below. Misspelling one of
// these locks the CA out without any error, so the lint suggests the nearest.
var knownCAs = []string{
	// Let's Encrypt: ISRG CP/CPS 4.2.4, letsencrypt.org/repository; letsencrypt.org/docs/caa.
	"letsencrypt.org",
	// Google Trust Services: GTS CPS 4.2.4, pki.goog/repository.
	"pki.goog",
	// DigiCert and its brands: DigiCert CPS 4.2.4, digicert.com/legal-repository; "CAA record
	// identifiers" in DigiCert's knowledge base.
	"digicert.com", "www.digicert.com", "digicert.ne.jp", "cybertrust.ne.jp", "symantec.com",
	"thawte.com", "geotrust.com", "rapidssl.com", "digitalcertvalidation.com", "quovadisglobal.com",
	// Sectigo (formerly Comodo), which also issues for ZeroSSL: Sectigo CPS 4.2.4,
	// sectigo.com/legal; ZeroSSL's "CAA records" help page names sectigo.com.
	"sectigo.com", "comodoca.com", "comodo.com", "usertrust.com", "trust-provider.com",
	// GlobalSign: GlobalSign CPS 4.2.4, globalsign.com/repository.
	"globalsign.com",
	// Amazon Trust Services / AWS Certificate Manager: ACM user guide, "(Optional) Configure a
	// CAA record".
	"amazon.com", "amazontrust.com", "awstrust.com", "amazonaws.com",
	// Microsoft PKI Services: Microsoft PKI Services CPS 4.2.4, microsoft.com/pkiops/docs/repository.htm.
	"microsoft.com",
	// SSL.com: SSL.com CP/CPS 4.2.4, ssl.com/repository.
	"ssl.com",
	// Buypass: Buypass CPS 4.2.4, buypass.com (the CPS names both domains).
	"buypass.com", "buypass.no",
	// Actalis: Actalis CPS 4.2.4, actalis.com/documenti-it.
	"actalis.it",
	// Certum (Asseco Data Systems): Certum CPS 4.2.4, certum.eu/en/repository.
	"certum.pl", "certum.eu",
	// HARICA: HARICA CPS 4.2.4, repo.harica.gr.
	"harica.gr",
	// IdenTrust: IdenTrust TrustID CPS 4.2.4, identrust.com/support/documents.
	"identrust.com",
	// Entrust: Entrust CPS 4.2.4, entrust.com/legal-compliance/security.
	"entrust.net", "affirmtrust.com",
	// GoDaddy and Starfield: GoDaddy CPS 4.2.4, certs.godaddy.com/repository.
	"godaddy.com", "starfieldtech.com",
	// Certainly (Fastly): Certainly CPS 4.2.4, certainly.com/repository.
	"certainly.com",
	// SECOM, Telia, Certigna, SwissSign, D-TRUST, TWCA: each CA's CPS 4.2.4.
	"secomtrust.net", "telia.com", "certigna.fr", "swisssign.com", "d-trust.net", "twca.com.tw",
}

// IsKnownCA reports whether id (lowercase, no trailing dot) is a known CA identifier.
func IsKnownCA(id string) bool { return knownCASet[id] }

var knownCASet = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range knownCAs {
		m[k] = true
	}
	return m
}()

// NearestCA returns the known CA identifier closest to an unknown one, if one is close enough
// to be a likely misspelling: a few edits apart, the same name under another top-level domain
// (letsencrypt.com), or one a prefix of the other (pki.google.com).
func NearestCA(id string) (string, bool) {
	id = strings.ToLower(strings.TrimSuffix(id, "."))
	nearestMu.Lock()
	defer nearestMu.Unlock()
	if r, ok := nearestSeen[id]; ok {
		return r.near, r.ok
	}
	near, ok := nearestOf(id)
	if len(nearestSeen) >= maxNearestSeen {
		clear(nearestSeen)
	}
	nearestSeen[id] = nearestResult{near, ok}
	return near, ok
}

// nearestSeen remembers NearestCA's answers: a policy with many owners names the same few
// identifiers again and again, and each answer costs an edit distance to every known CA.
var (
	nearestMu   sync.Mutex
	nearestSeen = map[string]nearestResult{}
)

const maxNearestSeen = 10000

type nearestResult struct {
	near string
	ok   bool
}

func nearestOf(id string) (string, bool) {
	best, bestD := "", 1<<30
	for _, k := range knownCAs {
		d := editDistance(id, k)
		if withoutTLD(id) == withoutTLD(k) {
			d = min(d, 1)
		}
		if len(k) >= 6 && len(id) >= 6 && (strings.HasPrefix(id, k) || strings.HasPrefix(k, id)) {
			d = min(d, 2)
		}
		if d < bestD {
			best, bestD = k, d
		}
	}
	return best, bestD > 0 && bestD <= 2
}

func withoutTLD(s string) string {
	if i := strings.LastIndexByte(s, '.'); i > 0 {
		return s[:i]
	}
	return s
}

// EditDistance is the Levenshtein distance between a and b, in bytes: how misspelt a name is.
func EditDistance(a, b string) int { return editDistance(a, b) }

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
