package served

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"

	"github.com/caapolicy/caapolicy/internal/dnsname"

	"github.com/miekg/dns"
)

// The SOA serial of a zone must move whenever what caapolicy adds to it changes, or secondaries
// fed by zone transfer keep serving the old CAA records; and every node of a fleet must serve the
// same serial for the same data, or monitoring (Zonemaster's MULTIPLE_SOA_SERIALS) and
// secondaries that compare name servers see a split. caapolicy has no storage and nodes share
// nothing, so the serial is a function of what is served (README, "Zone transfers and
// secondaries"):
//
//	served serial = zone data's serial + policy serial     (RFC 1982 arithmetic, modulo 2^32)
//
// The policy serial is the block's `serial N` (0 when not written: the zone's own serial, as
// stock CoreDNS serves it). The operator raises it with each policy change that secondaries must
// see, as a zone serial is raised with each zone change; the same Corefile and zone data give
// the same serial on every node and after every restart. Every SOA the server sends carries it:
// SOA answers, the authority section of negative answers, transfers and IXFR.
//
// A process remembers each zone's policy across reloads (serials below). Where secondaries
// exist (the block has the transfer plugin), a reload that changes the policy without raising
// the serial, or that lowers it, is refused with an error, and the old policy keeps serving:
// secondaries would otherwise keep the old CAA records, or stop transferring.
//
// corefile.MaxSerial bounds N, so that adding it keeps within the RFC 1982 window.

// serialState is what this process remembers of a zone's policy across reloads.
type serialState struct {
	fingerprint uint64
	serial      uint32
}

var serials = struct {
	sync.Mutex
	m map[string]serialState // zone and server -> state
}{m: map[string]serialState{}}

// LoadSerial records the policy fingerprint fp and the policy serial of the zone at key. moved
// says the served serial may have changed for secondaries (a first load, or a new serial).
// Where secondaries exist, a changed policy under the same serial, or a lower serial, is an
// error, and nothing is recorded.
func LoadSerial(key, zone string, fp uint64, serial uint32, secondaries bool) (moved bool, err error) {
	serials.Lock()
	defer serials.Unlock()
	prev, seen := serials.m[key]
	if seen && secondaries {
		switch {
		case serial < prev.serial:
			return false, fmt.Errorf("the policy serial of %s went down from %d to %d: secondaries would stop transferring the zone (RFC 1982); keep it at %d or raise it", zone, prev.serial, serial, prev.serial)
		case serial == prev.serial && fp != prev.fingerprint:
			return false, fmt.Errorf("the policy for %s changed but its serial is still %d, so secondaries would keep the old CAA records; raise it: serial %d", zone, serial, serial+1)
		}
	}
	serials.m[key] = serialState{fingerprint: fp, serial: serial}
	return !seen || serial != prev.serial, nil
}

// Fingerprint hashes everything caapolicy adds to zone: its owners' records (flags, tags, values,
// TTLs), the partners and their trigger, and whether zone data is merged.
func (v *View) Fingerprint(zone string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	num := func(n uint64) {
		binary.BigEndian.PutUint64(b[:], n)
		h.Write(b[:])
	}
	str := func(s string) {
		num(uint64(len(s)))
		h.Write([]byte(s))
	}
	// The block's settings, then each zone block's that differ from them, by zone: the order of
	// zone blocks (of imported files) and a zone block that changes nothing leave it alone.
	scopes := slices.SortedFunc(slices.Values(v.allScopes()[1:]), func(a, b *scope) int { return strings.Compare(a.zone, b.zone) })
	for _, sc := range append([]*scope{v.base}, scopes...) {
		if sc != v.base && sc.same(v.base) {
			continue
		}
		str(sc.zone)
		merge := uint64(0)
		if sc.merge {
			merge = 1
		}
		num(merge)
		num(uint64(sc.ttl))
		num(uint64(sc.partners.trigger))
		for _, p := range sc.partners.list {
			str(p.Value)
		}
	}
	for _, n := range v.ownersIn(zone) {
		str(n)
		for _, rr := range v.owners[n].records {
			num(uint64(rr.Flag)<<32 | uint64(rr.Hdr.Ttl))
			str(rr.Tag)
			str(rr.Value)
		}
	}
	return h.Sum64()
}

// ownersIn returns the policy owners that the transfer of zone carries (InTransfer), sorted: zone
// is one of the block's zones, or a zone the zone data serves below one.
func (v *View) ownersIn(zone string) []string {
	var out []string
	for n := range v.owners {
		if v.InTransfer(n, zone) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// servedSOA returns a copy of the zone data's SOA, of a zone the block holds, with the served
// serial. The zone data's own record is never changed: file hands out the record it keeps.
func (v *View) servedSOA(soa *dns.SOA) *dns.SOA {
	x := *soa
	x.Serial += v.serial
	return &x
}

// servedNegative returns m, a negative answer (no answer records), with each SOA of its authority
// section at one of the block's zones carrying the served serial: a copy when one changes. The
// zone data's records are never changed.
func (v *View) servedNegative(m *dns.Msg) *dns.Msg {
	if v.serial == 0 || len(m.Answer) > 0 || !holdsType(m.Ns, dns.TypeSOA) {
		return m
	}
	x := *m
	x.Ns = slices.Clone(m.Ns)
	for i, rr := range x.Ns {
		if soa, ok := rr.(*dns.SOA); ok && v.Holds(soa.Hdr.Name) {
			x.Ns[i] = v.servedSOA(soa)
		}
	}
	return &x
}

// lowerString returns s in lowercase ASCII.
func lowerString(s string) string {
	var buf [256]byte
	return string(dnsname.Lower(buf[:0], s))
}

// ServedSerial is the serial the block serves for zone now: the zone data's SOA serial, asked
// of the zone data, plus the policy serial. ok is false where the zone data has no SOA there.
func (v *View) ServedSerial(ctx context.Context, zone string) (serial uint32, ok bool) {
	q := new(dns.Msg).SetQuestion(zone, dns.TypeSOA)
	zm, _, _ := v.ask(ctx, &Capture{}, q)
	if zm == nil || len(zm.Answer) == 0 {
		return 0, false
	}
	zsoa, ok := zm.Answer[0].(*dns.SOA)
	if !ok {
		return 0, false
	}
	return v.servedSOA(zsoa).Serial, true
}
