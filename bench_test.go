package caapolicy

import (
	"context"
	"fmt"
	"io"
	golog "log"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/cache"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/plugin/transfer"
	"github.com/coredns/coredns/plugin/whoami"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	"github.com/miekg/dns"
)

// benchWriter is a ResponseWriter that drops replies, so that benchmarks measure the handler.
// Its client address is made once, as a server's is per packet (test.ResponseWriter makes a
// new one, allocating, on every call).
type benchWriter struct{ test.ResponseWriter }

var benchClient = &net.UDPAddr{IP: net.IPv4(10, 240, 0, 1), Port: 40212}

func (benchWriter) WriteMsg(*dns.Msg) error { return nil }
func (benchWriter) RemoteAddr() net.Addr    { return benchClient }

// benchServe runs one query through h b.N times.
func benchServe(b *testing.B, h plugin.Handler, qname string, qtype uint16) {
	b.Helper()
	benchServeAfter(b, h, qname, qtype, func() {})
}

// BenchmarkServeDNS measures caapolicy's handler on each path, beside CoreDNS's whoami handler
// (the cheapest synthesizing plugin) and the file plugin alone, in the same run. Compare ns/op and
// allocs/op between the rows.
func BenchmarkServeDNS(b *testing.B) {
	zone, err := corednstest.FileZone(partnerZone, "example.org.")
	if err != nil {
		b.Fatal(err)
	}
	policy := `caapolicy example.org {
		issue letsencrypt.org
		issuewild none
		iodef mailto:security@example.org
		name pol {
			issue pki.goog
		}
	}`
	ignorePolicy := withLines(policy, "zonedata ignore")
	partnersPolicy := strings.Replace(policy, "name pol", "partners letsencrypt.org sectigo.com\n\t\tname pol", 1)

	b.Run("whoami/reference", func(b *testing.B) { benchServe(b, whoami.Whoami{}, "example.org.", dns.TypeCAA) })
	b.Run("file/alone", func(b *testing.B) { benchServe(b, zone, "example.org.", dns.TypeCAA) })
	b.Run("file/alone-A", func(b *testing.B) { benchServe(b, zone, "example.org.", dns.TypeA) })
	b.Run("file/alone-NODATA", func(b *testing.B) { benchServe(b, zone, "plain.example.org.", dns.TypeTXT) })
	for _, logging := range []string{"log-off", "log-on"} {
		ignore := benchHandler(b, ignorePolicy, zone, logging == "log-on")
		merge := benchHandler(b, policy, zone, logging == "log-on")
		partners := benchHandler(b, partnersPolicy, zone, logging == "log-on")
		b.Run("non-CAA/passthrough/"+logging, func(b *testing.B) { benchServe(b, ignore, "example.org.", dns.TypeA) })
		b.Run("non-CAA/A/"+logging, func(b *testing.B) { benchServe(b, ignore, "plain.example.org.", dns.TypeA) })
		b.Run("non-CAA/NODATA/"+logging, func(b *testing.B) { benchServe(b, ignore, "plain.example.org.", dns.TypeTXT) })
		b.Run("non-CAA/NXDOMAIN-at-owner/"+logging, func(b *testing.B) { benchServe(b, ignore, "pol.example.org.", dns.TypeA) })
		b.Run("policy/ignore/"+logging, func(b *testing.B) { benchServe(b, ignore, "example.org.", dns.TypeCAA) })
		b.Run("policy/ignore-mixed-case/"+logging, func(b *testing.B) { benchServe(b, ignore, "ExAmPlE.OrG.", dns.TypeCAA) })
		b.Run("merged/kept/"+logging, func(b *testing.B) { benchServe(b, merge, "example.org.", dns.TypeCAA) })
		b.Run("merged/rebuilt/"+logging, func(b *testing.B) {
			// The first query after each load of the zone: a load installs a new SOA record, so
			// the kept reply is out of date every time.
			z := zone.Z["example.org."]
			benchServeAfter(b, merge, "example.org.", dns.TypeCAA, func() {
				soa := *z.Apex.SOA
				z.Lock()
				z.Apex.SOA = &soa
				z.Unlock()
			})
		})
		b.Run("partners/zone-data/"+logging, func(b *testing.B) { benchServe(b, partners, "wild.example.org.", dns.TypeCAA) })
		b.Run("non-owner/passthrough/"+logging, func(b *testing.B) { benchServe(b, merge, "iodef.example.org.", dns.TypeCAA) })
	}
}

// benchServeAfter is benchServe with before run ahead of each query.
func benchServeAfter(b *testing.B, h plugin.Handler, qname string, qtype uint16, before func()) {
	b.Helper()
	r := new(dns.Msg).SetQuestion(qname, qtype)
	w := &benchWriter{}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		before()
		h.ServeDNS(ctx, w, r)
	}
}

// BenchmarkCache puts CoreDNS's cache in front, as bench/dnsperf.sh's cache rows do: stock cache
// answering from its store (hit), and cache passing caapolicy's zones on (bypassed, as
// CacheBypassZones makes it: here by leaving example.org out of cache's zones, the same branch of
// its ServeDNS), for a CAA and an A query, with the query log and check events on.
func BenchmarkCache(b *testing.B) {
	zone, err := corednstest.FileZone(partnerZone, "example.org.")
	if err != nil {
		b.Fatal(err)
	}
	policy := `caapolicy example.org {
		issuewild none
		iodef mailto:security@example.org
	}`
	stock := cache.New()
	stock.Next = zone
	bypassed := cache.New()
	bypassed.Zones = []string{"example.net."}
	bypassed.Next = benchHandler(b, policy, zone, true)
	b.Run("CAA/stock-hit", func(b *testing.B) { benchServe(b, stock, "example.org.", dns.TypeCAA) })
	b.Run("CAA/caapolicy-bypassed", func(b *testing.B) { benchServe(b, bypassed, "example.org.", dns.TypeCAA) })
	b.Run("A/stock-hit", func(b *testing.B) { benchServe(b, stock, "plain.example.org.", dns.TypeA) })
	b.Run("A/caapolicy-bypassed", func(b *testing.B) { benchServe(b, bypassed, "plain.example.org.", dns.TypeA) })
}

// withLines adds lines at the end of a caapolicy block.
func withLines(block string, lines ...string) string {
	i := strings.LastIndex(block, "}")
	return block[:i] + strings.Join(lines, "\n") + "\n" + block[i:]
}

// benchHandler builds a handler with the query log and check events on (their writer running,
// writing to the discarded test log, as a server does) or off.
func benchHandler(b *testing.B, block string, next plugin.Handler, logging bool) *CAAPolicy {
	b.Helper()
	if !logging {
		return newTestHandler(b, withLines(block, "log none", "checks off"), next)
	}
	h := newTestHandler(b, block, next)
	h.qlog.Start()
	b.Cleanup(func() { h.qlog.Shutdown() })
	return h
}

// scalePolicy is a Corefile block with n name owners.
func scalePolicy(n int) string {
	var sb strings.Builder
	sb.WriteString("caapolicy example.org {\n issue letsencrypt.org\n zonedata ignore\n")
	for i := range n {
		fmt.Fprintf(&sb, " name host%d {\n  issue ca%d.example\n }\n", i, i%50)
	}
	sb.WriteString("}\n")
	return sb.String()
}

// heapAfter returns the live heap after f, and f's duration.
func heapAfter(f func()) (uint64, time.Duration) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	d := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	return after.HeapAlloc - min(before.HeapAlloc, after.HeapAlloc), d
}

// BenchmarkScale sets up a policy with 100,000 name owners and reports setup time and the heap it
// keeps, then measures a query at the last owner: per-query cost must not grow with the owners.
func BenchmarkScale(b *testing.B) {
	for _, n := range []int{10, 100_000} {
		b.Run(fmt.Sprintf("owners=%d", n), func(b *testing.B) {
			cf := scalePolicy(n)
			var h *CAAPolicy
			heap, setup := heapAfter(func() {
				c := caddy.NewTestController("dns", cf)
				c.Next()
				var err error
				if h, err = newHandler(c); err != nil {
					b.Fatal(err)
				}
			})
			benchServe(b, h, fmt.Sprintf("host%d.example.org.", n-1), dns.TypeCAA)
			b.ReportMetric(setup.Seconds(), "setup-s")
			b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
			runtime.KeepAlive(h)
		})
	}
}

// BenchmarkScaleZones sets up one block with 10,000 zones in merge mode and measures a policy
// answer in the last zone: the zone match must not grow with the number of zones.
func BenchmarkScaleZones(b *testing.B) {
	for _, n := range []int{1, 10_000} {
		b.Run(fmt.Sprintf("zones=%d", n), func(b *testing.B) {
			var sb strings.Builder
			sb.WriteString("caapolicy")
			for i := range n {
				fmt.Fprintf(&sb, " zone%d.example", i)
			}
			sb.WriteString(" {\n issue letsencrypt.org\n name www {\n  issue pki.goog\n }\n}\n")
			var h *CAAPolicy
			heap, setup := heapAfter(func() { h = newTestHandler(b, sb.String(), test.NextHandler(dns.RcodeServerFailure, nil)) })
			benchServe(b, h, fmt.Sprintf("www.zone%d.example.", n-1), dns.TypeCAA)
			b.ReportMetric(setup.Seconds(), "setup-s")
			b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
		})
	}
}

// BenchmarkTransfer streams a zone of 10,000 names (one in ten with CAA, one in fifty a policy
// owner) out of file alone and out of caapolicy wrapping it, in the same run: the ratio of the two
// rows is the cost of carrying the policy and partners in zone transfers.
func BenchmarkTransfer(b *testing.B) {
	var zb, pb strings.Builder
	zb.WriteString("$ORIGIN example.org.\n@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 3600\n@ 3600 IN NS ns1\nns1 3600 IN A 127.0.0.1\n")
	pb.WriteString("caapolicy example.org {\n issue letsencrypt.org\n partners letsencrypt.org sectigo.com\n serial 1\n")
	for i := range 10000 {
		fmt.Fprintf(&zb, "host%d 3600 IN A 192.0.2.%d\n", i, i%250+1)
		if i%10 == 0 {
			fmt.Fprintf(&zb, "host%d 3600 IN CAA 0 issue \"digicert.com\"\n", i)
		}
		if i%50 == 0 {
			fmt.Fprintf(&pb, " name host%d {\n  issue pki.goog\n }\n", i)
		}
	}
	pb.WriteString("}\n")
	zone, err := corednstest.FileZone(zb.String(), "example.org.")
	if err != nil {
		b.Fatal(err)
	}
	h := newTestHandler(b, pb.String(), zone)
	h.transferers = []transfer.Transferer{zone}
	drain := func(b *testing.B, t transfer.Transferer) {
		b.ReportAllocs()
		for b.Loop() {
			ch, err := t.Transfer("example.org.", 0)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rrs := range ch {
				n += len(rrs)
			}
			if n < 11000 {
				b.Fatalf("%d records", n)
			}
		}
	}
	b.Run("file/alone", func(b *testing.B) { drain(b, zone) })
	b.Run("caapolicy/over-file", func(b *testing.B) { drain(b, h) })

	// The same zone by AXFR over TCP from real servers: what a secondary waits for.
	dir := b.TempDir()
	zonePath := filepath.Join(dir, "example.org.zone")
	write(b, zonePath, zb.String())
	for _, row := range []struct{ name, block string }{{"axfr/file-alone", ""}, {"axfr/caapolicy", pb.String()}} {
		cf := fmt.Sprintf("example.org:0 {\n bind 127.0.0.1\n %s\n transfer {\n  to *\n }\n file %s\n}\n", strings.Replace(row.block, "caapolicy example.org", "caapolicy", 1), zonePath)
		_, _, tcp := corednstest.Start(b, cf)
		b.Run(row.name, func(b *testing.B) {
			for b.Loop() {
				if n := len(axfr(b, tcp, "example.org.")); n < 11000 {
					b.Fatalf("%d records", n)
				}
			}
		})
	}
}

// BenchmarkReloadDuringFlood times a reload of a running CoreDNS while one client floods it with
// distinct names, with check events on and off, in the same run: 12,000 names within the 30 s
// window leave the tracker full (2,000 events open) when the reload comes. The reload must not
// wait for the old instance's writer to judge and log its open events. It reports the reload's
// duration (ms/reload).
func BenchmarkReloadDuringFlood(b *testing.B) {
	out := golog.Writer()
	golog.SetOutput(io.Discard)
	b.Cleanup(func() { golog.SetOutput(out) })
	zonePath := filepath.Join(b.TempDir(), "example.org.zone")
	write(b, zonePath, partnerZone)
	for _, checks := range []string{"checks 30s", "checks off"} {
		b.Run(strings.ReplaceAll(checks, " ", "-"), func(b *testing.B) {
			port := corednstest.FreePort(b)
			corefile := func(issuer string) string {
				return fmt.Sprintf("example.org:%d {\n bind 127.0.0.1\n caapolicy {\n  issue %s\n  log all\n  %s\n }\n file %s\n}\n", port, issuer, checks, zonePath)
			}
			inst, udp, _ := corednstest.Start(b, corefile("letsencrypt.org"))
			conn, err := net.Dial("udp", udp)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			go func() { // the replies are read and dropped
				buf := make([]byte, 512)
				for {
					if _, err := conn.Read(buf); err != nil {
						return
					}
				}
			}()
			// flood sends n distinct names as fast as the socket takes them.
			seq := 0
			flood := func(n int) {
				m := new(dns.Msg)
				for range n {
					seq++
					m.SetQuestion(fmt.Sprintf("r%d.example.org.", seq), dns.TypeCAA)
					wire, _ := m.Pack()
					conn.Write(wire)
					if seq%64 == 0 {
						time.Sleep(time.Millisecond) // about 50,000 queries a second
					}
				}
			}
			var total time.Duration
			issuers := []string{"sectigo.com", "letsencrypt.org"}
			server := "dns://127.0.0.1:" + strconv.Itoa(port)
			for i := 0; b.Loop(); i++ {
				before := counterSum(b, "coredns_caapolicy_queries_total", server)
				flood(12000)
				// The server has answered (and queued) most of the flood before the reload.
				for deadline := time.Now().Add(5 * time.Second); counterSum(b, "coredns_caapolicy_queries_total", server)-before < 10000; {
					if time.Now().After(deadline) {
						b.Fatalf("the server answered %v of 12,000 queries", counterSum(b, "coredns_caapolicy_queries_total", server)-before)
					}
					time.Sleep(10 * time.Millisecond)
				}
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() { // the flood goes on during the reload
					defer close(done)
					for {
						select {
						case <-stop:
							return
						default:
							flood(64)
						}
					}
				}()
				start := time.Now()
				next, err := inst.Restart(corednstest.Corefile(corefile(issuers[i%2])))
				total += time.Since(start)
				close(stop)
				<-done
				if err != nil {
					b.Fatal(err)
				}
				inst = next
			}
			b.Cleanup(func() { inst.Stop() })
			b.ReportMetric(total.Seconds()*1000/float64(b.N), "ms/reload")
		})
	}
}
