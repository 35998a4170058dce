package caapolicy

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	"github.com/miekg/dns"
)

// TestAnswerMemo: an answer is remembered for 30 s at most and never beyond its smallest TTL;
// errors, truncated answers and TTL 0 are not remembered; past the bound all are forgotten.
func TestAnswerMemo(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := newAnswerMemo()
	a.now = func() time.Time { return now }
	answer := func(rcode int, ttl uint32, tc bool) *dns.Msg {
		m := new(dns.Msg).SetQuestion("www.example.org.", dns.TypeCAA)
		m.Response, m.Rcode, m.Truncated = true, rcode, tc
		rr, _ := dns.NewRR(fmt.Sprintf("www.example.org. %d IN CAA 0 issue \"letsencrypt.org\"", ttl))
		m.Answer = []dns.RR{rr}
		return m
	}
	tests := []struct {
		name  string
		m     *dns.Msg
		lives time.Duration // 0: not remembered
	}{
		{"TTL 300: 30 s", answer(dns.RcodeSuccess, 300, false), 30 * time.Second},
		{"TTL 10: 10 s", answer(dns.RcodeSuccess, 10, false), 10 * time.Second},
		{"NXDOMAIN, TTL 60: 30 s", answer(dns.RcodeNameError, 60, false), 30 * time.Second},
		{"TTL 0", answer(dns.RcodeSuccess, 0, false), 0},
		{"SERVFAIL", answer(dns.RcodeServerFailure, 300, false), 0},
		{"truncated", answer(dns.RcodeSuccess, 300, true), 0},
	}
	for i, tc := range tests {
		k := answerKey{qname: fmt.Sprintf("n%d.example.org.", i)}
		start := now
		a.put(k, tc.m, served{owner: "www.example.org.", policy: 1, msg: tc.m}, dns.RcodeSuccess)
		now = start.Add(tc.lives - time.Second)
		e, ok := a.get(k)
		if tc.lives > 0 && (!ok || e.msg != tc.m || e.s.policy != 1 || e.s.msg != nil) {
			t.Errorf("%s: not remembered a second before it expires: %v %+v", tc.name, ok, e)
		}
		now = start.Add(tc.lives)
		if _, ok := a.get(k); ok {
			t.Errorf("%s: remembered for %v or longer", tc.name, tc.lives)
		}
		now = start
	}
	if n := a.n.Load(); n != 0 {
		t.Errorf("%d answers counted after all expired, want 0", n)
	}

	for i := range maxRememberedAnswers + 1 {
		a.put(answerKey{qname: fmt.Sprintf("b%d.", i)}, answer(dns.RcodeSuccess, 300, false), served{}, dns.RcodeSuccess)
	}
	if _, ok := a.get(answerKey{qname: "b0."}); ok || a.n.Load() != 1 {
		t.Errorf("past %d answers: b0 still remembered or %d counted, want forgotten and 1", maxRememberedAnswers, a.n.Load())
	}
}

// TestRememberedAnswerOnTheWire: with cache in front, a repeated CAA question gets the same
// answer with its own ID, the first over UDP without room for it truncated and the second over
// TCP whole, and each is logged as caapolicy's answer.
func TestRememberedAnswerOnTheWire(t *testing.T) {
	buf := captureLog(t)
	dir := t.TempDir()
	zonePath, keyBase, _ := signedZone(t, dir, exampleOrg)
	_, udp, tcp := corednstest.Start(t, e2eCorefile(zonePath, keyBase, e2ePolicy(" log all\n")))

	var answers [][]string
	for _, q := range []struct {
		net, addr string
		edns      uint16
	}{{"udp", udp, 1232}, {"tcp", tcp, 1232}, {"udp", udp, 0}} {
		m := caaQuery("www.example.org.", false, q.edns)
		m.Id = dns.Id()
		r := exchange(t, q.net, q.addr, m)
		if r.Id != m.Id || r.Rcode != dns.RcodeSuccess || !r.Authoritative {
			t.Fatalf("%s: id %d rcode %s aa %v, want id %d NOERROR aa", q.net, r.Id, dns.RcodeToString[r.Rcode], r.Authoritative, m.Id)
		}
		if (r.IsEdns0() != nil) != (q.edns > 0) {
			t.Errorf("%s, EDNS %d: the answer has OPT %v", q.net, q.edns, r.IsEdns0())
		}
		answers = append(answers, answerStrings(r, 0))
	}
	if !slices.Equal(answers[0], answers[1]) || !slices.Equal(answers[1], answers[2]) || len(answers[0]) == 0 {
		t.Errorf("answers differ:\n%q\n%q\n%q", answers[0], answers[1], answers[2])
	}
	waitFor(t, buf.String, `"www.example.org." edns=1232 do=0 NOERROR`, 2)
	waitFor(t, buf.String, `"www.example.org." edns=none do=0 NOERROR`, 1)

	// 30 records do not fit 512 bytes: remembered whole, truncated on the wire each time.
	for _, q := range []struct{ net, addr string }{{"udp", udp}, {"tcp", tcp}, {"udp", udp}, {"tcp", tcp}} {
		r := exchange(t, q.net, q.addr, caaQuery("big.example.org.", false, 0))
		if n := len(answerStrings(r, dns.TypeCAA)); (q.net == "udp") != r.Truncated || (q.net == "tcp" && n != 30) {
			t.Errorf("%s: TC=%v with %d records", q.net, r.Truncated, n)
		}
	}
}
