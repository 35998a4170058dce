package caapolicy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/test"

	"github.com/caapolicy/caapolicy/internal/corednstest"
	"github.com/caapolicy/caapolicy/internal/served"
	"github.com/caapolicy/caapolicy/internal/version"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// TestMetricValues sends a known sequence of queries and checks every counter it moves.
func TestMetricValues(t *testing.T) {
	h := logHandler(t, "ca metrics.test 203.0.113.0/24\nlog none\nchecks off")
	w := &test.ResponseWriter{RemoteIP: "203.0.113.1"}
	queries := func(source string) float64 {
		return testutil.ToFloat64(queriesTotal.WithLabelValues("", "example.org.", "", "metrics.test", source))
	}
	partners := func() float64 { return testutil.ToFloat64(partnerRecordsTotal.WithLabelValues("", "example.org.", "")) }
	before := map[string]float64{}
	for _, s := range served.Sources {
		before[s] = queries(s)
	}
	beforePartners := partners()

	for _, q := range []string{"Example.ORG.", "pol.example.org.", "wild.example.org.", "iodef.example.org.", "nx.example.org.", "www.example.net."} {
		query(t, h, w, q, 1232, false)
	}
	// Another type is not counted.
	h.ServeDNS(t.Context(), corednstest.NewWriter("udp", "203.0.113.1"), new(dns.Msg).SetQuestion("example.org.", dns.TypeA))

	for _, tc := range []struct {
		source string
		want   float64
	}{{served.Merged.String(), 1}, {served.FromPolicy.String(), 1}, {served.Partnered.String(), 1}, {served.Passthrough.String(), 2}} {
		t.Run(fmt.Sprintf("queries_total of source %s grows by %v", tc.source, tc.want), func(t *testing.T) {
			if got := queries(tc.source) - before[tc.source]; got != tc.want {
				t.Errorf("queries_total{source=%q} grew by %v, want %v", tc.source, got, tc.want)
			}
		})
	}
	t.Run("partner_records_total grows by the partner records served", func(t *testing.T) {
		if got := partners() - beforePartners; got != 7 {
			t.Errorf("partner_records_total grew by %v, want 7 (1 + 2 + 4)", got)
		}
	})
}

// TestMetricNames lints every caapolicy metric as CoreDNS's metric naming test does.
func TestMetricNames(t *testing.T) {
	checkEventsTotal.WithLabelValues("s", "z", "v", "c")
	unauthorizedChecksTotal.WithLabelValues("s", "z", "v", "c")
	logDroppedTotal.WithLabelValues("s", "z", "v")
	multiPerspectiveChecksTotal.WithLabelValues("s", "z", "v")
	queriesTotal.WithLabelValues("s", "z", "v", "c", served.FromPolicy.String())
	partnerRecordsTotal.WithLabelValues("s", "z", "v")
	t.Cleanup(func() {
		checkEventsTotal.DeleteLabelValues("s", "z", "v", "c")
		unauthorizedChecksTotal.DeleteLabelValues("s", "z", "v", "c")
		logDroppedTotal.DeleteLabelValues("s", "z", "v")
		multiPerspectiveChecksTotal.DeleteLabelValues("s", "z", "v")
		queriesTotal.DeleteLabelValues("s", "z", "v", "c", served.FromPolicy.String())
		partnerRecordsTotal.DeleteLabelValues("s", "z", "v")
	})
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "coredns_caapolicy_") {
			continue
		}
		ours = append(ours, mf.GetName())
		t.Run(mf.GetName(), func(t *testing.T) {
			l := promlint.NewWithMetricFamilies([]*dto.MetricFamily{mf})
			problems, err := l.Lint()
			if err != nil || len(problems) > 0 {
				t.Errorf("%s: %v %v", mf.GetName(), err, problems)
			}
			if got := mf.GetMetric()[0].GetLabel(); len(got) < 3 && mf.GetName() != "coredns_caapolicy_build_info" {
				t.Errorf("%s: labels %v", mf.GetName(), got)
			}
		})
	}
	if len(ours) != 7 {
		t.Errorf("metrics %v, want 7", ours)
	}
}

// TestBuildInfo checks the one series of the build-info gauge: this build's version, the CoreDNS
// version compiled in, value 1.
func TestBuildInfo(t *testing.T) {
	if n := testutil.CollectAndCount(buildInfo); n != 1 {
		t.Fatalf("build_info has %d series, want 1", n)
	}
	want := fmt.Sprintf(`
# HELP coredns_caapolicy_build_info A metric with a constant '1' value labeled by the caapolicy version and the CoreDNS version it is built with.
# TYPE coredns_caapolicy_build_info gauge
coredns_caapolicy_build_info{coredns="1.15.0",version=%q} 1
`, version.String())
	if err := testutil.CollectAndCompare(buildInfo, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// TestE2EMetricsAndLog runs a real CoreDNS with the prometheus, metadata and log plugins, sends
// real queries, scrapes /metrics over HTTP and reads the log plugin's metadata fields.
func TestE2EMetricsAndLog(t *testing.T) {
	buf := corednstest.CaptureLog(t)
	dir := t.TempDir()
	zone := filepath.Join(dir, "example.org.zone")
	if err := os.WriteFile(zone, []byte(partnerZone), 0o644); err != nil {
		t.Fatal(err)
	}
	metricsPort := corednstest.FreePort(t)
	cf := fmt.Sprintf(`example.org:0 {
    bind 127.0.0.1
    prometheus 127.0.0.1:%d
    metadata
    log . "{name} {/caapolicy/ca} {/caapolicy/source}"
    caapolicy {
        issue letsencrypt.org
        name pol { issue digicert.com }
        ca e2e.test 127.0.0.0/8
        checks 100ms
    }
    file %s
}
`, metricsPort, zone)
	server := "dns://127.0.0.1:0" // the server's address as the Corefile gives it
	before := map[string]float64{}
	for _, src := range served.Sources {
		before[src] = testutil.ToFloat64(queriesTotal.WithLabelValues(server, "example.org.", "", "e2e.test", src))
	}
	_, udp, tcp := corednstest.Start(t, cf)
	for _, c := range []struct{ net, addr, qname string }{{"udp", udp, "example.org."}, {"tcp", tcp, "pol.example.org."}, {"udp", udp, "iodef.example.org."}} {
		if r := exchange(t, c.net, c.addr, caaQuery(c.qname, false, 1232)); r.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s: %s", c.qname, dns.RcodeToString[r.Rcode])
		}
	}

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	type line struct{ name, text string }
	var wants []line
	for _, src := range []string{served.Merged.String(), served.Passthrough.String(), served.FromPolicy.String()} {
		wants = append(wants, line{"the query answered from source " + src + " is counted",
			fmt.Sprintf(`coredns_caapolicy_queries_total{ca="e2e.test",server="%s",source="%s",view="",zone="example.org."} %g`, server, src, before[src]+1)})
	}
	wants = append(wants, line{"start-up made the series of a CA that has not asked present",
		fmt.Sprintf(`coredns_caapolicy_queries_total{ca="unknown",server="%s",source="passthrough",view="",zone="example.org."} `, server)})
	for _, want := range wants {
		t.Run("metrics: "+want.name, func(t *testing.T) {
			if !strings.Contains(string(body), want.text) {
				t.Errorf("/metrics lacks %s\n%s", want.text, grepLines(string(body), "caapolicy"))
			}
		})
	}

	// The query log, the log plugin's metadata fields and, once its window closes, the check event.
	if !buf.WaitFor("check by e2e.test", 5*time.Second) {
		t.Errorf("no check event logged within 5s of its 100ms window")
	}
	logged := buf.String()
	for _, want := range []line{
		{"the log plugin shows the CA and the merged source", `[INFO] example.org. e2e.test merged`},
		{"the log plugin shows the passthrough source", `[INFO] iodef.example.org. e2e.test passthrough`},
		{"the log plugin shows the policy source", `[INFO] pol.example.org. e2e.test policy`},
		{"the query log has the UDP query", ` udp "example.org." edns=1232 do=0 NOERROR size=`},
		{"the query log has what the answer was made of", ` tc=0 owner=example.org. policy=1 zone=1 partners=0 source=merged ca=e2e.test`},
		{"the query log has the TCP query", ` tcp "pol.example.org." edns=1232 do=0 NOERROR size=`},
		{"the check event is logged", ` plugin/caapolicy: check by e2e.test of "`}, // a warning: e2e.test is not authorized
	} {
		t.Run("log: "+want.name, func(t *testing.T) {
			if !strings.Contains(logged, want.text) {
				t.Errorf("log lacks %q:\n%s", want.text, logged)
			}
		})
	}
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestZeroMetrics checks the series zeroMetrics creates at start-up, each at zero.
func TestZeroMetrics(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		hosts []string
		want  map[string]int // series per metric, across the servers of hosts
	}{
		{
			name: "checks on, two addresses", extra: "ca zero.test 192.0.2.0/24\nchecks 1s", hosts: []string{"127.0.0.1", "::1"},
			// one series per metric, zone and server: 2 servers
			want: map[string]int{"queries_total": 2, "partner_records_total": 2, "check_events_total": 2, "unauthorized_checks_total": 2, "multi_perspective_checks_total": 2, "log_dropped_total": 2},
		},
		{
			name: "log none and checks off", extra: "log none\nchecks off", hosts: []string{"127.0.0.1"},
			want: map[string]int{"queries_total": 1, "partner_records_total": 1},
		},
		{
			name: "queries only logged", extra: "checks off", hosts: []string{"127.0.0.1"},
			want: map[string]int{"queries_total": 1, "partner_records_total": 1, "log_dropped_total": 1},
		},
	}
	vecs := []*prometheus.CounterVec{queriesTotal, partnerRecordsTotal, checkEventsTotal, unauthorizedChecksTotal, multiPerspectiveChecksTotal, logDroppedTotal}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port := fmt.Sprint(15300 + i) // a port of its own: the series of other tests stay apart
			servers := map[string]bool{}
			for _, h := range tc.hosts {
				servers["dns://"+net.JoinHostPort(h, port)] = true
			}
			t.Cleanup(func() {
				for s := range servers {
					for _, v := range vecs {
						v.DeletePartialMatch(prometheus.Labels{"server": s})
					}
				}
			})
			h := logHandler(t, tc.extra)
			h.zeroMetrics(&dnsserver.Config{ListenHosts: tc.hosts, Port: port, Transport: "dns", ViewName: "zero"})

			mfs, err := prometheus.DefaultGatherer.Gather()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, mf := range mfs {
				for _, m := range mf.GetMetric() {
					labels := map[string]string{}
					for _, l := range m.GetLabel() {
						labels[l.GetName()] = l.GetValue()
					}
					if !servers[labels["server"]] {
						continue
					}
					name := strings.TrimPrefix(mf.GetName(), "coredns_caapolicy_")
					got[name]++
					if v := m.GetCounter().GetValue(); v != 0 || labels["zone"] != "example.org." || labels["view"] != "zero" {
						t.Errorf("%s%v = %v, want 0 in zone example.org., view zero", name, labels, v)
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("series per metric %v, want %v", got, tc.want)
			}
		})
	}
}
