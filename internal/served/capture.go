package served

import (
	"errors"
	"net"

	"github.com/miekg/dns"
)

// Capture is the writer of a query the plugin makes of itself or of the zone data (Exchange, the
// sign probe, the zone cut test, `caacheck -conf`): it keeps the reply instead of sending it.
type Capture struct {
	Msg    *dns.Msg // the reply written, nil if none was
	Remote net.Addr // the client's address, when the query is made for one; loopback otherwise
}

var loopback = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}

// LocalAddr implements dns.ResponseWriter.
func (w *Capture) LocalAddr() net.Addr { return loopback }

// RemoteAddr implements dns.ResponseWriter.
func (w *Capture) RemoteAddr() net.Addr {
	if w.Remote != nil {
		return w.Remote
	}
	return loopback
}

// WriteMsg implements dns.ResponseWriter: it keeps m.
func (w *Capture) WriteMsg(m *dns.Msg) error { w.Msg = m; return nil }

// Write implements dns.ResponseWriter; a Capture takes messages only.
func (w *Capture) Write([]byte) (int, error) {
	return 0, errors.New("served.Capture takes messages only")
}

// Close implements dns.ResponseWriter.
func (w *Capture) Close() error { return nil }

// TsigStatus implements dns.ResponseWriter.
func (w *Capture) TsigStatus() error { return nil }

// TsigTimersOnly implements dns.ResponseWriter.
func (w *Capture) TsigTimersOnly(bool) {}

// Hijack implements dns.ResponseWriter.
func (w *Capture) Hijack() {}
