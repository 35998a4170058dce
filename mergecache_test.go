package caapolicy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/file"
	"github.com/coredns/coredns/plugin/metadata"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/plugin/transfer"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	"github.com/miekg/dns"
)

// versionZone is example.org with the given serial and one CAA record at the apex, naming ca.
func versionZone(serial int, ca string) string {
	return fmt.Sprintf(`$ORIGIN example.org.
@        3600 IN SOA   ns1.example.org. hostmaster.example.org. %d 7200 3600 1209600 3600
@        3600 IN NS    ns1
ns1      3600 IN A     127.0.0.1
@        3600 IN CAA   0 issue "%s"
alias    3600 IN CNAME www
www      3600 IN A     192.0.2.1
*.wild   3600 IN CAA   0 issue "%s"
`, serial, ca, ca)
}

// load puts the data of text into z as file's reload does: a new apex and tree, under the lock.
func load(t *testing.T, z *file.Zone, text string) {
	t.Helper()
	nz, err := file.Parse(strings.NewReader(text), "example.org.", "stdin", 0)
	if err != nil {
		t.Fatal(err)
	}
	z.Lock()
	z.Apex, z.Tree = nz.Apex, nz.Tree
	z.Unlock()
}

const versionPolicy = `caapolicy example.org {
	issue letsencrypt.org
	ttl 600
	name alias x.wild {
		issue pki.goog
	}
}`

func TestKeptMerge(t *testing.T) {
	apex := func(qname string, cas ...string) []dns.RR {
		var out []dns.RR
		for _, ca := range cas {
			out = append(out, rrs(fmt.Sprintf(`%s 600 IN CAA 0 issue "%s"`, qname, ca))...)
		}
		return out
	}
	ns := rrs("example.org. 3600 IN NS ns1.example.org.")
	caseFor := func(qname string, answer []dns.RR) test.Case {
		return test.Case{Qname: qname, Qtype: dns.TypeCAA, Authoritative: true, Answer: answer, Ns: ns}
	}
	setup := func(t *testing.T) (*CAAPolicy, *file.Zone, *owner) {
		f, err := fileZone(versionZone(1, "v1.example"), "example.org.")
		if err != nil {
			t.Fatal(err)
		}
		h := newTestHandler(t, versionPolicy, f)
		return h, f.Z["example.org."], h.owners["example.org."]
	}

	t.Run("the second query is answered from the reply kept by the first", func(t *testing.T) {
		h, _, o := setup(t)
		checkCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1.example")))
		kept := o.merged[0].Load()
		if kept == nil {
			t.Fatal("no reply kept")
		}
		checkCase(t, h, caseFor("ExAmPle.Org.", apex("ExAmPle.Org.", "letsencrypt.org", "v1.example")))
		if o.merged[0].Load() != kept {
			t.Errorf("the reply was built again for the same zone data")
		}
	})
	t.Run("a reload with a higher serial builds the reply from the new data", func(t *testing.T) {
		h, z, _ := setup(t)
		checkCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1.example")))
		load(t, z, versionZone(2, "v2.example"))
		checkCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v2.example")))
	})
	t.Run("a reload under the same serial (by mtime) builds the reply from the new data", func(t *testing.T) {
		h, z, _ := setup(t)
		checkCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1.example")))
		load(t, z, versionZone(1, "v1b.example"))
		checkCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1b.example")))
	})
	t.Run("DO queries keep their own reply", func(t *testing.T) {
		h, _, o := setup(t)
		tc := caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1.example"))
		tc.Do = true
		checkCase(t, h, tc)
		if o.merged[1].Load() == nil || o.merged[0].Load() != nil {
			t.Errorf("kept without DO %v, with DO %v; want only with DO", o.merged[0].Load() != nil, o.merged[1].Load() != nil)
		}
	})
	t.Run("an expired zone is not answered from the kept reply", func(t *testing.T) {
		h, z, _ := setup(t)
		checkCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1.example")))
		z.Lock()
		z.Expired = true
		z.Unlock()
		// file answers nothing (SERVFAIL) for an expired zone: the policy stands alone.
		checkCase(t, h, test.Case{Qname: "example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: apex("example.org.", "letsencrypt.org")})
	})
	t.Run("a CNAME at the owner is not kept", func(t *testing.T) {
		h, _, o := setup(t)
		checkCase(t, h, test.Case{Qname: "alias.example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: rrs("alias.example.org. 3600 IN CNAME www.example.org."), Ns: ns})
		if o := h.owners["alias.example.org."]; o.merged[0].Load() != nil {
			t.Errorf("kept a reply at a CNAME")
		}
		if o.merged[0].Load() != nil {
			t.Errorf("kept a reply at the apex, which was not asked")
		}
	})
	t.Run("a wildcard answer is not kept where file names the wildcard in the metadata", func(t *testing.T) {
		h, _, _ := setup(t)
		ctx := metadata.ContextWithMetadata(context.Background())
		r := new(dns.Msg).SetQuestion("x.wild.example.org.", dns.TypeCAA)
		w := corednstest.NewWriter("udp", "")
		h.ServeDNS(ctx, w, r)
		want := []string{`x.wild.example.org. 600 IN CAA 0 issue "pki.goog"`, `x.wild.example.org. 600 IN CAA 0 issue "v1.example"`}
		if got := answerStrings(w.Msg, dns.TypeCAA); !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
		if h.owners["x.wild.example.org."].merged[0].Load() != nil {
			t.Errorf("kept a reply synthesized from a wildcard")
		}
	})
	t.Run("file's fallthrough at the owner is not kept", func(t *testing.T) {
		f, err := fileZone(versionZone(1, "v1.example"), "example.org.")
		if err != nil {
			t.Fatal(err)
		}
		f.Fall = fall.Root
		h := newTestHandler(t, versionPolicy, f)
		checkCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1.example")))
		if h.owners["example.org."].merged[0].Load() != nil {
			t.Errorf("kept a reply where file may pass the query on")
		}
	})
	t.Run("file behind transfer is kept", func(t *testing.T) {
		f, err := fileZone(versionZone(1, "v1.example"), "example.org.")
		if err != nil {
			t.Fatal(err)
		}
		h := newTestHandler(t, versionPolicy, &transfer.Transfer{Next: f})
		checkCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1.example")))
		if h.owners["example.org."].merged[0].Load() == nil {
			t.Errorf("no reply kept")
		}
	})
	t.Run("another backend is not kept", func(t *testing.T) {
		f, err := fileZone(versionZone(1, "v1.example"), "example.org.")
		if err != nil {
			t.Fatal(err)
		}
		h := newTestHandler(t, versionPolicy, test.HandlerFunc(f.ServeDNS))
		checkCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1.example")))
		if h.owners["example.org."].merged[0].Load() != nil {
			t.Errorf("kept a reply from a backend whose versions are unknown")
		}
	})
}

// TestKeptMergeConcurrentLoads swaps the zone data while queries run, in process (run it with
// -race): every answer is exactly one version's, and a query that starts after a load never gets
// an older version.
func TestKeptMergeConcurrentLoads(t *testing.T) {
	f, err := fileZone(versionZone(1, "v1.example"), "example.org.")
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHandler(t, versionPolicy, f)
	z := f.Z["example.org."]
	var loaded sync.Mutex // held while a load is published: readers see the version number with it
	current := 1
	version := func() int {
		loaded.Lock()
		defer loaded.Unlock()
		return current
	}
	answerVersion := func() (int, string) {
		w := corednstest.NewWriter("udp", "")
		h.ServeDNS(context.Background(), w, new(dns.Msg).SetQuestion("example.org.", dns.TypeCAA))
		got := answerStrings(w.Msg, dns.TypeCAA)
		for v := 1; v <= 50; v++ {
			if slices.Equal(got, []string{
				`example.org. 600 IN CAA 0 issue "letsencrypt.org"`,
				fmt.Sprintf(`example.org. 600 IN CAA 0 issue "v%d.example"`, v),
			}) {
				return v, ""
			}
		}
		return 0, fmt.Sprintf("%q", got)
	}
	stop := make(chan struct{})
	errs := make(chan string, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				least := version()
				v, bad := answerVersion()
				switch {
				case bad != "":
					errs <- "an answer of no single version: " + bad
					return
				case v < least:
					errs <- fmt.Sprintf("version %d answered after version %d was loaded", v, least)
					return
				}
			}
		})
	}
	for v := 2; v <= 50; v++ {
		nz, err := file.Parse(strings.NewReader(versionZone(v, fmt.Sprintf("v%d.example", v))), "example.org.", "stdin", 0)
		if err != nil {
			t.Fatal(err)
		}
		loaded.Lock()
		z.Lock()
		z.Apex, z.Tree = nz.Apex, nz.Tree
		z.Unlock()
		current = v
		loaded.Unlock()
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if v, bad := answerVersion(); v != 50 {
		t.Errorf("after the last load: version %d %s, want 50", v, bad)
	}
}

// TestE2EMergedReloadUnderLoad reloads the zone file of a running server (file's reload interval)
// while clients ask for the merged RRset at the apex. Every answer must be exactly one zone
// version's records united with the policy, and once a client has seen the new serial, it must
// never get an older version's RRset.
func TestE2EMergedReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	zonePath := filepath.Join(dir, "example.org.zone")
	writeZone := func(v int) {
		tmp := zonePath + ".new"
		write(t, tmp, versionZone(v, fmt.Sprintf("v%d.example", v)))
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
		got := answerStrings(r, 0)
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
					errs <- fmt.Sprintf("an answer of no single version: %q", answerStrings(r, 0))
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
			t.Errorf("after serial %d was served, the merged RRset is version %d: %q", v, got, answerStrings(r, 0))
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
