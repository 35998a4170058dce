package dashtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// root is caapolicy's repository, two directories up.
const root = "../.."

// TestDashboardAndAlerts parses every panel query of the dashboard, every alert expression and
// every fleet recording rule, and requires each metric they name on /metrics of a CoreDNS that
// has answered a few CAA queries from resolvers of several CAs.
func TestDashboardAndAlerts(t *testing.T) {
	exprs := dashboardExprs(t)
	alerts := ruleExprs(t, "caapolicy.yml", true)
	records := ruleExprs(t, "caapolicy-fleet.yml", false)
	var wanted []string
	p := parser.NewParser(parser.Options{})
	for _, e := range slices.Concat(exprs, alerts, records) {
		if expr, err := p.ParseExpr(substitute(e.expr)); err == nil {
			wanted = append(wanted, metricNames(expr)...)
		}
	}
	exported := runServer(t, wanted)

	check := func(t *testing.T, e query) {
		expr, err := p.ParseExpr(substitute(e.expr))
		if err != nil {
			t.Fatalf("%s does not parse: %v", e.expr, err)
		}
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s queries no metric", e.expr)
		}
		for _, n := range names {
			if !exported[n] {
				t.Errorf("%s queries %s, which /metrics does not export", e.expr, n)
			}
		}
	}
	t.Run("dashboard", func(t *testing.T) {
		for _, e := range exprs {
			t.Run(e.name, func(t *testing.T) { check(t, e) })
		}
	})
	t.Run("alerts", func(t *testing.T) {
		for _, e := range alerts {
			t.Run(e.name, func(t *testing.T) { check(t, e) })
		}
	})
	t.Run("fleet recording rules", func(t *testing.T) {
		for _, e := range records {
			t.Run(e.name, func(t *testing.T) { check(t, e) })
		}
	})
}

// query is one PromQL expression and where it stands.
type query struct{ name, expr string }

// dashboardExprs reads every target's expr from the dashboard's panels and rows.
func dashboardExprs(t *testing.T) []query {
	b, err := os.ReadFile(filepath.Join(root, "dashboards", "caapolicy.json"))
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string            `json:"title"`
		Type    string            `json:"type"`
		Panels  []json.RawMessage `json:"panels"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	}
	var dash struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("caapolicy.json: %v", err)
	}
	var out []query
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, query{p.Title + "/" + tg.RefID, tg.Expr})
			}
			var nested []panel
			for _, raw := range p.Panels {
				var n panel
				if err := json.Unmarshal(raw, &n); err != nil {
					t.Fatal(err)
				}
				nested = append(nested, n)
			}
			walk(nested)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
		}
	}
	walk(dash.Panels)
	if len(out) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	return out
}

// ruleExprs loads a rule file of alerts/ as Prometheus does (rulefmt validates each expression,
// label and annotation template) and returns its expressions, each named by group and rule.
// alerts says which kind of rule the file holds: alerting rules, or recording rules.
func ruleExprs(t *testing.T, name string, alerts bool) []query {
	file := filepath.Join(root, "alerts", name)
	groups, errs := rulefmt.ParseFile(file, false, model.UTF8Validation, parser.NewParser(parser.Options{}), promslog.NewNopLogger())
	if len(errs) > 0 {
		t.Fatalf("%s: %v", file, errs)
	}
	var out []query
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			switch {
			case alerts && r.Alert == "":
				t.Errorf("%s: group %s holds a rule that is no alert (record %q)", file, g.Name, r.Record)
			case !alerts && r.Record == "":
				t.Errorf("%s: group %s holds a rule that is no recording rule (alert %q)", file, g.Name, r.Alert)
			}
			out = append(out, query{g.Name + "/" + r.Alert + r.Record, r.Expr})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no rules", file)
	}
	return out
}

// Grafana's variables, replaced by values of their kind before parsing, as Grafana does before
// it sends a query.
var (
	rateInterval = regexp.MustCompile(`\$__rate_interval|\$\{__rate_interval\}`)
	variable     = regexp.MustCompile(`\$\{?\w+\}?`)
)

func substitute(expr string) string {
	return variable.ReplaceAllString(rateInterval.ReplaceAllString(expr, "5m"), ".*")
}

// metricNames lists the metrics an expression selects.
func metricNames(expr parser.Expr) []string {
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

// runServer builds ./cmd/coredns, serves example.org with a policy on free 127.0.0.1 ports,
// sends CAA queries from resolvers of two known CAs (one from two networks, one not authorized)
// and of an unknown one, and returns the metric families /metrics exports once every wanted one
// is there (or at the deadline).
func runServer(t *testing.T, wanted []string) map[string]bool {
	dir := t.TempDir()
	bin := buildCoreDNS(t, dir)
	zone, err := filepath.Abs(filepath.Join(root, "example.org.zone"))
	if err != nil {
		t.Fatal(err)
	}
	dnsPort, metricsPort := freePort(t), freePort(t)
	conf := filepath.Join(dir, "Corefile")
	corefile := fmt.Sprintf(`example.org:%d {
    bind 127.0.0.1
    prometheus 127.0.0.1:%d
    caapolicy {
        issue letsencrypt.org
        name shop {
            issue sectigo.com
        }
        partners letsencrypt.org
        ca letsencrypt.org 127.0.0.0/24 127.0.1.0/24
        ca digicert.com 127.0.2.0/24
        checks 100ms
    }
    file %s
}
`, dnsPort, metricsPort, zone)
	if err := os.WriteFile(conf, []byte(corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	startCoreDNS(t, bin, conf, nil)

	server := fmt.Sprintf("127.0.0.1:%d", dnsPort)
	for _, q := range []struct{ from, name string }{
		{"127.0.0.1", "example.org."},      // Let's Encrypt, first network
		{"127.0.1.1", "example.org."},      // Let's Encrypt, second network: multi-perspective
		{"127.0.0.1", "shop.example.org."}, // a partner record is added to shop's RRset
		{"127.0.2.1", "shop.example.org."}, // DigiCert may not issue there: unauthorized
		{"127.0.3.1", "example.org."},      // an unknown resolver
	} {
		c := &dns.Client{Net: "udp", Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(q.from)}}}
		r, _, err := c.Exchange(new(dns.Msg).SetQuestion(q.name, dns.TypeCAA), server)
		if err != nil {
			t.Fatalf("CAA %s from %s: %v", q.name, q.from, err)
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			t.Fatalf("CAA %s from %s: %s with %d records", q.name, q.from, dns.RcodeToString[r.Rcode], len(r.Answer))
		}
	}

	// The check events close 100 ms after their first query, in the server's own time: scrape
	// until every wanted family is there.
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		exported := scrape(t, url)
		missing := false
		for _, n := range wanted {
			missing = missing || !exported[n]
		}
		if !missing {
			return exported
		}
		select {
		case <-tick.C:
		case <-deadline:
			return exported
		}
	}
}

// buildCoreDNS builds ./cmd/coredns into dir and returns the binary's path.
func buildCoreDNS(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "coredns")
	build := exec.Command("go", "build", "-o", bin, "./cmd/coredns")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/coredns: %v\n%s", err, out)
	}
	return bin
}

// startCoreDNS runs bin -conf conf, with env added to the test's environment, until the test
// ends, and returns once CoreDNS prints its banner: it listens then.
func startCoreDNS(t *testing.T, bin, conf string, env []string) {
	t.Helper()
	cmd := exec.Command(bin, "-conf", conf)
	cmd.Env = append(os.Environ(), env...)
	startProgram(t, cmd, func(line string) bool { return strings.HasPrefix(line, "CoreDNS-") })
}

// startProgram starts cmd, stops it when the test ends, and returns once it prints (on standard
// output or error) a line for which ready is true, or fails the test after 20 s.
func startProgram(t *testing.T, cmd *exec.Cmd, ready func(line string) bool) {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	up := make(chan struct{})
	output := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		started := false
		for sc.Scan() { // read to the end, so that the program never blocks on a full pipe
			if !started {
				output <- sc.Text()
			}
			if !started && ready(sc.Text()) {
				close(up)
				started = true
			}
		}
	}()
	var startup []string
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l := <-output:
			startup = append(startup, l)
		case <-up:
			return
		case <-deadline:
			t.Fatalf("%s did not start within 20 s:\n%s", cmd.Path, strings.Join(startup, "\n"))
		}
	}
}

// scrape returns the names of the metric families url exports.
func scrape(t *testing.T, url string) map[string]bool {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for l := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
		}
	}
	return names
}

// freePort returns a port on 127.0.0.1 that is free for both TCP and UDP.
func freePort(t *testing.T) int {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return 0
}
