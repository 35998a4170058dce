package caapolicy

import (
	"bytes"
	"io"
	golog "log"
	"testing"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

func init() { clog.Discard() }

// captureLog collects what the plugin logs during the test, without timestamps.
func captureLog(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	golog.SetOutput(&buf)
	golog.SetFlags(0)
	t.Cleanup(func() { golog.SetOutput(io.Discard); golog.SetFlags(golog.LstdFlags) })
	return &buf
}
