package caa

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DNSLookup climbs over real DNS queries to one server, as a CA's resolver would: UDP with EDNS0,
// TCP when the answer is truncated, CNAMEs followed. Its Lookup method is a [Lookup].
type DNSLookup struct {
	Server  string // HOST:PORT
	Timeout time.Duration
}

// UnreachableError is a server that did not answer at all: the check could not be made.
type UnreachableError struct{ Err error }

func (e *UnreachableError) Error() string { return e.Err.Error() }

// WithPort adds port 53 to a server address without one.
func WithPort(s string) string {
	if _, _, err := net.SplitHostPort(s); err != nil {
		return net.JoinHostPort(strings.Trim(s, "[]"), "53")
	}
	return s
}

// Lookup is a [Lookup]: the CAA RRset at name, after following CNAMEs. REFUSED (and
// NOTAUTH) mean the server does not serve name, which ends the climb; any other failure is an
// error, on which a CA does not issue.
func (l *DNSLookup) Lookup(name string) (Step, error) {
	s := Step{Name: name}
	target := name
	for range MaxCNAMEs + 1 {
		asked := target
		r, err := l.query(target)
		if err != nil {
			return s, err
		}
		s.Rcode = r.Rcode
		if d := Referral(r); d != nil {
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
			return s, fmt.Errorf("%s answers %s for the CNAME target %s; ask a resolver that serves it", l.Server, dns.RcodeToString[r.Rcode], target)
		default:
			return s, fmt.Errorf("%s answers %s for %s CAA", l.Server, dns.RcodeToString[r.Rcode], target)
		}
		// Follow the chain inside this answer to the CAA RRset where it ends.
		rrset, cnames, next := AnswerRRset(r.Answer, target)
		s.RRset, s.CNAMEs, target = rrset, append(s.CNAMEs, cnames...), next
		if len(s.CNAMEs) > MaxCNAMEs {
			return s, fmt.Errorf("more than %d CNAMEs from %s", MaxCNAMEs, name)
		}
		// Done unless the chain left this answer at a target whose records it does not hold
		// (an authoritative server answers only for its own zones): then ask for the target.
		if len(s.RRset) > 0 || target == asked || r.Rcode == dns.RcodeNameError {
			return s, nil
		}
	}
	return s, fmt.Errorf("more than %d CNAMEs from %s", MaxCNAMEs, name)
}

func (l *DNSLookup) query(name string) (*dns.Msg, error) {
	m := new(dns.Msg).SetQuestion(name, dns.TypeCAA)
	m.SetEdns0(1232, false)
	c := &dns.Client{Net: "udp", Timeout: l.Timeout, UDPSize: 1232}
	r, _, err := c.Exchange(m, l.Server)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.Exchange(m, l.Server)
	}
	if err != nil {
		return nil, &UnreachableError{fmt.Errorf("no answer from %s for %s CAA: %v", l.Server, name, err)}
	}
	return r, nil
}
