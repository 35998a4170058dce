package caapolicy

import (
	"context"
	"slices"
	"testing"

	"github.com/caapolicy/caapolicy/internal/corednstest"
	"github.com/caapolicy/caapolicy/internal/served"

	"github.com/miekg/dns"
)

// TestPartnersStartupReport checks the one warning per policy owner where partner certificates
// cannot be issued, printed when the policy is set up.
func TestPartnersStartupReport(t *testing.T) {
	buf := corednstest.CaptureLog(t)

	newTestHandler(t, `caapolicy example.org {
		issue none
		partners letsencrypt.org
		trigger any
		name open {
			iodef mailto:security@example.org
		}
		name bound {
			issue letsencrypt.org validationmethods=http-01
			issuewild none
		}
		name fine {
			issue digicert.com
		}
	}`, nil)
	want := `[WARNING] plugin/caapolicy: Testfile:1: partners at example.org.: issue is locked down (only empty issuers, issue ";"), so no partner may issue there
[WARNING] plugin/caapolicy: Testfile:5: the policy at open.example.org. has no issue or issuewild property, so it lifts the restriction of example.org. (declared at Testfile:1): any CA may issue for open.example.org.; repeat the parent's issue lines in this name block
[WARNING] plugin/caapolicy: Testfile:5: partners at open.example.org.: trigger any turns an unrestricted RRset into one that only the listed CAs and the partners may use
[WARNING] plugin/caapolicy: Testfile:8: partners at bound.example.org.: issuewild is locked down (only empty issuers, issuewild ";"), so no partner may issue wildcard certificates there; the customer's own property binds partner letsencrypt.org (issue "letsencrypt.org; validationmethods=http-01"), so partner certificates must satisfy it
`
	if buf.String() != want {
		t.Errorf("startup report\n got %q\nwant %q", buf.String(), want)
	}
}

const partnerZone = `$ORIGIN example.org.
@        3600 IN SOA   ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 3600
@        3600 IN NS    ns1
ns1      3600 IN A     127.0.0.1
@        3600 IN CAA   0 issue "digicert.com"
wild     3600 IN CAA   0 issue "digicert.com"
wild     3600 IN CAA   0 issuewild "digicert.com"
locked   3600 IN CAA   0 issue ";"
script   3600 IN CAA   0 issue "<script>alert(1)</script>"
iodef    3600 IN CAA   0 iodef "mailto:security@example.org"
bound    3600 IN CAA   0 issue "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1"
has      3600 IN CAA   0 issue "LETSENCRYPT.org"
has      3600 IN CAA   0 issue "sectigo.com"
cname    3600 IN CNAME wild
plain    3600 IN A     192.0.2.1
`

// wildRRset is what wild.example.org serves with partners letsencrypt.org and sectigo.com.
var wildRRset = []string{
	`wild.example.org. 600 IN CAA 0 iodef "mailto:security@example.org"`,
	`wild.example.org. 600 IN CAA 0 issue "digicert.com"`,
	`wild.example.org. 600 IN CAA 0 issuewild "digicert.com"`,
	`wild.example.org. 600 IN CAA 0 issue "letsencrypt.org"`,
	`wild.example.org. 600 IN CAA 0 issue "sectigo.com"`,
	`wild.example.org. 600 IN CAA 0 issuewild "letsencrypt.org"`,
	`wild.example.org. 600 IN CAA 0 issuewild "sectigo.com"`,
}

// TestServePartners checks partner records in answers: on policy owners (prepared at setup), on
// merged RRsets, on zone-data RRsets at other names and at CNAME targets, and the served counts.
func TestServePartners(t *testing.T) {
	z, err := corednstest.FileZone(partnerZone, "example.org.")
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHandler(t, `caapolicy example.org {
		partners letsencrypt.org sectigo.com
		ttl 600
		name pol {
			issue pki.goog
			issuewild pki.goog
		}
		name wild {
			iodef mailto:security@example.org
		}
	}`, z)
	for _, tc := range []struct {
		name   string
		qname  string
		answer []string
		served served.Answer
	}{
		{"zone data at the apex, issue only, gets issue records", "example.org.", []string{
			`example.org. 3600 IN CAA 0 issue "digicert.com"`,
			`example.org. 3600 IN CAA 0 issue "letsencrypt.org"`,
			`example.org. 3600 IN CAA 0 issue "sectigo.com"`,
		}, served.Answer{Owner: "example.org.", ZoneData: 1, Partners: 2}},
		{"a policy owner gets the records prepared at setup, issuewild ones since issuewild exists", "PoL.example.org.", []string{
			`PoL.example.org. 600 IN CAA 0 issue "pki.goog"`,
			`PoL.example.org. 600 IN CAA 0 issuewild "pki.goog"`,
			`PoL.example.org. 600 IN CAA 0 issue "letsencrypt.org"`,
			`PoL.example.org. 600 IN CAA 0 issue "sectigo.com"`,
			`PoL.example.org. 600 IN CAA 0 issuewild "letsencrypt.org"`,
			`PoL.example.org. 600 IN CAA 0 issuewild "sectigo.com"`,
		}, served.Answer{Owner: "pol.example.org.", Policy: 2, Partners: 4}},
		{"policy (iodef only) merged with zone data (issue, issuewild) gets partners on the union", "wild.example.org.", wildRRset, served.Answer{Owner: "wild.example.org.", Policy: 1, ZoneData: 2, Partners: 4}},
		{"a CNAME to it gets the target's RRset, partners included", "cname.example.org.", append([]string{`cname.example.org. 3600 IN CNAME wild.example.org.`}, wildRRset...), served.Answer{Owner: "wild.example.org.", Policy: 1, ZoneData: 2, Partners: 4}},
		{"a zone-data lock-down gets no partners", "locked.example.org.", []string{`locked.example.org. 3600 IN CAA 0 issue ";"`}, served.Answer{Owner: "locked.example.org.", ZoneData: 1}},
		// RFC 8659 section 4.2: a malformed issuer authorizes nobody.
		{"a malformed issuer is a lock-down too", "script.example.org.", []string{`script.example.org. 3600 IN CAA 0 issue "<script>alert(1)</script>"`}, served.Answer{Owner: "script.example.org.", ZoneData: 1}},
		{"zone data with iodef only gets no partners", "iodef.example.org.", []string{`iodef.example.org. 3600 IN CAA 0 iodef "mailto:security@example.org"`}, served.Answer{Owner: "iodef.example.org.", ZoneData: 1}},
		{"a binding on a partner keeps that partner out, the others in", "bound.example.org.", []string{
			`bound.example.org. 3600 IN CAA 0 issue "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1"`,
			`bound.example.org. 3600 IN CAA 0 issue "sectigo.com"`,
		}, served.Answer{Owner: "bound.example.org.", ZoneData: 1, Partners: 1}},
		{"a partner the customer lists in another case is added in its own case", "has.example.org.", []string{
			`has.example.org. 3600 IN CAA 0 issue "LETSENCRYPT.org"`,
			`has.example.org. 3600 IN CAA 0 issue "sectigo.com"`,
			`has.example.org. 3600 IN CAA 0 issue "letsencrypt.org"`,
		}, served.Answer{Owner: "has.example.org.", ZoneData: 2, Partners: 1}},
		{"a name without CAA gets nothing, any CA may issue already", "plain.example.org.", nil, served.Answer{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := corednstest.NewWriter("udp", "")
			r := new(dns.Msg).SetQuestion(tc.qname, dns.TypeCAA)
			_, _, o, _ := h.view.Find(tc.qname)
			m, s, _, err := h.view.Serve(context.Background(), rec, r, o)
			if err != nil || m == nil {
				t.Fatalf("%s: err %v", tc.qname, err)
			}
			rec.WriteMsg(m)
			if got, want := corednstest.RRStrings(rec.Msg.Answer), corednstest.RRStrings(corednstest.RRs(tc.answer...)); !slices.Equal(got, want) {
				t.Errorf("%s: answer\n got %q\nwant %q", tc.qname, got, want)
			}
			want := tc.served
			want.Apex = "example.org." // every answer here asked the zone data, which names its zone
			if s != want {
				t.Errorf("%s: served %+v, want %+v", tc.qname, s, want)
			}
		})
	}
}

// TestServePartnersZoneWarnings checks that what stops partners in zone data is logged once per owner.
func TestServePartnersZoneWarnings(t *testing.T) {
	buf := corednstest.CaptureLog(t)

	z, err := corednstest.FileZone(partnerZone, "example.org.")
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHandler(t, "caapolicy example.org {\n partners letsencrypt.org\n}", z)
	for range 3 {
		for _, q := range []string{"locked.example.org.", "bound.example.org.", "iodef.example.org."} {
			h.ServeDNS(context.Background(), corednstest.NewWriter("udp", ""), new(dns.Msg).SetQuestion(q, dns.TypeCAA))
		}
	}
	want := `[WARNING] plugin/caapolicy: partners at locked.example.org. (zone data): issue is locked down (only empty issuers, issue ";"), so no partner may issue there
[WARNING] plugin/caapolicy: partners at bound.example.org. (zone data): the customer's own property binds partner letsencrypt.org (issue "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1"), so partner certificates must satisfy it
`
	if buf.String() != want {
		t.Errorf("log\n got %q\nwant %q", buf.String(), want)
	}
}
