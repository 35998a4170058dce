package caapolicy

import (
	"fmt"
	"os"

	"github.com/caapolicy/caapolicy/caa"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/plugin"
)

// Policies are the caapolicy blocks of a Corefile, read without starting a server: what
// caacheck evaluates offline and lints.
type Policies []*CAAPolicy

// LoadCorefile reads every caapolicy block of the Corefile at path (imports and environment
// variables expanded as CoreDNS does) and builds its policy exactly as the server would. Errors
// name the file and line, as at start-up.
func LoadCorefile(path string) (Policies, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	blocks, err := caddyfile.Parse(path, f, nil)
	if err != nil {
		return nil, err
	}
	var ps Policies
	for _, sb := range blocks {
		tokens := sb.Tokens[name]
		if len(tokens) == 0 {
			continue
		}
		c := &caddy.Controller{Dispenser: caddyfile.NewDispenserTokens(path, tokens), ServerBlockKeys: sb.Keys}
		for c.Next() {
			h, err := parse(c)
			if err != nil {
				return nil, plugin.Error(name, err)
			}
			ps = append(ps, h)
		}
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%s has no caapolicy block", path)
	}
	return ps, nil
}

// Warnings returns the start-up warnings of every block, in Corefile order.
func (ps Policies) Warnings() []string {
	var out []string
	for _, h := range ps {
		out = append(out, h.warnings...)
	}
	return dedupe(out)
}

// serving returns the block whose zones hold the name most specifically, or nil.
func (ps Policies) serving(n string) (*CAAPolicy, string) {
	var best *CAAPolicy
	zone := ""
	for _, h := range ps {
		if z := plugin.Zones(h.Zones).Matches(n); z != "" && len(z) > len(zone) {
			best, zone = h, z
		}
	}
	return best, zone
}

// Lookup answers a climb from the Corefile policy alone: the records a policy owner serves
// (partners included), nothing elsewhere in the zones, and Outside above them.
func (ps Policies) Lookup(n string) (caa.Step, error) {
	s := caa.Step{Name: n}
	h, _ := ps.serving(n)
	if h == nil {
		s.Outside = true
		return s, nil
	}
	if o := h.ownerOf(n); o != nil {
		s.RRset = o.records
	}
	return s, nil
}

// ZoneData returns the zone of the block serving n when that block merges zone data, whose CAA
// records the offline check cannot see; "" otherwise.
func (ps Policies) ZoneData(n string) string {
	if h, zone := ps.serving(n); h != nil && h.merge {
		return zone
	}
	return ""
}

// Partners returns the partner CAs of the block serving n, as their issue values
// ("letsencrypt.org", "letsencrypt.org; accounturi=..."), in Corefile order.
func (ps Policies) Partners(n string) []string {
	h, _ := ps.serving(n)
	if h == nil {
		return nil
	}
	out := make([]string, 0, len(h.partners.list))
	for _, p := range h.partners.list {
		out = append(out, p.value)
	}
	return out
}
