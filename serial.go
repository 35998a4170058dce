package caapolicy

import (
	"encoding/binary"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// The SOA serial of a zone must move whenever what caapolicy adds to it changes, or secondaries
// fed by zone transfer keep serving the old CAA records. caapolicy has no storage, so the rule
// (README, "Zone transfers and secondaries") is:
//
//	served serial = zone data's serial + offset            (RFC 1982 arithmetic, modulo 2^32)
//	offset        = seconds from serialEpoch to the moment this process last loaded a changed
//	                policy for the zone (a first load counts as changed)
//
// A policy edit, partners on or off, or any reload that changes the zone's fingerprint moves the
// offset forward by the seconds since the last change; a zone-data change moves the zone's own
// serial. Both only grow, so the sum only grows, by far less than 2^31 at a time. A restart
// cannot tell whether the policy changed and counts as a change: one harmless extra transfer.
// Negative answers keep the zone data's SOA.
var serialEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// serialState is what this process remembers of a zone's policy across reloads.
type serialState struct {
	fingerprint uint64
	offset      uint32
}

var serials = struct {
	sync.Mutex
	m map[string]serialState // zone and server -> state
}{m: map[string]serialState{}}

// loadSerial records the policy fingerprint fp of the zone at key, loaded at now, and returns the
// zone's offset and whether it moved.
func loadSerial(key string, fp uint64, now time.Time) (offset uint32, moved bool) {
	serials.Lock()
	defer serials.Unlock()
	prev, seen := serials.m[key]
	if seen && prev.fingerprint == fp {
		return prev.offset, false
	}
	offset = uint32(max(now.Sub(serialEpoch)/time.Second, 1))
	if seen && offset <= prev.offset {
		offset = prev.offset + 1 // two changes within a second still move the serial
	}
	serials.m[key] = serialState{fingerprint: fp, offset: offset}
	return offset, true
}

// fingerprint hashes everything caapolicy adds to zone: its owners' records (flags, tags, values,
// TTLs), the partners and their trigger, and whether zone data is merged.
func (c *CAAPolicy) fingerprint(zone string) uint64 {
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
	merge := uint64(0)
	if c.merge {
		merge = 1
	}
	num(merge)
	num(uint64(c.partners.trigger))
	for _, p := range c.partners.list {
		str(p.value)
	}
	for _, n := range c.ownersIn(zone) {
		str(n)
		for _, rr := range c.owners[n].records {
			num(uint64(rr.Flag)<<32 | uint64(rr.Hdr.Ttl))
			str(rr.Tag)
			str(rr.Value)
		}
	}
	return h.Sum64()
}

// ownersIn returns the policy owners whose most specific zone of this block is zone, sorted.
func (c *CAAPolicy) ownersIn(zone string) []string {
	var out []string
	for n := range c.owners {
		if z, ok := c.zoneOf([]byte(n)); ok && z == zone {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// servedSOA returns a copy of the zone data's SOA with the served serial. The zone data's own
// record is never changed: file hands out the record it keeps.
func (c *CAAPolicy) servedSOA(soa *dns.SOA) *dns.SOA {
	off, ok := c.offsets[soa.Hdr.Name]
	if !ok {
		off = c.offsets[lowerString(soa.Hdr.Name)]
	}
	x := *soa
	x.Serial += off
	return &x
}

// lowerString returns s in lowercase ASCII.
func lowerString(s string) string {
	var buf [256]byte
	return string(lowerName(buf[:0], s))
}
