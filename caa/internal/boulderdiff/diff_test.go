package boulderdiff

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jmhodges/clock"
	"github.com/letsencrypt/boulder/bdns"
	"github.com/letsencrypt/boulder/identifier"
	blog "github.com/letsencrypt/boulder/log"
	"github.com/letsencrypt/boulder/va"
	vapb "github.com/letsencrypt/boulder/va/proto"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caapolicy/caapolicy/caa"
)

// harness holds Boulder's VA and caa's lookup, both asking stub servers about current.
type harness struct {
	mu   sync.Mutex
	va   *va.ValidationAuthorityImpl
	auth string
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	doh := startResolver(t)
	servers, err := bdns.NewStaticProvider([]string{doh.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig := doh.Client().Transport.(*http.Transport).TLSClientConfig
	reg := prometheus.NewRegistry()
	client := bdns.New(5*time.Second, servers, reg, clock.New(), 1, "boulderdiff", blog.NewMock(), tlsConfig)
	v, err := va.NewValidationAuthorityImpl(client, nil, "boulderdiff", "letsencrypt.org", reg, clock.New(), blog.NewMock(),
		[]string{accountPrefix}, "remote-1", "ARIN", func(netip.Addr) error { return nil }, time.Second, false, nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{va: v, auth: startAuthoritative(t)}
}

// verdicts asks Boulder and caa about w and returns whether each lets issuance go on, with
// Boulder's problem and caa's reason.
func (h *harness) verdicts(t testing.TB, w *world) (boulder bool, boulderWhy string, ours bool, ourWhy string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	current.Store(w)
	resp, err := h.va.DoCAA(context.Background(), &vapb.IsCAAValidRequest{
		Identifier:       identifier.NewDNS(w.name).ToProto(),
		ValidationMethod: w.method,
		AccountURIID:     accountID,
		AuthzID:          1,
	})
	if err != nil {
		t.Fatalf("DoCAA: %v", err)
	}
	boulder = resp.Problem == nil
	if !boulder {
		boulderWhy = resp.Problem.Detail
	}
	l := &caa.DNSLookup{Server: h.auth, Timeout: 5 * time.Second}
	res := caa.Check(context.Background(), caa.Request{Name: w.name, CA: "letsencrypt.org", Account: account, Method: w.method, Mode: caa.ModeLetsEncrypt}, l.Lookup)
	return boulder, boulderWhy, res.Allowed, res.Reason
}

// corpusSeed and corpusSize fix the corpus CI runs.
const (
	corpusSeed = 23
	corpusSize = 6000
)

// TestBoulderCorpus compares Boulder and caa on corpusSize generated worlds and reports the
// smallest disagreement.
func TestBoulderCorpus(t *testing.T) {
	h := newHarness(t)
	r := rand.New(rand.NewPCG(corpusSeed, 0))
	type miss struct {
		w          *world
		b, o       bool
		bWhy, oWhy string
	}
	var misses []miss
	for range corpusSize {
		w := generate(r)
		b, bWhy, o, oWhy := h.verdicts(t, w)
		if b != o {
			misses = append(misses, miss{w, b, o, bWhy, oWhy})
		}
	}
	if len(misses) == 0 {
		return
	}
	sort.SliceStable(misses, func(i, j int) bool { return misses[i].w.size() < misses[j].w.size() })
	m := misses[0]
	t.Errorf("%d of %d cases disagree; the smallest:\n%sBoulder allows: %v (%s)\ncaa allows: %v (%s)",
		len(misses), corpusSize, m.w, m.b, m.bWhy, m.o, m.oWhy)
}

// FuzzBoulder draws a world from each fuzzer-chosen seed and fails on a disagreement.
func FuzzBoulder(f *testing.F) {
	for i := range uint64(8) {
		f.Add(i, uint64(corpusSeed))
	}
	h := newHarness(f)
	f.Fuzz(func(t *testing.T, s1, s2 uint64) {
		w := generate(rand.New(rand.NewPCG(s1, s2)))
		b, bWhy, o, oWhy := h.verdicts(t, w)
		if b != o {
			t.Errorf("disagreement:\n%sBoulder allows: %v (%s)\ncaa allows: %v (%s)", w, b, bWhy, o, oWhy)
		}
	})
}
