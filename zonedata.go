package caapolicy

import (
	"context"
	"strings"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/dnsname"

	"github.com/coredns/coredns/plugin/pkg/nonwriter"

	"github.com/miekg/dns"
)

// serveZoneData asks the next plugin (the zone data) for the CAA query and completes its answer:
// the CAA RRset at the policy owner the answer ends at (the question name, or the in-zone target
// of a CNAME) becomes the policy, united with the zone data's records there in merge mode; a
// zone-data RRset elsewhere gets its partner records. Every other answer passes through
// unchanged. o is the policy owner at the question name, if any.
func (c *CAAPolicy) serveZoneData(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, o *owner) (served, int, error) {
	qname := r.Question[0].Name
	zone, version := c.mergeVersion(r, o)
	zm, rcode, err := c.ask(ctx, w, r)
	if zm == nil {
		if o == nil {
			// Nothing was written: the server answers with the next plugin's error.
			return served{}, rcode, err
		}
		// No zone data for this name at all: the policy stands alone.
		return c.writePolicy(ctx, w, o, policyReply(r, qname, o.records))
	}

	if o == nil && zm.Rcode == dns.RcodeNameError && c.mustExist(qname) {
		// A name between a policy owner and the apex: it exists (negative.go), and an NXDOMAIN
		// for CAA here would let a resolver deny the owner below it (RFC 8020).
		// The backend's message is copied before it changes (CoreDNS's plugin guide), as below.
		x := *zm
		x.Rcode, x.Authoritative = dns.RcodeSuccess, true
		zm = &x
	}
	answer, target := c.followCNAMEs(ctx, w, r, zm.Answer)
	if o != nil && target != qname {
		c.warnOwner(o, "cname", "zone data has a CNAME at policy owner %s (declared at %s); the CNAME wins and the policy is not served there", o.name, o.pos)
	}
	to := o
	if target != qname {
		to = c.ownerOf(target)
	}
	apex := zoneApex(zm) // before mergeAt, which may empty the authority section
	var m *dns.Msg
	var s served
	switch {
	case to == nil:
		m, s = c.passOn(zm, answer, target)
	case caa.Referral(zm) != nil:
		c.warnOwner(to, "referral", "zone data delegates policy owner %s (declared at %s) to another zone; the delegation wins", to.name, to.pos)
		m, s = c.passOn(zm, answer, target)
	case zm.Rcode == dns.RcodeNameError && c.Fall.Through(to.name):
		m, s = c.passOn(zm, answer, target)
	default:
		m, s = c.mergeAt(zm, answer, target, to)
		if to == o && target == qname && zone != nil {
			c.keepMerge(ctx, r, o, zone, version, m, s)
		}
	}
	s.apex = apex
	m = c.servedNegative(m)
	// Written here, once the reply is built, so that building it takes no stack while writing.
	c.writeAnswer(ctx, w, m, &s)
	return s, dns.RcodeSuccess, nil
}

// passOn returns the zone data's answer, with the records answer adds to it (from following
// CNAMEs) and partner records for a CAA RRset at target. Zone data is never changed in place.
func (c *CAAPolicy) passOn(zm *dns.Msg, answer []dns.RR, target string) (*dns.Msg, served) {
	var s served
	for _, rr := range answer {
		if caa, _ := inRRset(rr, target); caa != nil {
			s.owner = caa.Hdr.Name
			s.zone++
		}
	}
	sc := c.scopeFor(target)
	if s.zone > 0 && len(sc.partners.list) > 0 {
		block := make([]dns.CAA, 0, s.zone+len(sc.partners.list))
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
		hdr := dns.RR_Header{Name: s.owner, Rrtype: dns.TypeCAA, Class: dns.ClassINET, Ttl: block[0].Hdr.Ttl}
		if block, s.partners = c.addPartners(sc, block, hdr, s.owner, "zone data"); s.partners > 0 {
			answer = withRRset(answer, target, rest, block)
		}
	}
	if len(answer) != len(zm.Answer) || s.partners > 0 {
		m := *zm
		m.Answer = answer
		zm = &m
	}
	return zm, s
}

// mergeAt builds the reply whose CAA RRset at target is the policy of to, united with the zone
// data's CAA records at target in merge mode, with its partner records.
func (c *CAAPolicy) mergeAt(zm *dns.Msg, answer []dns.RR, target string, to *owner) (*dns.Msg, served) {
	s := served{owner: to.name, policy: to.nPolicy}
	block := make([]dns.CAA, 0, len(to.records)+len(answer)+len(to.scope.partners.list))
	block = append(block, to.policy()...)
	zoneCAA, rest := 0, 0
	for _, rr := range answer {
		caa, member := inRRset(rr, target)
		switch {
		case caa != nil:
			zoneCAA++
			var added bool
			if block, added = c.mergeRecord(block, to, caa); added {
				s.zone++
			}
		case !member:
			rest++
		}
	}
	block, s.partners = c.withOwnerPartners(block, to, s.zone)
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
func (c *CAAPolicy) mergeRecord(block []dns.CAA, to *owner, caa *dns.CAA) ([]dns.CAA, bool) {
	if !to.scope.merge || holdsProperty(block, caa) {
		return block, false
	}
	if to.locks(caa.Tag) {
		c.warnOwner(to, "locked", "zone data at %s has %s %q, which the policy's lock-down of %s (declared at %s) withholds: it is not served", to.name, caa.Tag, caa.Value, strings.ToLower(caa.Tag), to.pos)
		return block, false
	}
	x := *caa
	x.Hdr.Ttl = to.records[0].Hdr.Ttl // one TTL for the whole RRset (RFC 2181 5.2)
	return append(block, x), true
}

// withOwnerPartners completes block, the policy of to with merged zone-data records, with its
// partner records: those prepared at setup when no zone-data record was merged, else the ones
// the merged RRset calls for. It returns the block and the number of partner records.
func (c *CAAPolicy) withOwnerPartners(block []dns.CAA, to *owner, merged int) ([]dns.CAA, int) {
	if merged == 0 {
		// The RRset is the policy alone: its partner records were prepared at setup.
		return append(block, to.records[to.nPolicy:]...), len(to.records) - to.nPolicy
	}
	return c.addPartners(to.scope, block, to.records[0].Hdr, to.name, "policy and zone data")
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
func (c *CAAPolicy) addPartners(sc *scope, block []dns.CAA, hdr dns.RR_Header, owner, source string) ([]dns.CAA, int) {
	add, notes := sc.partners.cachedAdditions(block)
	c.warnPartners(owner, source, notes)
	for _, a := range add { // add is shared by every query: each record is copied here
		a.Hdr = hdr
		block = append(block, a)
	}
	return block, len(add)
}

// warnPartners logs, once per owner, what stops partner certificates in an RRset seen at query time.
func (c *CAAPolicy) warnPartners(owner, source string, n partnerNotes) {
	if n.any() && !c.acked(owner) {
		c.warnOnce("partners "+owner, "partners at %s (%s): %s", owner, source, n)
	}
}

// followCNAMEs follows the CNAME chain from the question name through answer and returns the
// name it ends at. A chain that leaves the answer for a name in the plugin's zones is continued
// by asking the zone data, as an authoritative server does for in-zone targets; the records found
// are appended to a copy of answer.
func (c *CAAPolicy) followCNAMEs(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, answer []dns.RR) ([]dns.RR, string) {
	target := r.Question[0].Name
	for range caa.MaxCNAMEs {
		if cn := caa.CNAMEAt(answer, target); cn != nil {
			target = cn.Target
			continue
		}
		if target == r.Question[0].Name || holdsName(answer, target) || !c.holds(target) {
			break
		}
		q := r.Copy()
		q.Question[0].Name = target
		sub, _, _ := c.ask(ctx, w, q)
		if sub == nil || len(sub.Answer) == 0 {
			break
		}
		answer = append(answer[:len(answer):len(answer)], sub.Answer...)
	}
	return answer, target
}

// ask sends r to the next plugin and returns the message it wrote (nil if none) with the
// return code and error it gave.
func (c *CAAPolicy) ask(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (*dns.Msg, int, error) {
	nw := nonwriter.New(w)
	rcode, err := c.next(ctx, nw, r)
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

// holds reports whether a name in any spelling lies in the plugin's zones. Like find, it stays
// out of line, to keep its buffer off its callers' stack frames.
//
//go:noinline
func (c *CAAPolicy) holds(n string) bool {
	var buf [256]byte
	_, ok := c.zoneOf(dnsname.Lower(buf[:0], n))
	return ok
}
