package corednstest

import (
	"fmt"
	golog "log"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestWriter(t *testing.T) {
	t.Run("keeps the last reply and counts the writes", func(t *testing.T) {
		w := NewWriter("udp", "")
		a, b := new(dns.Msg).SetQuestion("a.example.", dns.TypeCAA), new(dns.Msg).SetQuestion("b.example.", dns.TypeCAA)
		w.WriteMsg(a)
		w.WriteMsg(b)
		if w.Msg != b || w.Writes != 2 {
			t.Errorf("Msg %v after %d writes, want the second of 2", w.Msg.Question, w.Writes)
		}
		w.Reset()
		if w.Msg != nil || w.Writes != 0 {
			t.Errorf("after Reset: Msg %v, %d writes", w.Msg, w.Writes)
		}
	})
	t.Run("keeps a reply written as wire data", func(t *testing.T) {
		w := NewWriter("udp", "")
		wire, _ := new(dns.Msg).SetQuestion("a.example.", dns.TypeCAA).Pack()
		if n, err := w.Write(wire); n != len(wire) || err != nil || w.Msg == nil || w.Msg.Question[0].Name != "a.example." {
			t.Errorf("Write: %d, %v, Msg %v", n, err, w.Msg)
		}
		if _, err := w.Write([]byte{1}); err == nil {
			t.Errorf("Write of a broken message succeeded")
		}
	})
	for _, tc := range []struct {
		network, ip, want string
	}{
		{"udp", "", "udp 10.240.0.1:40212"},
		{"tcp", "192.0.2.9", "tcp 192.0.2.9:40212"},
		{"udp", "2001:db8::1", "udp [2001:db8::1]:40212"},
	} {
		t.Run(fmt.Sprintf("a %s client at %q is %s", tc.network, tc.ip, tc.want), func(t *testing.T) {
			w := NewWriter(tc.network, tc.ip)
			r, l := w.RemoteAddr(), w.LocalAddr()
			if got := r.Network() + " " + r.String(); got != tc.want || l.Network() != tc.network || l.String() != "127.0.0.1:53" {
				t.Errorf("remote %s, local %s %s", got, l.Network(), l)
			}
			if w.RemoteAddr() != r {
				t.Errorf("the client address is made anew at each call")
			}
			if _, ok := r.(*net.TCPAddr); ok != (tc.network == "tcp") {
				t.Errorf("remote address is a %T", r)
			}
		})
	}
}

// TestWriterAllocatesNothing: a handler run b.N times through one Writer measures the handler.
func TestWriterAllocatesNothing(t *testing.T) {
	w := NewWriter("udp", "")
	m := new(dns.Msg)
	if n := testing.AllocsPerRun(100, func() { w.RemoteAddr(); w.LocalAddr(); w.WriteMsg(m) }); n != 0 {
		t.Errorf("RemoteAddr, LocalAddr and WriteMsg allocate %v times", n)
	}
}

func TestBufferWaitFor(t *testing.T) {
	t.Run("wakes when another goroutine writes the text", func(t *testing.T) {
		var b Buffer
		release := make(chan struct{})
		go func() {
			<-release
			fmt.Fprint(&b, "first line\n")
			fmt.Fprint(&b, "the event\n")
		}()
		close(release)
		if !b.WaitFor("the event", 10*time.Second) {
			t.Fatalf("WaitFor gave up; buffer %q", b.String())
		}
		if b.String() != "first line\nthe event\n" || b.Len() != 21 {
			t.Errorf("buffer %q (%d bytes)", b.String(), b.Len())
		}
	})
	t.Run("returns at once when the text is there", func(t *testing.T) {
		var b Buffer
		b.Write([]byte("ready"))
		if !b.WaitFor("ready", 0) {
			t.Errorf("WaitFor missed text already written")
		}
	})
	t.Run("gives up at the deadline", func(t *testing.T) {
		var b Buffer
		b.Write([]byte("something else"))
		if b.WaitFor("never", time.Millisecond) {
			t.Errorf("WaitFor found text that was never written")
		}
	})
}

func TestPoll(t *testing.T) {
	t.Run("returns when the condition holds", func(t *testing.T) {
		n := 0
		if !Poll(10*time.Second, time.Millisecond, func() bool { n++; return n == 3 }) || n != 3 {
			t.Errorf("Poll: condition asked %d times", n)
		}
	})
	t.Run("gives up at the deadline", func(t *testing.T) {
		if Poll(5*time.Millisecond, time.Millisecond, func() bool { return false }) {
			t.Errorf("Poll reported a condition that never held")
		}
	})
}

func TestCaptureLog(t *testing.T) {
	var b *Buffer
	t.Run("collects the log without timestamps", func(t *testing.T) {
		b = CaptureLog(t)
		golog.Print("[INFO] a line")
		if b.String() != "[INFO] a line\n" {
			t.Errorf("log %q", b.String())
		}
	})
	golog.Print("after the test")
	if b.String() != "[INFO] a line\n" {
		t.Errorf("the log still reaches the buffer after the test: %q", b.String())
	}
}
