package watch

import (
	"bytes"
	"fmt"
	"io"
	golog "log"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

func init() { clog.Discard() }

// buffer is a destination the test reads, and waits on, while the writer goroutine writes.
type buffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // closed by the next write
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.written != nil {
		close(b.written)
		b.written = nil
	}
	return b.buf.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the buffer holds s, for at most timeout; it reports whether s arrived.
func (b *buffer) waitFor(s string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		b.mu.Lock()
		if strings.Contains(b.buf.String(), s) {
			b.mu.Unlock()
			return true
		}
		if b.written == nil {
			b.written = make(chan struct{})
		}
		written := b.written
		b.mu.Unlock()
		select {
		case <-written:
		case <-deadline:
			return false
		}
	}
}

// captureLog sends CoreDNS's log (the standard logger) to a buffer, without timestamps, until the
// test ends.
func captureLog(t testing.TB) *buffer {
	t.Helper()
	b := &buffer{}
	golog.SetOutput(b)
	golog.SetFlags(0)
	t.Cleanup(func() { golog.SetOutput(io.Discard); golog.SetFlags(golog.LstdFlags) })
	return b
}

// countedMetrics records what the watcher counts, one line per call.
type countedMetrics struct {
	mu    sync.Mutex
	calls []string
}

func (m *countedMetrics) CheckClosed(server, zone, view, ca string, multiPerspective, unauthorized bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fmt.Sprintf("check %s %s %s %s multi-perspective=%v unauthorized=%v", server, zone, view, ca, multiPerspective, unauthorized))
}

func (m *countedMetrics) Dropped(server, zone, view string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fmt.Sprintf("dropped %s %s %s", server, zone, view))
}

// count returns how many calls were call.
func (m *countedMetrics) count(call string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.calls {
		if c == call {
			n++
		}
	}
	return n
}

func (m *countedMetrics) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.calls, "\n")
}

// testConfig is the Config of the lines of a block: "log all json", "checks 300ms", ...
func testConfig(t testing.TB, lines ...string) Config {
	t.Helper()
	cfg := Config{Queries: true, Window: DefaultWindow, Node: "ns1"}
	for _, l := range lines {
		f := strings.Fields(l)
		switch {
		case f[0] == "log":
			for _, a := range f[1:] {
				switch a {
				case "all", "none":
					cfg.Queries = a == "all"
				case "json":
					cfg.JSON = true
				default:
					cfg.Dest = a
				}
			}
		case f[0] == "node":
			cfg.Node = f[1]
		case f[0] == "checks" && f[1] == "off":
			cfg.Window = 0
		case f[0] == "checks":
			d, err := time.ParseDuration(f[1])
			if err != nil {
				t.Fatal(err)
			}
			cfg.Window = d
		default:
			t.Fatalf("test block line %q", l)
		}
	}
	return cfg
}

// testLog is a block over the test zone with the given log and checks lines, on a pipeline of
// its own, writing to out (CoreDNS's log or standard output when out is nil). Its records are
// queued before it starts, for the test to take or hand to the writer.
func testLog(t testing.TB, z *testZone, out io.Writer, lines ...string) (*Log, *countedMetrics) {
	t.Helper()
	m := &countedMetrics{}
	l := NewLog(testConfig(t, lines...), Block{Zones: []string{"example.org."}, Lookup: z.lookup, Metrics: m}, NewPipeline("caapolicy"))
	l.live.Store(true)
	if out != nil {
		l.SetOutput(out)
	}
	return l, m
}

// blockingWriter stalls every write until released, as a full pipe or a hung terminal does.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	return len(p), nil
}

// countingWriter discards what is written to it and counts the writes: each is a system call in
// a server.
type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) { w.n++; return len(p), nil }

// TestStalledWriter: a writer that never returns does not hold up Enqueue: the queue fills,
// further records are dropped and counted, one source network holding half the queue.
func TestStalledWriter(t *testing.T) {
	z := newTestZone(t, servedZone)
	w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	l, m := testLog(t, z, w, "log all json", "checks off")
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	e := z.answered(entry(UnknownCA, "198.51.100.77", "pol.example.org.", 0))
	l.Enqueue(e)
	<-w.entered // the writer holds the first record and is stuck
	const flood = QueueSize + 500
	for range flood {
		l.Enqueue(e)
	}
	const want = flood - QueueSize/2 // one client: its network may hold half the queue
	if got := l.dropped.Load(); got != want {
		t.Errorf("dropped %d records, want %d (the queue holds %d, half for one network)", got, want, QueueSize)
	}
	if got := m.count("dropped  example.org. "); got != want {
		t.Errorf("Metrics.Dropped called %d times, want %d", got, want)
	}
	close(w.release)
	if err := l.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if n := l.pipe.queue.len(); n != 0 {
		t.Errorf("%d records left after shutdown", n)
	}
}

// TestLifecycle starts and stops the writer as CoreDNS does on start-up, reload and shutdown,
// and checks that no goroutine outlives it.
func TestLifecycle(t *testing.T) {
	z := newTestZone(t, servedZone)
	t.Run("never started", func(t *testing.T) {
		l, _ := testLog(t, z, nil, "log none")
		if err := l.Shutdown(); err != nil {
			t.Fatal(err)
		}
		if l.pipe.running || len(l.pipe.requests) != 0 {
			t.Errorf("a block that never started left the writer running (%v) or requests (%d)", l.pipe.running, len(l.pipe.requests))
		}
	})
	t.Run("start twice, shut down twice", func(t *testing.T) {
		for round := range 3 {
			var out buffer
			l, _ := testLog(t, z, &out, "log all json", "checks off")
			p := l.pipe
			l.Start()
			l.Start() // a second start is ignored
			done := p.done
			l.Enqueue(z.answered(entry(UnknownCA, "10.240.0.1", "pol.example.org.", 0)))
			if err := l.Shutdown(); err != nil {
				t.Fatal(err)
			}
			l.Shutdown()
			select {
			case <-done:
			default:
				t.Fatalf("round %d: writer still running after shutdown", round)
			}
			if got := strings.Count(out.String(), `"name":"pol.example.org."`); got != 1 {
				t.Errorf("round %d: the query is logged %d times, want once:\n%s", round, got, out.String())
			}
		}
	})
}

// TestFloodWritesInBatches: when every record closes an event (a flood of distinct names with
// the open events at their limit), query lines and event lines still leave in batches of 64 KB,
// one write each, not one write per record; every line is written, each event after its query.
func TestFloodWritesInBatches(t *testing.T) {
	z := newTestZone(t, servedZone)
	for _, mode := range []string{"log all json", "log all"} {
		t.Run(mode, func(t *testing.T) {
			var out bytes.Buffer
			writes := &countingWriter{}
			l, _ := testLog(t, z, io.MultiWriter(&out, writes), mode, "checks 2s")
			l.maxOpen = 100

			const n = 1000
			for i := range n {
				l.Enqueue(z.answered(entry(UnknownCA, "198.51.100.77", fmt.Sprintf("r%d.example.org.", i), time.Duration(i)*time.Microsecond)))
				if i%100 == 99 {
					l.pipe.drain() // as the writer takes the queue
				}
			}
			queries, events := 0, 0
			for line := range strings.SplitSeq(strings.TrimSuffix(out.String(), "\n"), "\n") {
				switch {
				case strings.Contains(line, `"type":"check"`) || strings.Contains(line, "check by unknown of "):
					events++
				case strings.Contains(line, `"r`) && strings.Contains(line, `.example.org."`):
					queries++
				default:
					t.Errorf("line %q", line)
				}
			}
			if queries != n || events != n-100 {
				t.Errorf("%d query lines and %d event lines, want %d and %d", queries, events, n, n-100)
			}
			if max := out.Len()/(64<<10) + n/100; writes.n > max {
				t.Errorf("%d writes for %d bytes, want at most %d", writes.n, out.Len(), max)
			}
			if i, j := strings.Index(out.String(), `r0.example.org."`), strings.Index(out.String(), `of "r0.example.org."`); mode == "log all" && (i < 0 || j < i) {
				t.Errorf("the event of r0 (at %d) is not after its query (at %d)", j, i)
			}
		})
	}
}

// from returns a record with a client in the i-th /24 of 10.0.0.0/8.
func from(i int) *Entry {
	return &Entry{EDNS: uint16(i), Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), 53)}
}
