package watch

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func eventNames(evs []*checkEvent) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%s %s q=%d a=%d n=%d", checkSource(ev), ev.name, ev.queries, len(ev.addrs), len(ev.nets)))
	}
	return out
}

func TestCheckGrouping(t *testing.T) {
	const le, sec = "letsencrypt.org", "sectigo.com"
	tests := []struct {
		name    string
		entries []*Entry
		want    []string // closed events, in closing order, after a flush at t0+10s
	}{
		{"several labels and vantage points", []*Entry{
			entry(le, "10.0.0.1", "www.a.example.org.", 0),
			entry(le, "10.0.0.2", "WWW.A.example.org.", 10*time.Millisecond),
			entry(le, "10.0.0.3", "a.example.org.", 20*time.Millisecond),
			entry(le, "10.0.0.1", "example.org.", 30*time.Millisecond),
		}, []string{"letsencrypt.org www.a.example.org. q=4 a=3 n=1"}},
		{"parent first, deeper name later", []*Entry{
			entry(le, "10.0.0.1", "example.org.", 0),
			entry(le, "10.0.0.1", "shop.example.org.", time.Second),
		}, []string{"letsencrypt.org shop.example.org. q=2 a=1 n=1"}},
		{"two CAs interleaved", []*Entry{
			entry(le, "10.0.0.1", "www.example.org.", 0),
			entry(sec, "172.16.0.1", "shop.example.org.", 1*time.Millisecond),
			entry(le, "10.0.0.2", "example.org.", 2*time.Millisecond),
			entry(sec, "172.16.0.2", "example.org.", 3*time.Millisecond),
		}, []string{"letsencrypt.org www.example.org. q=2 a=2 n=1", "sectigo.com shop.example.org. q=2 a=2 n=1"}},
		{"two names by one CA", []*Entry{
			entry(le, "10.0.0.1", "www.example.org.", 0),
			entry(le, "10.0.0.1", "api.example.org.", time.Millisecond),
		}, []string{"letsencrypt.org www.example.org. q=1 a=1 n=1", "letsencrypt.org api.example.org. q=1 a=1 n=1"}},
		// Unattributed sources for one name form one event, whatever their networks.
		{"unknown clients, one name, three networks", []*Entry{
			entry(UnknownCA, "192.0.2.1", "www.example.org.", 0),
			entry(UnknownCA, "192.0.2.200", "example.org.", time.Millisecond),
			entry(UnknownCA, "198.51.100.1", "example.org.", 2*time.Millisecond),
			entry(UnknownCA, "2001:db8:1:2::1", "www.example.org.", 3*time.Millisecond),
			entry(UnknownCA, "2001:db8:1:3::1", "example.org.", 4*time.Millisecond),
		}, []string{"unknown www.example.org. q=5 a=5 n=3"}},
		{"five perspectives climbing in parallel", []*Entry{
			entry(UnknownCA, "127.0.1.1", "example.org.", 0),
			entry(UnknownCA, "127.0.2.1", "b.example.org.", time.Millisecond),
			entry(UnknownCA, "127.0.3.1", "a.b.example.org.", 2*time.Millisecond),
			entry(UnknownCA, "127.0.4.1", "a.b.example.org.", 3*time.Millisecond),
			entry(UnknownCA, "127.0.5.1", "b.example.org.", 4*time.Millisecond),
			entry(UnknownCA, "127.0.1.1", "a.b.example.org.", 5*time.Millisecond),
		}, []string{"unknown a.b.example.org. q=6 a=5 n=5"}},
		{"unknown and attributed apart", []*Entry{
			entry(UnknownCA, "192.0.2.1", "www.example.org.", 0),
			entry(le, "10.0.0.1", "www.example.org.", time.Millisecond),
		}, []string{"unknown www.example.org. q=1 a=1 n=1", "letsencrypt.org www.example.org. q=1 a=1 n=1"}},
		{"window expiry", []*Entry{
			entry(le, "10.0.0.1", "www.example.org.", 0),
			entry(le, "10.0.0.1", "example.org.", 1999*time.Millisecond),
			entry(le, "10.0.0.1", "example.org.", 2*time.Second), // the first event has closed
		}, []string{"letsencrypt.org www.example.org. q=2 a=1 n=1", "letsencrypt.org example.org. q=1 a=1 n=1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newCheckTracker(DefaultWindow, maxOpenChecks)
			var closed []*checkEvent
			for _, e := range tc.entries {
				closed = append(closed, tr.observe(e)...)
			}
			closed = append(closed, tr.expire(t0.Add(10*time.Second))...)
			if got := eventNames(closed); !slices.Equal(got, tc.want) {
				t.Errorf("closed events\n got %q\nwant %q", got, tc.want)
			}
			if tr.n != 0 || len(tr.index) != 0 || len(tr.order) != 0 {
				t.Errorf("%d events still open", tr.n)
			}
		})
	}
}

// TestCheckBounded floods the tracker with distinct names: memory stays bounded, the oldest
// events close early, and nothing is lost.
func TestCheckBounded(t *testing.T) {
	tr := newCheckTracker(time.Hour, 100)
	closed := 0
	for i := range 10000 {
		closed += len(tr.observe(entry(UnknownCA, fmt.Sprintf("10.%d.%d.1", i/256%256, i%256), fmt.Sprintf("n%d.example.org.", i), time.Duration(i))))
		if tr.n > 100 || len(tr.order) > 200 {
			t.Fatalf("after %d queries: %d open, %d in order", i, tr.n, len(tr.order))
		}
	}
	closed += len(tr.flush())
	if closed != 10000 {
		t.Errorf("%d events closed, want 10000", closed)
	}
}
