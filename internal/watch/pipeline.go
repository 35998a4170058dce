package watch

import (
	"io"
	golog "log"
	"os"
	"slices"
	"sync"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

// The pipeline (issue 24): one bounded queue and one writer goroutine per process, shared by
// every caapolicy block of every server block, whatever their number. A block that logs costs
// its configuration and, only while its check events are open, their tracker; a thousand blocks
// cost one queue and one goroutine, as one block does.
//
// Lines go to destinations (sinks): CoreDNS's log, standard output, or a file or Unix socket named
// on a log line. Each destination is opened once per process and shared by the blocks naming it.
//
// Reloads. CoreDNS builds the new instance's blocks while the old ones serve, runs the new
// instance's start-up hooks, then stops the old servers and runs their shutdown hooks. So:
//   - The writer and its queue outlive a reload: old and new blocks' records go through the same
//     queue, in order, and nothing is lost or written twice.
//   - A destination named by both instances is the same sink. The new instance opens its file
//     again at start-up and hands it to the writer, which writes what it holds to the old file,
//     closes it, and goes on in the new one: a reload reopens the log (after logrotate, say).
//   - An old block's shutdown hook retires it: the writer closes its open check events after the
//     records queued before, and writes them. When all blocks of an instance are retired, the
//     instance lets go of its sinks; a sink no instance uses is closed, and the writer ends when
//     no instance uses it.
//   - A reload that fails before the blocks' start-up hooks leaves nothing behind (reading the
//     Corefile opens nothing). One that fails after them runs the old instance's restart-failed
//     hooks, which let go of what the failed instance took; the old instance's blocks go on as
//     before.

// Pipeline is the queue, the writer goroutine and the destinations of the query log. A process
// has one.
type Pipeline struct {
	queue entryQueue
	log   clog.P // CoreDNS's log, as the plugin's
	info  string // what CoreDNS's log puts before an info line of the plugin
	warn  string // and before a warning

	mu       sync.Mutex
	requests []request
	poke     chan struct{}    // a request waits
	users    int              // instances started and not let go
	running  bool             // the writer goroutine runs
	done     chan struct{}    // closed when the current writer ends
	sinks    map[string]*sink // destinations in use, by key
	started  []*Instance      // instances started and not let go, oldest first

	// The writer's own.
	active []*Log  // blocks with open check events
	dirty  []*sink // sinks with lines to write
	spare  []Entry
	tick   time.Duration
	clock  lineClock // formats the query lines' times
}

// NewPipeline returns a pipeline whose lines in CoreDNS's log are those of the plugin name.
func NewPipeline(name string) *Pipeline {
	return &Pipeline{
		queue: newEntryQueue(QueueSize), log: clog.NewWithPlugin(name),
		info: "[INFO] plugin/" + name + ": ", warn: "[WARNING] plugin/" + name + ": ",
		poke: make(chan struct{}, 1), sinks: map[string]*sink{},
	}
}

// The destinations that are not files: CoreDNS's log (text lines, and the default) and
// standard output (JSON lines without a file).
const (
	destCoreDNS = "coredns-log"
	destStdout  = "stdout"
)

// sink is one destination and the lines batched for it. The writer alone uses w, batch and
// queued; refs is guarded by the pipeline's mutex.
type sink struct {
	key     string
	coreLog bool      // CoreDNS's log: golog.Writer() at each write, as clog writes
	w       io.Writer // otherwise
	c       io.Closer // the file or socket, closed when replaced or let go; nil for stdout
	log     clog.P    // where failing writes are told
	batch   []byte
	queued  bool     // in the pipeline's dirty list
	failing bool     // the last write failed (warned once)
	refs    int      // started instances using the sink
	stdout  *os.File // for standard output, the file w is or is about to be (guarded by the pipeline's mutex)
}

// add marks the sink as holding lines to write.
func (p *Pipeline) add(s *sink) {
	if !s.queued {
		s.queued = true
		p.dirty = append(p.dirty, s)
	}
}

// flush writes the batched lines.
func (s *sink) flush() {
	if len(s.batch) == 0 {
		return
	}
	var err error
	switch {
	case s.coreLog:
		_, err = golog.Writer().Write(s.batch)
	case s.w != nil:
		_, err = s.w.Write(s.batch)
	}
	switch {
	case err != nil && !s.failing:
		s.failing = true
		s.log.Warningf("writing the query log to %s: %v; lines are lost until it works again", s.name(), err)
	case err == nil && s.failing:
		s.failing = false
		s.log.Infof("writing the query log to %s works again", s.name())
	}
	if cap(s.batch) > 1<<20 { // a flood's batch is not kept for a quiet hour
		s.batch = nil
	} else {
		s.batch = s.batch[:0]
	}
}

// name is the destination as the operator wrote it.
func (s *sink) name() string {
	switch s.key {
	case destCoreDNS:
		return "CoreDNS's log"
	case destStdout:
		return "standard output"
	}
	return s.key
}

// flushAll writes every sink's batched lines.
func (p *Pipeline) flushAll() {
	for i, s := range p.dirty {
		s.flush()
		s.queued = false
		p.dirty[i] = nil
	}
	p.dirty = p.dirty[:0]
}

// sink returns the pipeline's sink for a destination that is not a file: CoreDNS's log or
// standard output. It is created once and never closed.
func (p *Pipeline) sink(key string) *sink {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sinks[key]
	if s == nil {
		s = &sink{key: key, coreLog: key == destCoreDNS, log: p.log}
		if key == destStdout {
			s.w, s.stdout = os.Stdout, os.Stdout
		}
		p.sinks[key] = s
	}
	return s
}

// request is what the writer is asked to do besides writing records.
type request struct {
	kind int
	log  *Log
	sink *sink
	w    io.Writer // the sink's new writer
	c    io.Closer // and what closes it, if anything
}

const (
	retireBlock = iota // close the block's open check events: its instance is shutting down
	reopenSink         // write to w from now on, closing the old file
	closeSink          // no instance writes to the sink any more
	stopWriter         // end, if no instance uses the pipeline
)

// postLocked hands a request to the writer, without waiting: a shutdown hook never waits for a
// stalled destination. The writer handles it after the records queued before it.
func (p *Pipeline) postLocked(r request) {
	p.requests = append(p.requests, r)
	select {
	case p.poke <- struct{}{}:
	default:
	}
}

// Instance is what the logging blocks of one CoreDNS instance (one Corefile load) share: the
// files and sockets they name, opened when the instance starts. The zero value is empty.
type Instance struct {
	blocks  []*Log
	files   []string          // destination keys to open, in the order first named
	pos     map[string]string // key -> where first named, "file:line"
	started bool
	done    bool // let go of its sinks (stopped, or its start-up failed)
	stopped int  // blocks stopped
	sinks   []*sink
}

// start runs at the first start-up hook of the instance's logging blocks: it opens the files
// and sockets the instance names (failing, with where the destination is named, if one cannot
// be opened: the reload fails and the old instance keeps logging), hands them to the writer,
// and starts the writer if it is not running.
func (i *Instance) start(p *Pipeline) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i.started || i.done {
		return nil
	}
	opened := make([]io.WriteCloser, 0, len(i.files))
	for _, key := range i.files {
		f, err := openDest(key)
		if err != nil {
			for _, f := range opened {
				f.Close()
			}
			i.done = true
			return &DestError{Pos: i.pos[key], Err: err}
		}
		opened = append(opened, f)
	}
	for n, key := range i.files {
		s := p.sinks[key]
		if s == nil {
			s = &sink{key: key, w: opened[n], c: opened[n], log: p.log}
			p.sinks[key] = s
		} else {
			p.postLocked(request{kind: reopenSink, sink: s, w: opened[n], c: opened[n]})
		}
		s.refs++
		i.sinks = append(i.sinks, s)
	}
	for _, l := range i.blocks {
		l.live.Store(true)
		switch {
		case isFileDest(l.dest):
			l.sink = p.sinks[l.dest]
		case l.dest == destStdout && l.sink == p.sinks[destStdout] && l.sink.stdout != os.Stdout:
			// Standard output is taken when an instance starts, as the text log's output is.
			l.sink.stdout = os.Stdout
			p.postLocked(request{kind: reopenSink, sink: l.sink, w: os.Stdout})
		}
	}
	i.started = true
	p.users++
	p.started = append(p.started, i)
	if !p.running {
		p.running = true
		p.done = make(chan struct{})
		go p.run(p.done)
	}
	return nil
}

// releaseLocked lets go of a started instance: its blocks not yet retired are retired, its
// sinks no other instance uses are closed, and the writer ends if no instance is left.
func (p *Pipeline) releaseLocked(i *Instance) {
	if i.done {
		return
	}
	i.done = true
	if !i.started {
		return
	}
	for _, l := range i.blocks {
		p.retireLocked(l)
	}
	for _, s := range i.sinks {
		if s.refs--; s.refs <= 0 {
			delete(p.sinks, s.key)
			p.postLocked(request{kind: closeSink, sink: s})
		}
	}
	p.started = slices.DeleteFunc(p.started, func(x *Instance) bool { return x == i })
	if p.users--; p.users == 0 {
		p.postLocked(request{kind: stopWriter})
	}
}

// retireLocked asks the writer to close a block's open check events, once.
func (p *Pipeline) retireLocked(l *Log) {
	if !l.retiring {
		l.retiring = true
		p.postLocked(request{kind: retireBlock, log: l})
	}
}

// run is the writer goroutine.
func (p *Pipeline) run(done chan struct{}) {
	defer close(done)
	p.tick = flushInterval
	t := time.NewTicker(p.tick)
	defer t.Stop()
	for {
		select {
		case <-p.queue.wake:
			p.drain()
		case now := <-t.C:
			p.drain()
			p.expire(now, t)
		case <-p.poke:
			p.drain()
			if p.serve() {
				return
			}
		}
	}
}

// drain handles every queued record and writes their lines.
func (p *Pipeline) drain() {
	entries := p.queue.take(p.spare)
	for i := range entries {
		entries[i].log.handle(&entries[i])
	}
	p.flushAll()
	clear(entries)        // let the replies go
	p.spare = entries[:0] // kept, grown or not: growing it again would cost the serving side
}

// expire closes the check events whose window has passed, and lets go of the tracker of a block
// with none open. The tick follows the shortest window among the blocks with open events.
func (p *Pipeline) expire(now time.Time, t *time.Ticker) {
	tick := flushInterval
	kept := p.active[:0]
	for _, l := range p.active {
		if l.expire(now) {
			kept = append(kept, l)
			tick = min(tick, l.tick())
		}
	}
	clear(p.active[len(kept):])
	p.active = kept
	p.flushAll()
	if tick != p.tick {
		p.tick = tick
		t.Reset(tick)
	}
}

// activate adds a block that opened a check event to those the ticker visits.
func (p *Pipeline) activate(l *Log) {
	p.active = append(p.active, l)
}

// serve handles the requests waiting; it reports whether the writer is to end.
func (p *Pipeline) serve() bool {
	p.mu.Lock()
	reqs := p.requests
	p.requests = nil
	p.mu.Unlock()
	stop := false
	for _, r := range reqs {
		switch r.kind {
		case retireBlock:
			r.log.retire()
			p.active = slices.DeleteFunc(p.active, func(x *Log) bool { return x == r.log })
		case reopenSink:
			r.sink.flush()
			if r.sink.c != nil {
				r.sink.c.Close()
			}
			r.sink.w, r.sink.c = r.w, r.c
		case closeSink:
			r.sink.flush()
			if r.sink.c != nil {
				r.sink.c.Close()
			}
			r.sink.w, r.sink.c = nil, nil
		case stopWriter:
			stop = true
		}
	}
	p.flushAll()
	if !stop {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.users > 0 || len(p.requests) > 0 {
		return false // an instance started meanwhile; it keeps this writer
	}
	// Blocks that were never retired (records handed to a pipeline no instance started, as
	// tests do) have their events written too.
	for _, l := range p.active {
		l.closeEvents(l.checks.flush())
		l.idle()
	}
	p.active = nil
	p.flushAll()
	p.running = false
	return true
}

// waitLocked returns the channel to wait on for the writer's end, or nil if none is coming.
func (p *Pipeline) waitLocked() chan struct{} {
	if !p.running || p.users > 0 {
		return nil
	}
	return p.done
}
