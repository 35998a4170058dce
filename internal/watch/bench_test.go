package watch

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkQueryLogWriter measures the writer goroutine's work per query record: formatting its
// line, grouping it into check events, and its share of the batched write. The serving side of
// logging is in the plugin's BenchmarkServeDNS, log-on rows.
func BenchmarkQueryLogWriter(b *testing.B) {
	for _, lines := range []string{"log all", "log all json", "log none"} {
		for _, checks := range []string{"checks 2s", "checks off"} {
			if lines == "log none" && checks == "checks off" {
				continue
			}
			b.Run(strings.ReplaceAll(lines+"/"+checks, " ", "-"), func(b *testing.B) {
				benchWriterRecords(b, []string{lines, checks}, nil)
			})
		}
	}
}

// benchWriterRecords runs the log writer's work on one query record b.N times, 20 microseconds
// apart, for a block with the given log and checks lines; names, when given, take turns as the
// record's question name. Log output is discarded.
func benchWriterRecords(b *testing.B, lines []string, names []string) {
	z := newTestZone(b, servedZone)
	writes := &countingWriter{}
	l, _ := testLog(b, z, writes, lines...)
	l.block.Metrics = noMetrics{} // the plugin's counters are cached per label set: no allocation
	e := z.answered(entry(UnknownCA, "10.240.0.1", "www.example.org.", 0))
	e.log = l
	e.Time = time.Now()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		e.Time = e.Time.Add(20 * time.Microsecond) // 50,000 queries a second
		if len(names) > 0 {
			e.Name = names[n%len(names)]
		}
		l.handle(e)
		if n++; n%wakeAt == 0 {
			l.flush()
		}
	}
	b.ReportMetric(float64(writes.n)/float64(b.N), "writes/op")
}

// BenchmarkCheckFlood measures the writer's work per record when one client sends distinct names
// (each its own check event, closed and judged when the 2,000 open events overflow or its window
// passes): with check events on, and off, in the same run. Per-record cost must not depend on
// how many events are open.
func BenchmarkCheckFlood(b *testing.B) {
	names := make([]string, 50000)
	for i := range names {
		names[i] = fmt.Sprintf("r%d.example.org.", i)
	}
	for _, checks := range []string{"checks 2s", "checks off"} {
		b.Run(strings.ReplaceAll("log-all/"+checks, " ", "-"), func(b *testing.B) {
			benchWriterRecords(b, []string{"log all", checks}, names)
		})
	}
}

// BenchmarkQueryLogPath measures what the query log costs a server per query, with both of its
// sides on one CPU as bench/dnsperf.sh pins a server (run it with -cpu 1): the answer path builds
// the record and enqueues it, and the writer goroutine formats, groups and writes it. Each query
// allocates its reply, as the plugin's policy answer does, and yields the CPU, as a server's
// goroutine does when it has written its reply. "log-off" only builds the reply: the difference
// between the rows is the log's cost per query.
func BenchmarkQueryLogPath(b *testing.B) {
	z := newTestZone(b, servedZone)
	records := z.reply("example.org.").Answer
	req := new(dns.Msg).SetQuestion("example.org.", dns.TypeCAA)
	client := netip.MustParseAddrPort("10.240.0.1:40212")
	for _, mode := range []string{"log-off", "log-on"} {
		b.Run(mode, func(b *testing.B) {
			var l *Log
			if mode == "log-on" {
				l, _ = testLog(b, z, &countingWriter{}, "log all", "checks 2s")
				l.block.Metrics = noMetrics{}
				if err := l.Start(); err != nil {
					b.Fatal(err)
				}
				defer l.Shutdown()
			}
			b.ReportAllocs()
			for b.Loop() {
				m := new(dns.Msg).SetReply(req)
				m.Authoritative = true
				block := make([]dns.CAA, len(records))
				for i, rr := range records {
					block[i] = *rr.(*dns.CAA)
				}
				m.Answer = make([]dns.RR, len(block))
				for i := range block {
					m.Answer[i] = &block[i]
				}
				if l != nil {
					e := Entry{
						Time: time.Now(), Client: client, Transport: "udp", Name: "example.org.", Type: dns.TypeCAA,
						Reply: m, Owner: "example.org.", Policy: len(block), Source: "policy", CA: UnknownCA,
						Zone: "example.org.", Label: "example.org.", Server: "dns://:53",
					}
					l.Enqueue(&e)
				}
				runtime.Gosched()
			}
			if l != nil {
				b.ReportMetric(float64(l.dropped.Load())/float64(b.N), "dropped/op")
			}
		})
	}
}
