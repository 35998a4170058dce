package caapolicy

import (
	"context"
	"slices"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"

	"github.com/miekg/dns"
)

// Every CAA query that reaches the server for caapolicy's zones is logged, counted and grouped
// into check events, also where cache, before caapolicy in the plugin order, would answer it.
// Mostly caapolicy keeps its CAA answers out of the cache (pastcache.go). Where it cannot (a
// plugin between them whose writer it cannot rebuild), setup puts this watcher in front of every
// plugin of the server block: it sees each CAA query and the reply the client gets, whoever wrote
// it, the cache included. The user writes nothing for it. Other queries cost the watcher one type
// check and its stack frame.

// watcher is caapolicy's outermost handler.
type watcher struct {
	h    *CAAPolicy
	next plugin.Handler
}

// watcherName is the watcher's name in the server block's handler registry; it must differ from
// caapolicy's own, which other plugins (transfer) look up.
const watcherName = name + "_watch"

// Name implements the plugin.Handler interface.
func (wt *watcher) Name() string { return watcherName }

// ServeDNS implements the plugin.Handler interface. The next handler is called directly, as the
// server calls the first one. This frame stays on the stack while the whole chain runs, on the
// small stack each query's goroutine starts with, so it holds nothing: the CAA path is out of line.
func (wt *watcher) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeCAA {
		return wt.serveCAA(ctx, w, r)
	}
	return wt.next.ServeDNS(ctx, w, r)
}

// serveCAA watches a CAA query.
//
//go:noinline
func (wt *watcher) serveCAA(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	ww := wt.h.watchStart(ctx, w, r)
	if ww == nil {
		return wt.next.ServeDNS(ctx, w, r)
	}
	growStack()
	rcode, err := wt.next.ServeDNS(ww.q.ctx, ww, r)
	if !ww.q.recorded {
		ww.q.h.watchEnd(ww, rcode) // nothing was written: the server answers with rcode
	}
	return rcode, err
}

// insertWatcher makes sure caapolicy sees the CAA queries that cache, in front of it, would
// answer (pastcache.go): where caapolicy can write its CAA answers past cache, it does; where a
// plugin between them wraps the writer in a way it cannot rebuild, the watcher of h goes in front
// of the plugins added so far (every plugin before caapolicy in the order: log, cache...) and so
// of the whole chain. Without cache there is nothing to do: every query costs what it did.
func insertWatcher(plugins []plugin.Plugin, h *CAAPolicy, cfg *dnsserver.Config) []plugin.Plugin {
	return slices.Insert(plugins, 0, func(next plugin.Handler) plugin.Handler {
		// The chain is built from the innermost plugin out, and this comes last: every other
		// plugin of the block is registered by now.
		h.seeing = seeing(cfg, dnsserver.Directives)
		if h.seeing != watchInFront {
			return next
		}
		return &watcher{h: h, next: next}
	})
}

type watchKey struct{}

// watchedQuery is one CAA query on its way through the chain.
type watchedQuery struct {
	h        *CAAPolicy
	ctx      context.Context
	r        *dns.Msg
	zone     string
	inside   bool            // caapolicy is answering: it records the query itself
	recorded bool            // the query is recorded
	reply    *dns.Msg        // the reply the client got
	md       *answerMetadata // the query's metadata, to name the source of a cached answer
}

// growStack makes the goroutine's stack large enough for the chain below, now, while it is
// shallow. Each query runs on a new goroutine whose stack starts small; the watcher's frames can
// tip the deepest point of a reply (packing and sending it) over the stack's size, and growing
// there copies a deep stack, frame by frame: measured, that cost a third of the server's CPU for
// answers from the cache. Growing here copies a few frames.
//
//go:noinline
func growStack() {
	var pad [6 << 10]byte
	touch(pad[:])
}

//go:noinline
func touch(b []byte) { b[0] = 0 }

// watchStart prepares the watching of a CAA query, or returns nil for a name outside the zones.
//
//go:noinline
func (c *CAAPolicy) watchStart(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) *watchWriter {
	zone, _, ok := c.find(r.Question[0].Name)
	if !ok {
		return nil
	}
	q := &watchedQuery{h: c, r: r, zone: zone}
	q.ctx = context.WithValue(ctx, watchKey{}, q)
	return &watchWriter{ResponseWriter: w, q: q}
}

// watchEnd records a query that no plugin answered in front of caapolicy: nothing was written,
// or a plugin in front (cache) wrote the reply.
func (c *CAAPolicy) watchEnd(ww *watchWriter, rcode int) {
	q := ww.q
	q.recorded = true
	s := served{cached: q.reply != nil, msg: q.reply}
	if q.reply != nil {
		s.owner = caaOwner(q.reply)
	}
	c.record(q.ctx, ww.ResponseWriter, q.r, q.zone, &s, rcode)
}

// watchWriter keeps the reply written to the client. A reply written while caapolicy is not
// answering comes from a plugin in front of it (cache), and is recorded here, once written.
type watchWriter struct {
	dns.ResponseWriter
	q *watchedQuery
}

// WriteMsg implements dns.ResponseWriter.
func (w *watchWriter) WriteMsg(m *dns.Msg) error {
	q := w.q
	q.reply = m
	if q.inside {
		return w.ResponseWriter.WriteMsg(m)
	}
	if q.md != nil {
		// The log plugin reads the source once the reply is written.
		q.md.source.Store(sourceCacheID + 1)
	}
	err := w.ResponseWriter.WriteMsg(m)
	if !q.recorded {
		q.h.watchEnd(w, dns.RcodeSuccess)
	}
	return err
}

// watched returns the watcher's record of this query, if caapolicy's own watcher is in front.
func (c *CAAPolicy) watched(ctx context.Context) *watchedQuery {
	if q, ok := ctx.Value(watchKey{}).(*watchedQuery); ok && q.h == c {
		return q
	}
	return nil
}

// caaOwner returns the owner of the CAA RRset in a reply (the question name, or the target of
// the CNAMEs it follows), "" when it holds none.
func caaOwner(m *dns.Msg) string {
	for _, rr := range m.Answer {
		if c, ok := rr.(*dns.CAA); ok {
			return c.Hdr.Name
		}
	}
	return ""
}
