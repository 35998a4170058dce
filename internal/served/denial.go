package served

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/coredns/coredns/plugin/dnssec"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/request"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/dnsname"

	"github.com/miekg/dns"
)

// Negative answers must never hide CAA: a CA that meets a denial where caapolicy serves CAA
// climbs past the policy to a parent's RRset, or to none, and may issue against the policy
// (README.md, Description: "Policy owners exist for every type" and "Signed denials list CAA";
// Bugs: "DS denials in stock dnssec"). Two resolver behaviours make a CAA RRset that caapolicy
// serves disappear unless the answers for other types agree with it:
//
//   - A resolver caches an NXDOMAIN for a name, whatever the type asked (RFC 2308 section 5),
//     and may deny everything below it (RFC 8020). A policy owner the zone data lacks, and every
//     name between it and the apex, would be NXDOMAIN for A or TXT yet hold CAA. Here those
//     names exist: an NXDOMAIN from the zone data becomes NODATA (NOERROR, AA, the zone's SOA).
//   - A validator that uses its NSEC cache aggressively (RFC 8198, Unbound's default) answers
//     CAA at a name from the NSEC of any earlier negative answer there. CoreDNS's dnssec plugin
//     makes that NSEC a "black lie" whose type bitmap is a fixed list without CAA, so one signed
//     TXT NODATA would deny CAA at that name. Here every signed negative answer for another type
//     in caapolicy's zones carries an NSEC that lists CAA (a black lie claims every type but the
//     one asked, so claiming CAA is always true to its meaning), signed again by the same
//     dnssec plugin.
//
// Every signed denial in caapolicy's zones is then a true statement about the zone as served, in
// the bits a validator acts on. dnssec makes each denial a black lie (RFC 9824's compact answer
// without its NXNAME type, which CoreDNS 1.15 does not emit): one NSEC owned by the question
// name, next name \000.name, claiming a fixed list of types. The rules, and why:
//
//   - The asked type is never listed (that is the denial), and RRSIG and NSEC always are.
//   - CAA is listed for every other type asked, as above; a CAA denial does not list it.
//   - NS without SOA says "delegation point": with no DS listed it is a signed proof of an
//     insecure delegation (RFC 4035 section 5.2, RFC 6840 section 4.4), after which a validator
//     accepts anything at or below the name unsigned. Stock dnssec gives that bitmap to every DS
//     denial, at any name, existing or not, which lets an on-path attacker strip or forge CAA
//     below the apex. Here a DS denial below the apex lists NS exactly where the zone data has
//     a zone cut (an NS query there is a referral to the name): a real delegation keeps its
//     proof that no DS exists (RFC 4035 section 3.1.4), every other name, policy owners, empty
//     non-terminals and names that do not exist included, gets the bitmap of any other denial
//     there. The apex keeps NS and SOA, which are there, and which no validator takes for a cut.
//   - A name that does not exist (NXDOMAIN from the zone data) is answered as a name with no
//     data of the asked type, as black lies do: the NSEC claims types that are not there but
//     never NS, SOA, CNAME or DNAME, so it moves no zone cut and redirects nothing; claiming a
//     type only stops a validator from denying it, and nothing unsigned is ever accepted for it.
//     Empty non-terminals get the same bitmap.
//   - Not yet true: a type outside dnssec's fixed list (MX below the apex, NAPTR, SVCB, HTTPS)
//     that the zone data holds at a name is missing from the denials for other types there, so
//     a validator with aggressive NSEC caching may deny it. That is stock CoreDNS, as it was for
//     CAA; it claims no cut and touches no CAA.
//   - A wildcard match is signed on line with the question name as owner, so its answers and
//     denials are those of an existing name, and no wildcard proof (RFC 4035 section 3.1.3.3)
//     is needed or given.
//   - Referrals are signed by dnssec as they come: a DS RRset and its RRSIG at a secure cut,
//     an NSEC with NS (and no SOA) at an insecure one, owned by the question name (which may be
//     below the cut, where everything is insecure anyway).
//
// Only non-CAA queries at those names, and DO queries where dnssec signs, take this path; every
// other query costs one type check and one array lookup (and, in a server block with dnssec, a
// look at the EDNS0 DO bit). A DS query with DO costs one more lookup in the zone data, the NS
// query that finds whether the name is a zone cut.

// existingNames returns the names that must exist because of the policy: each policy owner that
// fallthrough does not cover, and every name between it and its zone's apex. It also marks their
// lengths, so that the query path can rule most names out with one array lookup.
func (v *View) existingNames() (map[string]struct{}, *[256]bool) {
	names := map[string]struct{}{}
	lens := new([256]bool)
	all := make([]string, 0, len(v.owners)+len(v.persist))
	for n := range v.owners {
		if !v.fall.Through(n) {
			all = append(all, n)
		}
	}
	for n := range v.persist { // a published dns-persist-01 record's name exists for every type
		all = append(all, n)
	}
	for _, n := range all {
		zone, ok := v.zoneOf([]byte(n))
		if !ok {
			continue
		}
		for ; n != zone && n != "."; n = caa.ParentName(n) {
			names[n] = struct{}{}
			lens[len(n)&0xff] = true
		}
	}
	return names, lens
}

// mustExist reports whether qname, in any spelling, is a name the policy makes exist. Kept out
// of line, like Find, so its name buffer stays off ServeDNS's stack frame.
//
//go:noinline
func (v *View) mustExist(qname string) bool {
	if !v.existLens[len(qname)&0xff] {
		return false
	}
	var buf [256]byte
	_, ok := v.exist[string(dnsname.Lower(buf[:0], qname))]
	return ok
}

// SetSigner gives the view the dnssec plugin of its server block, if there is one: it is found
// at start-up, when every handler of the block is built and none serves yet.
func (v *View) SetSigner(d *dnssec.Dnssec) { v.signer = d }

// isZoneCut reports whether the zone data delegates qname: its answer to an NS query there is a
// referral to qname itself (RFC 4035 section 3.1.4: the parent side of the cut answers DS).
func (v *View) isZoneCut(ctx context.Context, w dns.ResponseWriter, qname string) bool {
	q := new(dns.Msg).SetQuestion(qname, dns.TypeNS)
	cw := &Capture{Remote: w.RemoteAddr()}
	v.Pass(ctx, cw, q)
	d := caa.Referral(cw.Msg)
	return d != nil && strings.EqualFold(d.Zone, qname)
}

// ServeOther passes a query of another type than CAA to the zone data, through a writer that
// keeps the names the policy makes exist in existence, lists CAA in signed denials, and gives an
// apex SOA and the SOA of negative answers the served serial (serial.go), where any applies.
func (v *View) ServeOther(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	qname, qtype := r.Question[0].Name, r.Question[0].Qtype
	if qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
		return v.Pass(ctx, w, r)
	}
	if qtype == dns.TypeDNSKEY && v.signer != nil {
		if p, ok := ctx.Value(signProbeKey{}).(*signProbe); ok {
			p.reached = true // signerZone's probe: dnssec did not answer it
			return dns.RcodeSuccess, nil
		}
	}
	// Decided on the stack: the writer is made (and allocated) only for a query it may change.
	d := otherWriter{exists: v.mustExist(qname)}
	if v.signer != nil {
		opt := r.IsEdns0()
		d.signed = opt != nil && opt.Do() && v.Holds(qname)
		if d.signed && qtype == dns.TypeDS {
			// Asked before the zone data answers the DS query, not from inside its WriteMsg.
			d.cut = v.isZoneCut(ctx, w, qname)
		}
	}
	if v.serial != 0 {
		d.neg = v.Holds(qname)
		d.soa = d.neg && qtype == dns.TypeSOA
	}
	if !d.exists && !d.signed && !d.soa && !d.neg {
		return v.Pass(ctx, w, r)
	}
	nw := &otherWriter{ResponseWriter: w, v: v, ctx: ctx, r: r, exists: d.exists, signed: d.signed, soa: d.soa, neg: d.neg, cut: d.cut}
	return v.Pass(ctx, nw, r)
}

// Rewrites reports whether ServeOther may change the answer to a query of type qtype (not CAA)
// at qname; every other such query goes straight to the zone data (Pass). It is the whole cost
// of the view on that path: a type test, three loads and one array lookup on the name's length.
func (v *View) Rewrites(qtype uint16, qname string) bool {
	return qtype == dns.TypeSOA || v.signer != nil || v.serial != 0 || v.existLens[len(qname)&0xff]
}

// otherWriter sits between the zone data and the rest of the chain for one query of another type.
type otherWriter struct {
	dns.ResponseWriter
	v      *View
	ctx    context.Context
	r      *dns.Msg
	exists bool // the question name exists because of the policy
	signed bool // a DO query in a zone the block's dnssec may sign
	soa    bool // an SOA query in the zones, which have a policy serial: the answer gets the served serial
	neg    bool // a name in the zones, which have a policy serial: a negative answer's SOA gets it
	cut    bool // a DS query at a delegation point of the zone data
}

// WriteMsg implements dns.ResponseWriter.
func (w *otherWriter) WriteMsg(m *dns.Msg) error {
	if w.soa && len(m.Answer) > 0 {
		served := *m
		served.Answer = slices.Clone(m.Answer)
		for i, rr := range served.Answer {
			if soa, ok := rr.(*dns.SOA); ok && w.v.Holds(soa.Hdr.Name) {
				served.Answer[i] = w.v.servedSOA(soa)
			}
		}
		m = &served
	}
	if w.neg {
		m = w.v.servedNegative(m)
	}
	if w.exists && m.Rcode == dns.RcodeNameError && len(m.Answer) == 0 && holdsType(m.Ns, dns.TypeSOA) {
		// The policy makes this name exist: NODATA, with the zone data's SOA.
		nodata := *m
		nodata.Rcode = dns.RcodeSuccess
		nodata.Authoritative = true
		m = &nodata
	}
	if w.signed && len(m.Answer) == 0 && len(m.Ns) == 1 && m.Ns[0].Header().Rrtype == dns.TypeSOA &&
		(m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError) {
		if signed := w.signedDenial(m); signed != nil {
			// dnssec, in front of us, leaves a denial that is signed already as it is (and signs
			// the NSEC answer of an NSEC query, as it would have).
			return w.ResponseWriter.WriteMsg(signed)
		}
	}
	return w.ResponseWriter.WriteMsg(m)
}

// sign has the server block's dnssec plugin sign m, the answer to q in the zone whose apex is
// soaOwner (the owner of the SOA of the negative answer being written), through dnssec's exported
// Sign: the black lie and the signatures dnssec would have added, made with its keys and signed
// by the dnssec zone holding that zone. It returns nil where dnssec signs no zone holding it
// (signerZone): the answer is then written as it is, and dnssec in front of us treats it exactly
// as CoreDNS would. Sign changes the message it is given, so it gets a copy.
func (w *otherWriter) sign(q, m *dns.Msg, soaOwner string) *dns.Msg {
	zone := w.v.signerZone(w.ctx, soaOwner)
	if zone == "" {
		return nil
	}
	x := m.Copy()
	x.Question = q.Question
	state := request.Request{W: w.ResponseWriter, Req: x, Zone: zone}
	return w.v.signer.Sign(state, time.Now().UTC(), metrics.WithServer(w.ctx))
}

// signProbe marks the DNSKEY query signerZone sends through dnssec: reached is set if the query
// passed dnssec and came down the chain to this plugin.
type signProbe struct{ reached bool }

// signerZone returns the zone of the block's dnssec plugin that holds the zone whose apex is
// apex (lowercase): apex itself or its nearest parent among dnssec's zones, "" if none. dnssec
// answers a DNSKEY query at each of its zones itself (its exported ServeDNS) and passes any
// other name on, so the first denial in a zone sends one, marked in its context, to apex and
// then to each parent until dnssec answers; the result is remembered for apex. A probe that
// comes back down to this plugin (ServeOther) was let through. dnssec signs a name with its most
// specific zone; a dnssec zone between apex and the name (with no zone cut in the zone data) is
// not found here, and such a denial is left to dnssec as CoreDNS writes it.
func (v *View) signerZone(ctx context.Context, apex string) string {
	if z, ok := v.signedZones.Load(apex); ok {
		return z.(string)
	}
	zone := ""
	for n := apex; ; n = caa.ParentName(n) {
		q := new(dns.Msg).SetQuestion(n, dns.TypeDNSKEY)
		q.SetEdns0(dns.DefaultMsgSize, true)
		p := &signProbe{}
		cw := &Capture{}
		v.signer.ServeDNS(context.WithValue(ctx, signProbeKey{}, p), cw, q)
		if !p.reached && cw.Msg != nil && holdsType(cw.Msg.Answer, dns.TypeDNSKEY) {
			zone = n
			break
		}
		if n == "." {
			break
		}
	}
	v.signedZones.Store(apex, zone)
	return zone
}

// signProbeKey is the context key of a signProbe.
type signProbeKey struct{}

// signedDenial returns the negative answer m signed by dnssec, with CAA listed in the type
// bitmap of the NSEC at the question name and that NSEC signed again. It returns nil if dnssec
// did not sign m as a black lie (not its zone, or it behaved unexpectedly): m is then written as
// it is, and dnssec in front of us treats it exactly as CoreDNS would.
func (w *otherWriter) signedDenial(m *dns.Msg) *dns.Msg {
	qname := w.r.Question[0].Name
	apex := strings.ToLower(m.Ns[0].Header().Name) // the SOA's owner, the zone's apex
	signed := w.sign(w.r, m, apex)
	if signed == nil {
		return nil
	}
	if w.r.Question[0].Qtype == dns.TypeNSEC {
		return w.nsecAnswer(signed)
	}
	i := slices.IndexFunc(signed.Ns, func(rr dns.RR) bool {
		n, ok := rr.(*dns.NSEC)
		return ok && strings.EqualFold(n.Hdr.Name, qname)
	})
	if i < 0 {
		return nil
	}
	nsec := *signed.Ns[i].(*dns.NSEC)
	bitmap := withType(nsec.TypeBitMap, dns.TypeCAA)
	if w.r.Question[0].Qtype == dns.TypeDS && !slices.Contains(bitmap, dns.TypeSOA) {
		// Below the apex, a DS denial lists NS exactly where the zone data has a zone cut: there
		// it proves an insecure delegation (RFC 4035 section 3.1.4), anywhere else it would be
		// a false one. Stock dnssec lists NS in every DS denial; a dnssec patched as in
		// docs/dnssec-ds-denial.md cannot see the cut in the message Sign is given. Either way
		// the bit is set here from the zone data.
		bitmap = slices.DeleteFunc(bitmap, func(t uint16) bool { return t == dns.TypeNS })
		if w.cut {
			bitmap = withType(bitmap, dns.TypeNS)
		}
	}
	if slices.Equal(bitmap, nsec.TypeBitMap) {
		return signed
	}
	nsec.TypeBitMap = bitmap

	// The NSEC alone, as the positive answer to an NSEC query: dnssec signs every RRset of it.
	q := w.r.Copy()
	q.Question[0].Qtype = dns.TypeNSEC
	pos := new(dns.Msg).SetReply(q)
	pos.Authoritative = true
	pos.Answer = []dns.RR{&nsec}
	resigned := w.sign(q, pos, apex)
	if resigned == nil {
		return nil
	}
	var sigs []dns.RR
	for _, rr := range resigned.Answer {
		if isSigOver(rr, dns.TypeNSEC, nsec.Hdr.Name) {
			sigs = append(sigs, rr)
		}
	}
	if len(sigs) == 0 {
		return nil
	}
	ns := make([]dns.RR, 0, len(signed.Ns))
	for j, rr := range signed.Ns {
		switch {
		case j == i:
			ns = append(append(ns, &nsec), sigs...)
		case isSigOver(rr, dns.TypeNSEC, nsec.Hdr.Name):
		default:
			ns = append(ns, rr)
		}
	}
	signed.Ns = ns
	return signed
}

// nsecAnswer handles a query for type NSEC, which dnssec answers with its black-lie NSEC in the
// answer section. That answer is positive, so dnssec in front of us would sign it again: the
// reply written is the NSEC alone, with CAA listed, for dnssec to sign.
func (w *otherWriter) nsecAnswer(signed *dns.Msg) *dns.Msg {
	for _, rr := range signed.Answer {
		if n, ok := rr.(*dns.NSEC); ok && strings.EqualFold(n.Hdr.Name, w.r.Question[0].Name) {
			nsec := *n
			nsec.TypeBitMap = withType(nsec.TypeBitMap, dns.TypeCAA)
			out := new(dns.Msg).SetReply(w.r)
			out.Authoritative = true
			out.Answer = []dns.RR{&nsec}
			return out
		}
	}
	return nil
}

// isSigOver reports whether rr is an RRSIG over the type t RRset at name.
func isSigOver(rr dns.RR, t uint16, name string) bool {
	sig, ok := rr.(*dns.RRSIG)
	return ok && sig.TypeCovered == t && strings.EqualFold(sig.Hdr.Name, name)
}

// withType returns a new type bitmap, sorted as NSEC records are packed: bitmap with t added,
// once.
func withType(bitmap []uint16, t uint16) []uint16 {
	if slices.Contains(bitmap, t) {
		return slices.Clone(bitmap)
	}
	out := append(slices.Clone(bitmap), t)
	slices.Sort(out)
	return out
}

// holdsType reports whether rrs hold a record of type t.
func holdsType(rrs []dns.RR, t uint16) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			return true
		}
	}
	return false
}
