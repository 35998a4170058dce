// Package caapolicy is a CoreDNS plugin that serves CAA records (RFC 8659, RFC 8657) from a
// declarative policy in the Corefile, merged with the CAA records the zone data already holds.
package caapolicy

import (
	"context"
	"strings"
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/fall"

	"github.com/miekg/dns"
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

	merge  bool              // unite the zone data's CAA RRset with the policy
	owners map[string]*owner // lowercase owner name -> its prepared records

	warned sync.Map // owner names already warned about, so zone-data warnings print once
}

// newHandler prepares everything a query needs from a parsed block.
func newHandler(cfg blockConfig) *CAAPolicy {
	h := &CAAPolicy{Zones: cfg.zones, merge: cfg.merge, owners: map[string]*owner{}}
	if cfg.fallSet {
		h.Fall.SetZonesFromArgs(cfg.fall)
	}
	if len(cfg.apex.props) > 0 {
		for _, z := range cfg.zones {
			h.owners[z] = newOwner(z, cfg.apex, cfg.ttl)
		}
	}
	for n, p := range cfg.names {
		h.owners[n] = newOwner(n, p, cfg.ttl)
	}
	return h
}

// ServeDNS implements the plugin.Handler interface.
func (c *CAAPolicy) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) != 1 || r.Question[0].Qtype != dns.TypeCAA || r.Question[0].Qclass != dns.ClassINET {
		return plugin.NextOrFailure(name, c.Next, ctx, w, r)
	}
	qname := r.Question[0].Name
	var buf [256]byte
	lname := lowerName(buf[:0], qname)
	if !c.inZones(lname) {
		return plugin.NextOrFailure(name, c.Next, ctx, w, r)
	}

	o := c.owners[string(lname)]
	if o == nil || c.merge {
		return c.serveZoneData(ctx, w, r, o)
	}
	w.WriteMsg(policyReply(r, qname, o.records))
	return dns.RcodeSuccess, nil
}

// Name implements the plugin.Handler interface.
func (c *CAAPolicy) Name() string { return name }

// inZones reports whether the lowercase name lies in one of the plugin's zones.
func (c *CAAPolicy) inZones(lname []byte) bool {
	for _, z := range c.Zones {
		if inZone(lname, z) {
			return true
		}
	}
	return false
}

// ownerOf returns the policy owner for a name in any spelling, or nil.
func (c *CAAPolicy) ownerOf(n string) *owner {
	var buf [256]byte
	return c.owners[string(lowerName(buf[:0], n))]
}

// policyReply is the authoritative answer holding the policy records, owned by qname as the
// question spelt it. The records are copied: later plugins (dnssec, rewrite) change what they get.
func policyReply(r *dns.Msg, qname string, records []dns.CAA) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Compress = true
	m.Answer = ownedCopies(records, qname)
	return m
}

// ownedCopies returns fresh copies of records owned by the name n, in one allocation for the
// records and one for the slice.
func ownedCopies(records []dns.CAA, n string) []dns.RR {
	block := make([]dns.CAA, len(records))
	copy(block, records)
	rrs := make([]dns.RR, len(block))
	for i := range block {
		block[i].Hdr.Name = n
		rrs[i] = &block[i]
	}
	return rrs
}

// warnOnce logs a warning about an owner the first time it is seen, never per query.
func (c *CAAPolicy) warnOnce(key, format string, args ...any) {
	if _, seen := c.warned.LoadOrStore(strings.ToLower(key), struct{}{}); !seen {
		log.Warningf(format, args...)
	}
}
