package caapolicy

import (
	"context"
	"testing"

	"github.com/coredns/caddy"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	"github.com/miekg/dns"
)

// FuzzParse feeds arbitrary Corefile blocks to the parser: an error is fine, a panic is not.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		testPolicy + "}",
		"caapolicy example.org {\n issue letsencrypt.org accounturi=https://a/1 validationmethods=dns-01\n}",
		"caapolicy {\n name a b {\n  record 128 tbs x\n }\n fallthrough\n}",
		"caapolicy example.org {\n name www {\n name x {\n}\n}",
		"caapolicy . {\n iodef mailto:a@b\n contactphone +1-(555)-0100\n}",
		"caapolicy example.org {\n issue ;;;\n issuewild none\n}",
		"caapolicy example.org {\n partners cloudflare aws letsencrypt.org;accounturi=https://a/1\n trigger any\n}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, corefile string) {
		c := caddy.NewTestController("dns", corefile)
		c.ServerBlockKeys = []string{"example.org."}
		for c.Next() {
			if _, err := newHandler(c); err != nil {
				return
			}
		}
	})
}

// FuzzServeDNS feeds arbitrary messages to caapolicy in front of real zone data, in both modes
// and with partners:
// every message that unpacks must be handled without a panic, and every CAA reply that is
// written must pack again.
func FuzzServeDNS(f *testing.F) {
	for _, q := range []string{"example.org.", "ExAmPlE.org.", "alias.example.org.", "out.example.org.", "sub.example.org.", "x.example.net.", "."} {
		for _, qt := range []uint16{dns.TypeCAA, dns.TypeA} {
			b, _ := new(dns.Msg).SetQuestion(q, qt).Pack()
			f.Add(b)
		}
	}
	merge := newTestHandler(f, testPolicy+"}", zoneData(f))
	ignore := newTestHandler(f, testPolicy+"zonedata ignore\n}", zoneData(f))
	fall := newTestHandler(f, testPolicy+"fallthrough\n}", zoneData(f))
	partners := newTestHandler(f, testPolicy+"partners cloudflare\ntrigger any\n}", zoneData(f))
	f.Fuzz(func(t *testing.T, wire []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(wire); err != nil || len(m.Question) == 0 {
			return // the server answers these before any plugin runs
		}
		for _, h := range []*CAAPolicy{merge, ignore, fall, partners} {
			rec := corednstest.NewWriter("udp", "")
			h.ServeDNS(context.Background(), rec, m.Copy())
			if rec.Msg != nil {
				if _, err := rec.Msg.Pack(); err != nil {
					t.Errorf("reply to %v does not pack: %v", m.Question, err)
				}
			}
		}
	})
}
