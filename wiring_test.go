package caapolicy

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/root" // for the log path relative to root

	"github.com/caapolicy/caapolicy/internal/corednstest"
	"github.com/caapolicy/caapolicy/internal/watch"

	"github.com/miekg/dns"
)

// logCorefile is a server block for example.org on port whose caapolicy block holds the lines
// of block after "issue letsencrypt.org" (Corefile line 4); the zone data is exampleOrg in dir.
func logCorefile(port int, dir, block string) string {
	zone := filepath.Join(dir, "example.org.zone")
	if _, err := os.Stat(zone); err != nil {
		os.WriteFile(zone, []byte(exampleOrg), 0o600)
	}
	return fmt.Sprintf("example.org:%d {\n    bind 127.0.0.1\n    caapolicy {\n        issue letsencrypt.org\n%s    }\n    file %s\n}\n", port, block, zone)
}

// nxQueryJSON is the JSON line of a CAA query from 127.0.0.1 for a name of the zone data that
// does not exist, answered by server.
func nxQueryJSON(name, server string) string {
	return `{"type":"query","time":"T","client":"127.0.0.1:P","transport":"udp","name":"` + name + `","edns_bufsize":1232,"do":false,"rcode":"NXDOMAIN","size":` +
		strconv.Itoa(len(name)+112) + `,"tc":false,"owner":"","records":{"policy":0,"zonedata":0,"partners":0},"source":"passthrough","ca":"unknown","zone":"example.org.","server":"` + server + `","node":"` + hostName + `","check":"K"}`
}

// nxCheckJSON is the JSON check event of one query from 127.0.0.1 for such a name.
func nxCheckJSON(name, server string) string {
	return `{"type":"check","level":"info","time":"T","ca":"unknown","name":"` + name + `","zone":"example.org.","queries":1,"addresses":1,"networks":1,"multi_perspective":false,"source_networks":["127.0.0.0/24"],"duration_ms":D,"relevant_owner":"example.org.","relevant_rrset":["0 issue \"letsencrypt.org\"","0 issue \"pki.goog\""],"server":"` + server + `","node":"` + hostName + `","check":"K"}`
}

// readLines returns the lines of the files, in order, normalised.
func readLines(t *testing.T, paths ...string) []string {
	t.Helper()
	var lines []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for l := range strings.SplitSeq(strings.TrimSuffix(string(b), "\n"), "\n") {
			if l != "" {
				lines = append(lines, normalLine(l))
			}
		}
	}
	return lines
}

// waitLines waits, for at most 5 seconds, until the files hold n lines, and returns them.
func waitLines(t *testing.T, n int, paths ...string) []string {
	t.Helper()
	var lines []string
	corednstest.Poll(5*time.Second, 10*time.Millisecond, func() bool {
		lines = readLines(t, paths...)
		return len(lines) >= n
	})
	return lines
}

// logWriter is the function the log writer goroutine runs.
const logWriter = "github.com/caapolicy/caapolicy/internal/watch.(*Pipeline).run"

// caapolicyGoroutines returns, by goroutine id, the top caapolicy function of every goroutine
// running caapolicy code (the log writer's run, for the writer), besides the caller's and those
// answering a query.
func caapolicyGoroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		header, stack, _ := strings.Cut(g, "\n")
		id := strings.Fields(header)[1]
		if strings.Contains(stack, "caapolicy.caapolicyGoroutines") || strings.Contains(stack, "github.com/miekg/dns.(*Server).serve") {
			continue // the caller, and a query still being answered
		}
		if strings.Contains(stack, "\n"+logWriter+"(") {
			out[id] = logWriter
			continue
		}
		for f := range strings.SplitSeq(stack, "\n") {
			if strings.HasPrefix(f, "github.com/caapolicy/caapolicy.") || strings.HasPrefix(f, "github.com/caapolicy/caapolicy/internal/") {
				out[id] = f[:strings.LastIndex(f, "(")]
				break
			}
		}
	}
	return out
}

// TestLogGoroutinesConstant: however many logging blocks a Corefile holds, caapolicy runs one
// writer goroutine for the process, and no goroutine per block; a reload keeps that one.
func TestLogGoroutinesConstant(t *testing.T) {
	dir := t.TempDir()
	for _, blocks := range []int{1, 10, 100} {
		t.Run(fmt.Sprintf("%d blocks", blocks), func(t *testing.T) {
			before := caapolicyGoroutines()
			port := corednstest.FreePort(t)
			var b strings.Builder
			fmt.Fprintf(&b, ".:%d {\n bind 127.0.0.1\n", port)
			for i := range blocks {
				fmt.Fprintf(&b, " caapolicy c%d.test {\n  issue letsencrypt.org\n  log all json %s\n }\n", i, filepath.Join(dir, "caa.json"))
			}
			b.WriteString(" whoami\n}\n")
			inst, udp, _ := corednstest.Start(t, b.String())
			check := func(when string) {
				t.Helper()
				writers := 0
				for id, f := range caapolicyGoroutines() {
					if f == logWriter {
						writers++
					} else if _, old := before[id]; !old {
						t.Errorf("%s: a new goroutine runs %s", when, f)
					}
				}
				if writers != 1 {
					t.Errorf("%s: %d log writers run, want 1", when, writers)
				}
			}
			exchange(t, "udp", udp, caaQuery(fmt.Sprintf("c%d.test.", blocks-1), false, 1232))
			check("after start-up")
			next, err := inst.Restart(corednstest.Corefile(b.String()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { next.ShutdownCallbacks() })
			exchange(t, "udp", udp, caaQuery("c0.test.", false, 1232))
			check("after a reload")
		})
	}
}

// TestLogReloadKeepsEveryLine: queries answered while CoreDNS reloads, over and over, are each
// logged once, with their check events once, in the file named on the log line; the file is
// reopened at each reload, so lines after logrotate's rename go to the new file.
func TestLogReloadKeepsEveryLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "caa.json")
	port := corednstest.FreePort(t)
	cf := logCorefile(port, dir, "        log all json "+path+"\n        checks 100ms\n")
	inst, udp, _ := corednstest.Start(t, cf)
	server := "dns://127.0.0.1:" + strconv.Itoa(port)

	var (
		mu       sync.Mutex
		answered []string
	)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		c := &dns.Client{Net: "udp"}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("q%05d.example.org.", i)
			if r, _, err := c.Exchange(caaQuery(name, false, 1232), udp); err == nil && r.Rcode == dns.RcodeNameError {
				mu.Lock()
				answered = append(answered, name)
				mu.Unlock()
			}
		}
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(answered)
	}
	// wait until n more queries are answered, for at most 5 seconds
	await := func(n int) {
		t.Helper()
		want := count() + n
		if !corednstest.Poll(5*time.Second, time.Millisecond, func() bool { return count() >= want }) {
			t.Fatalf("%d queries answered, want %d", count(), want)
		}
	}
	rotated := filepath.Join(dir, "caa.json.1")
	for reload := range 4 {
		await(50)
		if reload == 2 {
			if err := os.Rename(path, rotated); err != nil { // as logrotate does before the reload
				t.Fatal(err)
			}
		}
		next, err := inst.Restart(corednstest.Corefile(cf))
		if err != nil {
			t.Fatal(err)
		}
		inst = next
	}
	await(50)
	close(stop)
	<-done
	want := map[string]bool{}
	for _, name := range answered {
		want[nxQueryJSON(name, server)] = true
		want[nxCheckJSON(name, server)] = true
	}
	// The server writes a reply before it queues its record: the last records are awaited
	// before the final shutdown, which does not wait for queries still in flight.
	waitLines(t, len(want), rotated, path)
	inst.ShutdownCallbacks()
	lines := readLines(t, rotated, path)
	seen := map[string]int{}
	for _, l := range lines {
		if seen[l]++; !want[l] {
			t.Errorf("unexpected line %s", l)
		}
	}
	for l := range want {
		if seen[l] != 1 {
			t.Errorf("logged %d times, want once: %s", seen[l], l)
		}
	}
	if len(readLines(t, path)) == 0 {
		t.Error("nothing was written to the file reopened after the rename")
	}
	t.Logf("%d queries over 4 reloads, %d lines", len(answered), len(lines))
}

// TestLogBadReload: a reload whose log file cannot be opened fails with the Corefile line and
// the fix, and one that fails after caapolicy's start-up hooks lets go of the file it opened;
// either way the old instance keeps logging to its file.
func TestLogBadReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "caa.json")
	port := corednstest.FreePort(t)
	cf := logCorefile(port, dir, "        log all json "+path+"\n        checks off\n")
	inst, udp, _ := corednstest.Start(t, cf)
	t.Cleanup(func() { inst.ShutdownCallbacks() })
	server := "dns://127.0.0.1:" + strconv.Itoa(port)

	t.Run("file cannot be opened", func(t *testing.T) {
		missing := filepath.Join(dir, "missing", "caa.json")
		_, err := inst.Restart(corednstest.Corefile(logCorefile(port, dir, "        log all json "+missing+"\n")))
		want := "plugin/caapolicy: Corefile:5 - Error during parsing: log file " + missing + ": directory " + filepath.Dir(missing) + " does not exist; create it (writable by CoreDNS's user) or name a file in an existing directory"
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("reload: %v\nwant %s", err, want)
		}
	})
	t.Run("start-up fails after caapolicy's", func(t *testing.T) {
		other := filepath.Join(dir, "other.json")
		bare := strings.Replace(logCorefile(port, dir, "        log all json "+other+"\n"), "    file ", "    #file ", 1)
		_, err := inst.Restart(corednstest.Corefile(bare))
		if err == nil || !strings.Contains(err.Error(), "zonedata merge needs the zone data after caapolicy") {
			t.Fatalf("reload without zone data: %v", err)
		}
		// The writer closes it in the background, after the lines it holds.
		if !corednstest.Poll(5*time.Second, 10*time.Millisecond, func() bool { return openCount(t, other) == 0 }) {
			t.Errorf("the failed instance's log file %s is still held", other)
		}
	})
	t.Run("old instance logs", func(t *testing.T) {
		exchange(t, "udp", udp, caaQuery("after.example.org.", false, 1232))
		want := nxQueryJSON("after.example.org.", server)
		lines := waitLines(t, 1, path)
		if len(lines) != 1 || lines[0] != want {
			t.Errorf("old file holds\n%q\nwant\n%q", lines, want)
		}
	})
}

// TestLogDestinations: text lines to a file relative to the working directory, JSON lines to a
// Unix socket, and two blocks writing to one file through one sink.
func TestLogDestinations(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Run("text to a relative file", func(t *testing.T) {
		port := corednstest.FreePort(t)
		inst, udp, _ := corednstest.Start(t, logCorefile(port, dir, "        log all logs/caa.log\n        checks off\n"))
		t.Cleanup(func() { inst.ShutdownCallbacks() })
		exchange(t, "udp", udp, caaQuery("www.example.org.", false, 0))
		want := `[INFO] plugin/caapolicy: T 127.0.0.1:P udp "www.example.org." edns=none do=0 NOERROR size=117 tc=0 owner=- policy=0 zone=0 partners=0 source=passthrough ca=unknown node=` + hostName + ` check=K`
		if lines := waitLines(t, 1, filepath.Join(dir, "logs", "caa.log")); len(lines) != 1 || lines[0] != want {
			t.Errorf("got %q\nwant %q", lines, want)
		}
	})
	t.Run("relative to root", func(t *testing.T) {
		root := t.TempDir()
		if err := os.Mkdir(filepath.Join(root, "logs"), 0o755); err != nil {
			t.Fatal(err)
		}
		port := corednstest.FreePort(t)
		cf := strings.Replace(logCorefile(port, dir, "        log json logs/caa.json\n        checks off\n"), "    bind 127.0.0.1\n", "    bind 127.0.0.1\n    root "+root+"\n", 1)
		inst, udp, _ := corednstest.Start(t, cf)
		t.Cleanup(func() { inst.ShutdownCallbacks() })
		exchange(t, "udp", udp, caaQuery("nx.example.org.", false, 1232))
		want := nxQueryJSON("nx.example.org.", "dns://127.0.0.1:"+strconv.Itoa(port))
		if lines := waitLines(t, 1, filepath.Join(root, "logs", "caa.json")); len(lines) != 1 || lines[0] != want {
			t.Errorf("got %q\nwant %q", lines, want)
		}
	})
	t.Run("JSON to a unix socket", func(t *testing.T) {
		sock := filepath.Join(dir, "collector.sock")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		lines := make(chan string, 16)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			for s := bufio.NewScanner(c); s.Scan(); {
				lines <- s.Text()
			}
		}()
		port := corednstest.FreePort(t)
		inst, udp, _ := corednstest.Start(t, logCorefile(port, dir, "        log json unix:"+sock+"\n        checks off\n"))
		t.Cleanup(func() { inst.ShutdownCallbacks() })
		exchange(t, "udp", udp, caaQuery("nx.example.org.", false, 1232))
		select {
		case l := <-lines:
			if want := nxQueryJSON("nx.example.org.", "dns://127.0.0.1:"+strconv.Itoa(port)); normalLine(l) != want {
				t.Errorf("got %s\nwant %s", normalLine(l), want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no line on the socket")
		}
	})
	t.Run("unix socket after the collector restarts", func(t *testing.T) {
		buf := corednstest.CaptureLog(t)
		sock := filepath.Join(dir, "restarting.sock")
		lines := make(chan string, 64)
		listen := func() (net.Listener, chan net.Conn) {
			ln, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			conns := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				conns <- c
				for s := bufio.NewScanner(c); s.Scan(); {
					lines <- normalLine(s.Text())
				}
			}()
			return ln, conns
		}
		ln, conns := listen()
		port := corednstest.FreePort(t)
		server := "dns://127.0.0.1:" + strconv.Itoa(port)
		inst, udp, _ := corednstest.Start(t, logCorefile(port, dir, "        log json unix:"+sock+"\n        checks off\n"))
		t.Cleanup(func() { inst.ShutdownCallbacks() })
		exchange(t, "udp", udp, caaQuery("before.example.org.", false, 1232))
		if got := <-lines; got != nxQueryJSON("before.example.org.", server) {
			t.Fatalf("first line %s", got)
		}
		// The collector restarts: its connection and socket go, a new one listens.
		(<-conns).Close()
		ln.Close()
		ln, _ = listen()
		defer ln.Close()
		deadline := time.After(5 * time.Second)
		for i := 0; ; i++ {
			name := fmt.Sprintf("after%d.example.org.", i)
			exchange(t, "udp", udp, caaQuery(name, false, 1232))
			select {
			case got := <-lines:
				if !strings.HasPrefix(got, `{"type":"query","time":"T","client":"127.0.0.1:P","transport":"udp","name":"after`) || !strings.HasSuffix(got, `"server":"`+server+`","node":"`+hostName+`","check":"K"}`) {
					t.Errorf("first line after the restart: %s", got)
				}
			case <-time.After(100 * time.Millisecond):
				continue
			case <-deadline:
				t.Fatalf("no line after the collector restarted; log:\n%s", buf.String())
			}
			break
		}
		want := "[WARNING] plugin/caapolicy: writing the query log to unix:" + sock + ": broken pipe; lines are lost until it works again\n" +
			"[INFO] plugin/caapolicy: writing the query log to unix:" + sock + " works again\n"
		buf.WaitFor(sock+" works again", 5*time.Second) // the writer logs it after the write
		// Servers other tests left running log their check events there too: read this socket's.
		if got := grepLines(buf.String(), "unix:"+sock) + "\n"; got != want {
			t.Errorf("CoreDNS's log holds\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("two blocks share one file", func(t *testing.T) {
		port := corednstest.FreePort(t)
		zone := filepath.Join(dir, "example.org.zone")
		cf := fmt.Sprintf(`example.org:%d example.net:%d {
    bind 127.0.0.1
    caapolicy example.org {
        issue letsencrypt.org
        log json logs/shared.json
        checks off
    }
    caapolicy example.net {
        issue none
        log json ./logs/../logs/shared.json
        checks off
    }
    file %s example.org
    whoami
}
`, port, port, zone)
		inst, udp, _ := corednstest.Start(t, cf)
		t.Cleanup(func() { inst.ShutdownCallbacks() })
		if n := openCount(t, filepath.Join(dir, "logs", "shared.json")); n != 1 {
			t.Fatalf("the file the two blocks write to is open %d times, want once", n)
		}
		exchange(t, "udp", udp, caaQuery("nx.example.org.", false, 1232))
		exchange(t, "udp", udp, caaQuery("example.net.", false, 1232))
		lines := waitLines(t, 2, filepath.Join(dir, "logs", "shared.json"))
		server := "dns://127.0.0.1:" + strconv.Itoa(port)
		want := []string{nxQueryJSON("nx.example.org.", server),
			`{"type":"query","time":"T","client":"127.0.0.1:P","transport":"udp","name":"example.net.","edns_bufsize":1232,"do":false,"rcode":"NOERROR","size":71,"tc":false,"owner":"example.net.","records":{"policy":1,"zonedata":0,"partners":0},"source":"policy","ca":"unknown","zone":"example.net.","server":"` + server + `","node":"` + hostName + `","check":"K"}`}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestLogDestErrors: a destination that cannot be opened is a Corefile error naming the line and
// the fix; the grammar refuses what is not a path.
func TestLogDestErrors(t *testing.T) {
	dir := t.TempDir()
	notSocket := filepath.Join(dir, "plain")
	write(t, notSocket, "")
	for _, tc := range []struct{ name, line, want string }{
		{"missing directory", "log json " + dir + "/nodir/caa.json",
			"Testfile:2 - Error during parsing: log file " + dir + "/nodir/caa.json: directory " + dir + "/nodir does not exist; create it (writable by CoreDNS's user) or name a file in an existing directory"},
		{"directory", "log json " + dir,
			"Testfile:2 - Error during parsing: log file " + dir + " is a directory; name a file in it, such as " + dir + "/caapolicy.json"},
		{"no socket", "log json unix:" + dir + "/none.sock",
			"Testfile:2 - Error during parsing: log socket " + dir + "/none.sock: no such file or directory; start the collector that listens there first, or write the log to a file"},
		{"not a socket", "log json unix:" + notSocket,
			"Testfile:2 - Error during parsing: log socket " + notSocket + " is not a socket; name the Unix socket the collector listens on, or drop unix: to write to a file"},
		{"empty socket path", "log json unix:",
			`Testfile:2 - Error during parsing: log destination "unix:" names no path; write a file such as /var/log/coredns/caa.json, or unix:/run/collector.sock`},
		{"not a path", "log json caa.json",
			"Testfile:2 - Error during parsing: log takes all or none, json, and a file path (with a /, as ./caapolicy.json) or unix:SOCKET to write to: log all json /var/log/coredns/caapolicy.json"},
		{"two destinations", "log json ./a.json ./b.json",
			"Testfile:2 - Error during parsing: log takes all or none, json, and a file path (with a /, as ./caapolicy.json) or unix:SOCKET to write to: log all json /var/log/coredns/caapolicy.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", "caapolicy example.org {\n "+tc.line+"\n issue letsencrypt.org\n}")
			c.ServerBlockKeys = []string{"example.org:53"}
			err := setup(c)
			if err == nil || err.Error() != "plugin/caapolicy: "+tc.want {
				t.Errorf("got  %v\nwant plugin/caapolicy: %s", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "nodir")); err == nil {
		t.Error("reading the Corefile created the directory")
	}
}

// openCount returns how many of the process's file descriptors are open on path; the test is
// skipped where /proc/self/fd does not tell.
func openCount(t *testing.T, path string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("open files cannot be listed: %v", err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && target == path {
			n++
		}
	}
	return n
}

// TestShareCATable: blocks of one load listing the same CA ranges, in any order, share one
// table; a block with other ranges has its own, and attributes by its own.
func TestShareCATable(t *testing.T) {
	c := caddy.NewTestController("dns", `caapolicy a.test {
		issue letsencrypt.org
		ca letsencrypt.org 66.133.109.0/24 2600:3000::/29
		ca sectigo.com 91.199.212.0/24
	}
	caapolicy b.test {
		issue letsencrypt.org
		ca sectigo.com 91.199.212.0/24
		ca letsencrypt.org 2600:3000::/29 66.133.109.0/24
	}
	caapolicy c.test {
		issue letsencrypt.org
		ca letsencrypt.org 66.133.109.0/24 2600:3000::/29
		ca sectigo.com 91.199.213.0/24
	}
	caapolicy d.test {
		issue letsencrypt.org
	}`)
	c.ServerBlockKeys = []string{"."}
	if err := setup(c); err != nil {
		t.Fatal(err)
	}
	var hs []*CAAPolicy
	for _, p := range dnsserver.GetConfig(c).Plugin {
		if h, ok := p(nil).(*CAAPolicy); ok {
			hs = append(hs, h)
		}
	}
	if len(hs) != 4 {
		t.Fatalf("%d handlers, want 4", len(hs))
	}
	for _, tc := range []struct {
		name   string
		x, y   int
		shared bool
	}{
		{"same lines in another order", 0, 1, true},
		{"another prefix", 0, 2, false},
		{"no ca lines", 0, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := hs[tc.x].cas == hs[tc.y].cas; got != tc.shared {
				t.Errorf("blocks %d and %d share a table: %v, want %v", tc.x, tc.y, got, tc.shared)
			}
		})
	}
	t.Run("attribution", func(t *testing.T) {
		for i, want := range []string{"sectigo.com", "sectigo.com", watch.UnknownCA, watch.UnknownCA} {
			if got := hs[i].cas.Lookup(netip.MustParseAddr("91.199.212.7")); got != want {
				t.Errorf("block %d attributes 91.199.212.7 to %s, want %s", i, got, want)
			}
		}
	})
}

// TestNodeSetting: node names the server in every line of the block; without it the host name
// does; a missing, doubled or unprintable name is a Corefile error at its line.
func TestNodeSetting(t *testing.T) {
	for _, tc := range []struct{ name, lines, node, err string }{
		{"named", "node ns1.example.net", "ns1.example.net", ""},
		{"the host name by default", "", hostName, ""},
		{"no name", "node", "", "Testfile:3 - Error during parsing: node takes the name of this server in the query log, in letters, digits, '.', '-' and '_': node ns1.example.net"},
		{"two names", "node ns1 ns2", "", "Testfile:3 - Error during parsing: node takes the name of this server in the query log, in letters, digits, '.', '-' and '_': node ns1.example.net"},
		{"a name with a quote", `node ns1"x`, "", "Testfile:3 - Error during parsing: node takes the name of this server in the query log, in letters, digits, '.', '-' and '_': node ns1.example.net"},
		{"a name with a space", `node "ns 1"`, "", "Testfile:3 - Error during parsing: node takes the name of this server in the query log, in letters, digits, '.', '-' and '_': node ns1.example.net"},
		{"set twice", "node ns1\n node ns2", "", "Testfile:4 - Error during parsing: node is set twice; keep one node line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", "caapolicy example.org {\n issue letsencrypt.org\n "+tc.lines+"\n}")
			c.Next()
			h, err := newHandler(c)
			switch {
			case tc.err != "":
				if err == nil || err.Error() != tc.err {
					t.Errorf("got %v\nwant %s", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case h.qlog.Config().Node != tc.node:
				t.Errorf("node %q, want %q", h.qlog.Config().Node, tc.node)
			}
		})
	}
}
