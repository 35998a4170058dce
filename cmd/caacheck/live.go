package main

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/caapolicy/caapolicy/caa"
)

// live performs the climb over real DNS queries to one server, as a CA's resolver would: UDP
// with EDNS0, TCP when the answer is truncated, CNAMEs followed.
type live struct {
	server  string
	timeout time.Duration
}

// unreachableError is a server that did not answer at all: the check could not be made.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }

func withPort(s string) string {
	if _, _, err := net.SplitHostPort(s); err != nil {
		return net.JoinHostPort(strings.Trim(s, "[]"), "53")
	}
	return s
}

// lookup is a caapolicy.Lookup: the CAA RRset at name, after following CNAMEs. REFUSED (and
// NOTAUTH) mean the server does not serve name, which ends the climb; any other failure is an
// error, on which a CA does not issue.
func (l *live) lookup(name string) (caa.Step, error) {
	s := caa.Step{Name: name}
	target := name
	for range caa.MaxCNAMEs + 1 {
		asked := target
		r, err := l.query(target)
		if err != nil {
			return s, err
		}
		s.Rcode = r.Rcode
		if d := caa.Referral(r); d != nil {
			// The name lies below a zone cut: its CAA records are on the name servers of the
			// delegated zone, not here.
			s.Delegation = d
			return s, nil
		}
		switch r.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
		case dns.RcodeRefused, dns.RcodeNotAuth:
			if target == name {
				s.Outside = true
				return s, nil
			}
			return s, fmt.Errorf("%s answers %s for the CNAME target %s; ask a resolver that serves it", l.server, dns.RcodeToString[r.Rcode], target)
		default:
			return s, fmt.Errorf("%s answers %s for %s CAA", l.server, dns.RcodeToString[r.Rcode], target)
		}
		// Follow the chain inside this answer to the CAA RRset where it ends.
		rrset, cnames, next := caa.AnswerRRset(r.Answer, target)
		s.RRset, s.CNAMEs, target = rrset, append(s.CNAMEs, cnames...), next
		if len(s.CNAMEs) > caa.MaxCNAMEs {
			return s, fmt.Errorf("more than %d CNAMEs from %s", caa.MaxCNAMEs, name)
		}
		// Done unless the chain left this answer at a target whose records it does not hold
		// (an authoritative server answers only for its own zones): then ask for the target.
		if len(s.RRset) > 0 || target == asked || r.Rcode == dns.RcodeNameError {
			return s, nil
		}
	}
	return s, fmt.Errorf("more than %d CNAMEs from %s", caa.MaxCNAMEs, name)
}

func (l *live) query(name string) (*dns.Msg, error) {
	m := new(dns.Msg).SetQuestion(name, dns.TypeCAA)
	m.SetEdns0(1232, false)
	c := &dns.Client{Net: "udp", Timeout: l.timeout, UDPSize: 1232}
	r, _, err := c.Exchange(m, l.server)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.Exchange(m, l.server)
	}
	if err != nil {
		return nil, &unreachableError{fmt.Errorf("no answer from %s for %s CAA: %v", l.server, name, err)}
	}
	return r, nil
}
