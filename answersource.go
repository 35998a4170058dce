package caapolicy

import (
	"context"

	"github.com/caapolicy/caapolicy/internal/served"

	"github.com/miekg/dns"
)

// writeAnswer writes m, the CAA reply that s describes, after setting the caapolicy/source
// metadata: dnstap (and any other plugin that reads metadata in its ResponseWriter) builds its
// response message inside WriteMsg, before ServeDNS returns to record.
func (c *CAAPolicy) writeAnswer(ctx context.Context, w dns.ResponseWriter, m *dns.Msg, s *served.Answer) {
	c.setSource(ctx, s)
	w.WriteMsg(m)
	s.Msg = m
}
