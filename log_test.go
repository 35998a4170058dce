package caapolicy

import (
	"bytes"
	"io"
	golog "log"
	"os"
	"regexp"
	"sync"
	"testing"

	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/caapolicy/caapolicy/internal/watch"
)

func init() { clog.Discard() }

// syncBuffer is a log destination that tests may read while the plugin's goroutines write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// captureLog collects what the plugin logs during the test, without timestamps.
func captureLog(t *testing.T) *syncBuffer {
	t.Helper()
	buf := &syncBuffer{}
	golog.SetOutput(buf)
	golog.SetFlags(0)
	t.Cleanup(func() { golog.SetOutput(io.Discard); golog.SetFlags(golog.LstdFlags) })
	return buf
}

// privateLog gives h's query log a pipeline of its own: the servers other tests leave running do
// not share its writer, and its Shutdown waits until its own lines are written.
func privateLog(h *CAAPolicy) {
	h.qlog = watch.NewLog(h.qlog.Config(), h.watchBlock(), watch.NewPipeline(name))
}

// logTo sends h's log lines to w.
func logTo(h *CAAPolicy, w io.Writer) { h.qlog.SetOutput(w) }

// startLog starts h's query log as its instance's start-up does, and shuts it down when the test
// ends.
func startLog(t testing.TB, h *CAAPolicy) {
	t.Helper()
	if err := h.qlog.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.qlog.Shutdown() })
}

var (
	logTimeField   = regexp.MustCompile(`"time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z"`)
	logClientField = regexp.MustCompile(`"client":"127\.0\.0\.1:[0-9]+"`)
	logTextStamp   = regexp.MustCompile(`^(\[INFO\] plugin/caapolicy: )[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z 127\.0\.0\.1:[0-9]+ `)
	logTextTime    = regexp.MustCompile(`^(\[INFO\] plugin/caapolicy: )[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z `)
	logDuration    = regexp.MustCompile(`"duration_ms":[0-9]+`)
	logTextSeconds = regexp.MustCompile(` in [0-9]+\.[0-9]{3}s; `)
	logCheckKey    = regexp.MustCompile(`( check=|"check":")[0-9a-f]{16}`)
)

// hostName is the node name of the blocks without a node line.
var hostName, _ = os.Hostname()

// normalLine replaces what changes from run to run in a log line (times, loopback client ports,
// durations, check keys, which hash the time) with fixed text, so that tests compare whole lines.
func normalLine(l string) string {
	l = logCheckKey.ReplaceAllString(l, "${1}K")
	l = logTimeField.ReplaceAllString(l, `"time":"T"`)
	l = logClientField.ReplaceAllString(l, `"client":"127.0.0.1:P"`)
	l = logDuration.ReplaceAllString(l, `"duration_ms":D`)
	l = logTextSeconds.ReplaceAllString(l, " in Ds; ")
	l = logTextStamp.ReplaceAllString(l, "${1}T 127.0.0.1:P ")
	return logTextTime.ReplaceAllString(l, "${1}T ")
}
