package caapolicy

import (
	"context"
	"strings"

	"github.com/caapolicy/caapolicy/internal/served"

	"github.com/miekg/dns"
)

// Queries for dns-persist-01 records (TXT at _validation-persist names) are part of a CA's
// check: the served view answers those the policy publishes (internal/served, persist.go), the
// zone data the others, and the watcher sees both.

// servePersist answers a TXT query at a name holding the policy's dns-persist-01 records with
// them; a TXT query at another _validation-persist name of the zones goes to the zone data and
// its answer is watched as well (a CA validating with dns-persist-01 asks it, whoever publishes
// the record); any other passes on. Only TXT queries in a block with persist lines, and TXT
// queries at _validation-persist names, come here.
func (c *CAAPolicy) servePersist(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	m := c.view.PersistAnswer(r)
	if m == nil {
		if served.IsPersistName(r.Question[0].Name) && c.view.Holds(r.Question[0].Name) {
			return c.watchPersist(ctx, w, r)
		}
		return c.passOther(ctx, w, r)
	}
	w.WriteMsg(m)
	s := served.Answer{Owner: strings.ToLower(r.Question[0].Name), Policy: len(m.Answer), Msg: m}
	c.recordPersist(ctx, w, r, &s, m.Rcode, sourcePersist)
	return dns.RcodeSuccess, nil
}

// watchPersist passes a TXT query at a _validation-persist name to the zone data, as any other
// TXT query goes (passOther), and watches the answer written: logged and counted as the CA's
// check of the name it validates, with source passthrough.
func (c *CAAPolicy) watchPersist(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	sw := seenWriter{ResponseWriter: w}
	rcode, err := c.passOther(ctx, &sw, r)
	if sw.msg == nil {
		return rcode, err // nothing was written: the server answers with the error
	}
	var s served.Answer
	for _, rr := range sw.msg.Answer {
		if t, ok := rr.(*dns.TXT); ok && strings.EqualFold(t.Hdr.Name, r.Question[0].Name) {
			s.Owner = t.Hdr.Name
			s.ZoneData++
		}
	}
	s.Msg = sw.msg
	c.recordPersist(ctx, w, r, &s, sw.msg.Rcode, served.Passthrough.String())
	return rcode, err
}

// seenWriter writes through to the client and keeps the message written.
type seenWriter struct {
	dns.ResponseWriter
	msg *dns.Msg
}

// WriteMsg implements dns.ResponseWriter.
func (w *seenWriter) WriteMsg(m *dns.Msg) error {
	w.msg = m
	return w.ResponseWriter.WriteMsg(m)
}
