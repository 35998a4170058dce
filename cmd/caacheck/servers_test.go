package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caapolicy/caapolicy/internal/corednstest"
)

// twoServersZone names two name servers: one on 127.0.0.1 and one on ::1, which the tests start
// on the same port.
const twoServersZone = `$ORIGIN example.org.
@       3600 IN SOA   ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600
@       3600 IN NS    ns1
@       3600 IN NS    ns2
ns1     3600 IN A     127.0.0.1
ns2     3600 IN AAAA  ::1
`

// startPair starts two CoreDNS servers for example.org on one free port, on 127.0.0.1 and ::1,
// each with its own issue line, and returns their addresses.
func startPair(t *testing.T, issue1, issue2 string) (string, string, string) {
	t.Helper()
	dir := t.TempDir()
	zone := filepath.Join(dir, "example.org.zone")
	if err := os.WriteFile(zone, []byte(twoServersZone), 0o644); err != nil {
		t.Fatal(err)
	}
	var port int
	for range 20 {
		l4, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l4.Addr().(*net.TCPAddr).Port
		l6, err6 := net.Listen("tcp", fmt.Sprintf("[::1]:%d", port))
		l4.Close()
		if err6 == nil {
			l6.Close()
			break
		}
	}
	cf := func(bind, issue string) string {
		return fmt.Sprintf("example.org:%d {\n bind %s\n caapolicy {\n  issue %s\n }\n file %s\n}\n", port, bind, issue, zone)
	}
	corednstest.Start(t, cf("127.0.0.1", issue1))
	corednstest.Start(t, cf("::1", issue2))
	return fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("[::1]:%d", port), fmt.Sprint(port)
}

// TestCompareServers: caacheck with several -server flags evaluates on each and exits 3 when
// verdicts or Relevant RRsets differ; -ns finds the zone's name servers and does the same.
func TestCompareServers(t *testing.T) {
	a, b, _ := startPair(t, "letsencrypt.org", "letsencrypt.org")
	code, out, errs := runCheck("-server", a, "-server", b, "www.example.org")
	if code != exitAllow || !strings.Contains(out, "AGREE  all 2 servers give the same verdict and Relevant RRset\n") {
		t.Errorf("same policy: exit %d\n%s%s", code, out, errs)
	}
	wantLines(t, "output", out, "== "+a+"\nALLOW  letsencrypt.org may issue for www.example.org", "== "+b+"\nALLOW  letsencrypt.org may issue for www.example.org")

	c, d, port2 := startPair(t, "letsencrypt.org", "sectigo.com")
	code, out, _ = runCheck("-server", c, "-server", d, "-mode", "letsencrypt", "www.example.org")
	if code != exitDiffer || !strings.Contains(out, "DIFFER the 2 servers do not answer alike: a CA may see either\n") ||
		!strings.Contains(out, "== "+d+"\nDENY   letsencrypt.org may not issue for www.example.org") {
		t.Errorf("different policies: exit %d, want %d\n%s", code, exitDiffer, out)
	}
	// Same verdict, different RRsets: still a disagreement.
	code, out, _ = runCheck("-server", c, "-server", d, "-ca", "digicert.com", "www.example.org")
	if code != exitDiffer {
		t.Errorf("same verdict, other RRsets: exit %d, want %d\n%s", code, exitDiffer, out)
	}

	code, out, errs = runCheck("-ns", "-server", c, "-ns-port", port2, "-json", "example.org")
	var rep struct {
		Agree   bool
		Servers []struct {
			Allowed bool
			Source  string
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s%s", err, out, errs)
	}
	if code != exitDiffer || rep.Agree || len(rep.Servers) != 2 || rep.Servers[0].Source != "live, server "+c || rep.Servers[1].Source != "live, server "+d {
		t.Errorf("-ns: exit %d, %+v", code, rep)
	}

	code, _, errs = runCheck("-ns", "-server", a, "-server", b, "example.org")
	if code != exitError || !strings.Contains(errs, "-ns finds the name servers through one -server") {
		t.Errorf("-ns with two servers: exit %d %s", code, errs)
	}
}
