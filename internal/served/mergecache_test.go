package served

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/file"
	"github.com/coredns/coredns/plugin/metadata"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/plugin/transfer"

	"github.com/caapolicy/caapolicy/internal/corednstest"
	"github.com/caapolicy/caapolicy/internal/corefile"

	"github.com/miekg/dns"
)

// newTestView parses a caapolicy block and puts next behind its view.
func newTestView(t testing.TB, block string, next plugin.Handler) *View {
	t.Helper()
	c := caddy.NewTestController("dns", block)
	c.Next()
	b, err := corefile.Parse(c)
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(b)
	if err != nil {
		t.Fatal(err)
	}
	v.Next = next
	return v
}

// viewHandler answers CAA queries from a view as the plugin does, for tests: Find, Serve, write.
type viewHandler struct{ *View }

func (h viewHandler) Name() string { return "caapolicy" }

func (h viewHandler) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	_, _, o, ok := h.Find(r.Question[0].Name)
	if !ok {
		return h.Pass(ctx, w, r)
	}
	m, _, rcode, err := h.Serve(ctx, w, r, o)
	if m != nil {
		w.WriteMsg(m)
	}
	return rcode, err
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
			out = append(out, corednstest.RRs(fmt.Sprintf(`%s 600 IN CAA 0 issue "%s"`, qname, ca))...)
		}
		return out
	}
	ns := corednstest.RRs("example.org. 3600 IN NS ns1.example.org.")
	caseFor := func(qname string, answer []dns.RR) test.Case {
		return test.Case{Qname: qname, Qtype: dns.TypeCAA, Authoritative: true, Answer: answer, Ns: ns}
	}
	setup := func(t *testing.T) (viewHandler, *file.Zone, *Owner) {
		f, err := corednstest.FileZone(corednstest.VersionZone(1, "v1.example"), "example.org.")
		if err != nil {
			t.Fatal(err)
		}
		v := newTestView(t, versionPolicy, f)
		return viewHandler{v}, f.Z["example.org."], v.owners["example.org."]
	}

	t.Run("the second query is answered from the reply kept by the first", func(t *testing.T) {
		h, _, o := setup(t)
		corednstest.CheckCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1.example")))
		kept := o.merged[0].Load()
		if kept == nil {
			t.Fatal("no reply kept")
		}
		corednstest.CheckCase(t, h, caseFor("ExAmPle.Org.", apex("ExAmPle.Org.", "letsencrypt.org", "v1.example")))
		if o.merged[0].Load() != kept {
			t.Errorf("the reply was built again for the same zone data")
		}
	})
	t.Run("the kept reply names the zone the zone data answered from, as the first did", func(t *testing.T) {
		h, _, o := setup(t)
		for _, round := range []string{"built", "kept"} {
			r := new(dns.Msg).SetQuestion("example.org.", dns.TypeCAA)
			_, a, _, _ := h.Serve(context.Background(), corednstest.NewWriter("udp", ""), r, o)
			if a.Apex != "example.org." || a.Policy != 1 || a.ZoneData != 1 {
				t.Errorf("%s: answer %+v, want apex example.org. with 1 policy and 1 zone-data record", round, a)
			}
		}
		if o.merged[0].Load() == nil {
			t.Errorf("no reply kept: the second round did not test the kept reply")
		}
	})
	t.Run("a reload with a higher serial builds the reply from the new data", func(t *testing.T) {
		h, z, _ := setup(t)
		corednstest.CheckCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1.example")))
		load(t, z, corednstest.VersionZone(2, "v2.example"))
		corednstest.CheckCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v2.example")))
	})
	t.Run("a reload under the same serial (by mtime) builds the reply from the new data", func(t *testing.T) {
		h, z, _ := setup(t)
		corednstest.CheckCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1.example")))
		load(t, z, corednstest.VersionZone(1, "v1b.example"))
		corednstest.CheckCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1b.example")))
	})
	t.Run("DO queries keep their own reply", func(t *testing.T) {
		h, _, o := setup(t)
		tc := caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1.example"))
		tc.Do = true
		corednstest.CheckCase(t, h, tc)
		if o.merged[1].Load() == nil || o.merged[0].Load() != nil {
			t.Errorf("kept without DO %v, with DO %v; want only with DO", o.merged[0].Load() != nil, o.merged[1].Load() != nil)
		}
	})
	t.Run("an expired zone is not answered from the kept reply", func(t *testing.T) {
		h, z, _ := setup(t)
		corednstest.CheckCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1.example")))
		z.Lock()
		z.Expired = true
		z.Unlock()
		// file answers nothing (SERVFAIL) for an expired zone: the policy stands alone.
		corednstest.CheckCase(t, h, test.Case{Qname: "example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: apex("example.org.", "letsencrypt.org")})
	})
	t.Run("a CNAME at the owner is not kept", func(t *testing.T) {
		h, _, o := setup(t)
		corednstest.CheckCase(t, h, test.Case{Qname: "alias.example.org.", Qtype: dns.TypeCAA, Authoritative: true, Answer: corednstest.RRs("alias.example.org. 3600 IN CNAME www.example.org."), Ns: ns})
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
		if got := corednstest.AnswerStrings(w.Msg, dns.TypeCAA); !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
		if h.owners["x.wild.example.org."].merged[0].Load() != nil {
			t.Errorf("kept a reply synthesized from a wildcard")
		}
	})
	t.Run("file's fallthrough at the owner is not kept", func(t *testing.T) {
		f, err := corednstest.FileZone(corednstest.VersionZone(1, "v1.example"), "example.org.")
		if err != nil {
			t.Fatal(err)
		}
		f.Fall = fall.Root
		h := viewHandler{newTestView(t, versionPolicy, f)}
		corednstest.CheckCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1.example")))
		if h.owners["example.org."].merged[0].Load() != nil {
			t.Errorf("kept a reply where file may pass the query on")
		}
	})
	t.Run("file behind transfer is kept", func(t *testing.T) {
		f, err := corednstest.FileZone(corednstest.VersionZone(1, "v1.example"), "example.org.")
		if err != nil {
			t.Fatal(err)
		}
		h := viewHandler{newTestView(t, versionPolicy, &transfer.Transfer{Next: f})}
		corednstest.CheckCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1.example")))
		if h.owners["example.org."].merged[0].Load() == nil {
			t.Errorf("no reply kept")
		}
	})
	t.Run("another backend is not kept", func(t *testing.T) {
		f, err := corednstest.FileZone(corednstest.VersionZone(1, "v1.example"), "example.org.")
		if err != nil {
			t.Fatal(err)
		}
		h := viewHandler{newTestView(t, versionPolicy, test.HandlerFunc(f.ServeDNS))}
		corednstest.CheckCase(t, h, caseFor("example.org.", apex("example.org.", "letsencrypt.org", "v1.example")))
		if h.owners["example.org."].merged[0].Load() != nil {
			t.Errorf("kept a reply from a backend whose versions are unknown")
		}
	})
}

// TestKeptMergeConcurrentLoads swaps the zone data while queries run, in process (run it with
// -race): every answer is exactly one version's, and a query that starts after a load never gets
// an older version.
func TestKeptMergeConcurrentLoads(t *testing.T) {
	f, err := corednstest.FileZone(corednstest.VersionZone(1, "v1.example"), "example.org.")
	if err != nil {
		t.Fatal(err)
	}
	h := viewHandler{newTestView(t, versionPolicy, f)}
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
		got := corednstest.AnswerStrings(w.Msg, dns.TypeCAA)
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
		nz, err := file.Parse(strings.NewReader(corednstest.VersionZone(v, fmt.Sprintf("v%d.example", v))), "example.org.", "stdin", 0)
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
