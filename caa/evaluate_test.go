package caa

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// caas builds an RRset from "flags tag value" lines; the value is taken verbatim.
func caas(t testing.TB, lines ...string) []dns.CAA {
	t.Helper()
	var out []dns.CAA
	for _, l := range lines {
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 {
			t.Fatalf("bad record %q", l)
		}
		var flag uint8
		for _, c := range f[0] {
			flag = flag*10 + uint8(c-'0')
		}
		out = append(out, dns.CAA{Hdr: dns.RR_Header{Name: "example.org.", Rrtype: dns.TypeCAA, Class: dns.ClassINET, Ttl: 300}, Flag: flag, Tag: f[1], Value: f[2]})
	}
	return out
}

const (
	caX = "letsencrypt.org"
	caY = "sectigo.com"
)

// TestDecideTable is the RFC 8659 decision table, for a name and its wildcard, in both modes.
// Verdicts are written "name/wildcard", A for allow and D for deny.
func TestDecideTable(t *testing.T) {
	tests := []struct {
		name    string
		rrset   []string
		rfc, le string
	}{
		{"no RRset", nil, "A/A", "A/A"},
		{"issue X", []string{"0 issue " + caX}, "A/A", "A/A"},
		{"issue Y", []string{"0 issue " + caY}, "D/D", "D/D"},
		{"issue none", []string{"0 issue ;"}, "D/D", "D/D"},
		{"none plus X", []string{"0 issue ;", "0 issue " + caX}, "A/A", "A/A"},
		{"issuewild X only", []string{"0 issuewild " + caX}, "A/A", "A/A"},
		{"issuewild Y only", []string{"0 issuewild " + caY}, "A/D", "A/D"},
		{"issue X issuewild Y", []string{"0 issue " + caX, "0 issuewild " + caY}, "A/D", "A/D"},
		{"issue Y issuewild X", []string{"0 issue " + caY, "0 issuewild " + caX}, "D/A", "D/A"},
		{"issuewild none", []string{"0 issue " + caX, "0 issuewild ;"}, "A/D", "A/D"},
		// An RRset with neither issue nor issuewild does not restrict issuance, wildcards included.
		{"iodef only", []string{"0 iodef mailto:security@example.org"}, "A/A", "A/A"},
		{"unknown non-critical tag", []string{"0 tbs unknown", "0 issue " + caX}, "A/A", "A/A"},
		{"critical unknown tag", []string{"128 tbs unknown", "0 issue " + caX}, "D/D", "D/D"},
		{"critical known tag", []string{"128 issue " + caX}, "A/A", "A/A"},
		{"critical iodef", []string{"128 iodef mailto:security@example.org", "0 issue " + caX}, "A/A", "A/A"},
		{"malformed value", []string{"0 issue letsencrypt.org; nonsense"}, "D/D", "D/D"},
		{"malformed issuer", []string{"0 issue https://letsencrypt.org"}, "D/D", "D/D"},
		{"tag case", []string{"0 ISSUE " + caX}, "A/A", "A/A"},
		// Where Let's Encrypt departs from the RFC.
		{"flag 1 unknown tag", []string{"1 tbs unknown", "0 issue " + caX}, "A/A", "D/D"},
		{"critical contactemail", []string{"128 contactemail security@example.org", "0 issue " + caX}, "A/A", "D/D"},
		{"issuer case", []string{"0 issue LetsEncrypt.org"}, "A/A", "D/D"},
		{"issuer trailing dot", []string{"0 issue letsencrypt.org."}, "D/D", "D/D"}, // the ABNF has no trailing dot
		{"hyphenated parameter tag", []string{"0 issue letsencrypt.org; account-id=1"}, "A/A", "D/D"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []Mode{ModeRFC, ModeLetsEncrypt} {
				want := tc.rfc
				if mode == ModeLetsEncrypt {
					want = tc.le
				}
				verdict := map[string]string{
					"A/A": "allows the name and its wildcard", "D/D": "denies the name and its wildcard",
					"A/D": "allows the name, denies its wildcard", "D/A": "denies the name, allows its wildcard",
				}[want]
				t.Run(mode.String()+" "+verdict, func(t *testing.T) {
					rrset := caas(t, tc.rrset...)
					var got []string
					for _, name := range []string{"example.org", "*.example.org"} {
						d := Decide(Request{Name: name, CA: caX, Mode: mode}, "example.org.", rrset)
						v := "D"
						if d.Allowed {
							v = "A"
						}
						got = append(got, v)
						if d.Reason == "" {
							t.Errorf("%s: no reason", name)
						}
						if len(rrset) == 0 && d.Owner != "" {
							t.Errorf("owner %q for no RRset", d.Owner)
						}
					}
					if g := strings.Join(got, "/"); g != want {
						t.Errorf("got %s, want %s", g, want)
					}
				})
			}
		})
	}
}

// TestDecideParameters covers RFC 8657: accounturi and validationmethods.
func TestDecideParameters(t *testing.T) {
	const acct = "https://acme-v02.api.letsencrypt.org/acme/acct/1"
	const other = "https://acme-v02.api.letsencrypt.org/acme/acct/2"
	tests := []struct {
		name, value, account, method string
		rfc, le                      bool
		reason                       string // part of the RFC-mode reason
	}{
		{"account match", "letsencrypt.org; accounturi=" + acct, acct, "dns-01", true, true, "authorizes"},
		{"account mismatch", "letsencrypt.org; accounturi=" + acct, other, "dns-01", false, false, "binds another account"},
		{"account not given", "letsencrypt.org; accounturi=" + acct, "", "dns-01", false, false, "no account was given"},
		{"method match", "letsencrypt.org; validationmethods=http-01,dns-01", acct, "dns-01", true, true, "authorizes"},
		{"method mismatch", "letsencrypt.org; validationmethods=http-01", acct, "dns-01", false, false, "not dns-01"},
		{"both match", "letsencrypt.org; accounturi=" + acct + "; validationmethods=dns-01", acct, "dns-01", true, true, "authorizes"},
		// RFC 8657 section 5: a repeated parameter is unsatisfiable, for Boulder too.
		{"duplicate accounturi", "letsencrypt.org; accounturi=" + other + "; accounturi=" + acct, acct, "dns-01", false, false, "unsatisfiable"},
		{"duplicate validationmethods", "letsencrypt.org; validationmethods=dns-01; validationmethods=dns-01", acct, "dns-01", false, false, "unsatisfiable"},
		// Boulder stops reading the list at the matching method; the RFC's ABNF rejects the value.
		{"malformed method list", "letsencrypt.org; validationmethods=dns-01,,http-01", acct, "dns-01", false, true, "malformed"},
		{"method with space", "letsencrypt.org; validationmethods=dns-01, http-01", acct, "dns-01", false, false, "malformed"},
		{"unknown parameter ignored", "letsencrypt.org; policy=ev", acct, "dns-01", true, true, "authorizes"},
		{"other CA's binding", "sectigo.com; accounturi=" + acct, acct, "dns-01", false, false, "no issue property"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rrset := []dns.CAA{{Tag: "issue", Value: tc.value}}
			for _, mode := range []Mode{ModeRFC, ModeLetsEncrypt} {
				want := tc.rfc
				if mode == ModeLetsEncrypt {
					want = tc.le
				}
				verdict := "denies"
				if want {
					verdict = "allows"
				}
				t.Run(mode.String()+" "+verdict, func(t *testing.T) {
					d := Decide(Request{Name: "example.org", CA: caX, Account: tc.account, Method: tc.method, Mode: mode}, "example.org.", rrset)
					if d.Allowed != want {
						t.Errorf("allowed %v, want %v (%s)", d.Allowed, want, d.Reason)
					}
					if mode == ModeRFC && !strings.Contains(d.Reason, tc.reason) {
						t.Errorf("reason %q lacks %q", d.Reason, tc.reason)
					}
				})
			}
		})
	}
}

func TestDecideReasonAndRecords(t *testing.T) {
	rrset := caas(t, "0 issue ;", "0 issue "+caX, "0 iodef mailto:a@example.org")
	d := Decide(Request{Name: "www.example.org", CA: caX}, "example.org.", rrset)
	if !d.Allowed || len(d.Decided) != 1 || d.Decided[0].Value != caX || d.Reason != `issue "letsencrypt.org" at example.org. authorizes letsencrypt.org` {
		t.Errorf("got %+v", d)
	}
	d = Decide(Request{Name: "*.example.org", CA: caY}, "example.org.", rrset)
	want := "no issue property at example.org. authorizes sectigo.com (no issuewild there, so issue decides for wildcards)"
	if d.Allowed || len(d.Decided) != 2 || d.Reason != want {
		t.Errorf("got %+v, want reason %q", d, want)
	}
	d = Decide(Request{Name: "example.org", CA: caX, Mode: ModeLetsEncrypt}, "example.org.", caas(t, "0 issue LetsEncrypt.org"))
	if d.Reason != `no issue property at example.org. authorizes letsencrypt.org: issue "LetsEncrypt.org" names LetsEncrypt.org, but Let's Encrypt matches the issuer byte for byte against "letsencrypt.org"` {
		t.Errorf("reason %q", d.Reason)
	}
	d = Decide(Request{Name: "example.org", CA: caX}, "example.org.", caas(t, "128 tbs x", "0 issue "+caX))
	if d.Allowed || len(d.Decided) != 1 || d.Decided[0].Tag != "tbs" || d.Reason != `critical property "128 tbs \"x\"" at example.org. has a tag the CA does not know, so no CA may issue` {
		t.Errorf("got %+v", d)
	}
}

// zoneLookup answers a climb from a table: owner -> RRset, CNAMEs, names that fail, names not served.
type zoneLookup struct {
	rrsets  map[string][]dns.CAA
	cnames  map[string]string
	nx      map[string]bool
	fail    map[string]bool
	outside string // this name and its parents are not served
	asked   []string
}

func (z *zoneLookup) lookup(_ context.Context, name string) (Step, error) {
	z.asked = append(z.asked, name)
	s := Step{Name: name}
	if z.outside != "" && dns.IsSubDomain(name, z.outside) {
		s.Outside = true
		return s, nil
	}
	if z.fail[name] {
		s.Rcode = dns.RcodeServerFailure
		return s, errors.New("SERVFAIL")
	}
	n := name
	for z.cnames[n] != "" {
		n = z.cnames[n]
		s.CNAMEs = append(s.CNAMEs, n)
	}
	if z.nx[n] {
		s.Rcode = dns.RcodeNameError
	}
	s.RRset = z.rrsets[n]
	return s, nil
}

func TestCheckClimb(t *testing.T) {
	restrictive := caas(t, "0 issue "+caY)
	tests := []struct {
		name      string
		z         zoneLookup
		qname     string
		allowed   bool
		owner     string
		asked     string
		unchecked string
		err       bool
	}{
		{"empty non-terminal", zoneLookup{rrsets: map[string][]dns.CAA{"example.org.": restrictive}}, "a.b.example.org", false, "example.org.", "a.b.example.org. b.example.org. example.org.", "", false},
		{"wildcard starts at parent", zoneLookup{rrsets: map[string][]dns.CAA{"example.org.": restrictive}}, "*.example.org", false, "example.org.", "example.org.", "", false},
		{"iodef-only subdomain shadows parent", zoneLookup{rrsets: map[string][]dns.CAA{"example.org.": restrictive, "www.example.org.": caas(t, "0 iodef mailto:a@example.org")}}, "www.example.org", true, "www.example.org.", "www.example.org.", "", false},
		{"NXDOMAIN climbs on", zoneLookup{rrsets: map[string][]dns.CAA{"example.org.": restrictive}, nx: map[string]bool{"nx.example.org.": true}}, "nx.example.org", false, "example.org.", "nx.example.org. example.org.", "", false},
		{"CNAME target decides at the alias", zoneLookup{rrsets: map[string][]dns.CAA{"example.org.": restrictive, "cdn.example.net.": caas(t, "0 issue "+caX)}, cnames: map[string]string{"www.example.org.": "cdn.example.net."}}, "www.example.org", true, "www.example.org.", "www.example.org.", "", false},
		{"climb continues from the alias, not the target", zoneLookup{rrsets: map[string][]dns.CAA{"example.org.": restrictive, "example.net.": caas(t, "0 issue "+caX)}, cnames: map[string]string{"www.example.org.": "cdn.example.net."}}, "www.example.org", false, "example.org.", "www.example.org. example.org.", "", false},
		{"no records to the top", zoneLookup{}, "www.example.org", true, "", "www.example.org. example.org. org.", "", false},
		{"lookup failure denies", zoneLookup{fail: map[string]bool{"example.org.": true}, rrsets: map[string][]dns.CAA{"org.": caas(t, "0 issue "+caX)}}, "www.example.org", false, "example.org.", "www.example.org. example.org.", "", true},
		{"parents not served", zoneLookup{outside: "org."}, "www.example.org", true, "", "www.example.org. example.org. org.", "org.", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Check(context.Background(), Request{Name: tc.qname, CA: caX}, tc.z.lookup)
			if res.Allowed != tc.allowed || res.Owner != tc.owner || res.Unchecked != tc.unchecked || (res.Err != nil) != tc.err {
				t.Errorf("got allowed=%v owner=%q unchecked=%q err=%v (%s)", res.Allowed, res.Owner, res.Unchecked, res.Err, res.Reason)
			}
			if got := strings.Join(tc.z.asked, " "); got != tc.asked {
				t.Errorf("asked %s, want %s", got, tc.asked)
			}
		})
	}
}

// TestCheckContextDone: a climb stops on a done context even over a Lookup that ignores it, and
// Memo does not remember what it answered then.
func TestCheckContextDone(t *testing.T) {
	z := &zoneLookup{rrsets: map[string][]dns.CAA{"example.org.": caas(t, "0 issue "+caX)}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := Check(ctx, Request{Name: "www.example.org", CA: caX}, z.lookup)
	if res.Allowed || res.Code != ReasonLookupFailed || !errors.Is(res.Err, context.Canceled) || len(z.asked) != 0 {
		t.Errorf("allowed %v, code %s, err %v, asked %v", res.Allowed, res.Code, res.Err, z.asked)
	}
	if rel := Relevant(ctx, "www.example.org", z.lookup); !errors.Is(rel.Err, context.Canceled) {
		t.Errorf("Relevant: err %v", rel.Err)
	}
	calls := 0
	memo := Memo(func(ctx context.Context, n string) (Step, error) {
		calls++
		if err := ctx.Err(); err != nil {
			return Step{Name: n}, err
		}
		return z.lookup(ctx, n)
	})
	if _, err := memo(ctx, "example.org."); !errors.Is(err, context.Canceled) {
		t.Errorf("memo with a cancelled context: %v", err)
	}
	for _, n := range []string{"example.org.", "Example.org."} {
		if s, err := memo(context.Background(), n); err != nil || len(s.RRset) != 1 {
			t.Errorf("memo: %+v, %v", s, err)
		}
	}
	if calls != 2 {
		t.Errorf("lookup called %d times, want 2: the cancelled answer forgotten, the live one remembered", calls)
	}
}

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want Mode
	}{{"rfc", ModeRFC}, {"LetsEncrypt", ModeLetsEncrypt}} {
		t.Run(tc.s+" is "+tc.want.String(), func(t *testing.T) {
			if m, err := ParseMode(tc.s); err != nil || m != tc.want || !strings.EqualFold(m.String(), tc.s) {
				t.Errorf("ParseMode(%q) = %v, %v", tc.s, m, err)
			}
		})
	}
	t.Run("boulder is no mode", func(t *testing.T) {
		if _, err := ParseMode("boulder"); err == nil {
			t.Error("ParseMode(boulder) succeeded")
		}
	})
}

// TestReasonCodes: every way a decision goes has its code, with the owner and the records that
// decided, and every code has a case here.
func TestReasonCodes(t *testing.T) {
	at := func(rrs ...string) map[string][]dns.CAA { return map[string][]dns.CAA{"example.org.": caas(t, rrs...)} }
	tests := []struct {
		name     string
		qname    string
		z        zoneLookup
		mode     Mode
		code     ReasonCode
		owner    string
		decided  []string // Text of each record in Decided
		allowed  bool
		hasError bool
	}{
		{"no RRset", "www.example.org", zoneLookup{}, ModeRFC, ReasonNoRRset, "", nil, true, false},
		{"parents unchecked", "www.example.org", zoneLookup{outside: "org."}, ModeRFC, ReasonParentsUnchecked, "", nil, true, false},
		{"iodef only", "*.example.org", zoneLookup{rrsets: at("0 iodef mailto:a@example.org")}, ModeLetsEncrypt, ReasonNoRelevantProperty, "example.org.", nil, true, false},
		{"authorized", "example.org", zoneLookup{rrsets: at("0 issue ;", "0 issue "+caX)}, ModeRFC, ReasonAuthorized, "example.org.", []string{`0 issue "letsencrypt.org"`}, true, false},
		{"critical tag", "example.org", zoneLookup{rrsets: at("128 tbs x", "0 issue "+caX)}, ModeRFC, ReasonCriticalTag, "example.org.", []string{`128 tbs "x"`}, false, false},
		{"not authorized", "example.org", zoneLookup{rrsets: at("0 issue "+caY, "0 iodef mailto:a@example.org", "0 issue ;")}, ModeRFC, ReasonNotAuthorized, "example.org.", []string{`0 issue "sectigo.com"`, `0 issue ";"`}, false, false},
		{"not authorized, wildcard", "*.example.org", zoneLookup{rrsets: at("0 issue "+caX, "0 issuewild "+caY)}, ModeRFC, ReasonNotAuthorized, "example.org.", []string{`0 issuewild "sectigo.com"`}, false, false},
		{"lookup failed", "www.example.org", zoneLookup{fail: map[string]bool{"example.org.": true}}, ModeRFC, ReasonLookupFailed, "example.org.", nil, false, true},
		{"mode outside the enum", "example.org", zoneLookup{rrsets: at("0 issue " + caX)}, Mode(7), ReasonInvalidMode, "", nil, false, true},
		// Boulder refuses under a TLD that does not exist; the RFC reads NXDOMAIN as no records.
		{"NXDOMAIN at the TLD, Let's Encrypt", "a.gone", zoneLookup{nx: map[string]bool{"a.gone.": true, "gone.": true}}, ModeLetsEncrypt, ReasonLookupFailed, "gone.", nil, false, true},
		{"NXDOMAIN at the TLD, RFC", "a.gone", zoneLookup{nx: map[string]bool{"a.gone.": true, "gone.": true}}, ModeRFC, ReasonNoRRset, "", nil, true, false},
	}
	covered := map[ReasonCode]bool{}
	for _, tc := range tests {
		covered[tc.code] = true
		t.Run(tc.name, func(t *testing.T) {
			res := Check(context.Background(), Request{Name: tc.qname, CA: caX, Mode: tc.mode}, tc.z.lookup)
			var decided []string
			for _, rr := range res.Decided {
				decided = append(decided, Text(&rr))
			}
			if res.Code != tc.code || res.Owner != tc.owner || !slices.Equal(decided, tc.decided) || res.Allowed != tc.allowed || (res.Err != nil) != tc.hasError {
				t.Errorf("got code %s, owner %q, decided %q, allowed %v, err %v (%s)", res.Code, res.Owner, decided, res.Allowed, res.Err, res.Reason)
			}
		})
	}
	for c := ReasonCode(1); c.String() != fmt.Sprintf("ReasonCode(%d)", c); c++ {
		if !covered[c] {
			t.Errorf("no case decides with %s", c)
		}
	}
}

// TestInvalidMode: a Mode outside the enum is an error, never a panic.
func TestInvalidMode(t *testing.T) {
	m := Mode(9)
	var me *ModeError
	if err := m.Validate(); !errors.As(err, &me) || me.Mode != m {
		t.Errorf("Validate() = %v", err)
	}
	if m.String() != "Mode(9)" || m.KnownTag("issue") {
		t.Errorf("String() = %q, KnownTag(issue) = %v", m, m.KnownTag("issue"))
	}
	d := Decide(Request{Name: "example.org", CA: caX, Mode: m}, "example.org.", caas(t, "0 issue "+caX))
	if d.Allowed || d.Code != ReasonInvalidMode {
		t.Errorf("Decide: %+v", d)
	}
	for _, ok := range []Mode{ModeRFC, ModeLetsEncrypt} {
		t.Run(ok.String()+" is valid", func(t *testing.T) {
			if err := ok.Validate(); err != nil {
				t.Errorf("%s: %v", ok, err)
			}
		})
	}
}
