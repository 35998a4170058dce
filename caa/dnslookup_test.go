package caa

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// serveZone answers CAA questions from cnames and rrsets as an authoritative server does: it
// follows in-zone CNAMEs inside one answer, stopping where a target repeats.
func serveZone(t *testing.T, cnames map[string]string, rrsets map[string][]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg).SetReply(q)
		m.Authoritative = true
		n := strings.ToLower(q.Question[0].Name)
		seen := map[string]bool{n: true}
		for cnames[n] != "" {
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeCNAME, Class: dns.ClassINET}, Target: cnames[n]})
			n = cnames[n]
			if seen[n] {
				break
			}
			seen[n] = true
		}
		for _, v := range rrsets[n] {
			rr, err := dns.NewRR(n + " CAA " + v)
			if err != nil {
				panic(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestDNSLookupChains holds the CNAME cases the Boulder differential test found: a chain longer
// than 8 is followed (Boulder has no limit of its own), and a loop or a chain past Unbound's
// restart limit fails closed where an authoritative server answers it with NOERROR (Boulder's
// resolver answers SERVFAIL).
func TestDNSLookupChains(t *testing.T) {
	long := map[string]string{"s.example.": "l0.example."}
	for i := range 10 {
		long[fmt.Sprintf("l%d.example.", i)] = fmt.Sprintf("l%d.example.", i+1)
	}
	longer := map[string]string{"l10.example.": "l11.example."}
	for k, v := range long {
		longer[k] = v
	}
	tests := []struct {
		name    string
		cnames  map[string]string
		rrsets  map[string][]string
		qname   string
		allowed bool
		loop    bool
	}{
		{"chain of 11 CNAMEs to issue sectigo.com denies", long, map[string][]string{"l10.example.": {`0 issue "sectigo.com"`}}, "s.example", false, false},
		{"chain of 11 CNAMEs to issue letsencrypt.org allows", long, map[string][]string{"l10.example.": {`0 issue "letsencrypt.org"`}, "example.": {`0 issue ";"`}}, "s.example", true, false},
		{"chain of 12 CNAMEs fails closed, as past Unbound's restart limit", longer, map[string][]string{"l11.example.": {`0 issue "letsencrypt.org"`}}, "s.example", false, false},
		{"CNAME loop fails closed", map[string]string{"y.example.": "shop.x.example.", "shop.x.example.": "y.example."}, nil, "y.example", false, true},
		{"CNAME to itself fails closed", map[string]string{"y.example.": "y.example."}, nil, "y.example", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &DNSLookup{Server: serveZone(t, tc.cnames, tc.rrsets)}
			res := Check(context.Background(), Request{Name: tc.qname, CA: "letsencrypt.org", Mode: ModeLetsEncrypt}, l.Lookup)
			if res.Allowed != tc.allowed {
				t.Errorf("allowed %v, want %v (%s)", res.Allowed, tc.allowed, res.Reason)
			}
			var loop *CNAMELoopError
			if errors.As(res.Err, &loop) != tc.loop {
				t.Errorf("error %v, want a CNAME loop: %v", res.Err, tc.loop)
			}
		})
	}
}

// TestDNSLookupContext: a cancelled context fails the lookup, so the climb denies.
func TestDNSLookupContext(t *testing.T) {
	l := &DNSLookup{Server: serveZone(t, nil, map[string][]string{"example.": {`0 issue "letsencrypt.org"`}})}
	t.Run("live context answers", func(t *testing.T) {
		s, err := l.Lookup(context.Background(), "example.")
		if err != nil || len(s.RRset) != 1 {
			t.Fatalf("got %+v, %v", s, err)
		}
	})
	t.Run("cancelled context fails", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res := Check(ctx, Request{Name: "example", CA: "letsencrypt.org"}, l.Lookup)
		if res.Allowed || !errors.Is(res.Err, context.Canceled) {
			t.Errorf("allowed %v, err %v", res.Allowed, res.Err)
		}
	})
}

// TestDNSLookupCancel: cancelling the context ends a lookup at once, even against a server
// that never answers and a Timeout far away, with an error wrapping ctx.Err().
func TestDNSLookupCancel(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	asked := make(chan struct{}, 1)
	go func() { // reads every query and answers none
		buf := make([]byte, 1500)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			select {
			case asked <- struct{}{}:
			default:
			}
		}
	}()
	l := &DNSLookup{Server: pc.LocalAddr().String(), Timeout: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := l.Lookup(ctx, "example.")
		done <- err
	}()
	select {
	case <-asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the query never reached the server")
	}
	cancel()
	select {
	case err := <-done:
		var unreachable *UnreachableError
		if !errors.Is(err, context.Canceled) || errors.As(err, &unreachable) {
			t.Errorf("err %v, want one wrapping context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Lookup still waits 5s after its context was cancelled")
	}
}

// TestCheckLoopFromAnyLookup: a step whose aliases loop fails the climb whatever Lookup made it
// (zone data, a watcher's answers), so no source climbs past a loop.
func TestCheckLoopFromAnyLookup(t *testing.T) {
	lookup := func(_ context.Context, n string) (Step, error) {
		if n == "y.example." {
			return Step{Name: n, CNAMEs: []string{"shop.x.example.", "Y.example."}}, nil
		}
		return Step{Name: n}, nil
	}
	for _, mode := range []Mode{ModeRFC, ModeLetsEncrypt} {
		t.Run(mode.String(), func(t *testing.T) {
			res := Check(context.Background(), Request{Name: "y.example", CA: "letsencrypt.org", Mode: mode}, lookup)
			var loop *CNAMELoopError
			if res.Allowed || res.Code != ReasonLookupFailed || !errors.As(res.Err, &loop) {
				t.Errorf("allowed %v, code %s, err %v", res.Allowed, res.Code, res.Err)
			}
			if rel := Relevant(context.Background(), "y.example", lookup); !errors.As(rel.Err, &loop) {
				t.Errorf("Relevant: err %v", rel.Err)
			}
		})
	}
}
