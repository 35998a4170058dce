package served

import (
	"context"
	"strings"

	"github.com/caapolicy/caapolicy/caa"

	"github.com/coredns/coredns/plugin/pkg/nonwriter"

	"github.com/miekg/dns"
)

// Answer says what a CAA reply holds: the owner of the CAA RRset served (lowercase for a policy
// owner, as the zone data spells it otherwise) and how many of its records came from the policy,
// the zone data and the partners. The query log and metrics read it.
type Answer struct {
	Owner                      string
	Policy, ZoneData, Partners int
	Msg                        *dns.Msg // the reply written: the plugin sets it when it writes the reply
	Apex                       string   // the zone the zone data answered from (zoneApex), "" if unknown
}

// Source says where a CAA answer came from: the values of the metrics' source label and of the
// caapolicy/source metadata.
type Source int32

// The answer sources, by what the RRset holds.
const (
	Passthrough Source = iota // the zone data's answer unchanged
	FromPolicy                // the Corefile policy alone (with its partner records)
	Merged                    // the policy united with the zone data's CAA records
	Partnered                 // the zone data's CAA RRset with partner records added
)

// Sources are the names of the answer sources, by Source.
var Sources = [...]string{"passthrough", "policy", "merged", "partners"}

// String returns the source's name.
func (s Source) String() string { return Sources[s] }

// Source says where the answer a came from.
func (a *Answer) Source() Source {
	switch {
	case a.Policy > 0 && a.ZoneData > 0:
		return Merged
	case a.Policy > 0:
		return FromPolicy
	case a.Partners > 0:
		return Partnered
	}
	return Passthrough
}

// Serve builds the reply to a CAA query r for a name in the block's zones; o is the policy owner
// at the question name (Find), if any. It returns the reply to write, nil where the zone data
// wrote nothing (the server then answers with rcode and err), and what the reply holds. The zone
// data is asked through w, so that it sees the client. Nothing is written.
func (v *View) Serve(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, o *Owner) (*dns.Msg, Answer, int, error) {
	switch {
	case o == nil:
		return v.serveZoneData(ctx, w, r, nil)
	case !o.scope.merge:
		return policyReply(r, r.Question[0].Name, o.records), o.answer(), dns.RcodeSuccess, nil
	}
	if e := keptMerge(r, o); e != nil {
		return e.reply(r), e.s, dns.RcodeSuccess, nil
	}
	return v.serveZoneData(ctx, w, r, o)
}

// serveZoneData asks the next plugin (the zone data) for the CAA query and completes its answer:
// the CAA RRset at the policy owner the answer ends at (the question name, or the in-zone target
// of a CNAME) becomes the policy, united with the zone data's records there in merge mode; a
// zone-data RRset elsewhere gets its partner records. Every other answer passes through
// unchanged. o is the policy owner at the question name, if any.
func (v *View) serveZoneData(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, o *Owner) (*dns.Msg, Answer, int, error) {
	qname := r.Question[0].Name
	zone, version := v.mergeVersion(r, o)
	zm, rcode, err := v.ask(ctx, w, r)
	if zm == nil {
		if o == nil {
			// Nothing was written: the server answers with the next plugin's error.
			return nil, Answer{}, rcode, err
		}
		// No zone data for this name at all: the policy stands alone.
		return policyReply(r, qname, o.records), o.answer(), dns.RcodeSuccess, nil
	}

	if o == nil && zm.Rcode == dns.RcodeNameError && v.mustExist(qname) {
		// A name between a policy owner and the apex: it exists (denial.go), and an NXDOMAIN
		// for CAA here would let a resolver deny the owner below it (RFC 8020).
		// The backend's message is copied before it changes (CoreDNS's plugin guide), as below.
		x := *zm
		x.Rcode, x.Authoritative = dns.RcodeSuccess, true
		zm = &x
	}
	answer, target := v.followCNAMEs(ctx, w, r, zm.Answer)
	if o != nil && target != qname {
		v.warnOwner(o, "cname", "zone data has a CNAME at policy owner %s (declared at %s); the CNAME wins and the policy is not served there", o.name, o.pos)
	}
	to := o
	if target != qname {
		to = v.ownerOf(target)
	}
	apex := zoneApex(zm) // before mergeAt, which may empty the authority section
	var m *dns.Msg
	var s Answer
	switch {
	case to == nil:
		m, s = v.passOn(zm, answer, target)
	case caa.Referral(zm) != nil:
		v.warnOwner(to, "referral", "zone data delegates policy owner %s (declared at %s) to another zone; the delegation wins", to.name, to.pos)
		m, s = v.passOn(zm, answer, target)
	case zm.Rcode == dns.RcodeNameError && v.fall.Through(to.name):
		m, s = v.passOn(zm, answer, target)
	default:
		m, s = v.mergeAt(zm, answer, target, to)
		s.Apex = apex // kept with the reply: its queries name the same zone
		if to == o && target == qname && zone != nil {
			v.keepMerge(ctx, r, o, zone, version, m, s)
		}
	}
	s.Apex = apex
	m = v.servedNegative(m)
	return m, s, dns.RcodeSuccess, nil
}

// zoneApex returns the apex of the zone that the zone data's reply m comes from: the owner of the
// SOA of a negative answer, or of the zone's NS records that an authoritative positive answer
// carries in its authority section (as file and auto write them); "" where m says neither (a
// referral, or a backend that leaves the authority section empty). Query lines and check events
// name the customer's zone with it.
func zoneApex(m *dns.Msg) string {
	for _, rr := range m.Ns {
		switch h := rr.Header(); h.Rrtype {
		case dns.TypeSOA:
			return h.Name
		case dns.TypeNS:
			if m.Authoritative {
				return h.Name
			}
		}
	}
	return ""
}

// policyReply is the authoritative answer holding the policy records, owned by qname as the
// question spelt it. The records are copied: later plugins (dnssec, rewrite) change what they get.
func policyReply(r *dns.Msg, qname string, records []dns.CAA) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Compress = true
	block := make([]dns.CAA, len(records))
	copy(block, records)
	for i := range block {
		block[i].Hdr.Name = qname
	}
	m.Answer = rrPointers(block)
	return m
}

// rrPointers returns the records of block as a slice of dns.RR.
func rrPointers(block []dns.CAA) []dns.RR {
	rrs := make([]dns.RR, len(block))
	for i := range block {
		rrs[i] = &block[i]
	}
	return rrs
}

// passOn returns the zone data's answer, with the records answer adds to it (from following
// CNAMEs) and partner records for a CAA RRset at target. Zone data is never changed in place.
func (v *View) passOn(zm *dns.Msg, answer []dns.RR, target string) (*dns.Msg, Answer) {
	var s Answer
	for _, rr := range answer {
		if caa, _ := inRRset(rr, target); caa != nil {
			s.Owner = caa.Hdr.Name
			s.ZoneData++
		}
	}
	sc := v.scopeFor(target)
	if s.ZoneData > 0 && len(sc.partners.list) > 0 {
		block := make([]dns.CAA, 0, s.ZoneData+len(sc.partners.list))
		rest := 0
		for _, rr := range answer {
			caa, member := inRRset(rr, target)
			switch {
			case caa != nil:
				block = append(block, *caa)
			case !member:
				rest++
			}
		}
		hdr := dns.RR_Header{Name: s.Owner, Rrtype: dns.TypeCAA, Class: dns.ClassINET, Ttl: block[0].Hdr.Ttl}
		if block, s.Partners = v.addPartners(sc, block, hdr, s.Owner, "zone data"); s.Partners > 0 {
			answer = withRRset(answer, target, rest, block)
		}
	}
	if len(answer) != len(zm.Answer) || s.Partners > 0 {
		m := *zm
		m.Answer = answer
		zm = &m
	}
	return zm, s
}

// mergeAt builds the reply whose CAA RRset at target is the policy of to, united with the zone
// data's CAA records at target in merge mode, with its partner records.
func (v *View) mergeAt(zm *dns.Msg, answer []dns.RR, target string, to *Owner) (*dns.Msg, Answer) {
	s := Answer{Owner: to.name, Policy: to.nPolicy}
	block := make([]dns.CAA, 0, len(to.records)+len(answer)+len(to.scope.partners.list))
	block = append(block, to.policy()...)
	zoneCAA, rest := 0, 0
	for _, rr := range answer {
		caa, member := inRRset(rr, target)
		switch {
		case caa != nil:
			zoneCAA++
			var added bool
			if block, added = v.mergeRecord(block, to, caa); added {
				s.ZoneData++
			}
		case !member:
			rest++
		}
	}
	block, s.Partners = v.withOwnerPartners(block, to, s.ZoneData)
	for i := range block {
		block[i].Hdr.Name = target
	}

	// zm is the backend's reply: never changed (CoreDNS's plugin guide says to copy a message
	// one did not create before changing it). The reply is a shallow copy whose sections are
	// replaced; the records, shared with the zone data, are never changed.
	x := *zm
	m := &x
	m.Authoritative = true
	m.Compress = true
	m.Answer = withRRset(answer, target, rest, block)
	if zoneCAA == 0 {
		// A negative answer (NODATA or NXDOMAIN) became positive: its SOA and proofs no longer apply.
		m.Rcode = dns.RcodeSuccess
		m.Ns, m.Extra = nil, nil
	}
	return m, s
}

// mergeRecord adds a zone-data CAA record to block, the policy RRset of to being built, in merge
// mode and unless block carries its property already. It reports whether it was added.
//
// The operator's lock-down wins: where the policy locks issue (or issuewild) down, the zone
// data's records of that tag are not served, whatever CA they name, and a warning (once per
// owner) names what was withheld. Zone data is often the customer's own, and a customer must
// not grant itself what the operator withholds; the RRset stays locked, so no partner record is
// added to it either.
func (v *View) mergeRecord(block []dns.CAA, to *Owner, caa *dns.CAA) ([]dns.CAA, bool) {
	if !to.scope.merge || holdsProperty(block, caa) {
		return block, false
	}
	if to.locks(caa.Tag) {
		v.warnOwner(to, "locked", "zone data at %s has %s %q, which the policy's lock-down of %s (declared at %s) withholds: it is not served", to.name, caa.Tag, caa.Value, strings.ToLower(caa.Tag), to.pos)
		return block, false
	}
	x := *caa
	x.Hdr.Ttl = to.records[0].Hdr.Ttl // one TTL for the whole RRset (RFC 2181 5.2)
	return append(block, x), true
}

// withOwnerPartners completes block, the policy of to with merged zone-data records, with its
// partner records: those prepared at setup when no zone-data record was merged, else the ones
// the merged RRset calls for. It returns the block and the number of partner records.
func (v *View) withOwnerPartners(block []dns.CAA, to *Owner, merged int) ([]dns.CAA, int) {
	if merged == 0 {
		// The RRset is the policy alone: its partner records were prepared at setup.
		return append(block, to.records[to.nPolicy:]...), len(to.records) - to.nPolicy
	}
	return v.addPartners(to.scope, block, to.records[0].Hdr, to.name, "policy and zone data")
}

// inRRset reports whether rr belongs to the CAA RRset at target: a CAA record there (returned)
// or a signature over it. Signatures are dropped with the RRset they sign, since the RRset
// changes: an on-line signer (dnssec) signs the new one.
func inRRset(rr dns.RR, target string) (caa *dns.CAA, member bool) {
	switch x := rr.(type) {
	case *dns.CAA:
		if strings.EqualFold(x.Hdr.Name, target) {
			return x, true
		}
	case *dns.RRSIG:
		return nil, x.TypeCovered == dns.TypeCAA && strings.EqualFold(x.Hdr.Name, target)
	}
	return nil, false
}

// withRRset returns a new answer section: the records of answer outside the CAA RRset at target
// (rest of them), then block as that RRset. One allocation.
func withRRset(answer []dns.RR, target string, rest int, block []dns.CAA) []dns.RR {
	out := make([]dns.RR, 0, rest+len(block))
	for _, rr := range answer {
		if _, member := inRRset(rr, target); !member {
			out = append(out, rr)
		}
	}
	for i := range block {
		out = append(out, &block[i])
	}
	return out
}

// addPartners appends to block, an RRset met at query time, the partner records the settings sc
// call for, each with header hdr, and warns (once per owner) about what stops partner
// certificates there. It returns the longer block and the number of records added.
func (v *View) addPartners(sc *scope, block []dns.CAA, hdr dns.RR_Header, owner, source string) ([]dns.CAA, int) {
	add, notes := sc.partners.cachedAdditions(block)
	v.warnPartners(owner, source, notes)
	for _, a := range add { // add is shared by every query: each record is copied here
		a.Hdr = hdr
		block = append(block, a)
	}
	return block, len(add)
}

// warnPartners logs, once per owner, what stops partner certificates in an RRset seen at query time.
func (v *View) warnPartners(owner, source string, n partnerNotes) {
	if n.any() && !v.acked(owner) {
		v.warnOnce("partners "+owner, "partners at %s (%s): %s", owner, source, n)
	}
}

// followCNAMEs follows the CNAME chain from the question name through answer and returns the
// name it ends at. A chain that leaves the answer for a name in the plugin's zones is continued
// by asking the zone data, as an authoritative server does for in-zone targets; the records found
// are appended to a copy of answer.
func (v *View) followCNAMEs(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, answer []dns.RR) ([]dns.RR, string) {
	target := r.Question[0].Name
	for range caa.MaxCNAMEs {
		if cn := caa.CNAMEAt(answer, target); cn != nil {
			target = cn.Target
			continue
		}
		if target == r.Question[0].Name || holdsName(answer, target) || !v.Holds(target) {
			break
		}
		q := r.Copy()
		q.Question[0].Name = target
		sub, _, _ := v.ask(ctx, w, q)
		if sub == nil || len(sub.Answer) == 0 {
			break
		}
		answer = append(answer[:len(answer):len(answer)], sub.Answer...)
	}
	return answer, target
}

// ask sends r to the next plugin and returns the message it wrote (nil if none) with the
// return code and error it gave.
func (v *View) ask(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (*dns.Msg, int, error) {
	nw := nonwriter.New(w)
	rcode, err := v.Pass(ctx, nw, r)
	return nw.Msg, rcode, err
}

// holdsName reports whether rrs hold a record owned by n.
func holdsName(rrs []dns.RR, n string) bool {
	for _, rr := range rrs {
		if strings.EqualFold(rr.Header().Name, n) {
			return true
		}
	}
	return false
}

// holdsProperty reports whether block already carries the property of x.
func holdsProperty(block []dns.CAA, x *dns.CAA) bool {
	for i := range block {
		if sameProperty(&block[i], x) {
			return true
		}
	}
	return false
}
