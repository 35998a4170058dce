package watch

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/caapolicy/caapolicy/caa"

	"github.com/miekg/dns"
)

// Config is what the log and checks lines of a block ask for.
type Config struct {
	Queries bool          // log every CAA query ("log all", the default)
	JSON    bool          // one JSON object per line (on standard output without a destination)
	Window  time.Duration // check events group queries this long; 0 turns them off
	Dest    string        // a file or unix:SOCKET to write lines to, as written; "" for the default
	DestPos string        // where the destination is named, "file:line"
	Node    string        // the name of this server in a fleet, in every line
}

// Block is what a caapolicy block gives the watcher.
type Block struct {
	Zones []string // the block's zones: a reload hands open events to the block serving the same
	// Lookup answers for a name what the block serves now, as the climb of a check's verdict asks.
	Lookup  caa.Lookup
	Metrics Metrics
}

// Metrics counts what the watcher sees in the block's metrics. The labels are the query's or the
// event's: the server, the block's zone and the view.
type Metrics interface {
	// CheckClosed counts a check event as it closes: its CA (UnknownCA for unattributed sources),
	// whether it came from two source networks or more, and whether the CA, a known one, may issue
	// neither for the name nor for its wildcard.
	CheckClosed(server, zone, view, ca string, multiPerspective, unauthorized bool)
	// Dropped counts a query record the queue had no room for.
	Dropped(server, zone, view string)
}

// noMetrics counts nothing, for a Block without Metrics.
type noMetrics struct{}

func (noMetrics) CheckClosed(_, _, _, _ string, _, _ bool) {}
func (noMetrics) Dropped(_, _, _ string)                   {}

// Log is a block's part of the pipeline: its configuration, where its lines go, and, while it
// has open check events, their tracker. The block hands its records to the pipeline's queue; the
// pipeline's writer goroutine formats them, writes the query lines and groups queries into check
// events.
type Log struct {
	cfg   Config
	dest  string // where lines go: destCoreDNS, destStdout, or a file's or socket's key
	block Block
	pipe  *Pipeline
	inst  *Instance // the blocks of the same Corefile load
	sink  *sink     // set when the instance starts, for a file or socket

	dropped atomic.Int64
	live    atomic.Bool // its instance started: records have a writer (caacheck's never do)

	stopped, retiring bool // guarded by pipe.mu

	// The writer's own. The tracker and the memo exist while events are open: an idle block
	// holds none of them.
	checks    *checkTracker
	maxOpen   int                   // the open events the tracker allows
	active    bool                  // in the pipeline's list of blocks with open events
	memoSince time.Time             // when memo and relevant were last cleared
	memo      map[string]caa.Step   // lookups for check verdicts, cleared every window (verdict.go)
	relevant  map[string]caa.Result // Relevant RRsets of names, cleared with memo

	lastRelevant struct { // the text of the last Relevant RRset logged
		owner string
		first *dns.CAA // the RRset's first record: the same array is the same RRset
		n     int
		text  []byte
	}
}

// NewLog returns the watcher of a block, writing through p. Its records are written once its
// instance starts (Start); until it joins one (Join), the block is an instance of its own.
func NewLog(cfg Config, b Block, p *Pipeline) *Log {
	if b.Metrics == nil {
		b.Metrics = noMetrics{}
	}
	l := &Log{cfg: cfg, dest: cfg.destination(), block: b, pipe: p, maxOpen: maxOpenChecks, memo: map[string]caa.Step{}, relevant: map[string]caa.Result{}}
	if l.dest == destCoreDNS || l.dest == destStdout {
		l.sink = p.sink(l.dest)
	}
	l.inst = &Instance{blocks: []*Log{l}} // its own until it joins its Corefile load's
	return l
}

// Config returns what the block's log and checks lines asked for.
func (l *Log) Config() Config { return l.cfg }

// SetOutput sends the block's lines to w instead of their destination, as text lines would be
// written there (with the plugin's prefix) or JSON lines.
func (l *Log) SetOutput(w io.Writer) {
	l.sink = &sink{key: "output", w: w, log: l.pipe.log}
}

// finalWait bounds how long the process's exit waits for the query log.
const finalWait = 5 * time.Second

// Enqueue hands a record to the writer, or drops and counts it when the queue is full. It
// allocates nothing: the queue keeps a copy.
func (l *Log) Enqueue(e *Entry) {
	if !l.live.Load() {
		return
	}
	e.log = l
	if !l.pipe.queue.push(e) {
		l.dropped.Add(1)
		l.block.Metrics.Dropped(e.Server, e.label(), e.View)
	}
}

// tick is how often the writer looks at the block's open events.
func (l *Log) tick() time.Duration {
	return min(flushInterval, max(l.cfg.Window/4, 10*time.Millisecond))
}

// closeEvents logs and counts closed events, and hands them back to the tracker.
func (l *Log) closeEvents(evs []*checkEvent) {
	for _, ev := range evs {
		l.closeCheck(ev)
		l.checks.recycle(ev)
	}
	if len(evs) > 0 && l.sink != nil {
		l.pipe.add(l.sink)
	}
}

// expire closes the block's events whose window has passed at now, and clears the memo every
// window (verdicts see a policy or zone-data change within a window). It reports whether
// events are still open; if none are, the block lets go of its tracker and memo.
func (l *Log) expire(now time.Time) bool {
	l.closeEvents(l.checks.expire(now))
	if now.Sub(l.memoSince) >= l.cfg.Window {
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
// zones (handover.go), or else closes them: its instance is shutting down.
func (l *Log) retire() {
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
func (l *Log) idle() {
	l.checks, l.active = nil, false
	l.memo, l.relevant = nil, nil
	l.lastRelevant.owner, l.lastRelevant.first, l.lastRelevant.text = "", nil, nil
}

// clearMemo forgets the lookups and Relevant RRsets remembered for check verdicts.
func (l *Log) clearMemo() {
	clear(l.memo)
	clear(l.relevant)
}

// track makes the tracker and memo of a block that has none, opening events from start on.
func (l *Log) track(start time.Time) {
	l.checks = newCheckTracker(l.cfg.Window, l.maxOpen)
	l.memoSince = start
	if l.memo == nil {
		l.memo, l.relevant = map[string]caa.Step{}, map[string]caa.Result{}
	}
}

// handle writes one record's log line and adds it to the check events.
func (l *Log) handle(e *Entry) {
	s := l.sink
	if s == nil { // a file block that never started: nothing can be written
		return
	}
	var key checkKey
	var closed []*checkEvent
	switch {
	case l.cfg.Window > 0:
		if l.checks == nil {
			l.track(e.Time)
		}
		var ev *checkEvent
		ev, closed = l.checks.observe(e)
		key = ev.key
	case l.cfg.Queries: // no events: each query is a check of its own name
		key = keyOf(e.checked(), keySource(e.CA, e.Client.Addr()), e.Time, DefaultWindow)
	}
	if l.cfg.Queries {
		switch {
		case l.cfg.JSON:
			s.batch = append(l.pipe.clock.appendQueryJSON(s.batch, e, l.cfg.Node, key), '\n')
		case l.viaCoreDNSJSON():
			l.pipe.log.Info(queryText(e, l.cfg.Node, key)) // CoreDNS's own JSON logging formats each line
		default:
			s.batch = append(l.pipe.clock.appendQueryText(append(s.batch, l.pipe.info...), e, l.cfg.Node, key), '\n')
		}
		l.pipe.add(s)
	}
	if l.cfg.Window > 0 {
		// Closed events' lines join the batch after the query line (closeCheck writes what is
		// batched first where it must write a line by itself).
		l.closeEvents(closed)
		if !l.active && l.checks.n > 0 {
			l.active = true
			l.pipe.activate(l)
		}
	}
	if len(s.batch) >= 64<<10 {
		s.flush()
	}
}

// flush writes the lines batched for the block's destination, and those of the other blocks
// writing there.
func (l *Log) flush() {
	if l.sink != nil {
		l.sink.flush()
	}
}

// viaCoreDNSJSON reports whether the block's text lines go through CoreDNS's log one by one,
// because CoreDNS formats its log as JSON.
func (l *Log) viaCoreDNSJSON() bool {
	return l.sink != nil && l.sink.coreLog && clog.IsJSON()
}

// writeJSON adds v as a JSON line to the batch of the block's destination.
func (l *Log) writeJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil || l.sink == nil {
		return
	}
	l.sink.batch = append(append(l.sink.batch, b...), '\n')
}

// The block's hooks, for its instance's: Start (OnStartup), Stop (OnShutdown), Shutdown
// (OnFinalShutdown) and RestartFailed (OnRestartFailed).

// Start starts the logging of the block's instance, once for all its blocks: it opens the files
// and sockets the instance names and starts the writer if it is not running. A destination that
// cannot be opened fails with a *DestError.
func (l *Log) Start() error {
	return l.inst.start(l.pipe)
}

// Stop retires the block and returns at once: the writer writes its open check events after
// the records queued before. When the instance's last block stops, the instance lets go of its
// destinations. A reload does not wait for the old blocks' events (thousands during a flood).
func (l *Log) Stop() error {
	p := l.pipe
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.stopped {
		return nil
	}
	l.stopped = true
	i := l.inst
	if !i.started {
		return nil
	}
	p.retireLocked(l)
	if i.stopped++; i.stopped == len(i.blocks) {
		p.releaseLocked(i)
	}
	return nil
}

// Shutdown stops the block and, once no instance uses the writer, waits until it has written
// everything, for at most finalWait: it is for when the process is about to exit.
func (l *Log) Shutdown() error {
	l.Stop()
	l.pipe.mu.Lock()
	done := l.pipe.waitLocked()
	l.pipe.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-time.After(finalWait):
		return fmt.Errorf("the query log writer did not finish within %s; some lines are not written", finalWait)
	}
}

// RestartFailed is for the serving instance's blocks when a reload failed: instances started
// after this block's (the failed one, if its start-up hooks ran) let go of what they took.
func (l *Log) RestartFailed() error {
	p := l.pipe
	p.mu.Lock()
	defer p.mu.Unlock()
	at := slices.Index(p.started, l.inst)
	if at < 0 {
		return nil
	}
	for _, i := range slices.Clone(p.started[at+1:]) {
		p.releaseLocked(i)
	}
	return nil
}
