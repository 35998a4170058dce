package caapolicy

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/core/dnsserver"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	tap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
)

// TestDnstapMetadata runs README's dnstap example (examples/dnstap) with CoreDNS's dnstap plugin
// writing to Debian's dnstap command, which relays every message to the test, and requires the
// extra field README describes on every message: the CA on each, the answer source on the
// CLIENT_RESPONSE of each CAA query (the CLIENT_QUERY is written before caapolicy answers).
func TestDnstapMetadata(t *testing.T) {
	bin := needProgram(t, "dnstap")
	cf, err := os.ReadFile(filepath.Join("examples", "dnstap", "Corefile"))
	if err != nil {
		t.Fatal(err)
	}
	zone, err := os.ReadFile(filepath.Join("examples", "dnstap", "example.org.zone"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "example.org.zone"), string(zone))
	in, out := filepath.Join(dir, "in.sock"), filepath.Join(dir, "out.sock")
	messages := receiveDnstap(t, out)

	// dnstap -u reads CoreDNS's messages; -U passes each frame on, unchanged, to the test.
	relay := exec.Command(bin, "-u", in, "-U", out)
	var stderr corednstest.Buffer
	relay.Stderr = &stderr
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Process.Kill(); relay.Wait() })
	if !stderr.WaitFor("opened input socket", 10*time.Second) {
		t.Fatalf("dnstap -u %s did not open its socket:\n%s", in, stderr.String())
	}

	// The example's socket, and its documentation prefixes replaced by loopback ones the test
	// sends from.
	corefile := string(cf)
	for _, r := range [][2]string{
		{"unix:///run/coredns/dnstap.sock", "unix://" + in},
		{"ca letsencrypt.org 192.0.2.0/24", "ca letsencrypt.org 127.0.1.0/24"},
		{"ca pki.goog 198.51.100.0/24", "ca pki.goog 127.0.2.0/24"},
	} {
		if !strings.Contains(corefile, r[0]) {
			t.Fatalf("examples/dnstap/Corefile has no %q", r[0])
		}
		corefile = strings.Replace(corefile, r[0], r[1], 1)
	}
	t.Chdir(dir)
	defer func(p string) { dnsserver.Port = p }(dnsserver.Port)
	dnsserver.Port = strconv.Itoa(corednstest.FreePort(t))
	_, udp, _ := corednstest.Start(t, bindLoopback(corefile))

	// Each query comes from an address of its own, which names its messages.
	cases := []struct {
		name, from, qname string
		qtype             uint16
		query, response   string // the extra field of its CLIENT_QUERY and CLIENT_RESPONSE
	}{
		{"policy united with zone data", "127.0.1.1", "example.org.", dns.TypeCAA, "ca=letsencrypt.org src=", "ca=letsencrypt.org src=merged"},
		{"policy alone", "127.0.1.2", "www.example.org.", dns.TypeCAA, "ca=letsencrypt.org src=", "ca=letsencrypt.org src=policy"},
		{"zone data with partners", "127.0.2.1", "mail.example.org.", dns.TypeCAA, "ca=pki.goog src=", "ca=pki.goog src=partners"},
		{"zone data NODATA", "127.0.2.2", "shop.example.org.", dns.TypeCAA, "ca=pki.goog src=", "ca=pki.goog src=passthrough"},
		{"NXDOMAIN from an unknown resolver", "127.0.3.1", "nope.example.org.", dns.TypeCAA, "ca=unknown src=", "ca=unknown src=passthrough"},
		{"a query of another type", "127.0.1.3", "example.org.", dns.TypeA, "ca=letsencrypt.org src=", "ca=letsencrypt.org src="},
	}
	for _, c := range cases {
		client := &dns.Client{Net: "udp", Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(c.from)}}}
		if _, _, err := client.Exchange(new(dns.Msg).SetQuestion(c.qname, c.qtype), udp); err != nil {
			t.Fatalf("%s %s from %s: %v", c.qname, dns.TypeToString[c.qtype], c.from, err)
		}
	}

	// CoreDNS flushes its dnstap output every second, the relay every five.
	got := map[string][]string{} // source address -> "TYPE extra" of each message, in order
	deadline := time.After(20 * time.Second)
	for n := 0; n < 2*len(cases); n++ {
		select {
		case m := <-messages:
			from := net.IP(m.Message.QueryAddress).String()
			got[from] = append(got[from], m.Message.GetType().String()+" "+string(m.Extra))
		case <-deadline:
			t.Fatalf("%d dnstap messages within 20 s, want %d: %q", n, 2*len(cases), got)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := []string{"CLIENT_QUERY " + c.query, "CLIENT_RESPONSE " + c.response}
			if !slices.Equal(got[c.from], want) {
				t.Errorf("dnstap messages from %s (%s %s): %q, want %q", c.from, c.qname, dns.TypeToString[c.qtype], got[c.from], want)
			}
		})
	}
}

// receiveDnstap listens on the Unix socket path as a dnstap collector (bidirectional Frame
// Streams) and sends each message decoded from its first connection to the channel.
func receiveDnstap(t *testing.T, path string) <-chan *tap.Dnstap {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	messages := make(chan *tap.Dnstap)
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go func() { <-done; conn.Close() }()
		r, err := tap.NewReader(conn, &tap.ReaderOptions{Bidirectional: true, Timeout: 10 * time.Second})
		if err != nil {
			return
		}
		dec := tap.NewDecoder(r, 64<<10)
		for {
			m := new(tap.Dnstap)
			if err := dec.Decode(m); err != nil {
				return
			}
			select {
			case messages <- m:
			case <-done:
				return
			}
		}
	}()
	return messages
}
