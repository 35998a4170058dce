package corednstest

import (
	"bytes"
	"io"
	golog "log"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is an io.Writer that a test reads, and waits on, while other goroutines write to it:
// the log of a server, or what a daemon prints. The zero Buffer is empty and ready.
type Buffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // closed by the next write, for WaitFor
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.written != nil {
		close(b.written)
		b.written = nil
	}
	return n, err
}

// String returns what has been written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Len returns the number of bytes written so far.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// WaitFor waits until the buffer holds s, waking at every write, for at most timeout; it
// reports whether s arrived.
func (b *Buffer) WaitFor(s string, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
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
		case <-deadline.C:
			return strings.Contains(b.String(), s)
		}
	}
}

// CaptureLog sends what the process logs (CoreDNS's log goes through the standard logger) to a
// Buffer, without timestamps, until the test ends; then logging is discarded again.
func CaptureLog(t testing.TB) *Buffer {
	t.Helper()
	b := &Buffer{}
	golog.SetOutput(b)
	golog.SetFlags(0)
	t.Cleanup(func() { golog.SetOutput(io.Discard); golog.SetFlags(golog.LstdFlags) })
	return b
}

// Poll calls cond at once and then every interval until it returns true or timeout passes, and
// reports whether it returned true. It is for what announces nothing a test can wait on, such as
// an outside daemon that starts answering or a secondary that transfers a zone; within the
// process, wait on a channel or on a Buffer instead.
func Poll(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
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
