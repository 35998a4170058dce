// Package issuer tells which certificate authority issued a certificate, and the CAA issuer
// domain names that CA recognizes: from the CCADB's report of CAA identifiers per intermediate,
// or from the issuer organization. It is caacheck's, not CAA semantics, so it stays out of caa.
package issuer

import (
	"crypto/x509"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// CA is a certificate authority identified from a certificate, with the CAA identifiers it
// recognizes and how it was identified. It is a plain value, safe for concurrent reads.
type CA struct {
	Name        string   `json:"name"`        // the CA's name: the CCADB subject, or the issuer organization
	Identifiers []string `json:"identifiers"` // the CAA issuer domain names the CA recognizes
	How         string   `json:"how"`         // how it was identified, with the source
}

// CCADB is the Common CA Database's report of the CAA identifiers each intermediate certificate
// recognizes (AllCAAIdentifiersReportCSVV2), indexed by Subject Key Identifier. It is not changed
// after ParseCCADB returns it, so it is safe for concurrent use.
type CCADB struct {
	bySKI map[string]ccadbRow
}

type ccadbRow struct {
	subject, intermediate string
	domains               []string
}

// ParseCCADB reads the CSV CCADB publishes as AllCAAIdentifiersReportCSVV2: a header row naming
// the columns (Subject, Subject Key Identifier (Hex), Intermediate Certificate, Recognized CAA
// Domains, in any order, among others), then one row per intermediate certificate.
func ParseCCADB(r io.Reader) (*CCADB, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("CCADB report: %v", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	need := []string{"Subject", "Subject Key Identifier (Hex)", "Intermediate Certificate", "Recognized CAA Domains"}
	for _, n := range need {
		if _, ok := col[n]; !ok {
			return nil, fmt.Errorf("CCADB report: no column %q; the columns are %s", n, strings.Join(header, ", "))
		}
	}
	db := &CCADB{bySKI: map[string]ccadbRow{}}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("CCADB report: %v", err)
		}
		get := func(n string) string {
			if i := col[n]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		ski := normalHex(get("Subject Key Identifier (Hex)"))
		if ski == "" {
			continue
		}
		row := ccadbRow{subject: get("Subject"), intermediate: get("Intermediate Certificate")}
		for d := range strings.FieldsFuncSeq(get("Recognized CAA Domains"), func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
			d = strings.ToLower(strings.TrimSuffix(d, "."))
			if d != "" && !slices.Contains(row.domains, d) {
				row.domains = append(row.domains, d)
			}
		}
		if len(row.domains) > 0 {
			db.bySKI[ski] = row
		}
	}
	return db, nil
}

// normalHex returns a key identifier in lowercase hex without colons or spaces.
func normalHex(s string) string {
	return strings.ToLower(strings.NewReplacer(":", "", " ", "", "-", "").Replace(s))
}

// Identify returns the CA that issued leaf and the CAA identifiers it recognizes: from the
// CCADB report when one is given and lists the intermediate whose Subject Key Identifier is the
// leaf's Authority Key Identifier, otherwise from the issuer organization and the known-CA table.
func Identify(leaf *x509.Certificate, db *CCADB) (CA, error) {
	aki := hex.EncodeToString(leaf.AuthorityKeyId)
	if db != nil && aki != "" {
		if row, ok := db.bySKI[aki]; ok {
			return CA{Name: row.subject, Identifiers: row.domains,
				How: fmt.Sprintf("CCADB CAA report: intermediate %q, Subject Key Identifier %s = the leaf's Authority Key Identifier", row.intermediate, aki)}, nil
		}
	}
	orgs := leaf.Issuer.Organization
	for _, o := range orgs {
		if e, ok := issuerByOrganization(o); ok {
			how := fmt.Sprintf("issuer organization %q in the known-CA table (%s)", o, e.source)
			if db != nil {
				how = fmt.Sprintf("not in the CCADB report (Authority Key Identifier %s); %s", aki, how)
			}
			return CA{Name: o, Identifiers: e.identifiers, How: how}, nil
		}
	}
	why := "it has no issuer organization"
	if len(orgs) > 0 {
		why = fmt.Sprintf("its issuer organization %q is not in the known-CA table", strings.Join(orgs, ", "))
	}
	if db != nil {
		why = fmt.Sprintf("its Authority Key Identifier %s is not in the CCADB report and %s", aki, why)
	}
	return CA{}, fmt.Errorf("cannot tell which CA issued the certificate: %s; pass the CCADB CAA report with -ccadb, or name the CA with -ca", why)
}

// issuerOrg is one row of the known-CA table by issuer organization.
type issuerOrg struct {
	org         string // the organization as it stands in the CA's intermediates (a prefix matches)
	identifiers []string
	source      string
}

// issuerOrgs maps the organization names in publicly trusted CAs' intermediate certificates to
// the CAA identifiers the CA recognizes, as the CA documents them (the sources of knownCAs).
var issuerOrgs = []issuerOrg{
	{"Let's Encrypt", []string{"letsencrypt.org"}, "ISRG CP/CPS 4.2.4; letsencrypt.org/docs/caa"},
	{"Google Trust Services", []string{"pki.goog"}, "GTS CPS 4.2.4, pki.goog/repository"},
	{"DigiCert", []string{"digicert.com", "www.digicert.com"}, "DigiCert CPS 4.2.4, digicert.com/legal-repository"},
	{"Sectigo", []string{"sectigo.com", "comodoca.com", "comodo.com", "usertrust.com", "trust-provider.com"}, "Sectigo CPS 4.2.4, sectigo.com/legal"},
	{"ZeroSSL", []string{"sectigo.com"}, "ZeroSSL's CAA help page names sectigo.com"},
	{"Amazon", []string{"amazon.com", "amazontrust.com", "awstrust.com", "amazonaws.com"}, "ACM user guide, Configure a CAA record"},
	{"GlobalSign", []string{"globalsign.com"}, "GlobalSign CPS 4.2.4, globalsign.com/repository"},
	{"SSL Corp", []string{"ssl.com"}, "SSL.com CP/CPS 4.2.4, ssl.com/repository"},
	{"SSL Corporation", []string{"ssl.com"}, "SSL.com CP/CPS 4.2.4, ssl.com/repository"},
	{"Microsoft Corporation", []string{"microsoft.com"}, "Microsoft PKI Services CPS 4.2.4"},
	{"Buypass", []string{"buypass.com", "buypass.no"}, "Buypass CPS 4.2.4"},
	{"Actalis", []string{"actalis.it"}, "Actalis CPS 4.2.4"},
	{"Asseco Data Systems", []string{"certum.pl", "certum.eu"}, "Certum CPS 4.2.4"},
	{"Hellenic Academic and Research Institutions", []string{"harica.gr"}, "HARICA CPS 4.2.4"},
	{"IdenTrust", []string{"identrust.com"}, "IdenTrust TrustID CPS 4.2.4"},
	{"Entrust", []string{"entrust.net", "affirmtrust.com"}, "Entrust CPS 4.2.4"},
	{"GoDaddy", []string{"godaddy.com"}, "GoDaddy CPS 4.2.4"},
	{"Starfield Technologies", []string{"starfieldtech.com"}, "GoDaddy CPS 4.2.4"},
	{"Certainly", []string{"certainly.com"}, "Certainly CPS 4.2.4"},
}

// issuerByOrganization finds the known-CA table's row for an issuer organization: equal, or
// the table's name followed by more words ("Google Trust Services LLC", "DigiCert Inc").
func issuerByOrganization(o string) (issuerOrg, bool) {
	low := strings.ToLower(strings.TrimSpace(o))
	for _, e := range issuerOrgs {
		k := strings.ToLower(e.org)
		if low == k || strings.HasPrefix(low, k+" ") || strings.HasPrefix(low, k+",") {
			return e, true
		}
	}
	return issuerOrg{}, false
}
