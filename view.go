package caapolicy

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/dnsname"

	"github.com/miekg/dns"
)

// The served view: what CAA the block serves at a name is computed in one place, serve (the
// policy, or zonedata.go's merge with the zone data, partners, CNAMEs, delegations and
// fallthrough). Everything else that needs that answer asks it through exchange rather than
// computing it again: transfers (servedRRset), check events (localLookup, the watcher's Block.Lookup) and,
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

// localLookup is a Lookup over what caapolicy serves now: each name of the climb inside its
// zones is answered by the same code that answers queries; names outside end the climb. It is
// the watcher's lookup for the verdicts of check events.
func (c *CAAPolicy) localLookup(_ context.Context, n string) (caa.Step, error) {
	s := caa.Step{Name: n}
	if !c.holds(n) {
		s.Outside = true
		return s, nil
	}
	r := new(dns.Msg).SetQuestion(dns.Fqdn(n), dns.TypeCAA)
	m, err := c.exchange(context.Background(), r)
	if err != nil {
		return s, err
	}
	s.Rcode = m.Rcode
	if s.Rcode != dns.RcodeSuccess && s.Rcode != dns.RcodeNameError {
		return s, fmt.Errorf("answer %s", dns.RcodeToString[s.Rcode])
	}
	s.RRset, s.CNAMEs, _ = caa.AnswerRRset(m.Answer, r.Question[0].Name)
	s.Delegation = caa.Referral(m)
	return s, nil
}

// captureWriter keeps the reply of a lookup caapolicy makes of itself.
type captureWriter struct {
	msg    *dns.Msg
	remote net.Addr // the client's address, when the lookup is made for one; loopback otherwise
}

var loopback = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}

func (w *captureWriter) LocalAddr() net.Addr { return loopback }
func (w *captureWriter) RemoteAddr() net.Addr {
	if w.remote != nil {
		return w.remote
	}
	return loopback
}
func (w *captureWriter) WriteMsg(m *dns.Msg) error { w.msg = m; return nil }
func (w *captureWriter) Write([]byte) (int, error) {
	return 0, fmt.Errorf("captureWriter takes messages only")
}
func (w *captureWriter) Close() error        { return nil }
func (w *captureWriter) TsigStatus() error   { return nil }
func (w *captureWriter) TsigTimersOnly(bool) {}
func (w *captureWriter) Hijack()             {}
