package caapolicy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	"github.com/miekg/dns"
)

// A fleet ships its nodes' check events to ClickHouse (pipelines/clickhouse): the JSON lines of
// every node go into one table, and checks.sql puts each CA check back together.

// startClickHouse runs Debian's clickhouse-server on free loopback ports with its data in a
// temporary directory, and returns the base URL of its HTTP interface once it answers.
func startClickHouse(t *testing.T) string {
	t.Helper()
	bin := needProgram(t, "clickhouse-server")
	dir := t.TempDir()
	httpPort, tcpPort := corednstest.FreePort(t), corednstest.FreePort(t)
	write(t, filepath.Join(dir, "users.xml"), `<?xml version="1.0"?>
<yandex>
    <profiles><default></default></profiles>
    <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
    <quotas><default></default></quotas>
</yandex>
`)
	write(t, filepath.Join(dir, "config.xml"), fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><console>1</console></logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>%[2]d</http_port>
    <tcp_port>%[3]d</tcp_port>
    <path>%[1]s/data/</path>
    <tmp_path>%[1]s/tmp/</tmp_path>
    <user_files_path>%[1]s/user_files/</user_files_path>
    <format_schema_path>%[1]s/format_schemas/</format_schema_path>
    <users_config>%[1]s/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>104857600</mark_cache_size>
    <uncompressed_cache_size>104857600</uncompressed_cache_size>
</yandex>
`, dir, httpPort, tcpPort))
	out := runDaemon(t, "clickhouse-server", bin, "--config-file="+filepath.Join(dir, "config.xml"))
	base := fmt.Sprintf("http://127.0.0.1:%d/", httpPort)
	if !corednstest.Poll(30*time.Second, 100*time.Millisecond, func() bool {
		_, err := clickHouse(base, "SELECT 1", "")
		return err == nil
	}) {
		t.Fatalf("clickhouse-server never answered on %s:\n%s", base, out)
	}
	return base
}

// clickHouse sends query to ClickHouse's HTTP interface at base, with body as its data (the rows
// of an INSERT), and returns the response.
func clickHouse(base, query, body string) (string, error) {
	u := base + "?input_format_skip_unknown_fields=1&query=" + url.QueryEscape(query)
	resp, err := http.Post(u, "text/plain", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	return string(b), nil
}

// sqlFile reads a shipped SQL file without its comment lines.
func sqlFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for l := range strings.SplitSeq(string(b), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// fleetNodeCorefile is one node of the fleet: its name, its port, its JSON log file.
func fleetNodeCorefile(node string, port int, zonePath, logPath string) string {
	return fmt.Sprintf(`example.org:%d {
	bind 127.0.0.1
	caapolicy {
		issue letsencrypt.org
		node %s
		log none json %s
		checks 1s
		ca letsencrypt.org 127.0.0.0/8
	}
	file %s
}
`, port, node, logPath, zonePath)
}

// caaFrom asks addr for name CAA over UDP from the source address src.
func caaFrom(t *testing.T, src, addr, name string) {
	t.Helper()
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}}}
	if _, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeCAA), addr); err != nil {
		t.Fatalf("CAA %s from %s: %v", name, src, err)
	}
}

// checkLines waits for the check events in the JSON log at path and returns them.
func checkLines(t *testing.T, path string, n int) []string {
	t.Helper()
	var lines []string
	if !corednstest.Poll(10*time.Second, 50*time.Millisecond, func() bool {
		f, err := os.Open(path)
		if err != nil {
			return false
		}
		defer f.Close()
		lines = lines[:0]
		for s := bufio.NewScanner(f); s.Scan(); {
			if strings.Contains(s.Text(), `"type":"check"`) {
				lines = append(lines, s.Text())
			}
		}
		return len(lines) >= n
	}) {
		t.Fatalf("%s: %d check events, want %d", path, len(lines), n)
	}
	return lines
}

// TestClickHouseFleetChecks: Let's Encrypt checks a name from three networks, one of them
// reaching node alpha and two node beta. Each node logs its own event (alpha's single-perspective);
// in ClickHouse, the shipped query returns one check with the three networks, multi-perspective,
// seen by both nodes.
func TestClickHouseFleetChecks(t *testing.T) {
	base := startClickHouse(t)
	dir := t.TempDir()
	zonePath := filepath.Join(dir, "example.org.zone")
	zone, err := os.ReadFile("example.org.zone")
	if err != nil {
		t.Fatal(err)
	}
	write(t, zonePath, string(zone))
	alphaLog, betaLog := filepath.Join(dir, "alpha.json"), filepath.Join(dir, "beta.json")
	alphaPort, betaPort := corednstest.FreePort(t), corednstest.FreePort(t)
	corednstest.Start(t, fleetNodeCorefile("alpha", alphaPort, zonePath, alphaLog))
	corednstest.Start(t, fleetNodeCorefile("beta", betaPort, zonePath, betaLog))
	alpha, beta := fmt.Sprintf("127.0.0.1:%d", alphaPort), fmt.Sprintf("127.0.0.1:%d", betaPort)

	// The check key holds the first query's time in buckets of the window (1 s here): the two
	// nodes' first queries must fall in one bucket, as README says of the bucket boundary, so the
	// queries are not sent in the last 300 ms of a second. This waits for the clock, not for
	// another component.
	if d := time.Until(time.Now().Truncate(time.Second).Add(time.Second)); d < 300*time.Millisecond {
		time.Sleep(d + 10*time.Millisecond)
	}
	caaFrom(t, "127.0.1.1", alpha, "www.example.org.")
	caaFrom(t, "127.0.2.1", beta, "www.example.org.")
	caaFrom(t, "127.0.3.1", beta, "www.example.org.")

	a, b := checkLines(t, alphaLog, 1), checkLines(t, betaLog, 1)
	var ea, eb struct {
		Node, Check      string
		Networks         int
		MultiPerspective bool `json:"multi_perspective"`
	}
	json.Unmarshal([]byte(a[0]), &ea)
	json.Unmarshal([]byte(b[0]), &eb)
	t.Run("each node logs what it saw", func(t *testing.T) {
		if ea.Node != "alpha" || ea.Networks != 1 || ea.MultiPerspective || eb.Node != "beta" || eb.Networks != 2 || !eb.MultiPerspective {
			t.Errorf("alpha %+v, beta %+v; want alpha 1 network single-perspective, beta 2 networks multi-perspective", ea, eb)
		}
		if ea.Check == "" || ea.Check != eb.Check {
			t.Errorf("check keys %q and %q: one check must have one key on every node", ea.Check, eb.Check)
		}
	})

	if _, err := clickHouse(base, sqlFile(t, "pipelines/clickhouse/schema.sql"), ""); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{alphaLog, betaLog} {
		rows, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := clickHouse(base, "INSERT INTO caapolicy_events FORMAT JSONEachRow", string(rows)); err != nil {
			t.Fatalf("loading %s: %v", f, err)
		}
	}
	out, err := clickHouse(base, sqlFile(t, "pipelines/clickhouse/checks.sql")+" FORMAT JSONEachRow", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("checks.sql returns the one check, with the union of its networks, multi-perspective", func(t *testing.T) {
		rows := strings.Split(strings.TrimSpace(out), "\n")
		if len(rows) != 1 {
			t.Fatalf("%d checks, want 1:\n%s", len(rows), out)
		}
		var got struct {
			Check            string   `json:"check"`
			CA               string   `json:"check_ca"`
			Name             string   `json:"check_name"`
			Networks         []string `json:"fleet_networks"`
			MultiPerspective int      `json:"fleet_multi_perspective"`
			Nodes            []string `json:"nodes"`
		}
		if err := json.Unmarshal([]byte(rows[0]), &got); err != nil {
			t.Fatal(err)
		}
		want := []string{"127.0.1.0/24", "127.0.2.0/24", "127.0.3.0/24"}
		if got.Check != ea.Check || got.CA != "letsencrypt.org" || got.Name != "www.example.org." || !slices.Equal(got.Networks, want) || got.MultiPerspective != 1 || !slices.Equal(got.Nodes, []string{"alpha", "beta"}) {
			t.Errorf("got %+v\nwant check %s, letsencrypt.org, www.example.org., networks %q, multi-perspective, nodes alpha and beta", got, ea.Check, want)
		}
	})
}
