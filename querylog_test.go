package caapolicy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	golog "log"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCATable(t *testing.T) {
	var ct caTable
	for _, l := range []struct{ ca, cidr string }{
		{"letsencrypt.org", "66.133.109.0/24"},
		{"sectigo.com", "66.133.109.36/32"}, // nested: the longer prefix wins
		{"letsencrypt.org", "2600:1f14::/32"},
		{"sectigo.com", "2600:1f14:ab::/48"},
		{"pki.goog", "192.0.2.7"}, // a single address
	} {
		if err := ct.add(l.ca, l.cidr, "Testfile:1"); err != nil {
			t.Fatal(err)
		}
	}
	for addr, want := range map[string]string{
		"66.133.109.1": "letsencrypt.org", "66.133.109.36": "sectigo.com", "66.133.110.1": unknownCA,
		"::ffff:66.133.109.36": "sectigo.com", "2600:1f14::1": "letsencrypt.org", "2600:1f14:ab::53": "sectigo.com",
		"2600:1f15::1": unknownCA, "192.0.2.7": "pki.goog", "192.0.2.8": unknownCA,
	} {
		if got := ct.lookup(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: got %s, want %s", addr, got, want)
		}
	}
	if got := testing.AllocsPerRun(100, func() { ct.lookup(netip.MustParseAddr("2600:1f14:ab::53")) }); got != 0 {
		t.Errorf("lookup allocates %v times", got)
	}
	var empty caTable
	if empty.lookup(netip.MustParseAddr("192.0.2.1")) != unknownCA {
		t.Error("an empty table attributes")
	}
}

// logHandler is a handler over the file zone of the partner tests with the given extra lines.
func logHandler(t *testing.T, extra string) *CAAPolicy {
	t.Helper()
	z, err := fileZone(partnerZone, "example.org.")
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHandler(t, "caapolicy example.org {\n issue letsencrypt.org\n partners letsencrypt.org sectigo.com\n name pol { issue digicert.com }\n"+extra+"\n}", z)
	if h.qlog != nil {
		privateLog(h, nil)
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

// drain takes every queued record, with its time set to at, as the writer would see it.
func drain(h *CAAPolicy, at time.Time) []queryEntry {
	out := h.qlog.pipe.queue.take(nil)
	for i := range out {
		out[i].time = at
	}
	return out
}

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 123e6, time.UTC)

// TestQueryLogLines checks the exact text line and the JSON object of each answer kind.
func TestQueryLogLines(t *testing.T) {
	h := logHandler(t, "ca letsencrypt.org 10.240.0.0/16")
	var jsonOut bytes.Buffer
	logTo(h, &jsonOut)

	udp := &test.ResponseWriter{}
	tcp := &test.ResponseWriter{TCP: true, RemoteIP: "192.0.2.9"}
	query(t, h, udp, "Example.ORG.", 1232, true)        // merged: policy + zone data + partners
	query(t, h, udp, "pol.example.org.", 0, false)      // policy with partners, no zone data there
	query(t, h, tcp, "wild.example.org.", 4096, false)  // zone data with partner records
	query(t, h, tcp, "iodef.example.org.", 4096, false) // zone data unchanged
	query(t, h, udp, "nx.example.org.", 1232, false)    // NXDOMAIN from the zone data
	query(t, h, udp, "a\n[ERROR]\x00\".example.org.", 1232, false)
	entries := drain(h, t0)

	want := []string{
		`2026-11-23T10:00:00.123Z 10.240.0.1:40212 udp "Example.ORG." edns=1232 do=1 NOERROR size=153 tc=0 owner=example.org. policy=1 zone=1 partners=1 source=merged ca=letsencrypt.org`,
		`2026-11-23T10:00:00.123Z 10.240.0.1:40212 udp "pol.example.org." edns=none do=0 NOERROR size=128 tc=0 owner=pol.example.org. policy=1 zone=0 partners=2 source=policy ca=letsencrypt.org`,
		`2026-11-23T10:00:00.123Z 192.0.2.9:40212 tcp "wild.example.org." edns=4096 do=0 NOERROR size=372 tc=0 owner=wild.example.org. policy=0 zone=2 partners=4 source=partners ca=unknown`,
		`2026-11-23T10:00:00.123Z 192.0.2.9:40212 tcp "iodef.example.org." edns=4096 do=0 NOERROR size=138 tc=0 owner=iodef.example.org. policy=0 zone=1 partners=0 source=passthrough ca=unknown`,
		`2026-11-23T10:00:00.123Z 10.240.0.1:40212 udp "nx.example.org." edns=1232 do=0 NXDOMAIN size=116 tc=0 owner=- policy=0 zone=0 partners=0 source=passthrough ca=letsencrypt.org`,
		`2026-11-23T10:00:00.123Z 10.240.0.1:40212 udp "a\010[ERROR]\000\".example.org." edns=1232 do=0 NXDOMAIN size=125 tc=0 owner=- policy=0 zone=0 partners=0 source=passthrough ca=letsencrypt.org`,
	}
	if len(entries) != len(want) {
		t.Fatalf("%d records queued, want %d", len(entries), len(want))
	}
	for i, e := range entries {
		if packed, err := e.served.msg.Pack(); err != nil || len(packed) != e.served.msg.Len() {
			t.Errorf("record %d: logged size %d, packed %d bytes (%v)", i, e.served.msg.Len(), len(packed), err)
		}
		if got := queryText(&e); got != want[i] {
			t.Errorf("text line %d\n got %s\nwant %s", i, got, want[i])
		}
	}

	// The JSON form carries the same facts, one object per line, parsed back here.
	h.qlog.cfg.json = true
	for i := range entries {
		h.qlog.handle(&entries[i])
	}
	h.qlog.flush()
	lines := strings.Split(strings.TrimSuffix(jsonOut.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d JSON lines, want %d:\n%s", len(lines), len(want), jsonOut.String())
	}
	var first queryRecord
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	wantFirst := queryRecord{Type: "query", Time: "2026-11-23T10:00:00.123Z", Client: "10.240.0.1:40212", Transport: "udp",
		Name: "Example.ORG.", EDNS: 1232, DO: true, Rcode: "NOERROR", Size: 153, Owner: "example.org.", Source: "merged",
		CA: "letsencrypt.org", Zone: "example.org."}
	wantFirst.Records.Policy, wantFirst.Records.ZoneData, wantFirst.Records.Partners = 1, 1, 1
	if first != wantFirst {
		t.Errorf("JSON\n got %+v\nwant %+v", first, wantFirst)
	}
	var hostile map[string]any
	if err := json.Unmarshal([]byte(lines[5]), &hostile); err != nil || hostile["name"] != `a\010[ERROR]\000\".example.org.` {
		t.Errorf("hostile name in JSON: %v %q", err, lines[5])
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, `{"type":"query",`) {
			t.Errorf("JSON line does not start with the object: %q", l)
		}
	}
}

// TestQueryLogText checks that text lines go through CoreDNS's log with the plugin prefix.
func TestQueryLogText(t *testing.T) {
	buf := captureLog(t)
	h := logHandler(t, "checks off")
	query(t, h, &test.ResponseWriter{}, "pol.example.org.", 0, false)
	for _, e := range drain(h, t0) {
		h.qlog.handle(&e)
	}
	h.qlog.flush()
	want := "[INFO] plugin/caapolicy: 2026-11-23T10:00:00.123Z 10.240.0.1:40212 udp \"pol.example.org.\" edns=none do=0 NOERROR size=128 tc=0 owner=pol.example.org. policy=1 zone=0 partners=2 source=policy ca=unknown\n"
	// Servers other tests left running write to CoreDNS's log too: take this handler's lines only
	// (its clock is fixed at t0).
	var got string
	for _, l := range strings.SplitAfter(buf.String(), "\n") {
		if strings.Contains(l, " 2026-11-23T10:00:00.123Z ") {
			got += l
		}
	}
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestQueryLogOff(t *testing.T) {
	if h := logHandler(t, "log none\nchecks off"); h.qlog != nil {
		t.Error("log none and checks off still queue records")
	}
	h := logHandler(t, "log none")
	if h.qlog == nil || h.qlog.cfg.queries || h.qlog.cfg.window != defaultWindow {
		t.Errorf("log none keeps check events: %+v", h.qlog)
	}
	// A buffer of its own, not CoreDNS's log: servers other tests left running still write there.
	buf := &syncBuffer{}
	logTo(h, buf)
	query(t, h, &test.ResponseWriter{}, "pol.example.org.", 0, false)
	for _, e := range drain(h, t0) {
		h.qlog.handle(&e)
	}
	h.qlog.flush()
	if buf.Len() != 0 {
		t.Errorf("log none wrote %q", buf.String())
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

// TestQueryLogStalledWriter proves that a writer that never returns does not slow answers: the
// queue fills, further records are dropped and counted, and every query is answered.
func TestQueryLogStalledWriter(t *testing.T) {
	h := logHandler(t, "log all json\nchecks off")
	w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	logTo(h, w)
	h.qlog.start()

	rw := &test.ResponseWriter{RemoteIP: "198.51.100.77"}
	query(t, h, rw, "pol.example.org.", 0, false)
	<-w.entered // the writer holds the first record and is stuck

	before := testutil.ToFloat64(logDroppedTotal.WithLabelValues("", "example.org.", ""))
	const flood = queueSize + 500
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
	const want = flood - queueSize/2
	if got := h.qlog.dropped.Load(); got != want {
		t.Errorf("dropped %d records, want %d (the queue holds %d, half for one network)", got, want, queueSize)
	}
	if got := testutil.ToFloat64(logDroppedTotal.WithLabelValues("", "example.org.", "")) - before; got != want {
		t.Errorf("log_dropped_total grew by %v, want %d", got, want)
	}
	close(w.release)
	h.qlog.shutdown()
	if n := h.qlog.pipe.queue.len(); n != 0 {
		t.Errorf("%d records left after shutdown", n)
	}
}

// TestQueryLogLifecycle starts and stops the writer as CoreDNS does on start-up, reload and
// shutdown, and checks that no goroutine outlives it.
func TestQueryLogLifecycle(t *testing.T) {
	t.Run("never started", func(t *testing.T) {
		h := logHandler(t, "log none")
		if err := h.qlog.shutdown(); err != nil {
			t.Fatal(err)
		}
		if h.qlog.pipe.running || len(h.qlog.pipe.requests) != 0 {
			t.Errorf("a block that never started left the writer running (%v) or requests (%d)", h.qlog.pipe.running, len(h.qlog.pipe.requests))
		}
	})
	t.Run("start twice, shut down twice", func(t *testing.T) {
		for round := range 3 {
			var out syncBuffer
			h := logHandler(t, "log all json\nchecks off")
			logTo(h, &out)
			p := h.qlog.pipe
			h.qlog.start()
			h.qlog.start() // a second start is ignored
			done := p.done
			query(t, h, &test.ResponseWriter{}, "pol.example.org.", 0, false)
			if err := h.qlog.shutdown(); err != nil {
				t.Fatal(err)
			}
			h.qlog.shutdown()
			select {
			case <-done:
			default:
				t.Fatalf("round %d: writer still running after shutdown", round)
			}
			if got := strings.Count(out.String(), `"name":"pol.example.org."`); got != 1 {
				t.Errorf("round %d: the query is logged %d times, want once:\n%s", round, got, out.String())
			}
		}
	})
}

func TestEscapeName(t *testing.T) {
	for in, want := range map[string]string{
		"www.example.org.": "www.example.org.", "a b.": `a\032b.`, "x\r\n.": `x\013\010.`, `q".`: `q\".`, "\xff.": `\255.`,
		`a\ b.`: `a\\\032b.`, `a\\032b.`: `a\\\\032b.`, `a\"b.`: `a\\\"b.`,
	} {
		if got := escapeName(in); got != want {
			t.Errorf("escapeName(%q) = %q, want %q", in, got, want)
		}
	}
	// Names from the wire: a label holding a space, one holding the four bytes \032, and one
	// holding a quote are logged apart, and undoing the escapes gives each name back exactly.
	seen := map[string]string{}
	for _, label := range []string{"a b", `a\032b`, `a"b`, `a\b`} {
		wire := append([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, byte(len(label))}, label...)
		wire = append(wire, 0, 1, 1, 0, 1)
		m := new(dns.Msg)
		if err := m.Unpack(wire); err != nil {
			t.Fatal(err)
		}
		logged := escapeName(m.Question[0].Name)
		if other, dup := seen[logged]; dup {
			t.Errorf("labels %q and %q are both logged as %s", label, other, logged)
		}
		seen[logged] = label
		back := unescapeLogged(logged)
		if back != m.Question[0].Name {
			t.Errorf("%q logged as %s reads back as %q, want %q", label, logged, back, m.Question[0].Name)
		}
		// The name read back packs to the same wire name.
		q := new(dns.Msg).SetQuestion(back, dns.TypeCAA)
		if b, err := q.Pack(); err != nil || !bytes.Contains(b, wire[12:len(wire)-4]) {
			t.Errorf("%q: read back %q does not pack to the wire name: %v", label, back, err)
		}
	}
	if n := testing.AllocsPerRun(100, func() { escapeName("www.example.org.") }); n != 0 {
		t.Errorf("escaping a clean name allocates %v times", n)
	}
}

// from returns a record with a client in the i-th /24 of 10.0.0.0/8.
func from(i int) *queryEntry {
	return &queryEntry{edns: uint16(i), client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), 53)}
}

// TestEntryQueueShare: a flood from one /24 takes at most half the queue; records from other
// networks keep being queued, and the flooding network gets its share again once the writer has
// taken the queue.
func TestEntryQueueShare(t *testing.T) {
	q := newEntryQueue(64)
	flood := func(i int) *queryEntry {
		return &queryEntry{edns: uint16(i), client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 53)}
	}
	accepted := 0
	for i := range 1000 {
		if q.push(flood(i)) {
			accepted++
		}
	}
	if accepted != 32 {
		t.Errorf("one /24 queued %d records of 1000, want its share, 32", accepted)
	}
	other := &queryEntry{client: netip.MustParseAddrPort("198.51.100.7:53")}
	v6 := &queryEntry{client: netip.MustParseAddrPort("[2001:db8:1::7]:53")}
	for i := range 15 {
		if !q.push(other) || !q.push(v6) {
			t.Fatalf("another network's record %d refused during the flood", i)
		}
	}
	if got := len(q.take(nil)); got != 62 {
		t.Errorf("took %d records, want 62", got)
	}
	if !q.push(flood(0)) {
		t.Error("the flooding network is refused after the writer took the queue")
	}
}

// TestEntryQueue checks the queue between ServeDNS and the writer: records come out in order,
// only the wakeAt-th record wakes the writer, and a full queue refuses records.
func TestEntryQueue(t *testing.T) {
	q := newEntryQueue(queueSize)
	woken := func() bool {
		select {
		case <-q.wake:
			return true
		default:
			return false
		}
	}
	for i := range wakeAt - 1 {
		if !q.push(from(i)) {
			t.Fatalf("record %d refused by a queue holding %d", i, i)
		}
	}
	if woken() {
		t.Fatalf("writer woken after %d records, want after %d", wakeAt-1, wakeAt)
	}
	q.push(from(wakeAt - 1))
	if !woken() {
		t.Fatalf("writer not woken after %d records", wakeAt)
	}
	for i := wakeAt; i < queueSize; i++ {
		q.push(from(i))
	}
	if woken() {
		t.Error("writer woken twice for one batch")
	}
	if q.push(&queryEntry{}) {
		t.Errorf("a queue holding %d records took one more", queueSize)
	}
	got := q.take(nil)
	if len(got) != queueSize || q.len() != 0 {
		t.Fatalf("took %d records, %d left; want %d and 0", len(got), q.len(), queueSize)
	}
	for i := range got {
		if int(got[i].edns) != i {
			t.Fatalf("record %d came out at position %d", got[i].edns, i)
		}
	}
	if !q.push(&queryEntry{}) || q.len() != 1 {
		t.Error("the emptied queue does not take records")
	}
}

// TestQueryTextAllocations: formatting a line into the writer's buffer allocates nothing but
// what measuring the reply's size does.
func TestQueryTextAllocations(t *testing.T) {
	h := logHandler(t, "")
	query(t, h, &test.ResponseWriter{}, "pol.example.org.", 1232, false)
	e := drain(h, t0)[0]
	sizeAllocs := testing.AllocsPerRun(100, func() { e.served.msg.Len() })
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { appendQueryText(buf[:0], &e) }); n > sizeAllocs {
		t.Errorf("formatting a text line allocates %v times, want at most %v (the reply's size)", n, sizeAllocs)
	}
}

// queryRecord is the JSON form of a query log line, as encoding/json writes it: the reference
// appendQueryJSON is checked against.
type queryRecord struct {
	Type      string `json:"type"` // "query"
	Time      string `json:"time"`
	Client    string `json:"client"`
	Transport string `json:"transport"`
	Name      string `json:"name"`
	EDNS      int    `json:"edns_bufsize"` // 0 without EDNS
	DO        bool   `json:"do"`
	Rcode     string `json:"rcode"`
	Size      int    `json:"size"`
	TC        bool   `json:"tc"`
	Owner     string `json:"owner"`
	Records   struct {
		Policy   int `json:"policy"`
		ZoneData int `json:"zonedata"`
		Partners int `json:"partners"`
	} `json:"records"`
	Source string `json:"source"`
	CA     string `json:"ca"`
	Zone   string `json:"zone"`
	Server string `json:"server"`
	View   string `json:"view,omitempty"`
}

func queryJSON(e *queryEntry) queryRecord {
	rcode, size, tc := e.reply()
	r := queryRecord{
		Type: "query", Time: e.time.UTC().Format(logTime), Client: e.client.String(),
		Transport: e.transport, Name: escapeName(e.qname), EDNS: int(e.edns), DO: e.do, Rcode: rcode,
		Size: size, TC: tc, Owner: escapeName(e.served.owner), Source: e.served.source(), CA: e.ca,
		Zone: e.zone, Server: e.server, View: e.view,
	}
	r.Records.Policy, r.Records.ZoneData, r.Records.Partners = e.served.policy, e.served.zone, e.served.partners
	return r
}

// TestQueryJSONEncoding checks the hand-written JSON encoder byte for byte against encoding/json,
// for the answers of TestQueryLogLines and for hostile strings in every field it copies.
func TestQueryJSONEncoding(t *testing.T) {
	h := logHandler(t, "ca letsencrypt.org 10.240.0.0/16")
	udp := &test.ResponseWriter{}
	query(t, h, udp, "Example.ORG.", 1232, true)
	query(t, h, udp, "pol.example.org.", 0, false)
	query(t, h, &test.ResponseWriter{TCP: true}, "wild.example.org.", 4096, false)
	query(t, h, udp, "nx.example.org.", 1232, false)
	entries := drain(h, t0)
	hostile := entries[0]
	hostile.qname = "a\n\"\\\x00\xff.example.org."
	hostile.zone, hostile.server, hostile.view = "z\u00e9\x01\".", "dns://[::1]:53\\", "v\xc3"
	hostile.ca, hostile.served.owner = "tab\there\b\f\r", "ünï."
	entries = append(entries, hostile)
	for i := range entries {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(queryJSON(&entries[i])); err != nil {
			t.Fatal(err)
		}
		got := appendQueryJSON(nil, &entries[i])
		if string(got) != strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("entry %d\n got %s\nwant %s", i, got, want.String())
		}
	}
	// Characters encoding/json escapes for HTML or JavaScript decode to the same string.
	for _, s := range []string{"<a&b>", "line\u2028sep"} {
		var back string
		if err := json.Unmarshal(appendJSONString(nil, s), &back); err != nil || back != s {
			t.Errorf("%q came back as %q (%v)", s, back, err)
		}
	}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { appendQueryJSON(buf[:0], &entries[1]) }); n > 2 {
		t.Errorf("a JSON line allocates %v times, want at most the 2 of measuring the reply", n)
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
	h.qlog.start()
	flooder := &test.ResponseWriter{RemoteIP: "198.51.100.77"}
	query(t, h, flooder, "first.example.org.", 0, false)
	time.Sleep(100 * time.Millisecond) // its event closes: the writer is stuck writing it
	<-w.entered
	for i := range queueSize {
		query(t, h, flooder, fmt.Sprintf("r%d.example.org.", i), 0, false)
	}
	ca := &test.ResponseWriter{RemoteIP: "203.0.113.9"}
	for _, q := range []string{"www.pol.example.org.", "pol.example.org.", "example.org."} {
		query(t, h, ca, q, 0, false)
	}
	if dropped := h.qlog.dropped.Load(); dropped != queueSize/2 {
		t.Errorf("dropped %d records, want the flood's overflow, %d", dropped, queueSize/2)
	}
	close(w.release)
	h.qlog.shutdown()
	if !strings.Contains(out.String(), `"name":"www.pol.example.org.","zone":"example.org.","queries":3,"addresses":1,"networks":1`) {
		t.Errorf("no check event for the climb from 203.0.113.9:\n%s", grepLines(out.String(), "pol.example"))
	}
}

// unescapeLogged undoes escapeName as README tells a reader to: \\ is a backslash, \" a quote,
// \DDD the byte DDD.
func unescapeLogged(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b = append(b, s[i])
			continue
		}
		if c := s[i+1]; c == '\\' || c == '"' {
			b = append(b, c)
			i++
			continue
		}
		n, _ := strconv.Atoi(s[i+1 : i+4])
		b = append(b, byte(n))
		i += 3
	}
	return string(b)
}

// TestFloodWritesInBatches: when every record closes an event (a flood of distinct names with
// the open events at their limit), query lines and event lines still leave in batches of 64 KB,
// one write each, not one write per record; every line is written, each event after its query.
func TestFloodWritesInBatches(t *testing.T) {
	for _, mode := range []string{"log all json", "log all"} {
		h := logHandler(t, mode+"\nchecks 2s")
		var out bytes.Buffer
		writes := &countingWriter{}
		w := io.MultiWriter(&out, writes)
		logTo(h, w)
		golog.SetOutput(w)
		t.Cleanup(func() { golog.SetOutput(io.Discard) })
		h.qlog.maxOpen = 100

		const n = 1000
		client := &test.ResponseWriter{RemoteIP: "198.51.100.77"}
		for i := range n {
			query(t, h, client, fmt.Sprintf("r%d.example.org.", i), 0, false)
			if i%100 == 99 {
				h.qlog.pipe.drain() // as the writer takes the queue
			}
		}
		queries, events := 0, 0
		for l := range strings.SplitSeq(strings.TrimSuffix(out.String(), "\n"), "\n") {
			switch {
			case strings.Contains(l, `"type":"check"`) || strings.Contains(l, "check by unknown of "):
				events++
			case strings.Contains(l, `"r`) && strings.Contains(l, `.example.org."`):
				queries++
			default:
				t.Errorf("%s: line %q", mode, l)
			}
		}
		if queries != n || events != n-100 {
			t.Errorf("%s: %d query lines and %d event lines, want %d and %d", mode, queries, events, n, n-100)
		}
		if max := out.Len()/(64<<10) + n/100; writes.n > max {
			t.Errorf("%s: %d writes for %d bytes, want at most %d", mode, writes.n, out.Len(), max)
		}
		if i, j := strings.Index(out.String(), `r0.example.org."`), strings.Index(out.String(), `of "r0.example.org."`); mode == "log all" && (i < 0 || j < i) {
			t.Errorf("%s: the event of r0 (at %d) is not after its query (at %d)", mode, j, i)
		}
	}
}
