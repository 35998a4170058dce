package served

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/dnssec"
	"github.com/coredns/coredns/plugin/file"
	"github.com/coredns/coredns/plugin/pkg/fall"
	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/corefile"
	"github.com/caapolicy/caapolicy/internal/dnsname"

	"github.com/miekg/dns"
	ot "github.com/opentracing/opentracing-go"
)

var log = clog.NewWithPlugin("caapolicy")

// View is what one caapolicy block serves: its policy owners with their prepared records, its
// zone blocks' settings, the names the policy makes exist, its dns-persist-01 records and its
// policy serial, over the zone data of Next. It is built once per block (New) and never changes
// afterwards, but for the merged replies it keeps (mergecache.go) and the warnings it has
// printed; every method is safe for concurrent use once Next (and SetSigner's signer) is set,
// which the plugin does before the server starts.
type View struct {
	// Next is the rest of the plugin chain: the zone data.
	Next plugin.Handler

	zones   []string          // lowercase, fully qualified
	zoneSet map[string]string // zones, for a lookup per label rather than a scan
	fall    fall.F            // where a policy owner the zone data says does not exist keeps that NXDOMAIN
	owners  map[string]*Owner // lowercase owner name -> its prepared records

	base          *scope            // the block's settings: zonedata, partners, ttl (scope.go)
	scopes        map[string]*scope // zone block's zone -> its settings; nil without zone blocks
	overrideZones []string          // the zone blocks' zones, in Corefile order

	persist   map[string][]dns.RR // lowercase _validation-persist names -> their TXT RRset (persist.go)
	exist     map[string]struct{} // names the policy makes exist (owners and their ancestors)
	existLens *[256]bool          // the lengths of those names, to rule most names out at once
	serial    uint32              // the policy serial (serial.go): served serial = zone's + serial

	signer      *dnssec.Dnssec // the server block's dnssec plugin; nil without (denial.go)
	signedZones sync.Map       // zone apex -> the signer's zone holding it, "" if none

	files     *file.File // the zone data when it is CoreDNS's file plugin (mergecache.go)
	filesOnce sync.Once  // finds files at the first merged answer

	warned sync.Map // owner names already warned about, so zone-data warnings print once
}

// New builds the view of the block b: every owner's records (policy, then partner records),
// the names the policy makes exist and the persist records. It fails, at the policy's line,
// for an RRset no DNS message can carry.
func New(b *corefile.Block) (*View, error) {
	v := &View{zones: b.Zones, owners: map[string]*Owner{}, zoneSet: map[string]string{}, serial: b.Serial}
	for _, z := range b.Zones {
		v.zoneSet[z] = z
	}
	v.base = newScope("", b.Settings)
	for _, zb := range b.Overrides {
		if v.scopes == nil {
			v.scopes = map[string]*scope{}
		}
		v.scopes[zb.Name] = newScope(zb.Name, zb.Settings)
		v.overrideZones = append(v.overrideZones, zb.Name)
	}
	if b.FallSet {
		v.fall.SetZonesFromArgs(b.Fall)
	}
	persisting := map[string]corefile.Policy{}
	for _, z := range b.Zones {
		if p := withPersist(b.Apex, z); len(p.Props) > 0 {
			v.owners[z] = newOwner(z, p, v.base)
		}
		if len(b.Apex.Persist) > 0 {
			persisting[z] = b.Apex
		}
	}
	for n, p := range b.Names {
		if q := withPersist(p, n); len(q.Props) > 0 {
			v.owners[n] = newOwner(n, q, v.scopeOf([]byte(n)))
		}
		if len(p.Persist) > 0 {
			persisting[n] = p
		}
	}
	for _, o := range v.owners {
		if err := checkRRsetSize(o); err != nil {
			return nil, err
		}
	}
	v.persist = persistRecords(persisting, v.scopeOf)
	v.exist, v.existLens = v.existingNames()
	return v, nil
}

// Zones returns the block's zones, lowercase and fully qualified.
func (v *View) Zones() []string { return v.zones }

// ZoneBlocks returns the zones of the block's zone blocks, in Corefile order.
func (v *View) ZoneBlocks() []string { return v.overrideZones }

// Serial returns the policy serial (serial.go).
func (v *View) Serial() uint32 { return v.serial }

// Merges reports whether the block, or one of its zone blocks, merges the zone data's CAA records.
func (v *View) Merges() bool {
	for _, sc := range v.allScopes() {
		if sc.merge {
			return true
		}
	}
	return false
}

// Partners returns the partner CAs that the settings at n (any spelling) add, as their issue
// values ("letsencrypt.org", "letsencrypt.org; accounturi=..."), in Corefile order.
func (v *View) Partners(n string) []string {
	list := v.scopeFor(n).partners.list
	out := make([]string, 0, len(list))
	for _, p := range list {
		out = append(out, p.Value)
	}
	return out
}

// Owners returns the policy owner names, lowercase, in no order.
func (v *View) Owners() []string {
	out := make([]string, 0, len(v.owners))
	for n := range v.owners {
		out = append(out, n)
	}
	return out
}

// Find returns the block's zone holding qname, the zone label of its metrics (the most specific
// zone block's zone, else that zone) and the policy owner at qname, if any. It is kept out of
// line so that its 256-byte name buffer is not on the stack while the reply is made and written.
//
//go:noinline
func (v *View) Find(qname string) (zone, label string, o *Owner, ok bool) {
	var buf [256]byte
	lname := dnsname.Lower(buf[:0], qname)
	if zone, ok = v.zoneOf(lname); ok {
		o = v.owners[string(lname)]
		label = zone
		if v.scopes != nil {
			if sc := v.scopeOf(lname); sc != v.base {
				label = sc.zone
			}
		}
	}
	return zone, label, o, ok
}

// zoneOf returns the most specific of the block's zones holding the lowercase name: one map
// lookup per label of the name, whatever the number of zones.
func (v *View) zoneOf(lname []byte) (string, bool) {
	for i := 0; i < len(lname); i++ {
		if i == 0 || lname[i-1] == '.' {
			if z, ok := v.zoneSet[string(lname[i:])]; ok {
				return z, true
			}
		}
	}
	z, ok := v.zoneSet["."]
	return z, ok
}

// Holds reports whether a name in any spelling lies in the block's zones. Like Find, it stays
// out of line, to keep its buffer off its callers' stack frames.
//
//go:noinline
func (v *View) Holds(n string) bool {
	var buf [256]byte
	_, ok := v.zoneOf(dnsname.Lower(buf[:0], n))
	return ok
}

// ownerOf returns the policy owner for a name in any spelling, or nil. Like Find, it stays out
// of line, to keep its buffer off its callers' stack frames.
//
//go:noinline
func (v *View) ownerOf(n string) *Owner {
	var buf [256]byte
	return v.owners[string(dnsname.Lower(buf[:0], n))]
}

// Pass passes the query to the next plugin: plugin.NextOrFailure without the writer it wraps
// around w to name the plugin that answers, and without its stack frame and allocation on every
// query of another type. CoreDNS's metrics read that name only from the wrapper around their own
// recorder, which the plugin in front of caapolicy made, so it reads the same either way. With a
// trace span in ctx, or no next plugin, NextOrFailure does it all.
func (v *View) Pass(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if v.Next == nil || ot.SpanFromContext(ctx) != nil {
		return plugin.NextOrFailure("caapolicy", v.Next, ctx, w, r)
	}
	return v.Next.ServeDNS(ctx, w, r)
}

// Exchange answers the CAA query m as the block serves it (Serve), without logging or counting
// it: transfers, check events and `caacheck -conf` ask it, and nothing else computes served CAA.
// A name outside the block's zones is REFUSED, as a server refuses a name it does not serve; a
// query nobody answered gets the code the chain returned.
func (v *View) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	_, _, o, ok := v.Find(m.Question[0].Name)
	if !ok {
		return new(dns.Msg).SetRcode(m, dns.RcodeRefused), nil
	}
	reply, _, rcode, err := v.Serve(ctx, &Capture{}, m, o)
	if reply != nil {
		return reply, nil
	}
	if err != nil {
		return nil, err
	}
	return new(dns.Msg).SetRcode(m, rcode), nil
}

// RRset returns the CAA RRset the block serves at n itself (not at the end of a CNAME chain from
// it): nil where n has none, does not exist, or the answer is an error.
func (v *View) RRset(ctx context.Context, n string) ([]dns.RR, error) {
	r, err := v.Exchange(ctx, new(dns.Msg).SetQuestion(n, dns.TypeCAA))
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("%s CAA answers %s", n, dns.RcodeToString[r.Rcode])
	}
	var out []dns.RR
	for _, rr := range r.Answer {
		if x, ok := rr.(*dns.CAA); ok && strings.EqualFold(x.Hdr.Name, n) {
			out = append(out, rr)
		}
	}
	return out, nil
}

// Lookup is a caa.Lookup over what the block serves now: each name of the climb inside its zones
// is answered by Exchange; names outside end the climb. It is the watcher's lookup for the
// verdicts of check events.
func (v *View) Lookup(ctx context.Context, n string) (caa.Step, error) {
	s := caa.Step{Name: n}
	if !v.Holds(n) {
		s.Outside = true
		return s, nil
	}
	r := new(dns.Msg).SetQuestion(dns.Fqdn(n), dns.TypeCAA)
	m, err := v.Exchange(ctx, r)
	if err != nil {
		return s, err
	}
	s.Rcode = m.Rcode
	if s.Rcode != dns.RcodeSuccess && s.Rcode != dns.RcodeNameError {
		return s, fmt.Errorf("answer %s", dns.RcodeToString[s.Rcode])
	}
	s.RRset, s.CNAMEs, _ = caa.AnswerRRset(m.Answer, r.Question[0].Name)
	s.Delegation = caa.Referral(m)
	return s, nil
}

// PolicyLookup is a caa.Lookup over the CAA the block serves from its policy alone: each owner's
// prepared records, nothing elsewhere in its zones; names outside them end the climb. Start-up
// lint reads it, before any zone data is loaded. The RRset returned is the owner's own, which
// every answer copies from: read it, never change it.
func (v *View) PolicyLookup(_ context.Context, n string) (caa.Step, error) {
	s := caa.Step{Name: n}
	if !v.Holds(n) {
		s.Outside = true
		return s, nil
	}
	if o := v.ownerOf(n); o != nil {
		s.RRset = o.records
	}
	return s, nil
}

// warnOnce logs a warning about an owner the first time it is seen, never per query.
func (v *View) warnOnce(key, format string, args ...any) {
	if _, seen := v.warned.LoadOrStore(strings.ToLower(key), struct{}{}); !seen {
		log.Warningf(format, args...)
	}
}

// warnOwner is warnOnce for a warning of the given kind about the policy owner o, unless its
// warnings are acknowledged as intended (internal/corefile, acknowledge.go).
func (v *View) warnOwner(o *Owner, kind, format string, args ...any) {
	if !o.acked {
		v.warnOnce(kind+" "+o.name, format, args...)
	}
}

// acked reports whether n, in any spelling, is a policy owner whose warnings are acknowledged.
func (v *View) acked(n string) bool {
	o := v.ownerOf(n)
	return o != nil && o.acked
}
