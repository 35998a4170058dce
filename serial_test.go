package caapolicy

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/coredns/caddy"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	"github.com/miekg/dns"
)

// serialOf returns the serial of the SOA in the answer or, for a negative answer, in the
// authority section of addr's reply to name qtype, and the reply's rcode.
func serialOf(t *testing.T, addr, name string, qtype uint16) (uint32, int) {
	t.Helper()
	r := exchange(t, "udp", addr, new(dns.Msg).SetQuestion(name, qtype))
	for _, rr := range append(r.Answer, r.Ns...) {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Serial, r.Rcode
		}
	}
	t.Fatalf("%s %s: no SOA in the reply\n%v", name, dns.TypeToString[qtype], r)
	return 0, 0
}

// TestServedSerialIsAFunctionOfWhatIsServed: two nodes with the same Corefile and zone data,
// started one after the other and one of them restarted, serve the same serial, the zone's own
// plus the policy serial, in SOA answers and in every negative answer (NXDOMAIN, NODATA, of CAA
// and of other types); without a serial line, the zone's own serial, as stock CoreDNS serves it.
func TestServedSerialIsAFunctionOfWhatIsServed(t *testing.T) {
	dir := t.TempDir()
	zone := filepath.Join(dir, "example.org.zone")
	write(t, zone, transferZone) // serial 2026112601
	const zoneSerial = 2026112601
	corefile := func(port int, serial string, issuer ...string) string {
		ca := "letsencrypt.org"
		if len(issuer) > 0 {
			ca = issuer[0]
		}
		return fmt.Sprintf(`example.org:%d {
    bind 127.0.0.1
    caapolicy {
        %s
        issue %s
        name policyonly { issue none }
    }
    file %s
}
`, port, serial, ca, zone)
	}
	asked := []struct {
		name  string
		qname string
		qtype uint16
		rcode int
	}{
		{"SOA at the apex", "example.org.", dns.TypeSOA, dns.RcodeSuccess},
		{"NXDOMAIN of another type", "nothing.example.org.", dns.TypeA, dns.RcodeNameError},
		{"NODATA of another type", "www.example.org.", dns.TypeMX, dns.RcodeSuccess},
		{"NXDOMAIN of CAA", "nothing.example.org.", dns.TypeCAA, dns.RcodeNameError},
		{"NODATA of CAA", "www.example.org.", dns.TypeCAA, dns.RcodeSuccess},
		{"NODATA at a name the policy makes exist", "policyonly.example.org.", dns.TypeA, dns.RcodeSuccess},
	}
	for _, tc := range []struct {
		name   string
		serial string
		want   uint32
	}{
		{"serial 7: the zone's serial plus 7 everywhere", "serial 7", zoneSerial + 7},
		{"no serial line: the zone's own serial", "", zoneSerial},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p1, p2 := corednstest.FreePort(t), corednstest.FreePort(t)
			first, _, _ := corednstest.Start(t, corefile(p1, tc.serial))
			inst2, node2, _ := corednstest.Start(t, corefile(p2, tc.serial))
			// Node 1 restarts: a new process remembers nothing, as a server on another port has
			// no memory of this zone either (the serial memory is per zone and port). It listens
			// on a port of its own, so that no packet can reach the socket of the instance that
			// stopped.
			first.Stop()
			p3 := corednstest.FreePort(t)
			inst1, node1, _ := corednstest.Start(t, corefile(p3, tc.serial))
			same := func(stage string, want uint32) {
				t.Helper()
				for _, q := range asked {
					t.Run(stage+": "+q.name, func(t *testing.T) {
						for _, node := range []string{node1, node2} {
							s, rcode := serialOf(t, node, q.qname, q.qtype)
							if s != want || rcode != q.rcode {
								t.Errorf("%s: serial %d %s, want %d %s", node, s, dns.RcodeToString[rcode], want, dns.RcodeToString[q.rcode])
							}
						}
					})
				}
			}
			same("after the restart", tc.want)
			if tc.serial == "" {
				return
			}
			// Both nodes reload, one after the other, with the same policy change and serial 8.
			for i, r := range []struct {
				inst *caddy.Instance
				port int
			}{{inst2, p2}, {inst1, p3}} {
				next, err := r.inst.Restart(corednstest.Corefile(corefile(r.port, "serial 8", "sectigo.com")))
				if err != nil {
					t.Fatalf("reload of node %d: %v", i+1, err)
				}
				t.Cleanup(func() { next.Stop() })
			}
			same("after both reloaded with the same change", zoneSerial+8)
		})
	}
}
