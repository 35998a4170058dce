package watch

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestFleetKeys: two nodes of a fleet, each reached by one perspective of an unattributed CA's
// check, write the same check key in every query line and in their event lines, each with its
// own node name, so that an engine merges the two events into one check from two networks.
func TestFleetKeys(t *testing.T) {
	z := newTestZone(t, servedZone)
	nodes := []struct {
		node, client string
		at           time.Duration // when the perspective's climb reaches the node
		want         []string
	}{
		{"ns1", "192.0.2.10", 0, []string{
			`{"type":"query","time":"2026-11-23T10:00:00.123Z","client":"192.0.2.10:5353","transport":"udp","name":"www.example.org.","edns_bufsize":0,"do":false,"rcode":"NXDOMAIN","size":117,"tc":false,"owner":"","records":{"policy":0,"zonedata":0,"partners":0},"source":"passthrough","ca":"unknown","zone":"example.org.","server":"","node":"ns1","check":"5af338c58b86d831"}`,
			`{"type":"query","time":"2026-11-23T10:00:00.133Z","client":"192.0.2.10:5353","transport":"udp","name":"example.org.","edns_bufsize":0,"do":false,"rcode":"NOERROR","size":151,"tc":false,"owner":"example.org.","records":{"policy":0,"zonedata":3,"partners":0},"source":"passthrough","ca":"unknown","zone":"example.org.","server":"","node":"ns1","check":"5af338c58b86d831"}`,
			`{"type":"check","level":"info","time":"2026-11-23T10:00:00.123Z","ca":"unknown","name":"www.example.org.","zone":"example.org.","queries":2,"addresses":1,"networks":1,"multi_perspective":false,"source_networks":["192.0.2.0/24"],"duration_ms":10,"relevant_owner":"example.org.","relevant_rrset":["0 issue \"letsencrypt.org\"","0 issuewild \";\"","0 issue \"digicert.com\""],"server":"","node":"ns1","check":"5af338c58b86d831"}`,
		}},
		{"ns2", "198.51.100.10", 3 * time.Millisecond, []string{
			`{"type":"query","time":"2026-11-23T10:00:00.126Z","client":"198.51.100.10:5353","transport":"udp","name":"www.example.org.","edns_bufsize":0,"do":false,"rcode":"NXDOMAIN","size":117,"tc":false,"owner":"","records":{"policy":0,"zonedata":0,"partners":0},"source":"passthrough","ca":"unknown","zone":"example.org.","server":"","node":"ns2","check":"5af338c58b86d831"}`,
			`{"type":"query","time":"2026-11-23T10:00:00.136Z","client":"198.51.100.10:5353","transport":"udp","name":"example.org.","edns_bufsize":0,"do":false,"rcode":"NOERROR","size":151,"tc":false,"owner":"example.org.","records":{"policy":0,"zonedata":3,"partners":0},"source":"passthrough","ca":"unknown","zone":"example.org.","server":"","node":"ns2","check":"5af338c58b86d831"}`,
			`{"type":"check","level":"info","time":"2026-11-23T10:00:00.126Z","ca":"unknown","name":"www.example.org.","zone":"example.org.","queries":2,"addresses":1,"networks":1,"multi_perspective":false,"source_networks":["198.51.100.0/24"],"duration_ms":10,"relevant_owner":"example.org.","relevant_rrset":["0 issue \"letsencrypt.org\"","0 issuewild \";\"","0 issue \"digicert.com\""],"server":"","node":"ns2","check":"5af338c58b86d831"}`,
		}},
	}
	for _, n := range nodes {
		t.Run(n.node, func(t *testing.T) {
			var out bytes.Buffer
			l, _ := testLog(t, z, &out, "log all json", "checks 2s", "node "+n.node)
			for _, q := range []struct {
				name string
				at   time.Duration
			}{{"www.example.org.", n.at}, {"example.org.", n.at + 10*time.Millisecond}} {
				l.handle(z.answered(entry(UnknownCA, n.client, q.name, q.at)))
			}
			l.closeEvents(l.checks.flush())
			l.flush()
			if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(n.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(n.want, "\n"))
			}
		})
	}
}
