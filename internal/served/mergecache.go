package served

import (
	"context"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/file"
	"github.com/coredns/coredns/plugin/metadata"
	"github.com/coredns/coredns/plugin/transfer"

	"github.com/miekg/dns"
)

// A merged answer at a policy owner (zonedata merge) is the policy, fixed for the life of the
// view, united with the zone data's answer at the owner, which changes only when the zone is
// loaded again. Where the zone data is CoreDNS's file plugin, its exported zones say when that
// happens: file keeps each zone as a *file.Zone, and every load of it (the reload interval, a
// transfer in) swaps a new apex, holding a new SOA record, and the new tree in together, under the
// zone's lock. The SOA record a zone holds is therefore the version of its data; the serial would
// not do, since a reload by mtime loads a changed file under the same serial.
//
// So the merged reply at an owner is built once per zone version (and DO bit) and then served as
// fast as a policy answer, without asking the zone data:
//
//   - It is built from the zone data's answer, as for every merged answer, and kept under the SOA
//     record the zone held before the zone data was asked: the answer is of that version or of a
//     later one.
//   - A query is answered from it only while the zone still holds that SOA record, read under the
//     zone's read lock as file reads it (and never while the zone is expired). A zone never
//     holds an SOA record again once a load has replaced it, so a kept reply is served only
//     while its version is the zone's current one. The first query after a load finds another
//     record and builds the reply again from the new data: no answer mixes two versions, and
//     none is older than the data the zone held when the query came in, as with file alone.
//   - The kept reply refers to its SOA record, so that record's address is never reused for
//     another while the comparison can be made.
//
// Only the plain case is kept: the zone data answers at the question name itself (no CNAME, no
// referral, no wildcard), from a zone of file's own (not its fallthrough). Every other answer,
// and every other backend (auto, secondary, etcd...), is built per query as before.

// mergedReply is the merged reply at an owner for one version of the zone data.
type mergedReply struct {
	zone  *file.Zone
	soa   *dns.SOA  // the SOA record zone held when the reply was built: its version
	block []dns.CAA // the CAA RRset, owned by the owner's lowercase name
	rest  []dns.RR  // answer records outside the CAA RRset, served before it
	ns    []dns.RR  // the authority section
	extra []dns.RR  // the additional section
	s     Answer
}

// zoneVersion returns the SOA record z holds, or nil while z is expired (file answers SERVFAIL).
func zoneVersion(z *file.Zone) *dns.SOA {
	z.RLock()
	defer z.RUnlock()
	if z.Expired {
		return nil
	}
	return z.Apex.SOA
}

// zoneFiles returns the file plugin behind next, when the zone data is file: next itself, or the
// plugin after transfer, which passes every query but AXFR and IXFR on. A file plugin with its own
// ZoneLookupFunc chooses zones in a way this cannot follow, and does not count.
func zoneFiles(next plugin.Handler) *file.File {
	for {
		switch h := next.(type) {
		case *transfer.Transfer:
			next = h.Next
		case file.File:
			if h.ZoneLookupFunc != nil {
				return nil
			}
			return &h
		default:
			return nil
		}
	}
}

// zoneOfFile returns the zone of f that answers a query at the owner name, as file chooses it, or
// nil if f would pass the query on, or could (fallthrough).
func zoneOfFile(f *file.File, name string) *file.Zone {
	if f == nil || f.Fall.Through(name) {
		return nil
	}
	return f.Z[plugin.Zones(f.Names).Matches(name)]
}

// doIndex is 1 for a query with the DO bit, else 0: the zone data answers each differently.
func doIndex(r *dns.Msg) int {
	if opt := r.IsEdns0(); opt != nil && opt.Do() {
		return 1
	}
	return 0
}

// keptMerge returns the merged reply kept at o for the query, if it was built from the data the
// zone holds now.
func keptMerge(r *dns.Msg, o *Owner) *mergedReply {
	e := o.merged[doIndex(r)].Load()
	if e == nil || r.Opcode != dns.OpcodeQuery || zoneVersion(e.zone) != e.soa {
		return nil
	}
	return e
}

// reply returns the reply e for the query r.
func (e *mergedReply) reply(r *dns.Msg) *dns.Msg {
	m := policyReply(r, r.Question[0].Name, e.block)
	if len(e.rest) > 0 {
		m.Answer = append(e.rest[:len(e.rest):len(e.rest)], m.Answer...)
	}
	// Shared by every query of this version, as file shares them: capped, so that a plugin that
	// appends to a section gets a copy.
	m.Ns, m.Extra = e.ns[:len(e.ns):len(e.ns)], e.extra[:len(e.extra):len(e.extra)]
	return m
}

// mergeVersion returns the zone of file's that answers a CAA query at o and the version it holds
// now, before the zone data is asked; zone is nil where the merged reply cannot be kept.
func (v *View) mergeVersion(r *dns.Msg, o *Owner) (*file.Zone, *dns.SOA) {
	if o == nil || r.Opcode != dns.OpcodeQuery {
		return nil, nil
	}
	v.filesOnce.Do(func() { v.files = zoneFiles(v.Next) })
	z := zoneOfFile(v.files, o.name)
	if z == nil {
		return nil, nil
	}
	return z, zoneVersion(z)
}

// keepMerge keeps m, the merged reply just built at o, under soa, the version zone held before
// the zone data was asked, unless the zone data answered from a wildcard (file names the wildcard
// in the query's metadata, and a kept reply would not).
func (v *View) keepMerge(ctx context.Context, r *dns.Msg, o *Owner, zone *file.Zone, soa *dns.SOA, m *dns.Msg, s Answer) {
	if soa == nil || metadata.ValueFunc(ctx, "zone/wildcard") != nil {
		return
	}
	e := &mergedReply{zone: zone, soa: soa, s: s}
	for _, rr := range m.Answer {
		if caa, member := inRRset(rr, r.Question[0].Name); caa != nil {
			x := *caa
			x.Hdr.Name = o.name
			e.block = append(e.block, x)
		} else if !member {
			e.rest = append(e.rest, rr)
		}
	}
	e.ns, e.extra = m.Ns, m.Extra
	e.s.Msg = nil
	o.merged[doIndex(r)].Store(e)
}
