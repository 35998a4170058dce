package caapolicy

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
)

// TestShareCATable: blocks of one load listing the same CA ranges, in any order, share one
// table; a block with other ranges has its own, and attributes by its own.
func TestShareCATable(t *testing.T) {
	c := caddy.NewTestController("dns", `caapolicy a.test {
		issue letsencrypt.org
		ca letsencrypt.org 66.133.109.0/24 2600:3000::/29
		ca sectigo.com 91.199.212.0/24
	}
	caapolicy b.test {
		issue letsencrypt.org
		ca sectigo.com 91.199.212.0/24
		ca letsencrypt.org 2600:3000::/29 66.133.109.0/24
	}
	caapolicy c.test {
		issue letsencrypt.org
		ca letsencrypt.org 66.133.109.0/24 2600:3000::/29
		ca sectigo.com 91.199.213.0/24
	}
	caapolicy d.test {
		issue letsencrypt.org
	}`)
	c.ServerBlockKeys = []string{"."}
	if err := setup(c); err != nil {
		t.Fatal(err)
	}
	var hs []*CAAPolicy
	for _, p := range dnsserver.GetConfig(c).Plugin {
		if h, ok := p(nil).(*CAAPolicy); ok {
			hs = append(hs, h)
		}
	}
	if len(hs) != 4 {
		t.Fatalf("%d handlers, want 4", len(hs))
	}
	table := func(h *CAAPolicy) string { return fmt.Sprintf("%p", h.cas.byPrefix) }
	for _, tc := range []struct {
		name   string
		x, y   int
		shared bool
	}{
		{"same lines in another order", 0, 1, true},
		{"another prefix", 0, 2, false},
		{"no ca lines", 0, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := table(hs[tc.x]) == table(hs[tc.y]); got != tc.shared {
				t.Errorf("blocks %d and %d share a table: %v, want %v", tc.x, tc.y, got, tc.shared)
			}
		})
	}
	t.Run("attribution", func(t *testing.T) {
		for i, want := range []string{"sectigo.com", "sectigo.com", unknownCA, unknownCA} {
			if got := hs[i].cas.lookup(netip.MustParseAddr("91.199.212.7")); got != want {
				t.Errorf("block %d attributes 91.199.212.7 to %s, want %s", i, got, want)
			}
		}
	})
}
