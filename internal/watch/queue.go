package watch

import (
	"net/netip"
	"sync"
	"time"
)

// QueueSize bounds the query records waiting for the log writer, in the one queue of the process;
// beyond it records are dropped and counted (Metrics.Dropped), so that logging never slows
// answers.
const QueueSize = 4096

// The writer wakes every flushInterval, or sooner once wakeAt records wait, takes everything
// queued in one swap and writes it in one batch. Under load that is one wake-up and one write
// (about 64 KB of text lines) per 256 queries, not one each; when idle a line reaches the log
// within flushInterval. Waking at 256 rather than 1024 keeps the records waiting, and the
// replies they hold, few enough to stay in the CPU's caches and cheap for the collector to scan.
const (
	flushInterval = 50 * time.Millisecond
	wakeAt        = QueueSize / 16
)

// entryQueue is a bounded queue of query records: the serving side appends under a mutex held
// for a copy, and the writer swaps the whole slice out at once. Unlike a channel, a record does
// not wake the writer; only the wakeAt-th record does, once. The slices grow with what waits,
// not to the bound at once: the collector scans a slice whole, and two of 4096 records (2.4 MB)
// cost every collection more than the records of a batch do.
//
// One source network (/24 or /48) may hold at most half the queue: when records must be dropped,
// a flood from one network is dropped first, and other sources' queries keep being logged and
// grouped. Networks are counted in sourceSlots hashed slots, reset when the writer takes the
// queue; two networks sharing a slot share its half.
type entryQueue struct {
	mu        sync.Mutex
	pending   []Entry
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
func (q *entryQueue) push(e *Entry) bool {
	slot := sourceSlot(e.Client.Addr())
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

// take returns the queued records and leaves spare, emptied, in their place (nil: a slice that
// grows as records come).
func (q *entryQueue) take(spare []Entry) []Entry {
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
