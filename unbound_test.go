package caapolicy

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/caapolicy/caapolicy/internal/corednstest"
)

// needProgram returns the path of an outside program a test needs. Outside CI a missing program
// skips the test; in CI (CI set, as .ci/run installs everything) it fails it.
func needProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; .ci/run installs it with apt-get", name)
	}
	t.Skipf("%s is not installed (apt-get install %s)", name, name)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// startUnbound starts Debian's unbound on a loopback port as a validating resolver that sends
// every example.org query to the CoreDNS at coredns and trusts key for example.org.
func startUnbound(t *testing.T, coredns string, key *dns.DNSKEY) string {
	t.Helper()
	bin := needProgram(t, "unbound")
	dir := t.TempDir()
	port := corednstest.FreePort(t)
	host, cport, _ := net.SplitHostPort(coredns)
	conf := fmt.Sprintf(`server:
	interface: 127.0.0.1
	port: %d
	do-ip6: no
	do-daemonize: no
	username: ""
	chroot: ""
	directory: "%s"
	pidfile: ""
	use-syslog: no
	logfile: ""
	verbosity: 1
	val-log-level: 2
	num-threads: 1
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	use-caps-for-id: yes
	aggressive-nsec: yes
	qname-minimisation: no
	module-config: "validator iterator"
	trust-anchor: "%s"
stub-zone:
	name: "example.org."
	stub-addr: %s@%s
`, port, dir, strings.ReplaceAll(key.String(), "\t", " "), host, cport)
	confPath := filepath.Join(dir, "unbound.conf")
	write(t, confPath, conf)

	out := runDaemon(t, "unbound", bin, "-d", "-c", confPath)
	return waitSOA(t, "unbound", fmt.Sprintf("127.0.0.1:%d", port), out)
}

// runDaemon runs bin with args until the test ends; its output is kept, and shown if the test
// fails.
func runDaemon(t *testing.T, what, bin string, args ...string) *corednstest.Buffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	out := &corednstest.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", what, out.String())
		}
	})
	return out
}

// waitSOA waits until the server at addr answers example.org SOA with NOERROR, and returns addr.
// A daemon announces nothing a test can wait on, so its answer is polled, up to 20 s.
func waitSOA(t *testing.T, what, addr string, out *corednstest.Buffer) string {
	t.Helper()
	m := new(dns.Msg).SetQuestion("example.org.", dns.TypeSOA)
	if !corednstest.Poll(20*time.Second, 100*time.Millisecond, func() bool {
		r, _, err := new(dns.Client).Exchange(m, addr)
		return err == nil && r.Rcode == dns.RcodeSuccess
	}) {
		t.Fatalf("%s did not answer on %s:\n%s", what, addr, out.String())
	}
	return addr
}

// TestUnboundValidates proves that a validating Unbound resolves caapolicy's answers as secure:
// policy, merged and empty CAA answers, asked in mixed case (and sent on by Unbound with random
// case, use-caps-for-id).
func TestUnboundValidates(t *testing.T) {
	dir := t.TempDir()
	zonePath, keyBase, key := signedZone(t, dir, exampleOrg)
	_, udp, _ := corednstest.Start(t, e2eCorefile(zonePath, keyBase, e2ePolicy("")))
	resolver := startUnbound(t, udp, key)

	big := make([]string, 30)
	for i := range big {
		big[i] = fmt.Sprintf("issue ca%02d.example", i)
	}
	for _, tc := range []struct {
		name  string
		qname string
		rcode int
		want  []string // the CAA properties of the answer, as "tag value"
	}{
		{"policy merged with zone data", "ExAmPlE.oRg.", dns.RcodeSuccess, []string{"iodef mailto:security@example.org", "issue letsencrypt.org", "issue pki.goog"}},
		{"policy alone, NODATA in the zone", "WwW.eXaMpLe.OrG.", dns.RcodeSuccess, []string{"issue pki.goog"}},
		{"CNAME at a policy owner to the target's policy", "AlIaS.example.org.", dns.RcodeSuccess, []string{"issue pki.goog"}},
		{"CNAME to a name that is no policy owner, to the zone data", "CnAmE.example.org.", dns.RcodeSuccess, []string{"issue ssl.com"}},
		{"NODATA", "nS1.ExAmple.org.", dns.RcodeSuccess, nil},
		// The dnssec plugin's black lies turn it into NODATA with an NSEC proof.
		{"NXDOMAIN as NODATA with an NSEC proof", "MiSsInG.example.org.", dns.RcodeSuccess, nil},
		{"an RRset larger than 1232 bytes once signed, retried over TCP", "BiG.example.org.", dns.RcodeSuccess, big},
		{"a 300-byte value", "LoNg.example.org.", dns.RcodeSuccess, []string{"tbs " + strings.Repeat("v", 300)}},
	} {
		t.Run(tc.name+" validates as secure", func(t *testing.T) {
			m := new(dns.Msg).SetQuestion(tc.qname, dns.TypeCAA)
			m.SetEdns0(4096, true)
			r := exchange(t, "tcp", resolver, m)
			if !r.AuthenticatedData {
				t.Errorf("%s: AD=0 (rcode %s), want a secure answer", tc.qname, dns.RcodeToString[r.Rcode])
			}
			if r.Rcode != tc.rcode {
				t.Errorf("%s: rcode %s, want %s", tc.qname, dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			var got []string
			for _, rr := range r.Answer {
				if caa, ok := rr.(*dns.CAA); ok {
					got = append(got, caa.Tag+" "+caa.Value)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: CAA\n got %q\nwant %q", tc.qname, got, tc.want)
			}
		})
	}
}
