package watch

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// UnknownCA is the attribution of a query from no listed source.
const UnknownCA = "unknown"

// CATable attributes client addresses to CAs by the longest matching prefix of the `ca` lines.
// A lookup is one map probe per distinct prefix length in use, and allocates nothing. The zero
// value is an empty table; a table is not changed once its block is read.
type CATable struct {
	byPrefix map[netip.Prefix]caSource
	lens4    []int // prefix lengths in use for IPv4, longest first
	lens6    []int
}

type caSource struct {
	ca  string
	pos string
}

// Add records that queries from cidr (a prefix or a single address) come from ca, as the `ca`
// line at pos ("file:line") says; the same prefix twice is an error.
func (t *CATable) Add(ca, cidr, pos string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		a, aerr := netip.ParseAddr(cidr)
		if aerr != nil {
			return fmt.Errorf("ca %s: %q is not a CIDR prefix; write 192.0.2.0/24 or 2001:db8::/32", ca, cidr)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if p != p.Masked() {
		return fmt.Errorf("ca %s: %s has host bits set; write %s", ca, cidr, p.Masked())
	}
	if t.byPrefix == nil {
		t.byPrefix = map[netip.Prefix]caSource{}
	}
	if prev, dup := t.byPrefix[p]; dup {
		if prev.ca == ca {
			return fmt.Errorf("ca %s: %s is listed twice (first at %s); remove one", ca, p, prev.pos)
		}
		return fmt.Errorf("ca %s: %s is already attributed to %s (at %s); a source belongs to one CA", ca, p, prev.ca, prev.pos)
	}
	t.byPrefix[p] = caSource{ca: ca, pos: pos}
	lens := &t.lens6
	if p.Addr().Is4() {
		lens = &t.lens4
	}
	if !slices.Contains(*lens, p.Bits()) {
		*lens = append(*lens, p.Bits())
		slices.SortFunc(*lens, func(a, b int) int { return b - a })
	}
	return nil
}

// Lookup returns the CA a client address belongs to, or UnknownCA.
func (t *CATable) Lookup(a netip.Addr) string {
	if t == nil || len(t.byPrefix) == 0 || !a.IsValid() {
		return UnknownCA
	}
	a = a.Unmap()
	lens := t.lens6
	if a.Is4() {
		lens = t.lens4
	}
	for _, l := range lens {
		p, _ := a.Prefix(l)
		if s, ok := t.byPrefix[p]; ok {
			return s.ca
		}
	}
	return UnknownCA
}

// CAs returns the CAs of the table, each once, in name order.
func (t *CATable) CAs() []string {
	if t == nil {
		return nil
	}
	var out []string
	for _, s := range t.byPrefix {
		if !slices.Contains(out, s.ca) {
			out = append(out, s.ca)
		}
	}
	slices.Sort(out)
	return out
}

// A platform pastes the same ca lines (the published ranges of the CAs it knows) into every
// customer's block. Blocks of one Corefile load whose ca lines list the same prefixes for the same
// CAs share one table, so that a thousand blocks hold one table rather than a thousand (issue 24,
// item 4).

// CATables holds the tables of one Corefile load by their contents. The zero value is empty.
type CATables struct {
	byContents map[string]*CATable
}

// Share returns the table of an earlier block with the same contents as t, or t, which later
// blocks then share.
func (s *CATables) Share(t *CATable) *CATable {
	if len(t.byPrefix) == 0 {
		return t
	}
	if s.byContents == nil {
		s.byContents = map[string]*CATable{}
	}
	key := t.contents()
	if shared, ok := s.byContents[key]; ok {
		return shared
	}
	s.byContents[key] = t
	return t
}

// contents lists the table's prefixes and their CAs, one per line, in order: equal tables give
// equal text, whatever the order of their ca lines.
func (t *CATable) contents() string {
	lines := make([]string, 0, len(t.byPrefix))
	for p, s := range t.byPrefix {
		lines = append(lines, p.String()+" "+s.ca)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
