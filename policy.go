package caapolicy

import (
	"strings"

	"github.com/miekg/dns"
)

// defaultTTL is the TTL of synthesized records when the Corefile sets none.
const defaultTTL = 300

// property is one CAA property as the Corefile declares it, with where it was declared.
type property struct {
	flag  uint8
	tag   string
	value string
	pos   string // "file:line"
}

// policy is the CAA RRset declared for one owner name, in Corefile order.
type policy struct {
	props []property
	pos   string // where the owner was declared
}

// owner is a name with a declared policy. Its records are built once at setup; per query only
// the owner name is set to the question's spelling.
type owner struct {
	name    string // lowercase, fully qualified
	records []dns.CAA
	pos     string
}

// newOwner builds the records served at name for p.
func newOwner(name string, p policy, ttl uint32) *owner {
	o := &owner{name: name, pos: p.pos, records: make([]dns.CAA, len(p.props))}
	for i, pr := range p.props {
		o.records[i] = dns.CAA{
			Hdr:   dns.RR_Header{Name: name, Rrtype: dns.TypeCAA, Class: dns.ClassINET, Ttl: ttl},
			Flag:  pr.flag,
			Tag:   pr.tag,
			Value: pr.value,
		}
	}
	return o
}

// sameProperty reports whether two CAA records carry the same property: the same flags, the same
// tag (tags match case-insensitively, RFC 8659 section 4.1) and the same value.
func sameProperty(a, b *dns.CAA) bool {
	return a.Flag == b.Flag && a.Value == b.Value && strings.EqualFold(a.Tag, b.Tag)
}

// lowerName writes the lowercase form of name into buf and returns it; buf must have room for
// 255 bytes so that no allocation happens for a valid name.
func lowerName(buf []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

// inZone reports whether the lowercase name lies at or below the lowercase, fully qualified zone.
func inZone(name []byte, zone string) bool {
	if zone == "." {
		return true
	}
	n := len(name) - len(zone)
	return n >= 0 && string(name[n:]) == zone && (n == 0 || name[n-1] == '.')
}
