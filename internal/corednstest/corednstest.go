// Package corednstest starts real CoreDNS servers on loopback for the tests of caapolicy and
// caacheck. The caller imports the plugins its Corefiles use and sets the plugin order.
//
// It also holds what those tests share besides: Writer, the one fake dns.ResponseWriter; Buffer
// and CaptureLog, to read a log and wait for a line in it; Poll, to wait on what announces
// nothing. Tests wait on events with a deadline, never for a fixed time.
package corednstest

import (
	"fmt"
	"net"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
)

// Corefile is a Corefile held in memory (caddy.Input).
type Corefile string

// Body implements caddy.Input.
func (c Corefile) Body() []byte { return []byte(c) }

// Path implements caddy.Input.
func (c Corefile) Path() string { return "Corefile" }

// ServerType implements caddy.Input.
func (c Corefile) ServerType() string { return "dns" }

// Start starts a CoreDNS instance and stops it when the test ends. The Corefile's server blocks
// must use port 0 (a free port) and bind 127.0.0.1. It returns the first server's UDP and TCP
// addresses.
func Start(t testing.TB, cf string) (inst *caddy.Instance, udp, tcp string) {
	t.Helper()
	caddy.Quiet, dnsserver.Quiet = true, true
	inst, err := caddy.Start(Corefile(cf))
	if err != nil {
		t.Fatalf("CoreDNS did not start: %v\n%s", err, cf)
	}
	t.Cleanup(func() { inst.Stop() })
	udp, tcp = Addrs(inst)
	return inst, udp, tcp
}

// Addrs returns the UDP and TCP addresses of the instance's first server.
func Addrs(inst *caddy.Instance) (udp, tcp string) {
	s := inst.Servers()[0]
	return s.LocalAddr().String(), s.Addr().String()
}

// FreePort returns a loopback port that is free for UDP and TCP at the time of asking.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free loopback port")
	return 0
}
