package caapolicy

import (
	"context"
	"fmt"
	"strings"

	"github.com/caapolicy/caapolicy/internal/dnsname"

	"github.com/miekg/dns"
)

// The served view: what CAA the block serves at a name is computed in one place, serve (the
// policy, or zonedata.go's merge with the zone data, partners, CNAMEs, delegations and
// fallthrough). Everything else that needs that answer asks it through exchange rather than
// computing it again: transfers (servedRRset), check events (checkevents.go, localLookup) and,
// through the whole server chain, `caacheck -conf` (offline.go). Answering a query records it;
// exchange does not.

// exchange answers the CAA query m as the block serves it, without logging or counting it. A
// name outside the block's zones is REFUSED, as a server refuses a name it does not serve; a
// query nobody answered gets the code the chain returned.
func (c *CAAPolicy) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	var buf [256]byte
	lname := dnsname.Lower(buf[:0], m.Question[0].Name)
	if _, ok := c.zoneOf(lname); !ok {
		return new(dns.Msg).SetRcode(m, dns.RcodeRefused), nil
	}
	cw := &captureWriter{}
	_, rcode, err := c.serve(ctx, cw, m, c.owners[string(lname)])
	if cw.msg != nil {
		return cw.msg, nil
	}
	if err != nil {
		return nil, err
	}
	return new(dns.Msg).SetRcode(m, rcode), nil
}

// servedRRset returns the CAA RRset the block serves at n itself (not at the end of a CNAME
// chain from it): nil where n has none, does not exist, or the answer is an error.
func (c *CAAPolicy) servedRRset(ctx context.Context, n string) ([]dns.RR, error) {
	r, err := c.exchange(ctx, new(dns.Msg).SetQuestion(n, dns.TypeCAA))
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
