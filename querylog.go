package caapolicy

import (
	"context"
	"encoding/json"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coredns/coredns/plugin/metrics"
	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/caapolicy/caapolicy/caa"

	"github.com/miekg/dns"
)

// queueSize bounds the query records waiting for the log writer, in the one queue of the process
// (logpipeline.go); beyond it records are dropped and counted, so that logging never slows
// answers.
const queueSize = 4096

// The writer wakes every flushInterval, or sooner once wakeAt records wait, takes everything
// queued in one swap and writes it in one batch. Under load that is one wake-up and one write per
// thousand queries, not one each; when idle a line reaches the log within flushInterval.
const (
	flushInterval = 50 * time.Millisecond
	wakeAt        = queueSize / 4
)

// logConfig is what the log and checks lines of a block ask for.
type logConfig struct {
	queries bool          // log every CAA query ("log all", the default)
	json    bool          // one JSON object per line (on standard output without a destination)
	window  time.Duration // check events group queries this long; 0 turns them off
	dest    string        // where lines go: destCoreDNS, destStdout, or a file's or socket's key
	destPos string        // where the destination is named, "file:line"
}

// queryEntry is one CAA query as ServeDNS saw it. It holds no formatted text: formatting
// happens on the writer goroutine, off the serving path.
type queryEntry struct {
	log          *queryLog // the block that answered
	time         time.Time
	client       netip.AddrPort
	transport    string
	qname        string
	edns         uint16 // the client's EDNS buffer size, 0 without EDNS
	do           bool
	rcode        int // the rcode returned when no reply was written
	served       served
	ca           string
	zone         string
	server, view string
}

// queryLog is a block's part of the log pipeline (logpipeline.go): its configuration, where its
// lines go, and, while it has open check events, their tracker. ServeDNS hands its records to the
// pipeline's queue; the pipeline's writer goroutine formats them, writes the query lines and
// groups queries into check events.
type queryLog struct {
	cfg  logConfig
	h    *CAAPolicy
	pipe *logPipeline
	inst *logInstance // the blocks of the same Corefile load
	sink *logSink     // set when the instance starts, for a file or socket

	dropped atomic.Int64
	live    atomic.Bool // its instance started: records have a writer (caacheck's never do)

	stopped, retiring bool // guarded by pipe.mu

	// The writer's own. The tracker and the memo exist while events are open: an idle block
	// holds none of them.
	checks    *checkTracker
	maxOpen   int                   // the open events the tracker allows
	active    bool                  // in the pipeline's list of blocks with open events
	memoSince time.Time             // when memo and relevant were last cleared
	memo      map[string]caa.Step   // lookups for check verdicts, cleared every window (checkevents.go)
	relevant  map[string]caa.Result // Relevant RRsets of names, cleared with memo

	lastRelevant struct { // the text of the last Relevant RRset logged
		owner string
		first *dns.CAA // the RRset's first record: the same array is the same RRset
		n     int
		text  []byte
	}
}

func newQueryLog(cfg logConfig, h *CAAPolicy, p *logPipeline) *queryLog {
	cfg.dest = cfg.destination()
	l := &queryLog{cfg: cfg, h: h, pipe: p, maxOpen: maxOpenChecks, memo: map[string]caa.Step{}, relevant: map[string]caa.Result{}}
	if cfg.dest == destCoreDNS || cfg.dest == destStdout {
		l.sink = p.sink(cfg.dest)
	}
	l.inst = &logInstance{blocks: []*queryLog{l}} // its own until setup joins it to its Corefile load's
	return l
}

// finalWait bounds how long the process's exit waits for the query log.
const finalWait = 5 * time.Second

// enqueue hands a record to the writer, or drops and counts it when the queue is full.
func (l *queryLog) enqueue(e *queryEntry) {
	if !l.live.Load() {
		return
	}
	e.log = l
	if !l.pipe.queue.push(e) {
		l.dropped.Add(1)
		logDroppedTotal.WithLabelValues(e.server, e.zone, e.view).Inc()
	}
}

// tick is how often the writer looks at the block's open events.
func (l *queryLog) tick() time.Duration {
	return min(flushInterval, max(l.cfg.window/4, 10*time.Millisecond))
}

// closeEvents logs and counts closed events, and hands them back to the tracker.
func (l *queryLog) closeEvents(evs []*checkEvent) {
	for _, ev := range evs {
		l.h.closeCheck(ev)
		l.checks.recycle(ev)
	}
	if len(evs) > 0 && l.sink != nil {
		l.pipe.add(l.sink)
	}
}

// expire closes the block's events whose window has passed at now, and clears the memo every
// window (verdicts see a policy or zone-data change within a window). It reports whether
// events are still open; if none are, the block lets go of its tracker and memo.
func (l *queryLog) expire(now time.Time) bool {
	l.closeEvents(l.checks.expire(now))
	if now.Sub(l.memoSince) >= l.cfg.window {
		l.clearMemo()
		l.memoSince = now
	}
	if l.checks.n > 0 {
		return true
	}
	l.idle()
	return false
}

// retire hands the block's open events to the block of a newer instance serving the same
// zones (loghandover.go), or else closes them: its instance is shutting down.
func (l *queryLog) retire() {
	if l.checks != nil {
		if next := l.pipe.successor(l); next != nil {
			next.adopt(l.checks)
		} else {
			l.closeEvents(l.checks.flush())
		}
	}
	l.idle()
}

// idle lets go of the tracker, the memo and the last Relevant RRset's text.
func (l *queryLog) idle() {
	l.checks, l.active = nil, false
	l.memo, l.relevant = nil, nil
	l.lastRelevant.owner, l.lastRelevant.first, l.lastRelevant.text = "", nil, nil
}

// clearMemo forgets the lookups and Relevant RRsets remembered for check verdicts.
func (l *queryLog) clearMemo() {
	clear(l.memo)
	clear(l.relevant)
}

// entryQueue is a bounded queue of query records: ServeDNS appends under a mutex held for a
// copy, and the writer swaps the whole slice out at once. Unlike a channel, a record does not
// wake the writer; only the wakeAt-th record does, once.
//
// One source network (/24 or /48) may hold at most half the queue: when records must be dropped,
// a flood from one network is dropped first, and other sources' queries keep being logged and
// grouped. Networks are counted in sourceSlots hashed slots, reset when the writer takes the
// queue; two networks sharing a slot share its half.
type entryQueue struct {
	mu        sync.Mutex
	pending   []queryEntry
	size      int
	share     int // the most records one source network may hold
	perSource [sourceSlots]uint16
	wake      chan struct{}
}

// sourceSlots is the number of slots counting the records of each source network in the queue.
const sourceSlots = 1024

// sourceSlot returns the slot of a client's /24 (IPv4) or /48 (IPv6).
func sourceSlot(a netip.Addr) int {
	var h uint64
	if a.Is4() {
		b := a.As4()
		h = uint64(b[0])<<16 | uint64(b[1])<<8 | uint64(b[2])
	} else {
		b := a.As16()
		for _, x := range b[:6] {
			h = h<<8 | uint64(x)
		}
	}
	return int((h * 0x9e3779b97f4a7c15) >> (64 - 10)) // Fibonacci hashing into 2^10 slots
}

func newEntryQueue(size int) entryQueue {
	return entryQueue{size: size, share: max(size/2, 1), wake: make(chan struct{}, 1)}
}

// push queues a copy of e; it reports false if the queue is full, or holds the share of e's
// source network.
func (q *entryQueue) push(e *queryEntry) bool {
	slot := sourceSlot(e.client.Addr())
	q.mu.Lock()
	n := len(q.pending)
	if n >= q.size || int(q.perSource[slot]) >= q.share {
		q.mu.Unlock()
		return false
	}
	q.perSource[slot]++
	if q.pending == nil {
		q.pending = make([]queryEntry, 0, q.size) // the first record: the process's queue
	}
	q.pending = append(q.pending, *e)
	q.mu.Unlock()
	if n+1 == min(wakeAt, q.size) {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// take returns the queued records and leaves spare, emptied, in their place.
func (q *entryQueue) take(spare []queryEntry) []queryEntry {
	if cap(spare) < q.size {
		spare = make([]queryEntry, 0, q.size)
	}
	q.mu.Lock()
	out := q.pending
	q.pending = spare[:0]
	clear(q.perSource[:])
	q.mu.Unlock()
	return out
}

// len returns the number of queued records.
func (q *entryQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// handle writes one record's log line and adds it to the check events.
func (l *queryLog) handle(e *queryEntry) {
	s := l.sink
	if s == nil { // a file block that never started: nothing can be written
		return
	}
	if l.cfg.queries {
		switch {
		case l.cfg.json:
			s.batch = append(appendQueryJSON(s.batch, e), '\n')
		case l.viaCoreDNSJSON():
			log.Info(queryText(e)) // CoreDNS's own JSON logging formats each line
		default:
			s.batch = append(appendQueryText(append(s.batch, textPrefix...), e), '\n')
		}
		l.pipe.add(s)
	}
	if l.cfg.window > 0 {
		if l.checks == nil {
			l.checks = newCheckTracker(l.cfg.window, l.maxOpen)
			l.memoSince = e.time
			if l.memo == nil {
				l.memo, l.relevant = map[string]caa.Step{}, map[string]caa.Result{}
			}
		}
		// Closed events' lines join the batch after the query lines (closeCheck writes what is
		// batched first where it must write a line by itself).
		l.closeEvents(l.checks.observe(e))
		if !l.active && l.checks.n > 0 {
			l.active = true
			l.pipe.activate(l)
		}
	}
	if len(s.batch) >= 64<<10 {
		s.flush()
	}
}

// logTime is the layout of times in log lines and JSON records: UTC, milliseconds.
const logTime = "2006-01-02T15:04:05.000Z"

// textPrefix and warningPrefix are what CoreDNS's log puts before an info and a warning line of
// this plugin.
const (
	textPrefix    = "[INFO] plugin/" + name + ": "
	warningPrefix = "[WARNING] plugin/" + name + ": "
)

// flush writes the lines batched for the block's destination, and those of the other blocks
// writing there.
func (l *queryLog) flush() {
	if l.sink != nil {
		l.sink.flush()
	}
}

// viaCoreDNSJSON reports whether the block's text lines go through CoreDNS's log one by one,
// because CoreDNS formats its log as JSON.
func (l *queryLog) viaCoreDNSJSON() bool {
	return l.sink != nil && l.sink.coreLog && clog.IsJSON()
}

// writeJSON adds v as a JSON line to the batch of the block's destination.
func (l *queryLog) writeJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil || l.sink == nil {
		return
	}
	l.sink.batch = append(append(l.sink.batch, b...), '\n')
}

// setSource sets the caapolicy/source metadata of the query to where its answer came from.
func (c *CAAPolicy) setSource(ctx context.Context, s *served) {
	if md, ok := ctx.Value(metadataKey{}).(*answerMetadata); ok {
		md.source.Store(s.sourceID() + 1)
	}
}

// record counts a CAA query in the metrics, sets its metadata and queues it for the log. It
// allocates nothing on its own: counters are cached per label set.
func (c *CAAPolicy) record(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, zone string, s *served, rcode int) {
	e := queryEntry{served: *s, zone: zone, rcode: rcode}
	addr := w.RemoteAddr()
	e.client = clientAddr(addr)
	e.ca = c.cas.lookup(e.client.Addr())
	e.server, e.view = metrics.WithServer(ctx), metrics.WithView(ctx)
	src := s.sourceID()
	c.counters.query(e.server, zone, e.view, e.ca, sourceNames[src]).Inc()
	if s.partners > 0 {
		c.counters.partners(e.server, zone, e.view).Add(float64(s.partners))
	}
	c.setSource(ctx, s)
	if c.qlog == nil {
		return
	}
	e.time = time.Now()
	e.transport = transport(addr)
	e.qname = r.Question[0].Name
	if opt := r.IsEdns0(); opt != nil {
		e.edns, e.do = opt.UDPSize(), opt.Do()
	}
	c.qlog.enqueue(&e)
}

// escapeName makes a name, in the presentation form miekg/dns gives it, safe to print between
// quotes on one line, and recoverable: a backslash becomes \\, a quote \", and a byte outside
// printable ASCII \DDD (as in zone files). Undoing those three gives the name back exactly, and
// a query cannot forge or split log lines.
func escapeName(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return string(appendEscapedName(make([]byte, 0, len(s)+16), s))
		}
	}
	return s
}

// appendEscapedName appends s to b, escaped as escapeName does.
func appendEscapedName(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x21 || c > 0x7e:
			b = append(b, '\\', '0'+c/100, '0'+c/10%10, '0'+c%10)
		default:
			b = append(b, c)
		}
	}
	return b
}

// reply returns the rcode, size and TC bit of what was written for a query.
func (e *queryEntry) reply() (rcode string, size int, tc bool) {
	if m := e.served.msg; m != nil {
		return dns.RcodeToString[m.Rcode], m.Len(), m.Truncated
	}
	return dns.RcodeToString[e.rcode], 0, false
}

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// queryText is the text log line of a query:
//
//	2026-11-23T10:00:00.123Z 192.0.2.1:53211 udp "www.example.org." edns=1232 do=1 NOERROR size=187 tc=0 owner=example.org. policy=3 zone=1 partners=0 source=merged ca=letsencrypt.org
func queryText(e *queryEntry) string { return string(appendQueryText(nil, e)) }

// appendQueryText appends the text log line of a query to b, allocating nothing beyond b.
func appendQueryText(b []byte, e *queryEntry) []byte {
	rcode, size, tc := e.reply()
	b = e.time.UTC().AppendFormat(b, logTime)
	b = append(b, ' ')
	b = e.client.AppendTo(b)
	b = append(b, ' ')
	b = append(b, e.transport...)
	b = append(b, ` "`...)
	b = appendEscapedName(b, e.qname)
	b = append(b, `" edns=`...)
	if e.edns > 0 {
		b = strconv.AppendUint(b, uint64(e.edns), 10)
	} else {
		b = append(b, "none"...)
	}
	b = append(b, " do="...)
	b = append(b, bit(e.do)...)
	b = append(b, ' ')
	b = append(b, rcode...)
	b = append(b, " size="...)
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, " tc="...)
	b = append(b, bit(tc)...)
	b = append(b, " owner="...)
	if e.served.owner == "" {
		b = append(b, '-')
	} else {
		b = appendEscapedName(b, e.served.owner)
	}
	b = append(b, " policy="...)
	b = strconv.AppendInt(b, int64(e.served.policy), 10)
	b = append(b, " zone="...)
	b = strconv.AppendInt(b, int64(e.served.zone), 10)
	b = append(b, " partners="...)
	b = strconv.AppendInt(b, int64(e.served.partners), 10)
	b = append(b, " source="...)
	b = append(b, e.served.source()...)
	b = append(b, " ca="...)
	return append(b, e.ca...)
}

// appendQueryJSON appends the JSON object of a query's log line to b, allocating nothing beyond
// b (for a name that needs no escaping). Its fields, in order:
//
//	{"type":"query","time":"2026-11-23T10:00:00.123Z","client":"192.0.2.1:53211","transport":"udp",
//	 "name":"www.example.org.","edns_bufsize":1232,"do":true,"rcode":"NOERROR","size":187,"tc":false,
//	 "owner":"example.org.","records":{"policy":3,"zonedata":1,"partners":0},"source":"merged",
//	 "ca":"letsencrypt.org","zone":"example.org.","server":"dns://:53","view":"..."}
//
// edns_bufsize is 0 without EDNS; view is left out when empty.
func appendQueryJSON(b []byte, e *queryEntry) []byte {
	rcode, size, tc := e.reply()
	b = append(b, `{"type":"query","time":"`...)
	b = e.time.UTC().AppendFormat(b, logTime)
	b = append(b, `","client":"`...)
	b = e.client.AppendTo(b)
	b = append(b, `","transport":`...)
	b = appendJSONString(b, e.transport)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, escapeName(e.qname))
	b = append(b, `,"edns_bufsize":`...)
	b = strconv.AppendUint(b, uint64(e.edns), 10)
	b = append(b, `,"do":`...)
	b = strconv.AppendBool(b, e.do)
	b = append(b, `,"rcode":`...)
	b = appendJSONString(b, rcode)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, `,"tc":`...)
	b = strconv.AppendBool(b, tc)
	b = append(b, `,"owner":`...)
	b = appendJSONString(b, escapeName(e.served.owner))
	b = append(b, `,"records":{"policy":`...)
	b = strconv.AppendInt(b, int64(e.served.policy), 10)
	b = append(b, `,"zonedata":`...)
	b = strconv.AppendInt(b, int64(e.served.zone), 10)
	b = append(b, `,"partners":`...)
	b = strconv.AppendInt(b, int64(e.served.partners), 10)
	b = append(b, `},"source":`...)
	b = appendJSONString(b, e.served.source())
	b = append(b, `,"ca":`...)
	b = appendJSONString(b, e.ca)
	b = append(b, `,"zone":`...)
	b = appendJSONString(b, e.zone)
	b = append(b, `,"server":`...)
	b = appendJSONString(b, e.server)
	if e.view != "" {
		b = append(b, `,"view":`...)
		b = appendJSONString(b, e.view)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string: quotes, backslashes and control characters are
// escaped, invalid UTF-8 becomes U+FFFD, as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
			i++
		case c < 0x20:
			switch c {
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+n]...)
			}
			i += n
		}
	}
	return append(b, '"')
}
