package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/caapolicy/caapolicy/caa"

	"github.com/miekg/dns"
)

// compare evaluates the request on every server and reports each verdict and Relevant RRset.
// Servers disagree when their verdicts, or the Relevant RRsets (owner and records) they lead to,
// differ: a CA checking from several perspectives may reach any of them.
func compare(ctx context.Context, req caa.Request, servers []string, o options, stdout, stderr io.Writer) int {
	var reps []report
	codes := map[int]bool{}
	for _, s := range servers {
		rep, err := liveReport(ctx, req, s, o.timeout)
		if err != nil {
			rep = report{Name: req.Name, CA: req.CA, Mode: req.Mode.String(), Source: "live, server " + s, Error: err.Error(), RRset: []string{}, Steps: []step{}}
			codes[exitError] = true
		} else {
			codes[rep.complete()] = true
		}
		reps = append(reps, rep)
	}
	agree := len(codes) == 1
	for _, r := range reps[1:] {
		if r.Owner != reps[0].Owner || !slices.Equal(sortedCopy(r.RRset), sortedCopy(reps[0].RRset)) {
			agree = false
		}
	}
	if o.json {
		printJSON(stdout, struct {
			Agree   bool     `json:"agree"`
			Servers []report `json:"servers"`
		}{agree, reps})
	} else {
		for i, r := range reps {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintf(stdout, "== %s\n", strings.TrimPrefix(r.Source, "live, server "))
			if r.Error != "" {
				fmt.Fprintf(stdout, "ERROR  %s\n", r.Error)
				continue
			}
			r.text(stdout)
		}
		fmt.Fprintln(stdout)
		if agree {
			fmt.Fprintf(stdout, "AGREE  all %d servers give the same verdict and Relevant RRset\n", len(reps))
		} else {
			fmt.Fprintf(stdout, "DIFFER the %d servers do not answer alike: a CA may see either\n", len(reps))
		}
	}
	switch {
	case !agree:
		return exitDiffer
	case codes[exitError]:
		return exitError
	case codes[exitDeny]:
		return exitDeny
	}
	return exitAllow
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// nameServers finds the zone that holds name (the owner of the SOA that server answers with),
// its NS records, and their addresses, all asked of server, and returns each address at port.
func nameServers(ctx context.Context, server, name, port string, timeout time.Duration) ([]string, error) {
	ask := func(q string, t uint16) (*dns.Msg, error) {
		c := &dns.Client{Timeout: timeout, Net: "tcp"}
		m := new(dns.Msg).SetQuestion(dns.Fqdn(q), t)
		r, _, err := c.ExchangeContext(ctx, m, server)
		if err != nil {
			return nil, fmt.Errorf("-ns: no answer from %s for %s %s: %v", server, q, dns.TypeToString[t], err)
		}
		return r, nil
	}
	r, err := ask(strings.TrimPrefix(name, "*."), dns.TypeSOA)
	if err != nil {
		return nil, err
	}
	zone := ""
	for _, rr := range append(r.Answer, r.Ns...) {
		if soa, ok := rr.(*dns.SOA); ok {
			zone = soa.Hdr.Name
		}
	}
	if zone == "" {
		return nil, fmt.Errorf("-ns: %s answered no SOA for %s (%s): no zone to take the name servers of", server, name, dns.RcodeToString[r.Rcode])
	}
	r, err = ask(zone, dns.TypeNS)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range r.Answer {
		ns, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			a, err := ask(ns.Ns, t)
			if err != nil {
				return nil, err
			}
			for _, rr := range a.Answer {
				switch x := rr.(type) {
				case *dns.A:
					out = append(out, net.JoinHostPort(x.A.String(), port))
				case *dns.AAAA:
					out = append(out, net.JoinHostPort(x.AAAA.String(), port))
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-ns: %s lists no name server with an address for %s", server, zone)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
