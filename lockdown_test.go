package caapolicy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caapolicy/caapolicy/internal/corednstest"
)

// lockdownZone holds CAA records that authorize CAs at owners the policy below locks down.
const lockdownZone = `$ORIGIN example.org.
$TTL 3600
@      IN SOA ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600
@      IN NS  ns1.example.org.
ns1    IN A   127.0.0.1
locked IN CAA 0 issue "digicert.com"
locked IN CAA 0 issuewild "digicert.com"
locked IN CAA 0 iodef "mailto:customer@example.org"
wild   IN CAA 0 issue "digicert.com"
wild   IN CAA 0 issuewild "digicert.com"
`

// TestLockdownWinsOverZoneData: where the policy locks issue or issuewild down, zonedata merge
// serves none of the zone data's records of that tag, adds no partner record, and warns once
// naming what it withheld; the zone data's other records are merged as usual.
func TestLockdownWinsOverZoneData(t *testing.T) {
	buf := captureLog(t)
	dir := t.TempDir()
	zone := filepath.Join(dir, "example.org.zone")
	write(t, zone, lockdownZone)
	cf := fmt.Sprintf(`example.org:0 {
    bind 127.0.0.1
    caapolicy {
        name locked {
            issue none
            issuewild none
        }
        name wild {
            issue letsencrypt.org
            issuewild none
        }
        partners google
    }
    file %s
}
`, zone)
	_, udp, _ := corednstest.Start(t, cf)
	for _, tc := range []struct {
		name, qname string
		want        []string
	}{
		{"both tags locked: only the lock-down and the zone's iodef", "locked.example.org.", corednstest.RRStrings(corednstest.RRs(
			`locked.example.org. 300 IN CAA 0 issue ";"`,
			`locked.example.org. 300 IN CAA 0 issuewild ";"`,
			`locked.example.org. 300 IN CAA 0 iodef "mailto:customer@example.org"`,
		))},
		{"issuewild locked: the zone's issue is merged, its issuewild withheld, partners for issue", "wild.example.org.", corednstest.RRStrings(corednstest.RRs(
			`wild.example.org. 300 IN CAA 0 issue "letsencrypt.org"`,
			`wild.example.org. 300 IN CAA 0 issuewild ";"`,
			`wild.example.org. 300 IN CAA 0 issue "digicert.com"`,
			`wild.example.org. 300 IN CAA 0 issue "pki.goog"`,
		))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := exchange(t, "udp", udp, caaQuery(tc.qname, false, 1232))
			if got := corednstest.RRStrings(r.Answer); !slices.Equal(got, tc.want) {
				t.Errorf("answer\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
	t.Run("one warning per owner names the withheld records", func(t *testing.T) {
		exchange(t, "udp", udp, caaQuery("locked.example.org.", false, 1232))
		logged := buf.String()
		want := `zone data at locked.example.org. has issue "digicert.com", which the policy's lock-down of issue (declared at Corefile:4) withholds: it is not served`
		if n := strings.Count(logged, "zone data at locked.example.org."); n != 1 || !strings.Contains(logged, want) {
			t.Errorf("%d warnings for locked.example.org., want 1 with %q:\n%s", n, want, logged)
		}
	})
}
