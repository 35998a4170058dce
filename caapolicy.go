package caapolicy

import (
	"context"
	"strings"
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/dnssec"
	"github.com/coredns/coredns/plugin/file"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/plugin/transfer"

	"github.com/caapolicy/caapolicy/internal/corefile"
	"github.com/caapolicy/caapolicy/internal/dnsname"
	"github.com/caapolicy/caapolicy/internal/watch"

	"github.com/miekg/dns"
	ot "github.com/opentracing/opentracing-go"
)

const name = "caapolicy"

// CAAPolicy answers CAA queries for its zones: at a policy owner from the Corefile policy (united
// with the zone data's CAA RRset in merge mode), elsewhere by passing the zone data's answer on.
type CAAPolicy struct {
	Next  plugin.Handler
	Zones []string // lowercase, fully qualified
	// Fall lists the zones where a policy owner that the zone data says does not exist
	// (NXDOMAIN) keeps that NXDOMAIN instead of being answered from the policy.
	Fall fall.F

	pos     string            // where the block is declared, "file:line"
	zoneSet map[string]string // Zones, for a lookup per label rather than a scan
	owners  map[string]*owner // lowercase owner name -> its prepared records

	base          *scope            // the block's settings: zonedata, partners, ttl (zoneblock.go)
	scopes        map[string]*scope // zone block's zone -> its settings; nil without zone blocks
	overrideZones []string          // the zone blocks' zones, in Corefile order

	warned       sync.Map // owner names already warned about, so zone-data warnings print once
	warnings     []string // the start-up warnings, "file:line: text"
	acknowledged []string // the start-up warnings acknowledged as intended (internal/corefile)

	persist     map[string][]dns.RR // lowercase _validation-persist names -> their TXT RRset (persist.go)
	exist       map[string]struct{} // names the policy makes exist (owners and their ancestors)
	existLens   *[256]bool          // the lengths of those names, to rule most names out at once
	signer      *dnssec.Dnssec      // the server block's dnssec plugin, found at start-up; nil without
	signedZones sync.Map            // zone apex -> the signer's zone holding it, "" if none (negative.go, signerZone)
	bypass      *[]string           // the zones of every caapolicy block of the server block (cache.go)

	group       []*CAAPolicy          // every caapolicy block of the server block, this one too; shared
	transferers []transfer.Transferer // the zone data's transfers, found at start-up
	files       *file.File            // the zone data when it is CoreDNS's file plugin (mergecache.go)
	filesOnce   sync.Once             // finds files at the first merged answer
	serial      uint32                // the policy serial (serial.go): served serial = zone's + serial
	stopped     chan struct{}         // closed at shutdown, once
	stopOnce    sync.Once

	cas      *watch.CATable // client prefixes -> CA, from the ca lines
	counters counters       // per-query metrics, cached per label set
	qlog     *watch.Log     // the query log and check events; nil with log none and checks off
}

// newHandler prepares everything a query needs from a parsed block.
func newHandler(b *corefile.Block) *CAAPolicy {
	h := &CAAPolicy{Zones: b.Zones, pos: b.Pos, owners: map[string]*owner{}, zoneSet: map[string]string{}, serial: b.Serial}
	for _, z := range b.Zones {
		h.zoneSet[z] = z
	}
	h.base = newScope("", b.Settings)
	for _, zb := range b.Overrides {
		if h.scopes == nil {
			h.scopes = map[string]*scope{}
		}
		h.scopes[zb.Name] = newScope(zb.Name, zb.Settings)
		h.overrideZones = append(h.overrideZones, zb.Name)
	}
	if b.FallSet {
		h.Fall.SetZonesFromArgs(b.Fall)
	}
	persisting := map[string]corefile.Policy{}
	for _, z := range b.Zones {
		if p := withPersist(b.Apex, z); len(p.Props) > 0 {
			h.owners[z] = newOwner(z, p, h.base)
		}
		if len(b.Apex.Persist) > 0 {
			persisting[z] = b.Apex
		}
	}
	for n, p := range b.Names {
		if q := withPersist(p, n); len(q.Props) > 0 {
			h.owners[n] = newOwner(n, q, h.scopeOf([]byte(n)))
		}
		if len(p.Persist) > 0 {
			persisting[n] = p
		}
	}
	h.persist = persistRecords(persisting, h.scopeOf)
	h.exist, h.existLens = h.existingNames()
	h.stopped = make(chan struct{})
	return h
}

// served says what a reply holds: the owner of the CAA RRset served (lowercase for a policy
// owner, as the zone data spells it otherwise) and how many of its records came from the
// policy, the zone data and the partners. The query log and metrics read it.
type served struct {
	owner                  string
	policy, zone, partners int
	msg                    *dns.Msg // the reply written, nil if none was
	apex                   string   // the zone the zone data answered from (zoneApex), "" if unknown
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

// ServeDNS implements the plugin.Handler interface. Every query of another type passes through
// here, so this function does the type check and little else: its stack frame stays small, and
// each query's goroutine, which starts on a small stack, is less likely to have to grow it.
// Other types take a detour (negative.go) only for SOA, at names the policy makes exist (one
// array lookup on the name's length rules out most names), where dnssec signs the zone, and
// where a policy serial is set (negative answers carry the served serial).
func (c *CAAPolicy) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) != 1 || r.Question[0].Qclass != dns.ClassINET {
		return c.next(ctx, w, r)
	}
	if qt := r.Question[0].Qtype; qt == dns.TypeCAA {
		return c.serveCAA(ctx, w, r)
	} else if qt == dns.TypeTXT && (c.persist != nil || isPersistName(r.Question[0].Name)) {
		return c.servePersist(ctx, w, r)
	} else if qt == dns.TypeSOA || c.signer != nil || c.serial != 0 || c.existLens[len(r.Question[0].Name)&0xff] {
		return c.serveOther(ctx, w, r)
	}
	// next and passOther, written out here: one call frame less on the non-CAA path.
	if c.Next == nil || ot.SpanFromContext(ctx) != nil {
		return plugin.NextOrFailure(name, c.Next, ctx, w, r)
	}
	return c.Next.ServeDNS(ctx, w, r)
}

// next passes the query to the next plugin: plugin.NextOrFailure without the writer it wraps
// around w to name the plugin that answers, and without its stack frame and allocation on every
// query of another type. CoreDNS's metrics read that name only from the wrapper around their own
// recorder, which the plugin in front of caapolicy made, so it reads the same either way
// (TestNextKeepsPluginLabel). With a trace span in ctx, or no next plugin, NextOrFailure does it
// all.
func (c *CAAPolicy) next(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if c.Next == nil || ot.SpanFromContext(ctx) != nil {
		return plugin.NextOrFailure(name, c.Next, ctx, w, r)
	}
	return c.Next.ServeDNS(ctx, w, r)
}

// passOther passes a query of another type than CAA on, as ServeDNS does: through serveOther's
// writer where it may apply (negative.go), straight to the next plugin otherwise.
func (c *CAAPolicy) passOther(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if r.Question[0].Qtype == dns.TypeSOA || c.signer != nil || c.serial != 0 || c.existLens[len(r.Question[0].Name)&0xff] {
		return c.serveOther(ctx, w, r)
	}
	return c.next(ctx, w, r)
}

// serveCAA answers a CAA query of class IN, or passes it on if the name is outside the zones.
func (c *CAAPolicy) serveCAA(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	zone, label, o, ok := c.find(r.Question[0].Name)
	if !ok {
		return c.next(ctx, w, r)
	}
	s, rcode, err := c.serve(ctx, w, r, o)
	c.record(ctx, w, r, zone, label, &s, rcode)
	return rcode, err
}

// find returns the block's zone holding qname, the zone label of its metrics (the most specific
// zone block's zone, else that zone) and the policy owner at qname, if any. It is kept out of
// line so that its 256-byte name buffer is not on the stack while the reply is made and written.
//
//go:noinline
func (c *CAAPolicy) find(qname string) (zone, label string, o *owner, ok bool) {
	var buf [256]byte
	lname := dnsname.Lower(buf[:0], qname)
	if zone, ok = c.zoneOf(lname); ok {
		o = c.owners[string(lname)]
		label = zone
		if c.scopes != nil {
			if sc := c.scopeOf(lname); sc != c.base {
				label = sc.zone
			}
		}
	}
	return zone, label, o, ok
}

// serve answers a CAA query for a name in the plugin's zones; o is the policy owner at the
// question name, if any.
func (c *CAAPolicy) serve(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, o *owner) (served, int, error) {
	switch {
	case o == nil:
		return c.serveZoneData(ctx, w, r, nil)
	case !o.scope.merge:
		return c.writePolicy(ctx, w, o, policyReply(r, r.Question[0].Name, o.records))
	}
	if e := keptMerge(r, o); e != nil {
		return c.writeMerged(ctx, w, r, e)
	}
	return c.serveZoneData(ctx, w, r, o)
}

// Name implements the plugin.Handler interface.
func (c *CAAPolicy) Name() string { return name }

// zoneOf returns the most specific of the plugin's zones holding the lowercase name: one map
// lookup per label of the name, whatever the number of zones.
func (c *CAAPolicy) zoneOf(lname []byte) (string, bool) {
	for i := 0; i < len(lname); i++ {
		if i == 0 || lname[i-1] == '.' {
			if z, ok := c.zoneSet[string(lname[i:])]; ok {
				return z, true
			}
		}
	}
	z, ok := c.zoneSet["."]
	return z, ok
}

// ownerOf returns the policy owner for a name in any spelling, or nil. Like find, it stays out
// of line, to keep its buffer off its callers' stack frames.
//
//go:noinline
func (c *CAAPolicy) ownerOf(n string) *owner {
	var buf [256]byte
	return c.owners[string(dnsname.Lower(buf[:0], n))]
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

// warnOnce logs a warning about an owner the first time it is seen, never per query.
func (c *CAAPolicy) warnOnce(key, format string, args ...any) {
	if _, seen := c.warned.LoadOrStore(strings.ToLower(key), struct{}{}); !seen {
		log.Warningf(format, args...)
	}
}

// warnOwner is warnOnce for a warning of the given kind about the policy owner o, unless its
// warnings are acknowledged as intended (internal/corefile, acknowledge.go).
func (c *CAAPolicy) warnOwner(o *owner, kind, format string, args ...any) {
	if !o.acked {
		c.warnOnce(kind+" "+o.name, format, args...)
	}
}

// acked reports whether n, in any spelling, is a policy owner whose warnings are acknowledged.
func (c *CAAPolicy) acked(n string) bool {
	o := c.ownerOf(n)
	return o != nil && o.acked
}

// rrPointers returns the records of block as a slice of dns.RR.
func rrPointers(block []dns.CAA) []dns.RR {
	rrs := make([]dns.RR, len(block))
	for i := range block {
		rrs[i] = &block[i]
	}
	return rrs
}
