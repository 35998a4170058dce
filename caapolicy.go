package caapolicy

import (
	"context"
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/transfer"

	"github.com/caapolicy/caapolicy/internal/served"
	"github.com/caapolicy/caapolicy/internal/watch"

	"github.com/miekg/dns"
	ot "github.com/opentracing/opentracing-go"
)

const name = "caapolicy"

// CAAPolicy is the plugin's handler for one caapolicy block: it answers CAA queries in the
// block's zones from its served view (internal/served: the policy, united with the zone data's
// CAA RRset in merge mode, with partner records), passes every other query on, and hands each
// CAA query to the watcher (internal/watch) and the metrics.
type CAAPolicy struct {
	view *served.View // what the block serves; its Next is the rest of the chain
	pos  string       // where the block is declared, "file:line"

	warnings     []string // the start-up warnings, "file:line: text"
	acknowledged []string // the start-up warnings acknowledged as intended (internal/corefile)

	bypass *[]string // the zones of every caapolicy block of the server block (cache.go)

	group       []*CAAPolicy          // every caapolicy block of the server block, this one too; shared
	transferers []transfer.Transferer // the zone data's transfers, found at start-up
	stopped     chan struct{}         // closed at shutdown, once
	stopOnce    sync.Once

	cas      *watch.CATable // client prefixes -> CA, from the ca lines
	counters counters       // per-query metrics, cached per label set
	qlog     *watch.Log     // the query log and check events; nil with log none and checks off
}

// ServeDNS implements the plugin.Handler interface. Every query of another type passes through
// here, so this function does the type check and little else: its stack frame stays small, and
// each query's goroutine, which starts on a small stack, is less likely to have to grow it.
// Other types take a detour through the served view (ServeOther, internal/served/denial.go) only
// where it may change their answer (View.Rewrites: SOA, names the policy makes exist, a block
// whose zones dnssec signs or that has a policy serial).
func (c *CAAPolicy) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) != 1 || r.Question[0].Qclass != dns.ClassINET {
		return c.view.Pass(ctx, w, r)
	}
	if qt := r.Question[0].Qtype; qt == dns.TypeCAA {
		return c.serveCAA(ctx, w, r)
	} else if qt == dns.TypeTXT && (c.view.Persists() || served.IsPersistName(r.Question[0].Name)) {
		return c.servePersist(ctx, w, r)
	} else if c.view.Rewrites(qt, r.Question[0].Name) {
		return c.view.ServeOther(ctx, w, r)
	}
	// View.Pass, written out here: one call frame less on the non-CAA path.
	if next := c.view.Next; next != nil && ot.SpanFromContext(ctx) == nil {
		return next.ServeDNS(ctx, w, r)
	}
	return plugin.NextOrFailure(name, c.view.Next, ctx, w, r)
}

// passOther passes a query of another type than CAA on, as ServeDNS does.
func (c *CAAPolicy) passOther(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if c.view.Rewrites(r.Question[0].Qtype, r.Question[0].Name) {
		return c.view.ServeOther(ctx, w, r)
	}
	return c.view.Pass(ctx, w, r)
}

// serveCAA answers a CAA query of class IN from the served view and records it, or passes it on
// if the name is outside the zones. The reply is written here, once built, so that building it
// takes no stack while writing.
func (c *CAAPolicy) serveCAA(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	zone, label, o, ok := c.view.Find(r.Question[0].Name)
	if !ok {
		return c.view.Pass(ctx, w, r)
	}
	m, s, rcode, err := c.view.Serve(ctx, w, r, o)
	if m != nil {
		c.writeAnswer(ctx, w, m, &s)
	}
	c.record(ctx, w, r, zone, label, &s, rcode)
	return rcode, err
}

// Name implements the plugin.Handler interface.
func (c *CAAPolicy) Name() string { return name }
