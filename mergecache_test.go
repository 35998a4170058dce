package caapolicy

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	"github.com/miekg/dns"
)

// TestE2EMergedReloadUnderLoad reloads the zone file of a running server (file's reload interval)
// while clients ask for the merged RRset at the apex. Every answer must be exactly one zone
// version's records united with the policy, and once a client has seen the new serial, it must
// never get an older version's RRset.
func TestE2EMergedReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	zonePath := filepath.Join(dir, "example.org.zone")
	writeZone := func(v int) {
		tmp := zonePath + ".new"
		write(t, tmp, corednstest.VersionZone(v, fmt.Sprintf("v%d.example", v)))
		if err := os.Rename(tmp, zonePath); err != nil { // file never reads half a file
			t.Fatal(err)
		}
	}
	writeZone(1)
	inst, udp, _ := corednstest.Start(t, fmt.Sprintf(`example.org:0 {
	bind 127.0.0.1
	caapolicy {
		issue letsencrypt.org
		ttl 600
		log none
		checks off
	}
	file %s {
		reload 20ms
	}
}
`, zonePath))
	// Stop file's reload goroutine before the zone file goes (Stop alone leaves it running).
	t.Cleanup(func() { inst.ShutdownCallbacks() })
	const versions = 6
	// versionOf returns the zone version whose RRset the answer is, 0 if none.
	versionOf := func(r *dns.Msg) int {
		got := corednstest.AnswerStrings(r, 0)
		for v := 1; v <= versions; v++ {
			if slices.Equal(got, []string{
				`example.org. 600 IN CAA 0 issue "letsencrypt.org"`,
				fmt.Sprintf(`example.org. 600 IN CAA 0 issue "v%d.example"`, v),
			}) {
				return v
			}
		}
		return 0
	}
	serial := func(c *dns.Client) int {
		r, _, err := c.Exchange(new(dns.Msg).SetQuestion("example.org.", dns.TypeSOA), udp)
		if err != nil || len(r.Answer) != 1 {
			return 0
		}
		return int(r.Answer[0].(*dns.SOA).Serial)
	}

	stop := make(chan struct{})
	errs := make(chan string, 8)
	answered := make(chan int, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			n, least := 0, 1
			defer func() { answered <- n }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// The serial seen first: the CAA answer asked after it must be that version or newer.
				if s := serial(c); s > least {
					least = s
				}
				r, _, err := c.Exchange(caaQuery("example.org.", false, 1232), udp)
				if err != nil {
					continue
				}
				n++
				switch v := versionOf(r); {
				case v == 0:
					errs <- fmt.Sprintf("an answer of no single version: %q", corednstest.AnswerStrings(r, 0))
					return
				case v < least:
					errs <- fmt.Sprintf("version %d answered after serial %d was served", v, least)
					return
				}
			}
		})
	}
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	for v := 2; v <= versions; v++ {
		writeZone(v)
		if !corednstest.Poll(10*time.Second, time.Millisecond, func() bool { return serial(c) == v }) {
			t.Fatalf("the server did not load serial %d", v)
		}
		r := exchange(t, "udp", udp, caaQuery("example.org.", false, 1232))
		if got := versionOf(r); got != v {
			t.Errorf("after serial %d was served, the merged RRset is version %d: %q", v, got, corednstest.AnswerStrings(r, 0))
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for range 4 {
		if n := <-answered; n == 0 {
			t.Errorf("a client got no answer during the reloads")
		}
	}
}
