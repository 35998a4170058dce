package caa

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const persistAcct = "https://acme-v02.api.letsencrypt.org/acme/acct/1"

func TestParsePersistRecord(t *testing.T) {
	for _, tc := range []struct {
		name, txt string
		want      PersistRecord
		err       string
	}{
		{"issuer and account", "letsencrypt.org; accounturi=" + persistAcct,
			PersistRecord{Issuer: "letsencrypt.org", AccountURI: persistAcct}, ""},
		{"policy=wildcard in any case, persistUntil, an unknown parameter ignored", "letsencrypt.org; accounturi=" + persistAcct + "; policy=WildCard; persistUntil=1767225600; future=x",
			PersistRecord{Issuer: "letsencrypt.org", AccountURI: persistAcct, Wildcard: true, Until: time.Unix(1767225600, 0).UTC()}, ""},
		{"another policy value is no wildcard", "letsencrypt.org; accounturi=" + persistAcct + "; policy=subdomains",
			PersistRecord{Issuer: "letsencrypt.org", AccountURI: persistAcct}, ""},
		{"no account", "letsencrypt.org", PersistRecord{}, "must carry exactly one accounturi"},
		{"two accounts", "letsencrypt.org; accounturi=a:1; accounturi=a:2", PersistRecord{}, "must carry exactly one accounturi"},
		{"no issuer", "; accounturi=" + persistAcct, PersistRecord{}, "names no CA"},
		{"persistUntil not a number", "letsencrypt.org; accounturi=" + persistAcct + "; persistUntil=tomorrow", PersistRecord{}, `persistUntil "tomorrow" is not a UNIX time`},
		{"not an issue-value", "letsencrypt.org; accounturi", PersistRecord{}, "is not of the form tag=value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePersistRecord("example.org", tc.txt)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			tc.want.Name, tc.want.Text = "example.org.", tc.txt
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v\nwant %+v", got, err, tc.want)
			}
		})
	}
}

func TestCheckPersist(t *testing.T) {
	rec := func(wild bool) PersistRecord {
		return PersistRecord{Name: "www.example.org.", Issuer: "letsencrypt.org", AccountURI: persistAcct, Wildcard: wild}
	}
	for _, tc := range []struct {
		name  string
		rr    []string // the CAA RRset at example.org
		wild  bool
		wants []string // the names with a conflict
	}{
		{"no CAA: no conflict", nil, true, nil},
		{"the CA authorized: no conflict", []string{"0 issue letsencrypt.org"}, false, nil},
		{"the CA bound to the record's account: no conflict", []string{"0 issue letsencrypt.org; accounturi=" + persistAcct}, true, nil},
		{"another CA only", []string{"0 issue sectigo.com"}, false, []string{"www.example.org"}},
		{"another account", []string{"0 issue letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/2"}, false, []string{"www.example.org"}},
		{"validationmethods without dns-persist-01", []string{"0 issue letsencrypt.org; validationmethods=dns-01"}, false, []string{"www.example.org"}},
		{"validationmethods with dns-persist-01", []string{"0 issue letsencrypt.org; validationmethods=dns-01,dns-persist-01"}, false, nil},
		{"policy=wildcard meets issuewild none", []string{"0 issue letsencrypt.org", "0 issuewild ;"}, true, []string{"*.www.example.org"}},
		{"no policy=wildcard: issuewild none is no conflict", []string{"0 issue letsencrypt.org", "0 issuewild ;"}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := &zoneLookup{rrsets: map[string][]dns.CAA{"example.org.": caas(t, tc.rr...)}, outside: "org."}
			for _, mode := range []Mode{ModeRFC, ModeLetsEncrypt} {
				var names []string
				for _, c := range CheckPersist(context.Background(), rec(tc.wild), mode, z.lookup) {
					if !strings.HasPrefix(c.Reason, "_validation-persist.www.example.org. persists an authorization of letsencrypt.org (account "+persistAcct+") for ") {
						t.Errorf("reason %q", c.Reason)
					}
					n := "www.example.org"
					if c.Wildcard {
						n = "*." + n
					}
					names = append(names, n)
				}
				if strings.Join(names, " ") != strings.Join(tc.wants, " ") {
					t.Errorf("mode %s: conflicts for %q, want %q", mode, names, tc.wants)
				}
			}
		})
	}
}
