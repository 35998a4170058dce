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
