package served

import (
	"strconv"
	"strings"
	"testing"

	"github.com/caapolicy/caapolicy/internal/corefile"
)

// scopeSummary describes the settings h answers a name with: its scope's zone ("" for the
// block's), zone data mode, TTL, trigger and partner values.
func scopeSummary(v *View, n string) string {
	sc := v.scopeFor(n)
	var ps []string
	for _, p := range sc.partners.list {
		ps = append(ps, p.Value)
	}
	mode := "merge"
	if !sc.merge {
		mode = "ignore"
	}
	trig := "restrictive"
	if sc.partners.trigger == corefile.TriggerAny {
		trig = "any"
	}
	return strings.Join([]string{"zone=" + sc.zone, mode, "ttl=" + strconv.FormatUint(uint64(sc.ttl), 10), trig, "partners=" + strings.Join(ps, ",")}, " ")
}

// TestZoneBlockSettings: the most specific zone block decides the settings at a name, and
// settings a zone block does not write are the block's.
func TestZoneBlockSettings(t *testing.T) {
	v := newTestView(t, `caapolicy . {
		partners cloudflare
		zone cust0002.test { partners off }
		zone Cust0003.Test. { partners aws
			trigger any
			ttl 60 }
		zone cust0004.test { issue none }
		zone cust0005.test { zonedata ignore }
		zone sub.cust0005.test { ttl 30 }
		ttl 600
	}`, nil)
	for _, tc := range []struct{ name, want string }{
		{"cust0001.test.", "zone= merge ttl=600 restrictive partners=pki.goog; cansignhttpexchanges=yes,letsencrypt.org,ssl.com,sectigo.com"},
		{"www.cust0002.test.", "zone=cust0002.test. merge ttl=600 restrictive partners="},
		{"CUST0003.test.", "zone=cust0003.test. merge ttl=60 any partners=amazon.com"},
		{"cust0004.test.", "zone=cust0004.test. merge ttl=600 restrictive partners=pki.goog; cansignhttpexchanges=yes,letsencrypt.org,ssl.com,sectigo.com"},
		{"a.b.cust0005.test.", "zone=cust0005.test. ignore ttl=600 restrictive partners=pki.goog; cansignhttpexchanges=yes,letsencrypt.org,ssl.com,sectigo.com"},
		{"x.sub.cust0005.test.", "zone=sub.cust0005.test. merge ttl=30 restrictive partners=pki.goog; cansignhttpexchanges=yes,letsencrypt.org,ssl.com,sectigo.com"},
	} {
		t.Run("settings at "+tc.name, func(t *testing.T) {
			if got := scopeSummary(v, tc.name); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
