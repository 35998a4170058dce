package caapolicy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	golog "log"
	"net/netip"
	"os"
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

// queueSize bounds the query records waiting for the log writer; beyond it records are dropped
// and counted, so that logging never slows answers.
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
	json    bool          // one JSON object per line on standard output
	window  time.Duration // check events group queries this long; 0 turns them off
}

// queryEntry is one CAA query as ServeDNS saw it. It holds no formatted text: formatting
// happens on the writer goroutine, off the serving path.
type queryEntry struct {
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

// queryLog carries query records from ServeDNS through a bounded queue to one writer goroutine,
// which writes the query log and groups queries into check events. The goroutine runs from
// OnStartup to OnShutdown.
type queryLog struct {
	cfg    logConfig
	h      *CAAPolicy
	queue  entryQueue
	out    io.Writer // JSON lines
	checks *checkTracker

	batch []byte              // the lines of one wake-up, written together
	memo  map[string]caa.Step // lookups for check verdicts, cleared every window (checkevents.go)

	relevant     map[string]caa.Result // Relevant RRsets of names, cleared with memo
	lastRelevant struct {              // the text of the last Relevant RRset logged
		owner string
		first *dns.CAA // the RRset's first record: the same array is the same RRset
		n     int
		text  []byte
	}

	dropped  atomic.Int64
	once     sync.Once
	stopping chan struct{}
	done     chan struct{}
	started  atomic.Bool
}

func newQueryLog(cfg logConfig, h *CAAPolicy, size int) *queryLog {
	l := &queryLog{cfg: cfg, h: h, queue: newEntryQueue(size), out: os.Stdout, stopping: make(chan struct{}), done: make(chan struct{}), memo: map[string]caa.Step{}, relevant: map[string]caa.Result{}}
	if cfg.window > 0 {
		l.checks = newCheckTracker(cfg.window, maxOpenChecks)
	}
	return l
}

// start runs the writer; it is the block's OnStartup hook.
func (l *queryLog) start() error {
	if l.started.CompareAndSwap(false, true) {
		go l.run()
	}
	return nil
}

// stop tells the writer to write what is queued, close the open check events and end, and
// returns at once: it is the block's OnShutdown hook, so a reload does not wait for the old
// instance's events (thousands during a flood) to be judged and written.
func (l *queryLog) stop() error {
	l.once.Do(func() { close(l.stopping) })
	return nil
}

// shutdown stops the writer and waits until it has written everything, for at most
// finalWait: it is the block's OnFinalShutdown hook, when the process is about to exit.
func (l *queryLog) shutdown() error {
	l.stop()
	if l.started.Load() {
		select {
		case <-l.done:
		case <-time.After(finalWait):
			return fmt.Errorf("the query log writer did not finish within %s; some check events are not logged", finalWait)
		}
	}
	return nil
}

// finalWait bounds how long the process's exit waits for the query log.
const finalWait = 5 * time.Second

// enqueue hands a record to the writer, or drops and counts it when the queue is full.
func (l *queryLog) enqueue(e *queryEntry) {
	if !l.queue.push(e) {
		l.dropped.Add(1)
		logDroppedTotal.WithLabelValues(e.server, e.zone, e.view).Inc()
	}
}

func (l *queryLog) run() {
	defer close(l.done)
	interval := flushInterval
	if l.checks != nil {
		interval = min(interval, max(l.cfg.window/4, 10*time.Millisecond))
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var spare []queryEntry
	memoSince := time.Now()
	for {
		select {
		case <-l.queue.wake:
			spare = l.drain(spare)
		case now := <-t.C:
			spare = l.drain(spare)
			if now.Sub(memoSince) >= l.cfg.window {
				l.clearMemo() // verdicts see a policy or zone-data change within a window
				memoSince = now
			}
			if l.checks != nil {
				for _, ev := range l.checks.expire(now) {
					l.h.closeCheck(ev)
					l.checks.recycle(ev)
				}
				l.flush()
			}
		case <-l.stopping:
			l.drain(spare)
			if l.checks != nil {
				for _, ev := range l.checks.flush() {
					l.h.closeCheck(ev)
					l.checks.recycle(ev)
				}
				l.flush()
			}
			return
		}
	}
}

// clearMemo forgets the lookups and Relevant RRsets remembered for check verdicts.
func (l *queryLog) clearMemo() {
	clear(l.memo)
	clear(l.relevant)
}

// drain handles every queued record and writes their lines. It returns the emptied slice, to
// be handed back to the queue next time.
func (l *queryLog) drain(spare []queryEntry) []queryEntry {
	entries := l.queue.take(spare)
	for i := range entries {
		l.handle(&entries[i])
	}
	l.flush()
	clear(entries) // let the replies go
	return entries[:0]
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
	return entryQueue{pending: make([]queryEntry, 0, size), size: size, share: max(size/2, 1), wake: make(chan struct{}, 1)}
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
	if l.cfg.queries {
		switch {
		case l.cfg.json:
			l.batch = append(appendQueryJSON(l.batch, e), '\n')
		case clog.IsJSON():
			log.Info(queryText(e)) // CoreDNS's own JSON logging formats each line
		default:
			l.batch = append(appendQueryText(append(l.batch, textPrefix...), e), '\n')
		}
	}
	if l.checks != nil {
		// Closed events' lines join the batch after the query lines (closeCheck writes what is
		// batched first where it must write a line by itself).
		for _, ev := range l.checks.observe(e) {
			l.h.closeCheck(ev)
			l.checks.recycle(ev)
		}
	}
	if len(l.batch) >= 64<<10 {
		l.flush()
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

// flush writes the batched lines: JSON lines to standard output, text lines to CoreDNS's log
// output, exactly as log.Info would write each of them.
func (l *queryLog) flush() {
	if len(l.batch) == 0 {
		return
	}
	if l.cfg.json {
		l.out.Write(l.batch)
	} else {
		golog.Writer().Write(l.batch)
	}
	l.batch = l.batch[:0]
}

// writeJSON adds v as a JSON line to the batch, which goes to standard output in JSON mode.
func (l *queryLog) writeJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	l.batch = append(append(l.batch, b...), '\n')
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
