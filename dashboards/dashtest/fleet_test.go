package dashtest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fleetCorefile is the one Corefile of both nodes; each node gets its ports from its environment.
const fleetCorefile = `example.org:{$DNS_PORT} {
    bind 127.0.0.1
    prometheus 127.0.0.1:{$METRICS_PORT}
    caapolicy {
        issue letsencrypt.org
        name www {
            issue pki.goog
        }
        partners sectigo.com
        ca letsencrypt.org 127.0.1.0/24
        ca pki.goog 127.0.2.0/24
        ca digicert.com 127.0.4.0/24
        checks 1s
    }
    file {$ZONE}
}
`

// fleetQuery is one CAA query of TestFleetRecordingRules and what it is in truth.
type fleetQuery struct {
	node        int    // the node that answers it: 0 or 1
	from, qname string // the client address and the question
	ca, source  string // the CA the address is attributed to and the answer's source
	check       string // the check of the fleet it belongs to (one CA, one name, one window)
}

// TestFleetRecordingRules starts two nodes of cmd/coredns from the same Corefile and a real
// Prometheus that scrapes both with alerts/caapolicy-fleet.yml loaded, sends each node known CAA
// queries, and requires every recording rule to give what the queries were: exact fleet-wide
// query and partner-record counts, and for check events the bounds the rule file promises.
func TestFleetRecordingRules(t *testing.T) {
	prometheus := needProgram(t, "prometheus")
	rules, err := filepath.Abs(filepath.Join(root, "alerts", "caapolicy-fleet.yml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("promtool check rules", func(t *testing.T) {
		promtool := needProgram(t, "promtool")
		out, err := exec.Command(promtool, "check", "rules", rules, filepath.Join(root, "alerts", "caapolicy.yml")).CombinedOutput()
		if err != nil {
			t.Errorf("promtool check rules: %v\n%s", err, out)
		}
	})

	dir := t.TempDir()
	bin := buildCoreDNS(t, dir)
	// The repository's zone, with a CAA RRset of the zone data alone, where a partner is added.
	zone, err := os.ReadFile(filepath.Join(root, "example.org.zone"))
	if err != nil {
		t.Fatal(err)
	}
	zonePath := filepath.Join(dir, "example.org.zone")
	if err := os.WriteFile(zonePath, append(zone, "mail IN CAA 0 issue \"pki.goog\"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(conf, []byte(fleetCorefile), 0o644); err != nil {
		t.Fatal(err)
	}
	var dnsAddrs, metricsAddrs [2]string
	for i := range 2 {
		dnsPort, metricsPort := freePort(t), freePort(t)
		dnsAddrs[i], metricsAddrs[i] = fmt.Sprintf("127.0.0.1:%d", dnsPort), fmt.Sprintf("127.0.0.1:%d", metricsPort)
		startCoreDNS(t, bin, conf, []string{"DNS_PORT=" + strconv.Itoa(dnsPort), "METRICS_PORT=" + strconv.Itoa(metricsPort), "ZONE=" + zonePath})
	}

	// A CA's names on one node are siblings (none is an ancestor of another), so that each check
	// is one event per node whatever the timing; a check that two nodes answer is an event on each.
	queries := []fleetQuery{
		{0, "127.0.1.1", "www.example.org.", "letsencrypt.org", "policy", "letsencrypt www"},
		{1, "127.0.1.2", "www.example.org.", "letsencrypt.org", "policy", "letsencrypt www"},
		{1, "127.0.1.2", "mail.example.org.", "letsencrypt.org", "partners", "letsencrypt mail"},
		{0, "127.0.2.1", "mail.example.org.", "pki.goog", "partners", "pki.goog mail"},
		{1, "127.0.2.2", "example.org.", "pki.goog", "merged", "pki.goog apex"},
		{0, "127.0.4.1", "shop.example.org.", "digicert.com", "passthrough", "digicert shop"},
		{1, "127.0.4.2", "shop.example.org.", "digicert.com", "passthrough", "digicert shop"},
		// Two networks on node 0: multi-perspective there.
		{0, "127.0.5.1", "shop.example.org.", "unknown", "passthrough", "unknown shop"},
		{0, "127.0.6.1", "shop.example.org.", "unknown", "passthrough", "unknown shop"},
		// Two networks, one per node: multi-perspective in the fleet, on neither node.
		{0, "127.0.7.1", "blog.example.org.", "unknown", "passthrough", "unknown blog"},
		{1, "127.0.8.1", "blog.example.org.", "unknown", "passthrough", "unknown blog"},
	}
	// The checks by a known CA that may issue neither for the name nor for its wildcard: www and
	// mail name pki.goog (and the partner sectigo.com), shop inherits the apex's RRset.
	unauthorized := map[string]bool{"letsencrypt www": true, "letsencrypt mail": true, "digicert shop": true}

	partnerRecords := 0 // the partner's records in the answers, as the clients received them
	for _, q := range queries {
		c := &dns.Client{Net: "udp", Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(q.from)}}}
		r, _, err := c.Exchange(new(dns.Msg).SetQuestion(q.qname, dns.TypeCAA), dnsAddrs[q.node])
		if err != nil {
			t.Fatalf("CAA %s from %s to node %d: %v", q.qname, q.from, q.node, err)
		}
		for _, rr := range r.Answer {
			if caa, ok := rr.(*dns.CAA); ok && caa.Value == "sectigo.com" {
				partnerRecords++
			}
		}
	}

	// The truth, from the table: queries by CA and source; per node, the checks of each CA, the
	// unauthorized ones, and the multi-perspective ones (from two /24 networks or more).
	queriesTruth := map[string]float64{}
	type nodeCheck struct {
		node  int
		check string
	}
	networks := map[nodeCheck]map[netip.Prefix]bool{} // node -1: the fleet
	caOf := map[string]string{}
	for _, q := range queries {
		queriesTruth[labels("ca", q.ca, "source", q.source, "zone", "example.org.")]++
		caOf[q.check] = q.ca
		net24 := netip.PrefixFrom(netip.MustParseAddr(q.from), 24).Masked()
		for _, k := range []nodeCheck{{q.node, q.check}, {-1, q.check}} {
			if networks[k] == nil {
				networks[k] = map[netip.Prefix]bool{}
			}
			networks[k][net24] = true
		}
	}
	events := func(node int, include func(check string) bool) map[string]float64 {
		n := map[string]float64{}
		for k := range networks {
			if k.node == node && include(k.check) {
				n[labels("ca", caOf[k.check], "zone", "example.org.")]++
			}
		}
		return n
	}
	all := func(string) bool { return true }
	isUnauthorized := func(check string) bool { return unauthorized[check] }
	multi := func(node int) float64 {
		n := 0.0
		for k, nets := range networks {
			if k.node == node && len(nets) >= 2 {
				n++
			}
		}
		return n
	}

	// Wait until each node has closed its check events (1 s after their first query).
	for node := range 2 {
		want := 0.0
		for _, v := range events(node, all) {
			want += v
		}
		url := "http://" + metricsAddrs[node] + "/metrics"
		if !poll(10*time.Second, func() bool { return metricSum(t, url, "coredns_caapolicy_check_events_total") == want }) {
			t.Fatalf("node %d: %v check events on /metrics after 10 s, want %v", node, metricSum(t, url, "coredns_caapolicy_check_events_total"), want)
		}
	}

	// Prometheus starts now that the nodes' counters are final: every scrape sees the truth.
	promAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	promConf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promConf, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: coredns
    static_configs:
      - targets: ["%s", "%s"]
`, rules, metricsAddrs[0], metricsAddrs[1])), 0o644); err != nil {
		t.Fatal(err)
	}
	startProgram(t, exec.Command(prometheus, "--config.file="+promConf, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr),
		func(line string) bool { return strings.Contains(line, "Server is ready to receive web requests") })
	api := "http://" + promAddr + "/api/v1/"
	waitForEvaluation(t, api)

	upper, lower, truth := sumOf(events(0, all), events(1, all)), maxOf(events(0, all), events(1, all)), events(-1, all)
	unauthUpper, unauthLower, unauthTruth := sumOf(events(0, isUnauthorized), events(1, isUnauthorized)), maxOf(events(0, isUnauthorized), events(1, isUnauthorized)), events(-1, isUnauthorized)
	exact := []struct {
		record string
		want   map[string]float64
	}{
		{"caapolicy:queries:sum", queriesTruth},
		{"caapolicy:partner_records:sum", map[string]float64{labels("zone", "example.org."): float64(partnerRecords)}},
		{"caapolicy:log_dropped:sum", map[string]float64{labels("zone", "example.org."): 0}},
		{"caapolicy:check_events:sum", upper},
		{"caapolicy:check_events:max", lower},
		{"caapolicy:unauthorized_checks:sum", unauthUpper},
		{"caapolicy:unauthorized_checks:max", unauthLower},
		{"caapolicy:multi_perspective_checks:max", map[string]float64{labels("zone", "example.org."): max(multi(0), multi(1))}},
	}
	for _, e := range exact {
		t.Run(e.record, func(t *testing.T) {
			if got := promQuery(t, api, e.record); !maps.Equal(got, e.want) {
				t.Errorf("%s = %v, want %v", e.record, got, e.want)
			}
		})
	}
	t.Run("check events: the fleet's checks lie between :max and :sum", func(t *testing.T) {
		for k, n := range truth {
			if n < lower[k] || n > upper[k] {
				t.Errorf("%s: %v checks, outside [%v, %v]", k, n, lower[k], upper[k])
			}
		}
		for k, n := range unauthTruth {
			if n < unauthLower[k] || n > unauthUpper[k] {
				t.Errorf("%s: %v unauthorized checks, outside [%v, %v]", k, n, unauthLower[k], unauthUpper[k])
			}
		}
		if n := multi(-1); n < max(multi(0), multi(1)) {
			t.Errorf("%v multi-perspective checks, below the :max %v", n, max(multi(0), multi(1)))
		}
	})
	t.Run("caapolicy:nodes:count", func(t *testing.T) {
		got := promQuery(t, api, "caapolicy:nodes:count")
		if len(got) != 1 || slices.Collect(maps.Values(got))[0] != 2 {
			t.Errorf("caapolicy:nodes:count = %v, want one version with 2 nodes", got)
		}
	})
	// A rate needs two samples of a series: wait for them, then every series of the sum has one.
	for _, r := range []struct{ rate, sum string }{
		{"caapolicy:queries:rate5m", "caapolicy:queries:sum"},
		{"caapolicy:partner_records:rate5m", "caapolicy:partner_records:sum"},
		{"caapolicy:check_events:rate5m", "caapolicy:check_events:sum"},
	} {
		t.Run(r.rate, func(t *testing.T) {
			want := slices.Sorted(maps.Keys(promQuery(t, api, r.sum)))
			var got []string
			poll(20*time.Second, func() bool {
				got = slices.Sorted(maps.Keys(promQuery(t, api, r.rate)))
				return slices.Equal(got, want)
			})
			if !slices.Equal(got, want) {
				t.Errorf("%s series %q, want those of %s: %q", r.rate, got, r.sum, want)
			}
		})
	}
}

// waitForEvaluation waits until Prometheus has scraped both targets and then evaluated the rule
// group, with every rule healthy.
func waitForEvaluation(t *testing.T, api string) {
	t.Helper()
	var targets struct {
		Data struct {
			ActiveTargets []struct {
				Health     string    `json:"health"`
				LastScrape time.Time `json:"lastScrape"`
				LastError  string    `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	var scraped time.Time
	if !poll(20*time.Second, func() bool {
		apiGet(t, api+"targets", &targets)
		if len(targets.Data.ActiveTargets) != 2 {
			return false
		}
		for _, tg := range targets.Data.ActiveTargets {
			if tg.Health != "up" {
				return false
			}
			if tg.LastScrape.After(scraped) {
				scraped = tg.LastScrape
			}
		}
		return true
	}) {
		t.Fatalf("Prometheus did not scrape both nodes within 20 s: %+v", targets.Data.ActiveTargets)
	}
	var groups struct {
		Data struct {
			Groups []struct {
				Name           string    `json:"name"`
				LastEvaluation time.Time `json:"lastEvaluation"`
				Rules          []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if !poll(20*time.Second, func() bool {
		apiGet(t, api+"rules", &groups)
		return len(groups.Data.Groups) == 1 && groups.Data.Groups[0].LastEvaluation.After(scraped)
	}) {
		t.Fatalf("Prometheus did not evaluate the rule group after its scrapes within 20 s: %+v", groups.Data.Groups)
	}
	for _, r := range groups.Data.Groups[0].Rules {
		if r.Health != "ok" {
			t.Errorf("rule %s: health %s: %s", r.Name, r.Health, r.LastError)
		}
	}
}

// promQuery runs an instant PromQL query and returns each series' value by its labels (without
// the metric name).
func promQuery(t *testing.T, api, q string) map[string]float64 {
	t.Helper()
	var res struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	apiGet(t, api+"query?query="+url.QueryEscape(q), &res)
	out := map[string]float64{}
	for _, r := range res.Data.Result {
		var kv []string
		for k, v := range r.Metric {
			if k != "__name__" {
				kv = append(kv, k, v)
			}
		}
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%s: value %v: %v", q, r.Value, err)
		}
		out[labels(kv...)] = v
	}
	return out
}

// apiGet decodes the JSON that Prometheus's HTTP API returns for u into v.
func apiGet(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// labels writes label pairs (name, value, name, value...) in one order, whatever the given one:
// `{a="1",b="2"}`.
func labels(kv ...string) string {
	var pairs []string
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", kv[i], kv[i+1]))
	}
	slices.Sort(pairs)
	return "{" + strings.Join(pairs, ",") + "}"
}

// metricSum returns the sum of every series of a metric on a /metrics page.
func metricSum(t *testing.T, url, metric string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for l := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(l, metric+"{") || strings.HasPrefix(l, metric+" ") {
			f := strings.Fields(l)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", url, l, err)
			}
			sum += v
		}
	}
	return sum
}

// sumOf adds per-node counts up, label set by label set.
func sumOf(nodes ...map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for _, n := range nodes {
		for k, v := range n {
			out[k] += v
		}
	}
	return out
}

// maxOf takes the largest per-node count, label set by label set.
func maxOf(nodes ...map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for _, n := range nodes {
		for k, v := range n {
			out[k] = max(out[k], v)
		}
	}
	return out
}

// poll calls cond at once and then every 100 ms until it returns true or timeout passes, and
// reports whether it returned true: for what announces nothing, a node's counters or
// Prometheus's scrapes and evaluations.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return cond()
		}
	}
}

// needProgram returns the path of an outside program a test needs. Outside CI a missing program
// skips the test; in CI (CI set, as .ci/run installs everything) it fails it.
func needProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; .ci/run installs it with apt-get", name)
	}
	t.Skipf("%s is not installed (apt-get install prometheus)", name)
	return ""
}
