package caapolicy

import (
	"bytes"
	"io"
	golog "log"
	"sync"
	"testing"

	clog "github.com/coredns/coredns/plugin/pkg/log"
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

// privateLog gives h's query log a pipeline of its own, and its lines a destination of their
// own: out, or CoreDNS's log or standard output when out is nil. A test that takes the queue or
// runs the writer is then not disturbed by the servers other tests leave running.
func privateLog(h *CAAPolicy, out io.Writer) *logPipeline {
	p := newLogPipeline()
	h.qlog.pipe = p
	h.qlog.sink = p.sink(h.qlog.cfg.dest)
	h.qlog.live.Store(true) // its records are queued before it starts, for the test to take
	if out != nil {
		logTo(h, out)
	}
	return p
}

// logTo sends h's log lines to w.
func logTo(h *CAAPolicy, w io.Writer) {
	h.qlog.sink = &logSink{key: "test", w: w}
}
