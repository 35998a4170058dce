package corednstest

import (
	"net"

	"github.com/miekg/dns"
)

// DefaultClient is the client address of a Writer made with an empty address: the one CoreDNS's
// test.ResponseWriter reports.
const DefaultClient = "10.240.0.1"

// Writer is the dns.ResponseWriter of the tests: a handler writes its reply to it and the test
// reads the reply from Msg. The client's and the server's addresses are made once, as a server
// makes them once per packet, so that a handler run b.N times through one Writer measures the
// handler and not the writer.
type Writer struct {
	// Msg is the last reply written, nil while none is.
	Msg *dns.Msg
	// Writes counts the replies written.
	Writes int

	local, remote net.Addr
}

// NewWriter returns a Writer for a query over network ("udp" or "tcp") from the client at ip,
// port 40212, to 127.0.0.1:53. An empty ip is DefaultClient.
func NewWriter(network, ip string) *Writer {
	if ip == "" {
		ip = DefaultClient
	}
	client, server := net.ParseIP(ip), net.IPv4(127, 0, 0, 1)
	if network == "tcp" {
		return &Writer{remote: &net.TCPAddr{IP: client, Port: 40212}, local: &net.TCPAddr{IP: server, Port: 53}}
	}
	return &Writer{remote: &net.UDPAddr{IP: client, Port: 40212}, local: &net.UDPAddr{IP: server, Port: 53}}
}

// Reset forgets the reply, so that the Writer can take the next query's.
func (w *Writer) Reset() { w.Msg, w.Writes = nil, 0 }

// LocalAddr implements dns.ResponseWriter.
func (w *Writer) LocalAddr() net.Addr { return w.local }

// RemoteAddr implements dns.ResponseWriter.
func (w *Writer) RemoteAddr() net.Addr { return w.remote }

// WriteMsg implements dns.ResponseWriter: it keeps m.
func (w *Writer) WriteMsg(m *dns.Msg) error {
	w.Msg = m
	w.Writes++
	return nil
}

// Write implements dns.ResponseWriter: it keeps the reply buf holds.
func (w *Writer) Write(buf []byte) (int, error) {
	m := new(dns.Msg)
	if err := m.Unpack(buf); err != nil {
		return 0, err
	}
	return len(buf), w.WriteMsg(m)
}

// Close implements dns.ResponseWriter.
func (w *Writer) Close() error { return nil }

// TsigStatus implements dns.ResponseWriter.
func (w *Writer) TsigStatus() error { return nil }

// TsigTimersOnly implements dns.ResponseWriter.
func (w *Writer) TsigTimersOnly(bool) {}

// Hijack implements dns.ResponseWriter.
func (w *Writer) Hijack() {}
