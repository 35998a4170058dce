package watch

import (
	"net/netip"
	"testing"
)

// TestEntryQueueShare: a flood from one /24 takes at most half the queue; records from other
// networks keep being queued, and the flooding network gets its share again once the writer has
// taken the queue.
func TestEntryQueueShare(t *testing.T) {
	q := newEntryQueue(64)
	flood := func(i int) *Entry {
		return &Entry{EDNS: uint16(i), Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 53)}
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
	other := &Entry{Client: netip.MustParseAddrPort("198.51.100.7:53")}
	v6 := &Entry{Client: netip.MustParseAddrPort("[2001:db8:1::7]:53")}
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

// TestEntryQueue checks the queue between the serving side and the writer: records come out in
// order, only the wakeAt-th record wakes the writer, and a full queue refuses records.
func TestEntryQueue(t *testing.T) {
	q := newEntryQueue(QueueSize)
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
	for i := wakeAt; i < QueueSize; i++ {
		q.push(from(i))
	}
	if woken() {
		t.Error("writer woken twice for one batch")
	}
	if q.push(&Entry{}) {
		t.Errorf("a queue holding %d records took one more", QueueSize)
	}
	got := q.take(nil)
	if len(got) != QueueSize || q.len() != 0 {
		t.Fatalf("took %d records, %d left; want %d and 0", len(got), q.len(), QueueSize)
	}
	for i := range got {
		if int(got[i].EDNS) != i {
			t.Fatalf("record %d came out at position %d", got[i].EDNS, i)
		}
	}
	if !q.push(&Entry{}) || q.len() != 1 {
		t.Error("the emptied queue does not take records")
	}
}
