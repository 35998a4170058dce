package caa

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DNSLookup climbs over real DNS queries to one server, as a CA's resolver would: UDP with EDNS0,
// TCP when the answer is truncated, CNAMEs followed. Its Lookup method is a [Lookup]. A
// DNSLookup is safe for concurrent use as long as its fields are not changed meanwhile (and,
// when set, Exchange is safe for concurrent use).
type DNSLookup struct {
	Server  string // HOST:PORT
	Timeout time.Duration
	// Exchange, when set, answers each query instead of the network, and Server only names
	// the source in errors. caapolicy sets it to ask the handler chain of a server block
	// directly: the same climb, read from the same answers, without a socket.
	Exchange func(ctx context.Context, m *dns.Msg) (*dns.Msg, error)
}

// UnreachableError is a server that did not answer at all: the check could not be made. It is
// not changed once returned, so it is safe for concurrent use.
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
// error, on which a CA does not issue. ctx bounds every query: once it is done, Lookup stops
// waiting for the server and returns an error wrapping ctx.Err().
//
// A chain of up to MaxChain CNAMEs is followed, however many answers it spans (Boulder has no
// limit of its own: it takes whatever its resolver returns). A longer chain, or a CNAME loop,
// is an error: Let's Encrypt's resolver may answer SERVFAIL for it, so a CA may see a failed
// lookup and refuse, even where an authoritative server answers the records with NOERROR.
func (l *DNSLookup) Lookup(ctx context.Context, name string) (Step, error) {
	s := Step{Name: name}
	target := name
	seen := map[string]bool{strings.ToLower(name): true}
	for range MaxChain + 1 {
		asked := target
		r, err := l.query(ctx, target)
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
		for _, c := range cnames {
			if seen[strings.ToLower(c)] {
				return s, &CNAMELoopError{Name: name, At: c}
			}
			seen[strings.ToLower(c)] = true
		}
		s.RRset, s.CNAMEs, target = rrset, append(s.CNAMEs, cnames...), next
		if len(s.CNAMEs) > MaxChain {
			break
		}
		// Done unless the chain left this answer at a target whose records it does not hold
		// (an authoritative server answers only for its own zones): then ask for the target.
		if len(s.RRset) > 0 || target == asked || r.Rcode == dns.RcodeNameError {
			return s, nil
		}
	}
	return s, fmt.Errorf("more than %d CNAMEs from %s", MaxChain, name)
}

// MaxChain is the longest CNAME chain [DNSLookup] follows from one name: Unbound, the resolver
// Let's Encrypt's Boulder asks, restarts a query at most 11 times (max-query-restarts) and
// answers SERVFAIL beyond, so a longer chain fails closed here rather than allow where Let's
// Encrypt could refuse.
const MaxChain = 11

// CNAMELoopError is a CNAME chain from Name that comes back to At. It is not changed once
// returned, so it is safe for concurrent use.
type CNAMELoopError struct{ Name, At string }

func (e *CNAMELoopError) Error() string {
	return fmt.Sprintf("the CNAME chain from %s loops back to %s; a resolver answers SERVFAIL", e.Name, e.At)
}

func (l *DNSLookup) query(ctx context.Context, name string) (*dns.Msg, error) {
	return l.queryType(ctx, name, dns.TypeCAA)
}

// queryType asks the server for name and qtype, over Exchange when it is set.
func (l *DNSLookup) queryType(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	t := dns.TypeToString[qtype]
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s %s not asked: %w", name, t, err)
	}
	m := new(dns.Msg).SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	if l.Exchange != nil {
		r, err := l.Exchange(ctx, m)
		if err != nil {
			return nil, fmt.Errorf("%s for %s %s: %w", l.Server, name, t, err)
		}
		return r, nil
	}
	c := &dns.Client{Net: "udp", Timeout: l.Timeout, UDPSize: 1232}
	r, err := l.exchange(ctx, c, m)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, err = l.exchange(ctx, c, m)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("no answer from %s for %s %s: %w", l.Server, name, t, ctx.Err())
	}
	if err != nil {
		return nil, &UnreachableError{fmt.Errorf("no answer from %s for %s %s: %v", l.Server, name, t, err)}
	}
	return r, nil
}

// exchange sends m to the server and reads the answer. miekg/dns bounds an exchange by the
// context's deadline only, so a cancelled ctx closes the connection to end the wait at once.
func (l *DNSLookup) exchange(ctx context.Context, c *dns.Client, m *dns.Msg) (*dns.Msg, error) {
	conn, err := c.DialContext(ctx, l.Server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	return r, err
}
