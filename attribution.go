package caapolicy

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/caapolicy/caapolicy/caa"
)

// unknownCA is the attribution of a query from no listed source.
const unknownCA = "unknown"

// caTable attributes client addresses to CAs by the longest matching prefix of the `ca` lines.
// A lookup is one map probe per distinct prefix length in use, and allocates nothing.
type caTable struct {
	byPrefix map[netip.Prefix]caSource
	lens4    []int // prefix lengths in use for IPv4, longest first
	lens6    []int
}

type caSource struct {
	ca  string
	pos string
}

// add records that queries from cidr come from ca; the same prefix twice is an error.
func (t *caTable) add(ca, cidr, pos string) error {
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

// lookup returns the CA a client address belongs to, or "unknown".
func (t *caTable) lookup(a netip.Addr) string {
	if len(t.byPrefix) == 0 || !a.IsValid() {
		return unknownCA
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
	return unknownCA
}

// clientAddr returns the address and port of a query's client without allocating.
func clientAddr(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port))
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// transport names the transport of a query by its client address.
func transport(a net.Addr) string {
	if _, ok := a.(*net.TCPAddr); ok {
		return "tcp"
	}
	return "udp"
}

// parseCA reads "ca NAME CIDR [CIDR...]" arguments: NAME is the CA's issuer domain name, as its
// CAA records name it, so that check events can tell whether the CA is authorized.
func parseCA(t *caTable, args []string, pos string) error {
	if len(args) < 2 {
		return fmt.Errorf("ca takes the CA's identifier and its source prefixes: ca letsencrypt.org 192.0.2.0/24 2001:db8::/32")
	}
	ca := strings.ToLower(strings.TrimSuffix(args[0], "."))
	if ca == unknownCA || caa.CheckDomainName(ca) != nil || !strings.Contains(ca, ".") {
		return fmt.Errorf("ca %q is not a CA identifier; name the CA as CAA records do, such as letsencrypt.org", args[0])
	}
	for _, cidr := range args[1:] {
		if err := t.add(ca, cidr, pos); err != nil {
			return err
		}
	}
	return nil
}
