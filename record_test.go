package caapolicy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"

	"github.com/caapolicy/caapolicy/internal/corednstest"
	"github.com/caapolicy/caapolicy/internal/served"
	"github.com/caapolicy/caapolicy/internal/watch"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// logHandler is a handler over the file zone of the partner tests with the given extra lines;
// its query log, if any, has a pipeline of its own (privateLog), not started.
func logHandler(t *testing.T, extra string) *CAAPolicy {
	t.Helper()
	z, err := corednstest.FileZone(partnerZone, "example.org.")
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHandler(t, "caapolicy example.org {\n issue letsencrypt.org\n partners letsencrypt.org sectigo.com\n name pol { issue digicert.com }\n"+extra+"\n}", z)
	if h.qlog != nil {
		privateLog(h)
	}
	return h
}

// query sends a CAA query through h from the client w describes.
func query(t *testing.T, h *CAAPolicy, w *test.ResponseWriter, qname string, bufsize uint16, do bool) {
	t.Helper()
	m := new(dns.Msg).SetQuestion(qname, dns.TypeCAA)
	if bufsize > 0 {
		m.SetEdns0(bufsize, do)
	}
	if _, err := h.ServeDNS(context.Background(), dnstest.NewRecorder(w), m); err != nil {
		t.Fatal(err)
	}
}

// normalLines returns the lines of s, normalised (normalLine).
func normalLines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(strings.TrimSuffix(s, "\n"), "\n") {
		out = append(out, normalLine(l))
	}
	return out
}

// TestQueryLogLines checks the exact text line and the JSON object of each answer kind, as record
// hands each query to the watcher: the owner, the records from each source, the reply's size.
func TestQueryLogLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		log  string
		want []string
	}{
		{"text", "log all", []string{
			`[INFO] plugin/caapolicy: T 10.240.0.1:40212 udp "Example.ORG." edns=1232 do=1 NOERROR size=153 tc=0 owner=example.org. policy=1 zone=1 partners=1 source=merged ca=letsencrypt.org node=ns1 check=K`,
			`[INFO] plugin/caapolicy: T 10.240.0.1:40212 udp "pol.example.org." edns=none do=0 NOERROR size=128 tc=0 owner=pol.example.org. policy=1 zone=0 partners=2 source=policy ca=letsencrypt.org node=ns1 check=K`,
			`[INFO] plugin/caapolicy: T 192.0.2.9:40212 tcp "wild.example.org." edns=4096 do=0 NOERROR size=372 tc=0 owner=wild.example.org. policy=0 zone=2 partners=4 source=partners ca=unknown node=ns1 check=K`,
			`[INFO] plugin/caapolicy: T 192.0.2.9:40212 tcp "iodef.example.org." edns=4096 do=0 NOERROR size=138 tc=0 owner=iodef.example.org. policy=0 zone=1 partners=0 source=passthrough ca=unknown node=ns1 check=K`,
			`[INFO] plugin/caapolicy: T 10.240.0.1:40212 udp "nx.example.org." edns=1232 do=0 NXDOMAIN size=116 tc=0 owner=- policy=0 zone=0 partners=0 source=passthrough ca=letsencrypt.org node=ns1 check=K`,
			`[INFO] plugin/caapolicy: T 10.240.0.1:40212 udp "a\010[ERROR]\000\".example.org." edns=1232 do=0 NXDOMAIN size=125 tc=0 owner=- policy=0 zone=0 partners=0 source=passthrough ca=letsencrypt.org node=ns1 check=K`,
		}},
		{"json", "log all json", []string{
			`{"type":"query","time":"T","client":"10.240.0.1:40212","transport":"udp","name":"Example.ORG.","edns_bufsize":1232,"do":true,"rcode":"NOERROR","size":153,"tc":false,"owner":"example.org.","records":{"policy":1,"zonedata":1,"partners":1},"source":"merged","ca":"letsencrypt.org","zone":"example.org.","server":"","node":"ns1","check":"K"}`,
			`{"type":"query","time":"T","client":"10.240.0.1:40212","transport":"udp","name":"pol.example.org.","edns_bufsize":0,"do":false,"rcode":"NOERROR","size":128,"tc":false,"owner":"pol.example.org.","records":{"policy":1,"zonedata":0,"partners":2},"source":"policy","ca":"letsencrypt.org","zone":"example.org.","server":"","node":"ns1","check":"K"}`,
			`{"type":"query","time":"T","client":"192.0.2.9:40212","transport":"tcp","name":"wild.example.org.","edns_bufsize":4096,"do":false,"rcode":"NOERROR","size":372,"tc":false,"owner":"wild.example.org.","records":{"policy":0,"zonedata":2,"partners":4},"source":"partners","ca":"unknown","zone":"example.org.","server":"","node":"ns1","check":"K"}`,
			`{"type":"query","time":"T","client":"192.0.2.9:40212","transport":"tcp","name":"iodef.example.org.","edns_bufsize":4096,"do":false,"rcode":"NOERROR","size":138,"tc":false,"owner":"iodef.example.org.","records":{"policy":0,"zonedata":1,"partners":0},"source":"passthrough","ca":"unknown","zone":"example.org.","server":"","node":"ns1","check":"K"}`,
			`{"type":"query","time":"T","client":"10.240.0.1:40212","transport":"udp","name":"nx.example.org.","edns_bufsize":1232,"do":false,"rcode":"NXDOMAIN","size":116,"tc":false,"owner":"","records":{"policy":0,"zonedata":0,"partners":0},"source":"passthrough","ca":"letsencrypt.org","zone":"example.org.","server":"","node":"ns1","check":"K"}`,
			`{"type":"query","time":"T","client":"10.240.0.1:40212","transport":"udp","name":"a\\010[ERROR]\\000\\\".example.org.","edns_bufsize":1232,"do":false,"rcode":"NXDOMAIN","size":125,"tc":false,"owner":"","records":{"policy":0,"zonedata":0,"partners":0},"source":"passthrough","ca":"letsencrypt.org","zone":"example.org.","server":"","node":"ns1","check":"K"}`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := logHandler(t, "ca letsencrypt.org 10.240.0.0/16\nchecks off\nnode ns1\n"+tc.log)
			var out syncBuffer
			logTo(h, &out)
			startLog(t, h)
			udp := &test.ResponseWriter{}
			tcp := &test.ResponseWriter{TCP: true, RemoteIP: "192.0.2.9"}
			query(t, h, udp, "Example.ORG.", 1232, true)        // merged: policy + zone data + partners
			query(t, h, udp, "pol.example.org.", 0, false)      // policy with partners, no zone data there
			query(t, h, tcp, "wild.example.org.", 4096, false)  // zone data with partner records
			query(t, h, tcp, "iodef.example.org.", 4096, false) // zone data unchanged
			query(t, h, udp, "nx.example.org.", 1232, false)    // NXDOMAIN from the zone data
			query(t, h, udp, "a\n[ERROR]\x00\".example.org.", 1232, false)
			if err := h.qlog.Shutdown(); err != nil { // the writer has written every line
				t.Fatal(err)
			}
			got := normalLines(out.String())
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestQueryLogText checks that text lines go through CoreDNS's log with the plugin prefix.
func TestQueryLogText(t *testing.T) {
	buf := captureLog(t)
	h := logHandler(t, "checks off")
	startLog(t, h)
	query(t, h, &test.ResponseWriter{}, "pol.example.org.", 0, false)
	if err := h.qlog.Shutdown(); err != nil {
		t.Fatal(err)
	}
	want := "[INFO] plugin/caapolicy: T 10.240.0.1:40212 udp \"pol.example.org.\" edns=none do=0 NOERROR size=128 tc=0 owner=pol.example.org. policy=1 zone=0 partners=2 source=policy ca=unknown node=" + hostName + " check=K\n"
	// Servers other tests left running write to CoreDNS's log too: take this handler's lines only
	// (its client is 10.240.0.1).
	var got string
	for _, l := range strings.SplitAfter(buf.String(), "\n") {
		if strings.Contains(l, " 10.240.0.1:40212 ") {
			got += normalLine(strings.TrimSuffix(l, "\n")) + "\n"
		}
	}
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestQueryLogOff: log none and checks off queue nothing; log none alone writes no query line
// but the check event.
func TestQueryLogOff(t *testing.T) {
	if h := logHandler(t, "log none\nchecks off"); h.qlog != nil {
		t.Error("log none and checks off still queue records")
	}
	h := logHandler(t, "log none")
	if h.qlog == nil || h.qlog.Config().Queries || h.qlog.Config().Window != watch.DefaultWindow {
		t.Fatalf("log none keeps check events: %+v", h.qlog)
	}
	// A buffer of its own, not CoreDNS's log: servers other tests left running still write there.
	buf := &syncBuffer{}
	logTo(h, buf)
	startLog(t, h)
	query(t, h, &test.ResponseWriter{}, "pol.example.org.", 0, false)
	if err := h.qlog.Shutdown(); err != nil {
		t.Fatal(err)
	}
	want := `[INFO] plugin/caapolicy: check by unknown of "pol.example.org." (zone example.org.): 1 queries from 1 addresses from 1 networks in Ds; relevant pol.example.org. [0 issue "digicert.com", 0 issue "letsencrypt.org", 0 issue "sectigo.com"]; node=` + hostName + " check=K\n"
	if got := normalLine(buf.String()); got != want {
		t.Errorf("log none wrote\n%q\nwant only the check event\n%q", got, want)
	}
}

// blockingWriter stalls every write until released, as a full pipe or a hung terminal does.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	return len(p), nil
}

// dropped returns log_dropped_total of the handlers' zone, without server and view.
func dropped() float64 {
	return testutil.ToFloat64(logDroppedTotal.WithLabelValues("", "example.org.", ""))
}

// TestQueryLogStalledWriter proves that a writer that never returns does not slow answers: the
// queue fills, further records are dropped and counted, and every query is answered.
func TestQueryLogStalledWriter(t *testing.T) {
	h := logHandler(t, "log all json\nchecks off")
	w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	logTo(h, w)
	startLog(t, h)

	rw := &test.ResponseWriter{RemoteIP: "198.51.100.77"}
	query(t, h, rw, "pol.example.org.", 0, false)
	<-w.entered // the writer holds the first record and is stuck

	before := dropped()
	const flood = watch.QueueSize + 500
	deadline := time.Now().Add(10 * time.Second)
	for i := range flood {
		m := new(dns.Msg).SetQuestion("pol.example.org.", dns.TypeCAA)
		rec := dnstest.NewRecorder(rw)
		if _, err := h.ServeDNS(context.Background(), rec, m); err != nil || rec.Msg == nil || len(rec.Msg.Answer) != 3 {
			t.Fatalf("query %d was not answered: %v", i, err)
		}
		if time.Now().After(deadline) {
			t.Fatal("answers slowed down behind the stalled writer")
		}
	}
	// One client: its network may hold half the queue, the rest is dropped and counted.
	const want = flood - watch.QueueSize/2
	if got := dropped() - before; got != want {
		t.Errorf("log_dropped_total grew by %v, want %d (the queue holds %d, half for one network)", got, want, watch.QueueSize)
	}
	close(w.release)
	if err := h.qlog.Shutdown(); err != nil {
		t.Fatal(err)
	}
}

// TestFloodDoesNotHideACheck: while the writer is stuck, a flood of random names from one /24
// fills that network's half of the queue; a CA climbing a name from another network is still
// queued, and once the writer runs, its check event appears.
func TestFloodDoesNotHideACheck(t *testing.T) {
	h := logHandler(t, "log none json\nchecks 50ms")
	w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	var out syncBuffer
	logTo(h, io.MultiWriter(w, &out))
	startLog(t, h)
	flooder := &test.ResponseWriter{RemoteIP: "198.51.100.77"}
	query(t, h, flooder, "first.example.org.", 0, false)
	<-w.entered // its event closed after 50ms: the writer is stuck writing it
	before := dropped()
	for i := range watch.QueueSize {
		query(t, h, flooder, fmt.Sprintf("r%d.example.org.", i), 0, false)
	}
	ca := &test.ResponseWriter{RemoteIP: "203.0.113.9"}
	for _, q := range []string{"www.pol.example.org.", "pol.example.org.", "example.org."} {
		query(t, h, ca, q, 0, false)
	}
	if got := dropped() - before; got != watch.QueueSize/2 {
		t.Errorf("dropped %v records, want the flood's overflow, %d", got, watch.QueueSize/2)
	}
	close(w.release)
	if err := h.qlog.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"name":"www.pol.example.org.","zone":"example.org.","queries":3,"addresses":1,"networks":1`) {
		t.Errorf("no check event for the climb from 203.0.113.9:\n%s", grepLines(out.String(), "pol.example"))
	}
}

// verdictHandler: Let's Encrypt at the apex with no wildcards; the zone data adds digicert.com
// at the apex and at wild; the shop lets Sectigo issue wildcards only. Its query log has a
// pipeline of its own.
func verdictHandler(t *testing.T, extra string) *CAAPolicy {
	t.Helper()
	z, err := corednstest.FileZone(partnerZone, "example.org.")
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHandler(t, `caapolicy example.org {
		issue letsencrypt.org
		issuewild none
		name shop { issue letsencrypt.org
		            issuewild sectigo.com }
		ca letsencrypt.org 10.0.0.0/8
		ca sectigo.com 172.16.0.0/12
		ca digicert.com 192.168.0.0/16
		`+extra+`
	}`, z)
	privateLog(h)
	return h
}

// TestCheckEndToEndQueue runs queries through ServeDNS and the writer goroutine, as in a server,
// and checks that each simulated CA check produces one event, judged over what the block serves
// (policy and zone data), and is counted.
func TestCheckEndToEndQueue(t *testing.T) {
	buf := corednstest.CaptureLog(t)
	counter := func(vec *prometheus.CounterVec, labels ...string) float64 {
		return testutil.ToFloat64(vec.WithLabelValues(labels...))
	}
	events := func() float64 { return counter(checkEventsTotal, "", "example.org.", "", "sectigo.com") }
	unauthorized := func() float64 { return counter(unauthorizedChecksTotal, "", "example.org.", "", "sectigo.com") }
	eventsBefore, unauthorizedBefore := events(), unauthorized()

	h := verdictHandler(t, "log none\nchecks 50ms")
	startLog(t, h)
	for _, q := range []string{"www.shop.example.org.", "shop.example.org.", "example.org."} {
		query(t, h, &test.ResponseWriter{RemoteIP: "172.16.5.5"}, q, 1232, false)
	}
	query(t, h, &test.ResponseWriter{RemoteIP: "172.16.9.9"}, "www.example.org.", 1232, false)
	// The writer goroutine closes the events when their window has passed, and logs them.
	if !buf.WaitFor(`check by sectigo.com of "www.example.org."`, 5*time.Second) {
		t.Errorf("no check event logged within 5s of its 50ms window")
	}
	if err := h.qlog.Shutdown(); err != nil {
		t.Fatal(err)
	}
	t.Run("lines", func(t *testing.T) {
		want := []string{
			`[INFO] plugin/caapolicy: check by sectigo.com of "www.shop.example.org." (zone example.org.): 3 queries from 1 addresses from 1 networks in Ds; relevant shop.example.org. [0 issue "letsencrypt.org", 0 issuewild "sectigo.com"]; authorized no, wildcard yes; node=` + hostName + ` check=K`,
			`[WARNING] plugin/caapolicy: check by sectigo.com of "www.example.org." (zone example.org.): 1 queries from 1 addresses from 1 networks in Ds; relevant example.org. [0 issue "letsencrypt.org", 0 issuewild ";", 0 issue "digicert.com"]; NOT AUTHORIZED for the name or its wildcard: no issue property at example.org. authorizes sectigo.com; node=` + hostName + ` check=K`,
		}
		if got := normalLines(grepLines(buf.String(), "check by sectigo.com")); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("check_events_total grows by 2", func(t *testing.T) {
		if got := events() - eventsBefore; got != 2 {
			t.Errorf("check_events_total{ca=sectigo.com} grew by %v, want 2", got)
		}
	})
	t.Run("unauthorized_checks_total grows by 1", func(t *testing.T) {
		if got := unauthorized() - unauthorizedBefore; got != 1 {
			t.Errorf("unauthorized_checks_total{ca=sectigo.com} grew by %v, want 1", got)
		}
	})
}

// TestNodeKeys: two servers of a fleet (node ns1 and ns2), each reached by one perspective of a
// CA's check, write their node names and one check key in every query and event line, so that an
// engine merges their two events into one check from two networks.
func TestNodeKeys(t *testing.T) {
	perspectives := []struct{ node, client, network string }{{"ns1", "203.0.113.9", "203.0.113.0/24"}, {"ns2", "198.51.100.7", "198.51.100.0/24"}}
	var outs []*syncBuffer
	for _, p := range perspectives {
		// A window of a minute: the two events' first queries share its bucket.
		h := logHandler(t, "log all json\nchecks 1m\nnode "+p.node)
		out := &syncBuffer{}
		logTo(h, out)
		startLog(t, h)
		for _, q := range []string{"www.pol.example.org.", "pol.example.org.", "example.org."} {
			query(t, h, &test.ResponseWriter{RemoteIP: p.client}, q, 0, false)
		}
		if err := h.qlog.Shutdown(); err != nil { // writes the open event
			t.Fatal(err)
		}
		outs = append(outs, out)
	}
	keys := map[string]int{}
	for i, p := range perspectives {
		t.Run("lines of "+p.node, func(t *testing.T) {
			lines := strings.Split(strings.TrimSuffix(outs[i].String(), "\n"), "\n")
			if len(lines) != 4 {
				t.Fatalf("%d lines, want 3 queries and the event:\n%s", len(lines), outs[i])
			}
			for _, l := range lines {
				var r struct{ Type, Name, Node, Check string }
				if err := json.Unmarshal([]byte(l), &r); err != nil {
					t.Fatal(err)
				}
				if r.Node != p.node {
					t.Errorf("%s %s: node %q, want %q", r.Type, r.Name, r.Node, p.node)
				}
				keys[r.Check]++
			}
			event := normalLine(lines[3])
			want := `{"type":"check","level":"info","time":"T","ca":"unknown","name":"www.pol.example.org.","zone":"example.org.","queries":3,"addresses":1,"networks":1,"multi_perspective":false,"source_networks":["` + p.network + `"],"duration_ms":D,"relevant_owner":"pol.example.org.","relevant_rrset":["0 issue \"digicert.com\"","0 issue \"letsencrypt.org\"","0 issue \"sectigo.com\""],"server":"","node":"` + p.node + `","check":"K"}`
			if event != want {
				t.Errorf("event\n got %s\nwant %s", event, want)
			}
		})
	}
	if len(keys) != 1 {
		t.Errorf("check keys %v, want one for the 8 lines of both nodes", keys)
	}
}

// TestPersistQueriesWatched: a CA's TXT query for a dns-persist-01 record is logged, counted in
// queries_total and belongs to the CA's check of the name it validates, with the CAA queries of
// that check: with source persist where the policy publishes the record, passthrough (the zone
// data's answer written unchanged) where the zone data does.
func TestPersistQueriesWatched(t *testing.T) {
	for _, tc := range []struct {
		name, policy, qname, validated, source string
		txt                                    string // the TXT record the client gets
		lines                                  []string
		grows                                  float64 // queries_total{source} grows by
	}{
		{"published by the policy", `name app {
			persist letsencrypt.org ` + persistLE + `
		}`, "_validation-persist.app.example.org.", "app.example.org.", sourcePersist, "letsencrypt.org; accounturi=" + persistLE, []string{
			`[INFO] plugin/caapolicy: T 10.1.1.1:40212 udp "_validation-persist.app.example.org." edns=none do=0 NOERROR size=177 tc=0 owner=_validation-persist.app.example.org. policy=1 zone=0 partners=0 source=persist ca=letsencrypt.org node=ns1 check=K`,
			`[INFO] plugin/caapolicy: T 10.1.1.2:40212 udp "app.example.org." edns=none do=0 NOERROR size=117 tc=0 owner=- policy=0 zone=0 partners=0 source=passthrough ca=letsencrypt.org node=ns1 check=K`,
			`[INFO] plugin/caapolicy: check by letsencrypt.org of "app.example.org." (zone example.org.): 2 queries from 2 addresses from 1 networks in Ds; relevant example.org. [0 issue "letsencrypt.org"]; authorized yes, wildcard yes; node=ns1 check=K`,
		}, 1},
		{"answered by the zone data, asked in mixed case", "", "_Validation-Persist.api.example.org.", "api.example.org.", served.Passthrough.String(), "stale.example; accounturi=https://stale.example/acct/1", []string{
			`[INFO] plugin/caapolicy: T 10.1.1.1:40212 udp "_Validation-Persist.api.example.org." edns=none do=0 NOERROR size=195 tc=0 owner=_validation-persist.api.example.org. policy=0 zone=1 partners=0 source=passthrough ca=letsencrypt.org node=ns1 check=K`,
			`[INFO] plugin/caapolicy: T 10.1.1.2:40212 udp "api.example.org." edns=none do=0 NOERROR size=117 tc=0 owner=- policy=0 zone=0 partners=0 source=passthrough ca=letsencrypt.org node=ns1 check=K`,
			`[INFO] plugin/caapolicy: check by letsencrypt.org of "api.example.org." (zone example.org.): 2 queries from 2 addresses from 1 networks in Ds; relevant example.org. [0 issue "letsencrypt.org"]; authorized yes, wildcard yes; node=ns1 check=K`,
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z, err := corednstest.FileZone(persistZoneData, "example.org.")
			if err != nil {
				t.Fatal(err)
			}
			h := newTestHandler(t, `caapolicy example.org {
				issue letsencrypt.org
				`+tc.policy+`
				ca letsencrypt.org 10.0.0.0/8
				checks 1m
				node ns1
			}`, z)
			privateLog(h)
			var out syncBuffer
			logTo(h, &out)
			startLog(t, h)
			counted := func() float64 {
				return testutil.ToFloat64(queriesTotal.WithLabelValues("", "example.org.", "", "letsencrypt.org", tc.source))
			}
			before := counted()
			rec := dnstest.NewRecorder(&test.ResponseWriter{RemoteIP: "10.1.1.1"})
			if _, err := h.ServeDNS(context.Background(), rec, new(dns.Msg).SetQuestion(tc.qname, dns.TypeTXT)); err != nil {
				t.Fatal(err)
			}
			query(t, h, &test.ResponseWriter{RemoteIP: "10.1.1.2"}, tc.validated, 0, false)
			if err := h.qlog.Shutdown(); err != nil { // writes the open event
				t.Fatal(err)
			}
			t.Run("the TXT record is answered", func(t *testing.T) {
				if rec.Msg == nil || len(rec.Msg.Answer) != 1 || rec.Msg.Answer[0].(*dns.TXT).Txt[0] != tc.txt {
					t.Errorf("answer %v, want %q", rec.Msg, tc.txt)
				}
			})
			t.Run("lines", func(t *testing.T) {
				if got := normalLines(out.String()); strings.Join(got, "\n") != strings.Join(tc.lines, "\n") {
					t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.lines, "\n"))
				}
				if keys := logCheckKey.FindAllString(out.String(), -1); len(keys) != 3 || keys[0] != keys[1] || keys[1] != keys[2] {
					t.Errorf("check keys %q, want the one key of the check in all 3 lines", keys)
				}
			})
			t.Run("queries_total of its source grows", func(t *testing.T) {
				if got := counted() - before; got != tc.grows {
					t.Errorf("queries_total{ca=letsencrypt.org,source=%s} grew by %v, want %v", tc.source, got, tc.grows)
				}
			})
		})
	}
}
