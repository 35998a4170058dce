package caapolicy

import (
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"
)

// TestCheckAcrossReload: a CA check whose queries reach the old instance and then the new one,
// as a reload happens during it, is one event with all its queries and networks, whichever part of
// the climb each instance saw and whether the writer sees the new instance's queries before or
// after the old block retires.
func TestCheckAcrossReload(t *testing.T) {
	const (
		before = "198.51.100.7"
		after  = "203.0.113.9"
	)
	for _, tc := range []struct {
		name          string
		first, second []string // the climb's names answered by the old and the new instance
		want          string
	}{
		{"same name on both", []string{"www.pol.example.org."}, []string{"www.pol.example.org.", "pol.example.org.", "example.org."},
			`"name":"www.pol.example.org.","zone":"example.org.","queries":4,"addresses":2,"networks":2,"multi_perspective":true,"source_networks":["198.51.100.0/24","203.0.113.0/24"]`},
		{"the climb goes on", []string{"www.pol.example.org."}, []string{"pol.example.org.", "example.org."},
			`"name":"www.pol.example.org.","zone":"example.org.","queries":3,"addresses":2,"networks":2,"multi_perspective":true,"source_networks":["198.51.100.0/24","203.0.113.0/24"]`},
		{"the new instance sees a deeper name", []string{"pol.example.org."}, []string{"www.pol.example.org."},
			`"name":"www.pol.example.org.","zone":"example.org.","queries":2,"addresses":2,"networks":2,"multi_perspective":true,"source_networks":["198.51.100.0/24","203.0.113.0/24"]`},
	} {
		for _, order := range []string{"retired first", "new queries first"} {
			t.Run(tc.name+", "+order, func(t *testing.T) {
				var out syncBuffer
				old := logHandler(t, "log none json\nchecks 300ms")
				logTo(old, &out)
				next := logHandler(t, "log none json\nchecks 300ms")
				next.qlog.pipe, next.qlog.sink = old.qlog.pipe, old.qlog.sink
				if err := old.qlog.start(); err != nil {
					t.Fatal(err)
				}
				for _, n := range tc.first {
					query(t, old, &test.ResponseWriter{RemoteIP: before}, n, 0, false)
				}
				if err := next.qlog.start(); err != nil {
					t.Fatal(err)
				}
				if order == "retired first" {
					old.qlog.stop()
				}
				for _, n := range tc.second {
					query(t, next, &test.ResponseWriter{RemoteIP: after}, n, 0, false)
				}
				old.qlog.stop()
				// The event closes a window after its first query, while the new instance serves.
				for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), `"type":"check"`) && time.Now().Before(deadline); {
					time.Sleep(10 * time.Millisecond)
				}
				if err := next.qlog.shutdown(); err != nil {
					t.Fatal(err)
				}
				lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
				want := `{"type":"check","level":"info","time":"T","ca":"unknown",` + tc.want + `,"duration_ms":D,"relevant_owner":"pol.example.org.","relevant_rrset":["0 issue \"digicert.com\"","0 issue \"letsencrypt.org\"","0 issue \"sectigo.com\""],"server":""}`
				if len(lines) != 1 || normalLine(lines[0]) != want {
					t.Errorf("got\n%s\nwant one line\n%s", out.String(), want)
				}
			})
		}
	}
}
