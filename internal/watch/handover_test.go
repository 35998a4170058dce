package watch

import (
	"regexp"
	"strings"
	"testing"
	"time"
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
	z := newTestZone(t, servedZone)
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
				var out buffer
				old, _ := testLog(t, z, &out, "log none json", "checks 300ms")
				next := NewLog(old.cfg, old.block, old.pipe)
				next.sink = old.sink
				var firstAt time.Time
				query := func(l *Log, client, name string) {
					e := z.answered(entry(UnknownCA, client, name, 0))
					e.Time = time.Now() // the writer closes events by the clock
					if firstAt.IsZero() {
						firstAt = e.Time
					}
					l.Enqueue(e)
				}
				if err := old.Start(); err != nil {
					t.Fatal(err)
				}
				for _, n := range tc.first {
					query(old, before, n)
				}
				if err := next.Start(); err != nil {
					t.Fatal(err)
				}
				if order == "retired first" {
					old.Stop()
				}
				for _, n := range tc.second {
					query(next, after, n)
				}
				old.Stop()
				// The event closes a window after its first query, while the new instance serves.
				if !out.waitFor(`"type":"check"`, 5*time.Second) {
					t.Fatalf("no check event within 5s of its 300ms window")
				}
				if err := next.Shutdown(); err != nil {
					t.Fatal(err)
				}
				lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
				want := `{"type":"check","level":"info","time":"T","ca":"unknown",` + tc.want + `,"duration_ms":D,"relevant_owner":"pol.example.org.","relevant_rrset":["0 issue \"digicert.com\"","0 issue \"letsencrypt.org\"","0 issue \"sectigo.com\""],"server":"","node":"ns1","check":"K"}`
				if len(lines) != 1 || normalCheck(lines[0]) != want {
					t.Errorf("got\n%s\nwant one line\n%s", out.String(), want)
				}
				// The merged event keeps the key of the check's first query, on the old instance.
				if key := keyOf(tc.first[0], "unknown/ipv4", firstAt, 300*time.Millisecond); !strings.HasSuffix(lines[0], `"check":"`+string(key[:])+`"}`) {
					t.Errorf("the event's key is not the first query's, %s: %s", key[:], lines[0])
				}
			})
		}
	}
}

// checkClock matches the time, duration and key of a check event's JSON line, which come from the
// clock.
var checkClock = regexp.MustCompile(`"(time|duration_ms|check)":("[^"]*"|[0-9]+)`)

// normalCheck replaces the time, duration and key of a check event's JSON line with T, D and K.
func normalCheck(line string) string {
	return checkClock.ReplaceAllStringFunc(line, func(s string) string {
		switch {
		case strings.HasPrefix(s, `"time"`):
			return `"time":"T"`
		case strings.HasPrefix(s, `"check"`):
			return `"check":"K"`
		}
		return `"duration_ms":D`
	})
}
