package caapolicy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"

	"github.com/caapolicy/caapolicy/internal/corednstest"
)

// The cost of many logging blocks (issue 24, item 4): a platform runs a caapolicy block per
// customer zone, each logging JSON and attributing CA ranges. Memory and goroutines must not grow
// with the blocks beyond their policies.

// scaleCAs are the ca lines of every block in the scale Corefiles: the published ranges of a few
// CAs, as an operator would paste them into each customer's block.
const scaleCAs = `  ca letsencrypt.org 66.133.109.0/24 64.78.149.0/24 2600:3000::/29 2a05:d014::/32
  ca sectigo.com 91.199.212.0/24 2a02:1788::/32
  ca pki.goog 34.64.0.0/10 2600:1900::/28
  ca digicert.com 216.168.244.0/24 216.168.247.0/24 2600:1f14:1000::/36
`

// scaleCorefile is one server block on port with a caapolicy block for each of n zones
// custNNNN.test (none when plugin is false), each with extra lines, and auto serving the zone
// files in dir.
func scaleCorefile(port, dir string, n int, plugin bool, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, ".:%s {\n bind 127.0.0.1\n", port)
	for i := 0; plugin && i < n; i++ {
		fmt.Fprintf(&b, " caapolicy cust%04d.test {\n  issue letsencrypt.org\n  issuewild none\n%s%s }\n", i, scaleCAs, extra)
	}
	fmt.Fprintf(&b, " auto {\n  directory %s\n }\n}\n", dir)
	return b.String()
}

// writeScaleZones writes the zone files of n customer zones into dir, for auto.
func writeScaleZones(t testing.TB, dir string, n int) {
	t.Helper()
	for i := range n {
		z := fmt.Sprintf("cust%04d.test.", i)
		write(t, filepath.Join(dir, "db."+strings.TrimSuffix(z, ".")), "$ORIGIN "+z+`
@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 3600
@ 3600 IN NS ns1
ns1 3600 IN A 127.0.0.1
www 3600 IN A 127.0.0.1
`)
	}
}

// scaleResult is what the child process measures.
type scaleResult struct {
	StartSeconds  float64 `json:"start_s"`
	ReloadSeconds float64 `json:"reload_s"` // the slowest reload
	RSSMB         float64 `json:"rss_mb"`   // resident after the reloads, as ps shows it
	PeakMB        float64 `json:"peak_mb"`  // the most resident at any time (VmHWM)
	HeapMB        float64 `json:"heap_mb"`  // live heap after the reloads and a GC
	AllocMB       float64 `json:"alloc_mb"` // allocated by the start-up
	Goroutines    int     `json:"goroutines"`
}

const scaleChildEnv = "CAAPOLICY_SCALE_CHILD"

// TestScaleChild is the child process of BenchmarkLoggingBlocks: it starts CoreDNS with the
// Corefile the benchmark describes, reloads it, and prints what it measured. It is skipped in
// a normal test run.
func TestScaleChild(t *testing.T) {
	spec := os.Getenv(scaleChildEnv)
	if spec == "" {
		t.Skip("run by BenchmarkLoggingBlocks in a child process of its own")
	}
	var args struct {
		Blocks, Reloads int
		Plugin          bool
		Extra, Dir      string
		Overrides       string // a platform: one caapolicy . block importing the zone blocks here
	}
	if err := json.Unmarshal([]byte(spec), &args); err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(corednstest.FreePort(t))
	cf := scaleCorefile(port, args.Dir, args.Blocks, args.Plugin, args.Extra)
	if args.Overrides != "" {
		cf = platformScaleCorefile(port, args.Dir, args.Overrides)
	}
	defer func(p string) { dnsserver.Port = p }(dnsserver.Port)

	var res scaleResult
	allocs := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(allocs)
	start := time.Now()
	// Not corednstest.Start: its clean-up would keep the first instance reachable.
	caddy.Quiet, dnsserver.Quiet = true, true
	inst, err := caddy.Start(corednstest.Corefile(cf))
	if err != nil {
		t.Fatal(err)
	}
	res.StartSeconds = time.Since(start).Seconds()
	before := allocs[0].Value.Uint64()
	metrics.Read(allocs)
	res.AllocMB = float64(allocs[0].Value.Uint64()-before) / (1 << 20)
	for range args.Reloads {
		start := time.Now()
		next, err := inst.Restart(corednstest.Corefile(cf))
		if err != nil {
			t.Fatal(err)
		}
		res.ReloadSeconds = max(res.ReloadSeconds, time.Since(start).Seconds())
		inst = next
	}
	runtime.GC()
	live := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(live)
	res.HeapMB = float64(live[0].Value.Uint64()) / (1 << 20)
	res.Goroutines = runtime.NumGoroutine()
	res.RSSMB, res.PeakMB = procStatusMB(t, "VmRSS"), procStatusMB(t, "VmHWM")
	if p := os.Getenv("CAAPOLICY_SCALE_HEAPPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	out, _ := json.Marshal(res)
	fmt.Printf("SCALE %s\n", out)
	inst.ShutdownCallbacks()
}

// procStatusMB reads a size in kB from /proc/self/status, in MB.
func procStatusMB(t testing.TB, field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for s := bufio.NewScanner(f); s.Scan(); {
		if v, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb / 1024
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// runScaleChild runs TestScaleChild in a new process of this test binary and returns what it
// measured.
func runScaleChild(b *testing.B, dir string, blocks, reloads int, plugin bool, extra string) scaleResult {
	b.Helper()
	return runScaleSpec(b, map[string]any{"Blocks": blocks, "Reloads": reloads, "Plugin": plugin, "Extra": extra, "Dir": dir})
}

// runScaleSpec runs TestScaleChild with spec and returns what it measured.
func runScaleSpec(b *testing.B, spec map[string]any) scaleResult {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	specJSON, _ := json.Marshal(spec)
	cmd := exec.Command(exe, "-test.run=^TestScaleChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), scaleChildEnv+"="+string(specJSON))
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("child: %v\n%s", err, out)
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "SCALE "); ok {
			var r scaleResult
			if err := json.Unmarshal([]byte(v), &r); err != nil {
				b.Fatal(err)
			}
			return r
		}
	}
	b.Fatalf("the child printed no result:\n%s", out)
	return scaleResult{}
}

// BenchmarkLoggingBlocks starts CoreDNS in a child process with 1,000 caapolicy blocks, each
// logging JSON and attributing CA ranges, reloads it 3 times, and reports the start-up time, the
// slowest reload, the resident memory after the reloads (and at its peak), the live heap and the
// goroutines; the same server without caapolicy is the reference. Issue 24 asks for < 100 MB
// resident and a start-up < 1 s.
//
// Measured (2 CPUs): without caapolicy 42-46 MB resident, 1,007 goroutines (auto's); with the
// 1,000 JSON-logging blocks 1,200-1,330 MB and 2,007 goroutines when each block had its own writer
// and queues, 167-184 MB and 1,008 with the process's one pipeline, start-up 0.15-0.24 s, reload
// 0.1-0.3 s. With one zero series per metric and zone (zeroMetrics) and one shared list of a
// server block's caapolicy blocks instead of a list of the others in each: 90 MB resident after
// the reloads (peak 91 MB), 25 MB live heap, start-up 0.07 s, reload 0.06 s; "log none, checks
// off" 70 MB.
func BenchmarkLoggingBlocks(b *testing.B) {
	const blocks, reloads = 1000, 3
	dir := b.TempDir()
	writeScaleZones(b, dir, blocks)
	for _, c := range []struct {
		name   string
		plugin bool
		extra  string
	}{
		{"reference-without-caapolicy", false, ""},
		{"json-log-ca-ranges", true, "  log all json\n"},
		{"log-none-checks-off", true, "  log none\n  checks off\n"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var r scaleResult
			for b.Loop() {
				r = runScaleChild(b, dir, blocks, reloads, c.plugin, c.extra)
			}
			b.ReportMetric(r.StartSeconds, "start-s")
			b.ReportMetric(r.ReloadSeconds, "reload-s")
			b.ReportMetric(r.RSSMB, "rss-MB")
			b.ReportMetric(r.PeakMB, "peak-MB")
			b.ReportMetric(r.HeapMB, "heap-MB")
			b.ReportMetric(r.AllocMB, "start-alloc-MB")
			b.ReportMetric(float64(r.Goroutines), "goroutines")
		})
	}
}

// platformScaleCorefile is a platform's server block on port: auto serving the zone files in dir,
// one caapolicy . block with partners, JSON logging and CA ranges, importing the zone blocks in
// overrides (README, "Platforms").
func platformScaleCorefile(port, dir, overrides string) string {
	return fmt.Sprintf(".:%s {\n bind 127.0.0.1\n caapolicy . {\n  partners cloudflare\n  log all json\n%s  import %s/*.conf\n }\n auto {\n  directory %s\n }\n}\n", port, scaleCAs, overrides, dir)
}

// BenchmarkPlatform starts CoreDNS in a child process serving 10,000 customer zones from auto
// under one caapolicy . block with 1,000 zone blocks in 1,000 imported files, reloads it once,
// and reports start-up, reload, resident memory and goroutines beside the same server without
// caapolicy. Issue 24 asks for a start-up < 2 s and < 200 MB resident.
//
// Measured (2 CPUs): see bench/README.md, "Platforms".
func BenchmarkPlatform(b *testing.B) {
	const zones, overrides = 10000, 1000
	dir, odir := b.TempDir(), b.TempDir()
	writeScaleZones(b, dir, zones)
	for i := range overrides {
		z := fmt.Sprintf("cust%04d.test", i*(zones/overrides))
		conf := "zone " + z + " { partners off }\n"
		if i%2 == 1 {
			conf = "zone " + z + " {\n  partners aws\n  name www { issue digicert.com }\n}\n"
		}
		write(b, filepath.Join(odir, z+".conf"), conf)
	}
	for _, c := range []struct {
		name string
		spec map[string]any
	}{
		{"reference-without-caapolicy", map[string]any{"Blocks": zones, "Reloads": 1, "Plugin": false, "Dir": dir}},
		{"one-block-1000-zone-blocks", map[string]any{"Blocks": zones, "Reloads": 1, "Dir": dir, "Overrides": odir}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var r scaleResult
			for b.Loop() {
				r = runScaleSpec(b, c.spec)
			}
			b.ReportMetric(r.StartSeconds, "start-s")
			b.ReportMetric(r.ReloadSeconds, "reload-s")
			b.ReportMetric(r.RSSMB, "rss-MB")
			b.ReportMetric(r.PeakMB, "peak-MB")
			b.ReportMetric(float64(r.Goroutines), "goroutines")
		})
	}
}
