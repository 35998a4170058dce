package caapolicy

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/coredns/coredns/plugin/metrics"

	"github.com/caapolicy/caapolicy/internal/served"
	"github.com/caapolicy/caapolicy/internal/watch"

	"github.com/miekg/dns"
)

// record counts a CAA query in the metrics, sets its metadata and hands it to the watcher
// (internal/watch), which logs it and groups it into check events. It allocates nothing on its
// own: counters are cached per label set, and the watcher's queue keeps a copy of the entry.
func (c *CAAPolicy) record(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, zone, label string, s *served.Answer, rcode int) {
	c.setSource(ctx, s)
	c.watchQuery(ctx, w, r, zone, label, s, rcode, s.Source().String())
}

// recordPersist counts and logs a TXT query for a dns-persist-01 record (persist.go), answered
// from the policy (source persist) or by the zone data (passthrough): a CA validating a name with
// dns-persist-01 asks for it, and the watcher counts the query in the CA's check of that name.
func (c *CAAPolicy) recordPersist(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, s *served.Answer, rcode int, src string) {
	zone, label, _, ok := c.view.Find(r.Question[0].Name)
	if !ok {
		return
	}
	c.watchQuery(ctx, w, r, zone, label, s, rcode, src)
}

// watchQuery counts a query of a CA's check in the metrics and hands it to the watcher.
// zone is the block's zone holding the name, label the zone label of the metrics (View.Find).
func (c *CAAPolicy) watchQuery(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, zone, label string, s *served.Answer, rcode int, src string) {
	addr := w.RemoteAddr()
	client := clientAddr(addr)
	ca := c.cas.Lookup(client.Addr())
	server, view := metrics.WithServer(ctx), metrics.WithView(ctx)
	c.counters.query(server, label, view, ca, src).Inc()
	if s.Partners > 0 {
		c.counters.partners(server, label, view).Add(float64(s.Partners))
	}
	if c.qlog == nil {
		return
	}
	e := watch.Entry{
		Time: time.Now(), Client: client, Transport: transport(addr), Name: r.Question[0].Name, Type: r.Question[0].Qtype,
		Reply: s.Msg, Rcode: rcode, Owner: s.Owner, Policy: s.Policy, ZoneData: s.ZoneData, Partners: s.Partners,
		Source: src, CA: ca, Zone: zone, Label: label, Apex: s.Apex, Server: server, View: view,
	}
	if opt := r.IsEdns0(); opt != nil {
		e.EDNS, e.DO = opt.UDPSize(), opt.Do()
	}
	c.qlog.Enqueue(&e)
}

// watchBlock is what the block gives its watcher: its zones, the lookup over what it serves, and
// its counters.
func (c *CAAPolicy) watchBlock() watch.Block {
	return watch.Block{Zones: c.view.Zones(), Lookup: c.view.Lookup, Metrics: &c.counters}
}

// setSource sets the caapolicy/source metadata of the query to where its answer came from.
func (c *CAAPolicy) setSource(ctx context.Context, s *served.Answer) {
	if md, ok := ctx.Value(metadataKey{}).(*answerMetadata); ok {
		md.source.Store(int32(s.Source()) + 1)
	}
}

// clientAddr returns the address and port of a query's client without allocating.
func clientAddr(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port))
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// transport names the transport of a query by its client address.
func transport(a net.Addr) string {
	if _, ok := a.(*net.TCPAddr); ok {
		return "tcp"
	}
	return "udp"
}
