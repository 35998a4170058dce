package caapolicy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	"github.com/miekg/dns"
)

const (
	persistLE = "https://acme-v02.api.letsencrypt.org/acme/acct/7"
	persistDC = "https://acme.digicert.com/acct/9"
)

// persistZoneData has a TXT record of its own where the policy publishes dns-persist-01 records.
const persistZoneData = `$ORIGIN example.org.
$TTL 3600
@    IN SOA ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600
@    IN NS  ns1.example.org.
ns1  IN A   127.0.0.1
app  IN A   192.0.2.1
api  IN A   192.0.2.2
_validation-persist.api IN TXT "stale.example; accounturi=https://stale.example/acct/1"
`

func persistCorefile(port int, zone string) string {
	return fmt.Sprintf(`example.org:%d {
    bind 127.0.0.1
    caapolicy {
        issue letsencrypt.org validationmethods=dns-01
        issuewild none
        persist digicert.com %s
        name app {
            persist letsencrypt.org %s wildcard until 2027-12-31T00:00:00Z
        }
        name api {
            issue sectigo.com
            persist letsencrypt.org %s
        }
    }
    transfer {
        to *
    }
    file %s
}
`, port, persistDC, persistLE, persistLE, zone)
}

// TestPersist: a persist line publishes the dns-persist-01 record (the policy's TXT RRset, in
// place of the zone data's), makes its name exist, adds to the owner's CAA what the
// authorization needs, is carried by transfers, and warns where CAA above the owner contradicts it.
func TestPersist(t *testing.T) {
	buf := captureLog(t)
	dir := t.TempDir()
	zone := filepath.Join(dir, "example.org.zone")
	write(t, zone, persistZoneData)
	port := corednstest.FreePort(t)
	_, udp, _ := corednstest.Start(t, persistCorefile(port, zone))
	for _, tc := range []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer []string
	}{
		{"the apex's record", "_validation-persist.example.org.", dns.TypeTXT, dns.RcodeSuccess, corednstest.RRStrings(corednstest.RRs(
			`_validation-persist.example.org. 300 IN TXT "digicert.com; accounturi=` + persistDC + `"`))},
		{"wildcard and until in the record", "_validation-persist.app.example.org.", dns.TypeTXT, dns.RcodeSuccess, corednstest.RRStrings(corednstest.RRs(
			`_validation-persist.app.example.org. 300 IN TXT "letsencrypt.org; accounturi=` + persistLE + `; policy=wildcard; persistUntil=1830211200"`))},
		{"the policy's record replaces the zone data's", "_validation-persist.api.example.org.", dns.TypeTXT, dns.RcodeSuccess, corednstest.RRStrings(corednstest.RRs(
			`_validation-persist.api.example.org. 300 IN TXT "letsencrypt.org; accounturi=` + persistLE + `"`))},
		{"the record's name exists for other types", "_validation-persist.app.example.org.", dns.TypeA, dns.RcodeSuccess, nil},
		{"the apex's CAA authorizes the persisted account", "example.org.", dns.TypeCAA, dns.RcodeSuccess, corednstest.RRStrings(corednstest.RRs(
			`example.org. 300 IN CAA 0 issue "letsencrypt.org; validationmethods=dns-01"`,
			`example.org. 300 IN CAA 0 issuewild ";"`,
			`example.org. 300 IN CAA 0 issue "digicert.com; accounturi=`+persistDC+`"`))},
		{"a restricted owner gets the CA bound to the account", "api.example.org.", dns.TypeCAA, dns.RcodeSuccess, corednstest.RRStrings(corednstest.RRs(
			`api.example.org. 300 IN CAA 0 issue "sectigo.com"`,
			`api.example.org. 300 IN CAA 0 issue "letsencrypt.org; accounturi=`+persistLE+`"`))},
		{"an owner with persist alone has no CAA of its own", "app.example.org.", dns.TypeCAA, dns.RcodeSuccess, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := exchange(t, "udp", udp, new(dns.Msg).SetQuestion(tc.qname, tc.qtype))
			if got := corednstest.RRStrings(r.Answer); r.Rcode != tc.rcode || !slices.Equal(got, tc.answer) {
				t.Errorf("%s %s\n%q\nwant %s\n%q", dns.RcodeToString[r.Rcode], tc.qname, got, dns.RcodeToString[tc.rcode], tc.answer)
			}
		})
	}
	t.Run("a transfer carries the policy's TXT records and not the zone data's", func(t *testing.T) {
		var records []dns.RR
		for _, rr := range axfr(t, fmt.Sprintf("127.0.0.1:%d", port), "example.org.") {
			if rr.Header().Rrtype == dns.TypeTXT {
				records = append(records, rr)
			}
		}
		txt := corednstest.RRStrings(records)
		slices.Sort(txt)
		want := corednstest.RRStrings(corednstest.RRs(
			`_validation-persist.api.example.org. 300 IN TXT "letsencrypt.org; accounturi=`+persistLE+`"`,
			`_validation-persist.app.example.org. 300 IN TXT "letsencrypt.org; accounturi=`+persistLE+`; policy=wildcard; persistUntil=1830211200"`,
			`_validation-persist.example.org. 300 IN TXT "digicert.com; accounturi=`+persistDC+`"`))
		if !slices.Equal(txt, want) {
			t.Errorf("AXFR TXT\n%q\nwant\n%q", txt, want)
		}
	})
	t.Run("a persist line that CAA above the owner contradicts warns", func(t *testing.T) {
		want := "Corefile:8: _validation-persist.app.example.org. persists an authorization of letsencrypt.org (account " + persistLE + ") for app.example.org, but CAA does not allow it"
		if logged := buf.String(); !strings.Contains(logged, want) {
			t.Errorf("log lacks %q:\n%s", want, logged)
		}
	})
}
