package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caapolicy/caapolicy/internal/corednstest"
)

const persistAcct = "https://acme-v02.api.letsencrypt.org/acme/acct/1"

// persistZone publishes dns-persist-01 records: one CAA honours (www), one for a CA the policy
// does not name (shop), one whose wildcard policy meets issuewild none (api), one malformed
// (blog) and one expired (old).
const persistZone = `$ORIGIN example.org.
@                          3600 IN SOA ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600
@                          3600 IN NS  ns1
ns1                        3600 IN A   127.0.0.1
www                        3600 IN A   192.0.2.1
_validation-persist.www    3600 IN TXT "letsencrypt.org; accounturi=` + persistAcct + `"
shop                       3600 IN A   192.0.2.2
_validation-persist.shop   3600 IN TXT "digicert.com; accounturi=https://acme.digicert.com/acct/9"
api                        3600 IN A   192.0.2.3
_validation-persist.api    3600 IN TXT "letsencrypt.org; accounturi=` + persistAcct + `; policy=wildcard"
blog                       3600 IN A   192.0.2.4
_validation-persist.blog   3600 IN TXT "letsencrypt.org"
old                        3600 IN A   192.0.2.5
_validation-persist.old    3600 IN TXT "letsencrypt.org; accounturi=` + persistAcct + `; persistUntil=1700000000"
`

// TestPersistRecords: caacheck reads the dns-persist-01 records of a name live and offline, and a
// -zone audit reports every one a CA would not honour and exits 1.
func TestPersistRecords(t *testing.T) {
	dir := t.TempDir()
	zone := filepath.Join(dir, "example.org.zone")
	conf := filepath.Join(dir, "Corefile")
	port := corednstest.FreePort(t)
	cf := fmt.Sprintf(`example.org:%d {
    bind 127.0.0.1
    caapolicy {
        issue letsencrypt.org
        issuewild none
    }
    transfer {
        to *
    }
    file %s
}
`, port, zone)
	for p, s := range map[string]string{zone: persistZone, conf: cf} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	corednstest.Start(t, cf)
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	shop := "_validation-persist.shop.example.org. persists an authorization of digicert.com (account https://acme.digicert.com/acct/9) for shop.example.org, but CAA does not allow it: no issue property at example.org. authorizes digicert.com"
	api := "_validation-persist.api.example.org. persists an authorization of letsencrypt.org (account " + persistAcct + ") for *.api.example.org, but CAA does not allow it: no issuewild property at example.org. authorizes letsencrypt.org"
	blog := `_validation-persist.blog.example.org.: dns-persist-01 record "letsencrypt.org" must carry exactly one accounturi, so CAs reject it`
	old := "_validation-persist.old.example.org.: the authorization of letsencrypt.org expired at 2023-11-14T22:13:20Z (persistUntil); CAs validate nothing new with it"
	for _, tc := range []struct {
		name, source, qname, want string
	}{
		{"live: a record CAA honours adds nothing", "-server", "www.example.org", ""},
		{"live: a record for a CA the policy does not name", "-server", "shop.example.org", "persist:  " + shop},
		{"offline: the same finding from the Corefile", "-conf", "shop.example.org", "persist:  " + shop},
		{"live: policy=wildcard against issuewild none", "-server", "api.example.org", "persist:  " + api},
		{"offline: a malformed record", "-conf", "blog.example.org", "persist:  " + blog},
		{"live: an expired record", "-server", "old.example.org", "persist:  " + old},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := addr
			if tc.source == "-conf" {
				src = conf
			}
			_, out, errs := runCheck(tc.source, src, tc.qname)
			got := corednstest.LinesWith(out, "persist:")
			if got != tc.want {
				t.Errorf("persist lines %q, want %q\n%s%s", got, tc.want, out, errs)
			}
		})
	}
	t.Run("a zone audit lists every record a CA would not honour and exits 1", func(t *testing.T) {
		code, out, errs := runCheck("-zone", "example.org", "-server", addr, "-ca", "letsencrypt.org")
		want := strings.Join([]string{"PERSIST " + api, "PERSIST " + blog, "PERSIST " + old, "PERSIST " + shop}, "\n")
		if got := corednstest.LinesWith(out, "PERSIST "); code != exitDeny || got != want {
			t.Errorf("exit %d, PERSIST lines\n%s\nwant\n%s\n%s%s", code, got, want, out, errs)
		}
	})
}
