package issuer

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"

	"github.com/caapolicy/caapolicy/caa"
)

func TestParseCCADB(t *testing.T) {
	csv := "Subject,Subject Key Identifier (Hex),Intermediate Certificate,Recognized CAA Domains\n" +
		`"CN=E9","aa:BB:cc","E9","letsencrypt.org"` + "\n" +
		`"CN=Multi","0102","Multi","sectigo.com, comodoca.com;usertrust.com."` + "\n" +
		`"CN=None","0304","None",""` + "\n"
	db, err := ParseCCADB(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{AuthorityKeyId: []byte{1, 2}}
	ca, err := Identify(leaf, db)
	if err != nil || strings.Join(ca.Identifiers, " ") != "sectigo.com comodoca.com usertrust.com" || ca.Name != "CN=Multi" {
		t.Errorf("row 0102: %+v %v", ca, err)
	}
	leaf.AuthorityKeyId = []byte{0xaa, 0xbb, 0xcc}
	if ca, err := Identify(leaf, db); err != nil || ca.Identifiers[0] != "letsencrypt.org" {
		t.Errorf("row aabbcc: %+v %v", ca, err)
	}
	// Not in the report: the issuer organization decides.
	leaf = &x509.Certificate{AuthorityKeyId: []byte{9}, Issuer: pkix.Name{Organization: []string{"Google Trust Services LLC"}}}
	if ca, err := Identify(leaf, db); err != nil || ca.Identifiers[0] != "pki.goog" || !strings.HasPrefix(ca.How, "not in the CCADB report (Authority Key Identifier 09)") {
		t.Errorf("organization fallback: %+v %v", ca, err)
	}
	if _, err := ParseCCADB(strings.NewReader("Subject,Other\n")); err == nil || !strings.Contains(err.Error(), `no column "Subject Key Identifier (Hex)"`) {
		t.Errorf("missing columns: %v", err)
	}
}

func TestIssuerByOrganization(t *testing.T) {
	for _, tc := range []struct{ org, want string }{
		{"Let's Encrypt", "letsencrypt.org"}, {"DigiCert Inc", "digicert.com"}, {"Sectigo Limited", "sectigo.com"},
		{"Amazon", "amazon.com"}, {"Google Trust Services", "pki.goog"}, {"GlobalSign nv-sa", "globalsign.com"}, {"Digital", ""},
	} {
		name := tc.org + " is " + tc.want
		if tc.want == "" {
			name = tc.org + " is no known CA"
		}
		t.Run(name, func(t *testing.T) {
			e, ok := issuerByOrganization(tc.org)
			got := ""
			if ok {
				got = e.identifiers[0]
				for _, id := range e.identifiers {
					if !caa.IsKnownCA(id) {
						t.Errorf("%s: identifier %s is not in the known-CA table", tc.org, id)
					}
				}
			}
			if got != tc.want {
				t.Errorf("%q: %q, want %q", tc.org, got, tc.want)
			}
		})
	}
}
