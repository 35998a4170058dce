package caapolicy

import (
	"context"
	"net"
	"reflect"
	"slices"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/cache"
	"github.com/coredns/coredns/plugin/dnssec"
	"github.com/coredns/coredns/plugin/header"

	"github.com/miekg/dns"
)

// CAA answers are kept out of the cache. caapolicy runs after cache in the plugin order: a CAA
// answer that cache stored would be served from there to the next CA that asks, and caapolicy
// would never see that query. So caapolicy writes its CAA answers past cache, to the writer that
// cache's own writer wraps, which leads to the client (through log, prometheus... in front of
// cache). cache stores nothing and every CAA query reaches caapolicy, which logs, counts and
// groups it as it does without cache. Queries of other types are cached as before, and their
// path costs what it did: no handler stands in front of cache.
//
// Between cache and caapolicy in the plugin order stand header, dnssec, tls, minimal and
// template. header's writer is exported and rebuilt past cache. dnssec's is stepped over and
// the answer signed by a copy of the block's dnssec handler (negative.go signs with it too).
// tls has no handler, and template passes on what it does not answer with the writer it got.
// Any other plugin there (minimal, or one compiled in from elsewhere) wraps the writer in a way
// caapolicy cannot rebuild: in such a block setup puts the watcher (watch.go) in front of every
// plugin instead, which sees the answers cache serves.
//
// plugin.NextOrFailure also wraps the writer at every hop, in a writer that tells the metrics
// plugin's recorder which plugin wrote the reply. Those between cache and caapolicy only pass
// the reply on (the recorder is in front of cache) and are stepped over. Their type is not
// exported; it is learnt at start by handing a writer through NextOrFailure, and its embedded
// ResponseWriter read by reflection. Should a CoreDNS release wrap differently, the probe finds
// no such field and setup falls back to the watcher: nothing is missed.

// cacheSeeing is how caapolicy sees the CAA queries of its server block.
type cacheSeeing int

const (
	noCache      cacheSeeing = iota // no cache before caapolicy: every CAA query reaches it
	writePast                       // CAA answers are written past cache (this file)
	watchInFront                    // the watcher in front of every plugin (watch.go)
)

// passOver lists the plugins that may stand between cache and caapolicy in a block whose CAA
// answers are written past cache: caapolicy rebuilds their writers or they wrap none.
var passOver = []string{"header", "dnssec", "tls", "template"}

// seeing decides, once every handler of the block is built, how caapolicy sees CAA queries in
// front of which cache may stand. directives is CoreDNS's plugin order.
func seeing(cfg *dnsserver.Config, directives []string) cacheSeeing {
	first, self := slices.Index(directives, "cache"), slices.Index(directives, name)
	if cfg.Handler("cache") == nil || first < 0 || self < first {
		return noCache
	}
	if !hopKnown {
		return watchInFront
	}
	for _, h := range cfg.Handlers() {
		n := h.Name()
		if n == name || n == watcherName {
			continue
		}
		i := slices.Index(directives, n)
		if i < 0 || (i > first && i < self && !slices.Contains(passOver, n)) {
			// Between cache and caapolicy, or of unknown place, and its writer unknown.
			return watchInFront
		}
	}
	return writePast
}

// pastCache returns the writer for a CAA answer to r that reaches the client without passing
// through cache's writer: header's writer is rebuilt on the writer cache wraps, and an answer
// dnssec would have signed is signed by the block's dnssec handler. ok is false, and w is to be
// used, where cache's writer is not in w (cache does not cover the name, or did not handle the
// query).
func (c *CAAPolicy) pastCache(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (past dns.ResponseWriter, ok bool) {
	var hdr *header.ResponseHeaderWriter
	signed := false
	for x := w; ; {
		if hopWriter != nil && reflect.TypeOf(x) == hopWriter {
			x = reflect.ValueOf(x).Elem().Field(hopField).Interface().(dns.ResponseWriter)
			continue
		}
		switch y := x.(type) {
		case *dnssec.ResponseWriter:
			signed, x = true, y.ResponseWriter
		case *header.ResponseHeaderWriter:
			hdr, x = y, y.ResponseWriter
		case *cache.ResponseWriter:
			out := y.ResponseWriter
			if hdr != nil {
				out = &header.ResponseHeaderWriter{ResponseWriter: out, Rules: hdr.Rules}
			}
			if signed {
				if c.signer == nil {
					return nil, false // dnssec signs, but is unknown to us: leave the answer to it
				}
				out = &signingWriter{ResponseWriter: out, c: c, ctx: ctx, r: r}
			}
			return out, true
		default:
			return nil, false
		}
	}
}

// signingWriter has the block's dnssec handler sign each reply to r, as dnssec's own writer
// would have, and writes it on.
type signingWriter struct {
	dns.ResponseWriter
	c   *CAAPolicy
	ctx context.Context
	r   *dns.Msg
}

// WriteMsg implements dns.ResponseWriter.
func (w *signingWriter) WriteMsg(m *dns.Msg) error {
	return w.c.signTo(w.ctx, w.ResponseWriter, w.r, m)
}

// signTo has a copy of the block's dnssec handler, whose next handler writes m, answer q
// through w: dnssec decides itself whether q lies in its zones and asks for DNSSEC, signs m if
// so, and writes it to w.
func (c *CAAPolicy) signTo(ctx context.Context, w dns.ResponseWriter, q, m *dns.Msg) error {
	d := *c.signer
	d.Next = plugin.HandlerFunc(func(_ context.Context, dw dns.ResponseWriter, _ *dns.Msg) (int, error) {
		return dns.RcodeSuccess, dw.WriteMsg(m)
	})
	_, err := d.ServeDNS(ctx, w, q)
	return err
}

// hopWriter is the type of the writer plugin.NextOrFailure hands to the next plugin, nil if it
// hands on the writer it got; hopField is the index of the writer it wraps, embedded. hopKnown
// is false if the hop wraps the writer in a way pastCache cannot step over.
var hopWriter, hopField, hopKnown = probeHop()

func probeHop() (reflect.Type, int, bool) {
	var got dns.ResponseWriter
	probe := &probeWriter{}
	plugin.NextOrFailure(name, plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, _ *dns.Msg) (int, error) {
		got = w
		return dns.RcodeSuccess, nil
	}), context.Background(), probe, new(dns.Msg))
	if got == dns.ResponseWriter(probe) {
		return nil, 0, true
	}
	t := reflect.TypeOf(got)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, 0, false
	}
	f, ok := t.Elem().FieldByName("ResponseWriter")
	if !ok || !f.Anonymous || len(f.Index) != 1 || f.Type != reflect.TypeFor[dns.ResponseWriter]() ||
		reflect.ValueOf(got).Elem().Field(f.Index[0]).Interface() != dns.ResponseWriter(probe) {
		return nil, 0, false
	}
	return t, f.Index[0], true
}

// probeWriter is the writer probeHop hands through plugin.NextOrFailure.
type probeWriter struct{ dns.ResponseWriter }

func (*probeWriter) LocalAddr() net.Addr  { return loopback }
func (*probeWriter) RemoteAddr() net.Addr { return loopback }

// failPastCache writes the error reply for r past cache, where the zone data failed and wrote
// nothing: the server would write it through cache, which stores a SERVFAIL that comes with an
// error (forward's upstream timing out) and answers the name's CAA queries itself for a while.
// As acl does with its refusals, the rcode returned then says the reply is written; the error
// still goes back to errors and log in front.
func failPastCache(w dns.ResponseWriter, r *dns.Msg, rcode int) (*dns.Msg, int) {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	w.WriteMsg(m)
	return m, dns.RcodeSuccess
}
