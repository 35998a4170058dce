package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"

	"github.com/caapolicy/caapolicy/internal/corednstest"
)

// TestRefusesWhatCoreDNSRefuses: every Corefile in the table is refused by a real CoreDNS, and
// `caacheck -lint -conf` and `caacheck -conf` refuse it too, with CoreDNS's own error (exit 2).
func TestRefusesWhatCoreDNSRefuses(t *testing.T) {
	dir := t.TempDir()
	zone := filepath.Join(dir, "example.org.zone")
	if err := os.WriteFile(zone, []byte(tableZone), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, corefile, err string
	}{
		{"a caapolicy mistake names its line", `example.org:0 {
    caapolicy {
        issue letsencrypt.org accounturi
    }
    file ZONE
}`, `Corefile:3 - Error during parsing: issue: parameter "accounturi" is not KEY=VALUE`},
		{"zonedata merge with no zone data after caapolicy", `example.org:0 {
    caapolicy {
        issue letsencrypt.org
    }
}`, "zonedata merge needs the zone data after caapolicy in this server block"},
		{"an unknown directive", `example.org:0 {
    caapolicy {
        issue letsencrypt.org
    }
    fiel ZONE
}`, `Unknown directive 'fiel'`},
		{"another plugin's bad argument", `example.org:0 {
    bufsize 100
    caapolicy {
        issue letsencrypt.org
    }
    file ZONE
}`, "bufsize"},
		{"the same zone and port twice", `example.org:0 {
    caapolicy {
        issue letsencrypt.org
    }
    file ZONE
}
example.org:0 {
    whoami
}`, "already defined"},
		{"caapolicy zones outside the server block", `example.org:0 {
    caapolicy example.net {
        issue letsencrypt.org
    }
    file ZONE
}`, "example.net"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cf := strings.ReplaceAll(tc.corefile, "ZONE", zone)
			conf := filepath.Join(dir, "Corefile")
			if err := os.WriteFile(conf, []byte(cf), 0o644); err != nil {
				t.Fatal(err)
			}
			caddy.Quiet, dnsserver.Quiet = true, true
			inst, err := caddy.Start(corednstest.Corefile(cf))
			if err == nil {
				inst.Stop()
				t.Fatalf("CoreDNS started; the table wants a Corefile it refuses:\n%s", cf)
			}
			if !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("CoreDNS refuses with %q, the table expects %q", err, tc.err)
			}
			for _, args := range [][]string{{"-lint", "-conf", conf}, {"-conf", conf, "example.org"}} {
				code, out, errs := runCheck(args...)
				if code != exitError || out != "" || !strings.Contains(errs, tc.err) {
					t.Errorf("caacheck %s: exit %d, stdout %q, stderr %q; want exit 2 with %q", strings.Join(args, " "), code, out, errs, tc.err)
				}
			}
		})
	}
}
