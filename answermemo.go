package caapolicy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// In a block with cache in front, caapolicy keeps its CAA answers out of the cache
// (pastcache.go), and remembers them itself instead, so that a CA's repeated questions (five
// perspectives climbing the same names within a second or two) cost little more than an answer
// from the cache: a map lookup and a copy, then the query is logged and counted as any other.
// An answer is remembered for at most answerMemoTTL and never longer than its smallest TTL, as
// cache would hold it (less: a zone-data change shows within 30 s); a reload starts afresh.
// Where no cache stands in front, every answer is made anew, as before.

// answerMemoTTL bounds how long an answer is remembered.
const answerMemoTTL = 30 * time.Second

// maxRememberedAnswers bounds the remembered answers; beyond it they are all forgotten at once.
const maxRememberedAnswers = 10000

// answerKey is what a remembered answer depends on: the question name as spelt (the answer's
// owner names follow it) and the DO bit (pre-signed zone data adds its signatures).
type answerKey struct {
	qname string
	do    bool
}

// rememberedAnswer is an answer as caapolicy wrote it, before dnssec signed it and the server
// fitted it to the client's buffer.
type rememberedAnswer struct {
	msg     *dns.Msg
	s       served
	rcode   int
	expires time.Time
}

// answerMemo holds a block's remembered CAA answers; queries read it concurrently.
type answerMemo struct {
	m   sync.Map // answerKey -> *rememberedAnswer
	n   atomic.Int64
	now func() time.Time
}

func newAnswerMemo() *answerMemo { return &answerMemo{now: time.Now} }

// get returns the answer remembered for k, if it has not expired.
func (a *answerMemo) get(k answerKey) (*rememberedAnswer, bool) {
	v, ok := a.m.Load(k)
	if !ok {
		return nil, false
	}
	e := v.(*rememberedAnswer)
	if !a.now().Before(e.expires) {
		if a.m.CompareAndDelete(k, v) {
			a.n.Add(-1)
		}
		return nil, false
	}
	return e, true
}

// put remembers m, the answer written for k, unless it is not a plain answer (an error,
// truncated) or its TTL is 0.
func (a *answerMemo) put(k answerKey, m *dns.Msg, s served, rcode int) {
	if m.Truncated || (m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError) {
		return
	}
	ttl := answerMemoTTL
	for _, section := range [][]dns.RR{m.Answer, m.Ns} {
		for _, rr := range section {
			ttl = min(ttl, time.Duration(rr.Header().Ttl)*time.Second)
		}
	}
	if ttl <= 0 {
		return
	}
	if a.n.Load() >= maxRememberedAnswers {
		a.m.Clear()
		a.n.Store(0)
	}
	s.msg = nil
	if _, loaded := a.m.Swap(k, &rememberedAnswer{msg: m, s: s, rcode: rcode, expires: a.now().Add(ttl)}); !loaded {
		a.n.Add(1)
	}
}

// serveRemembered answers r from the memo, or makes the answer, writes it to w and remembers it.
//
//go:noinline
func (c *CAAPolicy) serveRemembered(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, o *owner) (served, int, error) {
	opt := r.IsEdns0()
	k := answerKey{qname: r.Question[0].Name, do: opt != nil && opt.Do()}
	if e, ok := c.answers.get(k); ok {
		m := e.msg.Copy() // the server changes what it writes (EDNS, compression, truncation)
		m.Id, m.RecursionDesired, m.CheckingDisabled = r.Id, r.RecursionDesired, r.CheckingDisabled
		s := e.s
		s.msg = m
		return s, e.rcode, w.WriteMsg(m)
	}
	mw := &memoWriter{ResponseWriter: w}
	s, rcode, err := c.serve(ctx, mw, r, o)
	if mw.msg != nil && err == nil {
		c.answers.put(k, mw.msg, s, rcode)
	}
	return s, rcode, err
}

// memoWriter keeps a copy of the first answer written through it, as it was written.
type memoWriter struct {
	dns.ResponseWriter
	msg *dns.Msg
}

// WriteMsg implements dns.ResponseWriter.
func (w *memoWriter) WriteMsg(m *dns.Msg) error {
	if w.msg == nil {
		w.msg = m.Copy()
	}
	return w.ResponseWriter.WriteMsg(m)
}
