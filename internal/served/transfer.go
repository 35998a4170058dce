package served

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/caapolicy/caapolicy/internal/dnsname"

	"github.com/miekg/dns"
)

// InTransfer reports whether the lowercase name n belongs in the transfer of zone: at or below
// it, and not in a more specific zone of the block, which has its own transfer.
func (v *View) InTransfer(n, zone string) bool {
	bz, ok := v.zoneOf([]byte(n))
	return ok && dnsname.AtOrBelow(n, zone) && dnsname.AtOrBelow(zone, bz)
}

// RewriteTransfer streams the zone data's transfer of zone, src, to out, rewritten so that a
// secondary serves exactly what the block serves: every CAA RRset becomes what a CAA query at
// that owner returns (policy, zone-data records merged, partner records), policy owners the zone
// data lacks are added, the policy's dns-persist-01 records replace the zone data's TXT records
// at their names, and the first and last SOA carry the served serial (serial.go). An IXFR from
// serial, the served serial, gets the single SOA. It closes out when done. CAA
// records are held back as they come (a name may come in several groups: file sends the apex's
// SOA and NS first and its other records later) and every CAA RRset is sent, as caapolicy
// serves it, before the closing SOA. Secondaries take a transfer's records in any order.
func (v *View) RewriteTransfer(zone string, serial uint32, src <-chan []dns.RR, out chan<- []dns.RR) {
	defer close(out)
	defer func() {
		for range src { // let the zone data's goroutine finish if we stop early
		}
	}()
	x := transferRewrite{v: v, zone: zone, zoneCAA: map[string][]*dns.CAA{}, cname: map[string]bool{}}
	opened := false
	for rrs := range src {
		if len(rrs) == 0 {
			continue
		}
		if soa, ok := rrs[0].(*dns.SOA); ok && strings.EqualFold(soa.Hdr.Name, zone) {
			served := v.servedSOA(soa)
			if !opened {
				opened = true
				if serial != 0 && serial == served.Serial {
					out <- []dns.RR{served} // IXFR from the current serial: nothing to send
					return
				}
				rrs = append([]dns.RR{served}, rrs[1:]...)
			} else if len(rrs) == 1 {
				if caa := x.caaRRsets(); len(caa) > 0 {
					out <- caa
				}
				out <- []dns.RR{served}
				continue
			}
		}
		out <- x.hold(rrs)
	}
}

// transferRewrite is the state of one rewritten transfer.
type transferRewrite struct {
	v       *View
	zone    string
	zoneCAA map[string][]*dns.CAA // the zone data's CAA records held back, by lowercase owner
	names   []string              // the owners of zoneCAA, in the order met
	cname   map[string]bool       // names holding a CNAME
	cuts    []string              // delegation points (NS records below the apex)
}

// hold returns one group of the stream without its CAA records and their signatures, which it
// keeps, and notes the CNAMEs and delegations the group holds. A group with none
// of those passes through as it is, with no allocation.
func (x *transferRewrite) hold(rrs []dns.RR) []dns.RR {
	keep := true
	for _, rr := range rrs {
		h := rr.Header()
		switch h.Rrtype {
		case dns.TypeCAA:
			keep = false
		case dns.TypeRRSIG:
			keep = keep && rr.(*dns.RRSIG).TypeCovered != dns.TypeCAA && !x.persisted(rr)
		case dns.TypeTXT:
			keep = keep && !x.persisted(rr)
		case dns.TypeCNAME:
			x.cname[lowerString(h.Name)] = true
		case dns.TypeNS:
			if n := lowerString(h.Name); n != x.zone && !slices.Contains(x.cuts, n) {
				x.cuts = append(x.cuts, n)
			}
		}
	}
	if keep {
		return rrs
	}
	out := make([]dns.RR, 0, len(rrs))
	for _, rr := range rrs {
		switch r := rr.(type) {
		case *dns.CAA:
			n := lowerString(r.Hdr.Name)
			if _, ok := x.zoneCAA[n]; !ok {
				x.names = append(x.names, n)
			}
			x.zoneCAA[n] = append(x.zoneCAA[n], r)
			continue
		case *dns.RRSIG:
			if r.TypeCovered == dns.TypeCAA || x.persisted(rr) {
				continue // the RRset may change: an on-line signer signs what is served
			}
		case *dns.TXT:
			if x.persisted(rr) {
				continue // the policy's dns-persist-01 records are served there instead
			}
		}
		out = append(out, rr)
	}
	return out
}

// persisted reports whether rr is a TXT record, or a signature over one, at a name where the
// policy publishes dns-persist-01 records (persist.go): the zone data's are not served there.
func (x *transferRewrite) persisted(rr dns.RR) bool {
	if x.v.persist == nil {
		return false
	}
	if sig, ok := rr.(*dns.RRSIG); ok && sig.TypeCovered != dns.TypeTXT {
		return false
	}
	_, ok := x.v.persist[lowerString(rr.Header().Name)]
	return ok
}

// caaRRsets returns every CAA RRset of the zone as caapolicy serves it: for each policy owner
// and each name with zone-data CAA, the RRset a CAA query there is answered with (the served
// view, RRset), so that a transfer can never disagree with the answers. Names where the zone
// data overrides CAA (a CNAME, or a delegation at or above them) keep the zone data's records as
// they are, as the zone data's own transfer carries them; a name the served view gives no RRset
// (a policy owner that fallthrough leaves out) gets none. A name whose answer fails keeps the
// zone data's records, and the failure is logged.
func (x *transferRewrite) caaRRsets() []dns.RR {
	v := x.v
	var out []dns.RR
	names := append([]string(nil), x.names...)
	for _, n := range v.ownersIn(x.zone) {
		if _, ok := x.zoneCAA[n]; !ok {
			names = append(names, n)
		}
	}
	for _, n := range names {
		if !x.overridden(n) {
			rrset, err := v.RRset(context.Background(), n)
			if err == nil {
				out = append(out, rrset...)
				continue
			}
			log.Warningf("transfer of %s: %v; the zone data's CAA records at %s are sent as they are", x.zone, err, n)
		}
		for _, r := range x.zoneCAA[n] {
			out = append(out, r)
		}
	}
	// The policy's dns-persist-01 records of this zone, as TXT queries are answered.
	for _, n := range slices.Sorted(maps.Keys(v.persist)) {
		if v.InTransfer(n, x.zone) && !x.overridden(n) {
			out = append(out, v.persist[n]...)
		}
	}
	return out
}

// overridden reports whether the zone data overrides CAA at n: a CNAME there, or a delegation
// at or above it (those records belong to another zone).
func (x *transferRewrite) overridden(n string) bool {
	if x.cname[n] {
		return true
	}
	for _, cut := range x.cuts {
		if dnsname.AtOrBelow(n, cut) {
			return true
		}
	}
	return false
}
