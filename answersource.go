package caapolicy

import (
	"context"

	"github.com/miekg/dns"
)

// writeAnswer writes m, the CAA reply that s describes, after setting the caapolicy/source
// metadata: dnstap (and any other plugin that reads metadata in its ResponseWriter) builds its
// response message inside WriteMsg, before ServeDNS returns to record.
func (c *CAAPolicy) writeAnswer(ctx context.Context, w dns.ResponseWriter, m *dns.Msg, s *served) {
	c.setSource(ctx, s)
	w.WriteMsg(m)
	s.msg = m
}

// writePolicy writes m, a reply holding exactly the prepared records of o.
func (c *CAAPolicy) writePolicy(ctx context.Context, w dns.ResponseWriter, o *owner, m *dns.Msg) (served, int, error) {
	s := o.served()
	c.writeAnswer(ctx, w, m, &s)
	return s, dns.RcodeSuccess, nil
}
