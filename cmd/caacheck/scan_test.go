package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	_ "github.com/coredns/coredns/plugin/transfer"
)

// scanPolicy is served for the scans: Let's Encrypt at the apex, no wildcards; the shop uses
// Sectigo only; api binds Let's Encrypt to one account; locked is locked down; partner pki.goog.
const scanPolicy = `caapolicy {
        issue letsencrypt.org
        issuewild none
        iodef mailto:security@example.org
        name shop { issue sectigo.com }
        name api { issue letsencrypt.org accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1 }
        name locked { issue none }
        partners pki.goog
    }`

const scanZoneData = `$ORIGIN example.org.
@       3600 IN SOA   ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600
@       3600 IN NS    ns1
ns1     3600 IN A     127.0.0.1
www     3600 IN A     192.0.2.1
shop    3600 IN A     192.0.2.2
api     3600 IN A     192.0.2.3
locked  3600 IN A     192.0.2.4
blog    3600 IN CNAME www
sub     3600 IN NS    ns.sub
ns.sub  3600 IN A     192.0.2.53
`

// scanServer serves the scan zone, with AXFR allowed or not, and returns the Corefile's path and
// the server's address.
func scanServer(t *testing.T, axfr bool) (conf, addr string) {
	t.Helper()
	dir := t.TempDir()
	zone := filepath.Join(dir, "example.org.zone")
	conf = filepath.Join(dir, "Corefile")
	transfer := ""
	if axfr {
		transfer = "transfer {\n        to *\n    }"
	}
	port := corednstest.FreePort(t)
	cf := fmt.Sprintf("example.org:%d {\n    bind 127.0.0.1\n    %s\n    %s\n    file %s\n}\n", port, scanPolicy, transfer, zone)
	for p, s := range map[string]string{zone: scanZoneData, conf: cf} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	corednstest.Start(t, cf)
	return conf, fmt.Sprintf("127.0.0.1:%d", port)
}

// testCA makes an intermediate CA certificate (organization org, Subject Key Identifier ski) and
// a leaf for names signed by it, and returns the PEM chain, leaf first.
func testCA(t *testing.T, org string, ski []byte, names ...string) (chainPEM []byte, leaf tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{org}, CommonName: org + " Test Intermediate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, SubjectKeyId: ski,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	chainPEM = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	return chainPEM, tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestScanCertCCADB identifies the CA of a leaf through a CCADB report row (the leaf's Authority
// Key Identifier is the intermediate's Subject Key Identifier), then checks each name live.
func TestScanCertCCADB(t *testing.T) {
	_, addr := scanServer(t, false)
	ski := []byte{0xAB, 0xCD, 0x01, 0x23, 0x45, 0x67, 0x89, 0xEF}
	chain, _ := testCA(t, "Some Intermediate Org", ski, "www.example.org", "*.example.org", "shop.example.org", "api.example.org", "nothing.example.org")
	cert := writeFile(t, "chain.pem", chain)
	csv := "\ufeffCA Owner,Subject,Subject Key Identifier (Hex),Intermediate Certificate,Recognized CAA Domains\n" +
		`"Other CA","CN=Other","11:22:33","Other Intermediate","other.example"` + "\n" +
		`"ISRG","CN=R99, O=Let's Encrypt, C=US","AB:CD:01:23:45:67:89:EF","R99","letsencrypt.org"` + "\n"
	db := writeFile(t, "ccadb.csv", []byte(csv))

	code, out, errs := runCheck("-cert", cert, "-ccadb", db, "-server", addr)
	if code != exitDeny {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitDeny, out, errs)
	}
	wantLines(t, "output", out,
		"CA          CN=R99, O=Let's Encrypt, C=US: letsencrypt.org\n",
		`            identified by CCADB CAA report: intermediate "R99", Subject Key Identifier abcd0123456789ef = the leaf's Authority Key Identifier`+"\n",
		"checked     live, server "+addr+", mode letsencrypt\n",
		"ALLOW www.example.org              letsencrypt.org  relevant example.org.             binding none\n",
		"DENY  *.example.org                letsencrypt.org  relevant example.org.             binding none (lock-down)\n",
		"DENY  shop.example.org             letsencrypt.org  relevant shop.example.org.        binding none (other CAs only)\n",
		"ALLOW api.example.org              letsencrypt.org  relevant api.example.org.         bound by accounturi\n",
		"ALLOW nothing.example.org          letsencrypt.org  relevant example.org.             binding none\n",
		"NO RENEWAL CN=R99, O=Let's Encrypt, C=US may not issue again for every name\n",
	)

	code, out, _ = runCheck("-cert", cert, "-ccadb", db, "-server", addr, "-json")
	var rep certReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitDeny {
		t.Fatalf("exit %d %v: %s", code, err, out)
	}
	if len(rep.Names) != 5 || rep.Renew || !rep.Names[3].AccountURI || rep.Names[2].Why != "other CAs only" || rep.Names[1].Name != "*.example.org" {
		t.Errorf("JSON report %+v", rep)
	}
}

// TestScanCertOrganization identifies the CA by its organization alone, over TLS and from a file.
func TestScanCertOrganization(t *testing.T) {
	conf, addr := scanServer(t, false)
	chain, tlsCert := testCA(t, "Let's Encrypt", []byte{1, 2, 3}, "www.example.org", "blog.example.org")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{tlsCert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	code, out, errs := runCheck("-tls", ln.Addr().String(), "-sni", "www.example.org", "-server", addr)
	if code != exitAllow {
		t.Fatalf("-tls: exit %d\n%s%s", code, out, errs)
	}
	wantLines(t, "-tls output", out,
		"CA          Let's Encrypt: letsencrypt.org\n",
		`            identified by issuer organization "Let's Encrypt" in the known-CA table (ISRG CP/CPS 4.2.4; letsencrypt.org/docs/caa)`+"\n",
		"ALLOW www.example.org              letsencrypt.org  relevant example.org.             binding none\n",
		"ALLOW blog.example.org             letsencrypt.org  relevant example.org.             binding none\n",
		"RENEW      Let's Encrypt may issue again for every name\n",
		"hint:       authorized without accounturi, so any account at the CA may issue: example.org. (letsencrypt.org); bind each to your account",
	)
	// The same certificate from a file, offline against the Corefile.
	cert := writeFile(t, "chain.pem", chain)
	if code, out, errs := runCheck("-cert", cert, "-conf", conf); code != exitAllow || !strings.Contains(out, "checked     offline, the Corefile policy "+conf) {
		t.Errorf("-cert -conf: exit %d\n%s%s", code, out, errs)
	}
	// An organization no table knows, and no CCADB report: the CA cannot be told.
	other, _ := testCA(t, "Nobody Knows Ltd", []byte{9}, "www.example.org")
	code, _, errs = runCheck("-cert", writeFile(t, "other.pem", other), "-server", addr)
	if code != exitError || !strings.Contains(errs, `cannot tell which CA issued the certificate: its issuer organization "Nobody Knows Ltd" is not in the known-CA table; pass the CCADB CAA report with -ccadb, or name the CA with -ca`) {
		t.Errorf("unknown CA: exit %d %s", code, errs)
	}
}

// TestScanZone audits every name of the zone over AXFR for two CAs, and the partners of the
// Corefile, and falls back to -names where AXFR is refused.
func TestScanZone(t *testing.T) {
	conf, addr := scanServer(t, true)
	code, out, errs := runCheck("-zone", "example.org", "-server", addr, "-ca", "letsencrypt.org", "-ca", "sectigo.com")
	if code != exitDeny {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	wantLines(t, "output", out,
		"zone example.org. on "+addr+": 7 names (AXFR), CAs letsencrypt.org sectigo.com, mode rfc\n",
		"relevant shop.example.org. [0 issue \"sectigo.com\", 0 issue \"pki.goog\"] (1 names)\n  letsencrypt.org    names DENY  wildcards DENY\n  sectigo.com        names ALLOW wildcards ALLOW\n  names: shop.example.org\n",
		"BLOCKED *.www.example.org            letsencrypt.org    lock-down: ",
		"BLOCKED shop.example.org             letsencrypt.org    other CAs only: no issue property at shop.example.org. authorizes letsencrypt.org\n",
		"BLOCKED locked.example.org           letsencrypt.org    lock-down: ",
		"BLOCKED www.example.org              sectigo.com        other CAs only: ",
	)
	if strings.Contains(out, "ns.sub.example.org") {
		t.Errorf("names below the delegation were audited:\n%s", out)
	}
	// The partners of the Corefile: Google Trust Services.
	code, out, _ = runCheck("-zone", "example.org", "-server", addr, "-conf", conf, "-json")
	var rep zoneReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitDeny {
		t.Fatalf("exit %d %v: %s", code, err, out)
	}
	if strings.Join(rep.CAs, " ") != "pki.goog" || rep.Count != 7 || len(rep.Blocked) == 0 {
		t.Errorf("partners audit %+v", rep)
	}

	// AXFR refused: the error says to give -names; with -names the audit runs.
	_, noAXFR := scanServer(t, false)
	code, _, errs = runCheck("-zone", "example.org", "-server", noAXFR, "-ca", "letsencrypt.org")
	if code != exitError || !strings.Contains(errs, "give the names with -names FILE") {
		t.Errorf("AXFR refused: exit %d %s", code, errs)
	}
	names := writeFile(t, "names.txt", []byte("www.example.org\napi.example.org\n"))
	code, out, errs = runCheck("-zone", "example.org", "-server", noAXFR, "-ca", "letsencrypt.org", "-names", names)
	if code != exitDeny || !strings.Contains(out, ": 2 names ("+names+"), CAs letsencrypt.org") {
		t.Errorf("-names: exit %d\n%s%s", code, out, errs)
	}
}

// TestScanZoneMany audits 10,000 names on loopback: one query per distinct name.
func TestScanZoneMany(t *testing.T) {
	dir := t.TempDir()
	var zb strings.Builder
	zb.WriteString(scanZoneData)
	for i := range 10000 {
		fmt.Fprintf(&zb, "h%d 3600 IN A 192.0.2.9\n", i)
	}
	zone := filepath.Join(dir, "example.org.zone")
	if err := os.WriteFile(zone, []byte(zb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	port := corednstest.FreePort(t)
	corednstest.Start(t, fmt.Sprintf("example.org:%d {\n bind 127.0.0.1\n %s\n transfer {\n  to *\n }\n file %s\n}\n", port, scanPolicy, zone))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	start := time.Now()
	code, out, errs := runCheck("-zone", "example.org", "-server", addr, "-ca", "letsencrypt.org", "-json")
	var rep zoneReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitDeny || rep.Count != 10007 {
		t.Fatalf("exit %d %v %s", code, err, errs)
	}
	t.Logf("10,007 names audited in %v", time.Since(start).Round(time.Millisecond))
}
