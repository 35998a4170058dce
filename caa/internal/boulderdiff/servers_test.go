package boulderdiff

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// current is the world both servers answer from; cases run one at a time.
var current atomic.Pointer[world]

const (
	resolverRestarts = 11 // Unbound's max-query-restarts: CNAMEs it follows before SERVFAIL
	authChainStep    = 5  // CNAMEs the authoritative stub follows inside one answer
)

func soa() dns.RR {
	rr, _ := dns.NewRR(zone + " 300 IN SOA ns.t. hostmaster.t. 1 3600 600 86400 300")
	return rr
}

// answer builds the reply to a CAA question about qname from w. recursive selects the
// resolver's behaviour (whole chain, SERVFAIL on a loop) over the authoritative server's (a few
// steps, stop at a loop).
func answer(w *world, q *dns.Msg, recursive bool) *dns.Msg {
	m := new(dns.Msg).SetReply(q)
	m.Authoritative, m.RecursionAvailable = !recursive, recursive
	qname := q.Question[0].Name
	cur := strings.ToLower(qname)
	seen := map[string]bool{cur: true}
	owner := qname // the first owner echoes the question's case
	for hops := 0; ; hops++ {
		n, ok := w.nodes[cur]
		if !ok && !w.exists(cur) {
			n, ok = w.wildcard(cur)
		}
		if !ok || n.cname == "" {
			if !ok && !w.exists(cur) {
				m.Rcode = dns.RcodeNameError
			}
			if ok {
				for _, rr := range n.caa {
					rr.Hdr = dns.RR_Header{Name: owner, Rrtype: dns.TypeCAA, Class: dns.ClassINET, Ttl: 300}
					m.Answer = append(m.Answer, &rr)
				}
			}
			if len(m.Answer) == 0 || m.Rcode != dns.RcodeSuccess || (ok && len(n.caa) == 0) {
				m.Ns = []dns.RR{soa()}
			}
			return m
		}
		if recursive && hops >= resolverRestarts {
			return servfail(q)
		}
		if !recursive && hops >= authChainStep {
			return m // the client asks for the rest
		}
		m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 300}, Target: n.cname})
		if seen[n.cname] {
			if recursive {
				return servfail(q)
			}
			return m
		}
		seen[n.cname] = true
		cur, owner = n.cname, n.cname
	}
}

func servfail(q *dns.Msg) *dns.Msg {
	m := new(dns.Msg).SetRcode(q, dns.RcodeServerFailure)
	m.RecursionAvailable = true
	return m
}

// startAuthoritative serves answer over UDP and TCP on one loopback port and returns it.
func startAuthoritative(t testing.TB) string {
	t.Helper()
	h := dns.HandlerFunc(func(rw dns.ResponseWriter, q *dns.Msg) {
		_ = rw.WriteMsg(answer(current.Load(), q, false))
	})
	// A UDP port the system picks, and TCP on the same port: that port may be taken for TCP by
	// another program, so a few UDP ports are tried.
	var pc net.PacketConn
	var l net.Listener
	for try := 0; l == nil; try++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err != nil {
			pc.Close()
			if try == 20 {
				t.Fatal(err)
			}
		}
	}
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: l, Handler: h}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() { _ = udp.Shutdown(); _ = tcp.Shutdown() })
	return pc.LocalAddr().String()
}

// startResolver serves answer as DNS over HTTPS (RFC 8484 POST, HTTP/2), as Unbound does for
// Boulder, and returns the server.
func startResolver(t testing.TB) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		q := new(dns.Msg)
		if err != nil || q.Unpack(body) != nil || len(q.Question) != 1 {
			http.Error(rw, "bad query", http.StatusBadRequest)
			return
		}
		out, err := answer(current.Load(), q, true).Pack()
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "application/dns-message")
		_, _ = rw.Write(out)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes cut short at Close
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}
