package served

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/caapolicy/caapolicy/caa"
	"github.com/caapolicy/caapolicy/internal/corefile"

	"github.com/miekg/dns"
)

// caaSet builds an RRset from "tag value" strings; a leading "128 " sets the critical flag.
func caaSet(props ...string) []dns.CAA {
	out := make([]dns.CAA, len(props))
	for i, p := range props {
		if rest, ok := strings.CutPrefix(p, "128 "); ok {
			out[i].Flag, p = 128, rest
		}
		out[i].Tag, out[i].Value, _ = strings.Cut(p, " ")
	}
	return out
}

func propStrings(rrs []dns.CAA) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = rr.Tag + " " + rr.Value
	}
	return out
}

func partnersOf(t *testing.T, trig corefile.Trigger, values ...string) *partnerSet {
	t.Helper()
	ps := &partnerSet{trigger: trig}
	for _, v := range values {
		iv, err := caa.ParseIssueValue(v)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(ps.list, func(p corefile.Partner) bool { return p.Issuer == iv.Issuer }) {
			ps.list = append(ps.list, corefile.Partner{Issuer: iv.Issuer, Value: v, Pos: "test"})
		}
	}
	return ps
}

// TestPartnerRules checks each partner rule of README.md ("Partner CAs") on its own, under both
// triggers.
func TestPartnerRules(t *testing.T) {
	le, sectigo := "letsencrypt.org", "sectigo.com"
	tests := []struct {
		name       string
		partners   []string
		rrset      []dns.CAA
		restrict   []string // additions under trigger restrictive
		any        []string // additions under trigger any
		notes      partnerNotes
		notesAny   partnerNotes
		sameForAny bool
	}{
		{name: "no RRset", partners: []string{le}},
		{name: "issue only", partners: []string{le, sectigo}, rrset: caaSet("issue digicert.com"),
			restrict: []string{"issue letsencrypt.org", "issue sectigo.com"}, sameForAny: true},
		{name: "issuewild present", partners: []string{le}, rrset: caaSet("issue digicert.com", "issuewild digicert.com"),
			restrict: []string{"issue letsencrypt.org", "issuewild letsencrypt.org"}, sameForAny: true},
		{name: "issuewild only", partners: []string{le}, rrset: caaSet("issuewild digicert.com"),
			restrict: []string{"issuewild letsencrypt.org"},
			any:      []string{"issue letsencrypt.org", "issuewild letsencrypt.org"}, notesAny: partnerNotes{restricts: true}},
		{name: "lock-down in issue", partners: []string{le}, rrset: caaSet("issue ;"),
			notes: partnerNotes{lockIssue: true}, sameForAny: true},
		{name: "lock-down in issue with iodef", partners: []string{le}, rrset: caaSet("issue ;", "iodef mailto:a@example.org"),
			notes: partnerNotes{lockIssue: true}, sameForAny: true},
		{name: "lock-down in issuewild only", partners: []string{le}, rrset: caaSet("issue digicert.com", "issuewild ;"),
			restrict: []string{"issue letsencrypt.org"}, notes: partnerNotes{lockWild: true}, sameForAny: true},
		{name: "iodef only", partners: []string{le}, rrset: caaSet("iodef mailto:a@example.org"),
			any: []string{"issue letsencrypt.org"}, notesAny: partnerNotes{restricts: true}},
		{name: "unknown tag only", partners: []string{le}, rrset: caaSet("tbs x"),
			any: []string{"issue letsencrypt.org"}, notesAny: partnerNotes{restricts: true}},
		{name: "critical unknown tag only", partners: []string{le}, rrset: caaSet("128 tbs x"),
			any: []string{"issue letsencrypt.org"}, notesAny: partnerNotes{restricts: true}},
		{name: "customer binds a partner", partners: []string{le, sectigo},
			rrset:    caaSet("issue letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1"),
			restrict: []string{"issue sectigo.com"},
			notes:    partnerNotes{bound: []string{`letsencrypt.org (issue "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1")`}}, sameForAny: true},
		{name: "customer binds a partner in another case", partners: []string{le},
			rrset: caaSet("issue LetsEncrypt.org;validationmethods=dns-01"),
			notes: partnerNotes{bound: []string{`letsencrypt.org (issue "LetsEncrypt.org;validationmethods=dns-01")`}}, sameForAny: true},
		{name: "customer binding in issuewild only", partners: []string{le},
			rrset:    caaSet("issue digicert.com", "issuewild letsencrypt.org; validationmethods=dns-01"),
			restrict: []string{"issue letsencrypt.org"},
			notes:    partnerNotes{bound: []string{`letsencrypt.org (issuewild "letsencrypt.org; validationmethods=dns-01")`}}, sameForAny: true},
		{name: "partner with parameters", partners: []string{"letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/9; validationmethods=dns-01"},
			rrset:    caaSet("issue digicert.com"),
			restrict: []string{"issue letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/9; validationmethods=dns-01"}, sameForAny: true},
		{name: "customer wrote the partner's own binding", partners: []string{"letsencrypt.org; validationmethods=dns-01"},
			rrset: caaSet("issue letsencrypt.org; validationmethods=dns-01"), sameForAny: true},
		{name: "partner already listed", partners: []string{le, sectigo}, rrset: caaSet("issue letsencrypt.org", "issue digicert.com"),
			restrict: []string{"issue sectigo.com"}, sameForAny: true},
		{name: "partner already listed, plain beside a binding", partners: []string{le},
			rrset: caaSet("issue letsencrypt.org; validationmethods=dns-01", "issue letsencrypt.org"), sameForAny: true},
		{name: "customer names a partner in another case", partners: []string{le}, rrset: caaSet("issue LetsEncrypt.ORG"),
			// Let's Encrypt matches case-sensitively: the customer's record does not authorize it.
			restrict: []string{"issue letsencrypt.org"}, sameForAny: true},
		{name: "partner with parameters, customer plain", partners: []string{"letsencrypt.org; validationmethods=dns-01"},
			rrset: caaSet("issue letsencrypt.org"), sameForAny: true},
		// RFC 8659 section 4.2: a malformed value authorizes nobody, so issue properties that are
		// all malformed (or empty) are a lock-down.
		{name: "malformed customer issuer", partners: []string{le}, rrset: caaSet("issue %%%"),
			notes: partnerNotes{lockIssue: true, malformed: []string{"issue %%%"}}, sameForAny: true},
		{name: "script as issuer", partners: []string{le}, rrset: caaSet("issue <script>alert(1)</script>", "issue ;"),
			notes: partnerNotes{lockIssue: true, malformed: []string{"issue <script>alert(1)</script>"}}, sameForAny: true},
		{name: "malformed issuewild", partners: []string{le}, rrset: caaSet("issue digicert.com", "issuewild https://ca.example"),
			restrict: []string{"issue letsencrypt.org"}, notes: partnerNotes{lockWild: true, malformed: []string{"issuewild https://ca.example"}}, sameForAny: true},
		{name: "malformed beside a real issuer", partners: []string{le}, rrset: caaSet("issue %%%", "issue digicert.com"),
			restrict: []string{"issue letsencrypt.org"}, sameForAny: true},
		{name: "no partners", rrset: caaSet("issue digicert.com")},
	}
	for _, tc := range tests {
		if tc.sameForAny {
			tc.any, tc.notesAny = tc.restrict, tc.notes
		}
		t.Run(tc.name, func(t *testing.T) {
			for _, run := range []struct {
				name  string
				trig  corefile.Trigger
				want  []string
				notes partnerNotes
			}{{"trigger restrictive", corefile.TriggerRestrictive, tc.restrict, tc.notes}, {"trigger any", corefile.TriggerAny, tc.any, tc.notesAny}} {
				t.Run(run.name, func(t *testing.T) {
					add, notes := partnersOf(t, run.trig, tc.partners...).additions(tc.rrset)
					if got := propStrings(add); !slices.Equal(got, run.want) && len(got)+len(run.want) > 0 {
						t.Errorf("added\n got %q\nwant %q", got, run.want)
					}
					if notes.String() != run.notes.String() {
						t.Errorf("notes\n got %q\nwant %q", notes, run.notes)
					}
				})
			}
		})
	}
}

// TestReadmePartnerTable checks the README's partner table against the code: for each customer
// RRset, what caapolicy adds under each trigger with partners letsencrypt.org.
func TestReadmePartnerTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cell := func(s string) []string {
		s = strings.TrimSpace(s)
		if s == "—" || s == "(no CAA)" {
			return nil
		}
		var out []string
		for p := range strings.SplitSeq(s, "<br>") {
			rr, err := dns.NewRR(". CAA 0 " + strings.Trim(p, "`"))
			if err != nil {
				t.Fatalf("README table cell %q: %v", p, err)
			}
			out = append(out, rr.(*dns.CAA).Tag+" "+rr.(*dns.CAA).Value)
		}
		return out
	}
	rows := 0
	_, section, _ := strings.Cut(string(b), "\n## Partner CAs\n")
	section, _, _ = strings.Cut(section, "\n## ")
	for line := range strings.SplitSeq(section, "\n") {
		cols := strings.Split(line, "|")
		if len(cols) != 7 || strings.HasPrefix(line, "| Customer") || !strings.Contains(line, "`") && !strings.Contains(line, "(no CAA)") {
			continue
		}
		rows++
		row := strings.NewReplacer("`", "", "<br>", ", ").Replace(strings.TrimSpace(cols[1]))
		t.Run("README row "+row, func(t *testing.T) {
			var rrset []dns.CAA
			for _, p := range cell(cols[1]) {
				rrset = append(rrset, caaSet(p)...)
			}
			for _, run := range []struct {
				name string
				trig corefile.Trigger
				col  string
			}{{"trigger restrictive", corefile.TriggerRestrictive, cols[3]}, {"trigger any", corefile.TriggerAny, cols[4]}} {
				t.Run(run.name, func(t *testing.T) {
					add, _ := partnersOf(t, run.trig, "letsencrypt.org").additions(rrset)
					if got, want := propStrings(add), cell(run.col); !slices.Equal(got, want) && len(got)+len(want) > 0 {
						t.Errorf("caapolicy adds %q, the README says %q", got, want)
					}
				})
			}
		})
	}
	if rows != 10 {
		t.Errorf("found %d rows in the README's partner table, want 10", rows)
	}
}

// TestCachedAdditions checks that the cache answers exactly as additions does: the same RRset
// in a new slice hits, an RRset differing only in the case of an issuer (which Let's Encrypt
// tells apart) or in order does not share an entry, and the cache stays bounded.
func TestCachedAdditions(t *testing.T) {
	ps := partnersOf(t, corefile.TriggerRestrictive, "letsencrypt.org", "sectigo.com")
	ps.cache = newAdditionsCache()
	rrsets := [][]dns.CAA{
		{{Tag: "issue", Value: "digicert.com"}, {Tag: "iodef", Value: "mailto:a@example.org"}},
		{{Tag: "issue", Value: "LetsEncrypt.org"}},
		{{Tag: "issue", Value: "letsencrypt.org"}},
		{{Tag: "issue", Value: ";"}},
		{{Tag: "issue", Value: "digicert.com"}, {Tag: "issuewild", Value: "letsencrypt.org; accounturi=https://x/1"}},
		{{Tag: "issuewild", Value: "letsencrypt.org; accounturi=https://x/1"}, {Tag: "issue", Value: "digicert.com"}},
	}
	for _, round := range []string{"first answer", "answer from the cache"} {
		t.Run(round, func(t *testing.T) {
			for _, rrset := range rrsets {
				t.Run("RRset "+strings.Join(propStrings(rrset), ", "), func(t *testing.T) {
					again := slices.Clone(rrset) // a new slice each query, as the zone data gives
					got, gotNotes := ps.cachedAdditions(again)
					want, wantNotes := ps.additions(rrset)
					if !slices.Equal(propStrings(got), propStrings(want)) || gotNotes.String() != wantNotes.String() {
						t.Errorf("cached %v (%s), want %v (%s)", propStrings(got), gotNotes, propStrings(want), wantNotes)
					}
				})
			}
		})
	}
	if n := len(ps.cache.m); n != len(rrsets) {
		t.Errorf("%d cache entries for %d RRsets", n, len(rrsets))
	}
	if n := testing.AllocsPerRun(100, func() { ps.cachedAdditions(rrsets[0]) }); n != 0 {
		t.Errorf("a cached RRset allocates %v times", n)
	}
	for i := range maxCachedRRsets + 10 {
		ps.cachedAdditions([]dns.CAA{{Tag: "issue", Value: fmt.Sprintf("ca%d.example", i)}})
	}
	if n := len(ps.cache.m); n > maxCachedRRsets {
		t.Errorf("cache holds %d RRsets, more than %d", n, maxCachedRRsets)
	}
}
