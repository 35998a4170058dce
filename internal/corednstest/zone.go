package corednstest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/file"
	"github.com/coredns/coredns/plugin/test"

	"github.com/miekg/dns"
)

// FileZone is the file plugin serving the zones given as text, origin pairs.
func FileZone(textOrigin ...string) (file.File, error) {
	zones := file.Zones{Z: map[string]*file.Zone{}}
	for i := 0; i+1 < len(textOrigin); i += 2 {
		origin := textOrigin[i+1]
		z, err := file.Parse(strings.NewReader(textOrigin[i]), origin, "stdin", 0)
		if err != nil {
			return file.File{}, err
		}
		zones.Z[origin] = z
		zones.Names = append(zones.Names, origin)
	}
	return file.File{Next: test.ErrorHandler(), Zones: zones}, nil
}

// CheckCase runs tc through h and checks the reply exactly: rcode, flags, and every record of
// every section with its rdata (test.SortAndCheck does not compare CAA rdata).
func CheckCase(t *testing.T, h plugin.Handler, tc test.Case) {
	t.Helper()
	m := tc.Msg()
	rec := NewWriter("udp", "")
	if _, err := h.ServeDNS(context.Background(), rec, m); err != nil {
		t.Errorf("%s %s: unexpected error %v", tc.Qname, dns.TypeToString[tc.Qtype], err)
		return
	}
	resp := rec.Msg
	if resp == nil {
		t.Errorf("%s: no reply written", tc.Qname)
		return
	}
	if err := test.SortAndCheck(resp, tc); err != nil {
		t.Errorf("%s %s: %v", tc.Qname, dns.TypeToString[tc.Qtype], err)
		return
	}
	if resp.Authoritative != tc.Authoritative {
		t.Errorf("%s: AA = %v, want %v", tc.Qname, resp.Authoritative, tc.Authoritative)
	}
	for _, s := range []struct {
		name      string
		got, want []dns.RR
	}{{"answer", resp.Answer, tc.Answer}, {"authority", resp.Ns, tc.Ns}, {"additional", resp.Extra, tc.Extra}} {
		if g, w := RRStrings(s.got), RRStrings(s.want); !slices.Equal(g, w) {
			t.Errorf("%s %s: %s section\n got %q\nwant %q", tc.Qname, dns.TypeToString[tc.Qtype], s.name, g, w)
		}
	}
}

// RRStrings returns the records as sorted text, tabs as spaces.
func RRStrings(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = strings.ReplaceAll(rr.String(), "\t", " ")
	}
	slices.Sort(out)
	return out
}

// RRs parses records from zone-file lines; it panics on a bad one.
func RRs(s ...string) []dns.RR {
	out := make([]dns.RR, len(s))
	for i, x := range s {
		rr, err := dns.NewRR(x)
		if err != nil {
			panic(err)
		}
		out[i] = rr
	}
	return out
}

// VersionZone is example.org with the given serial and one CAA record at the apex and one at *.wild, naming ca, a CNAME
// alias -> www: the zone of tests that load new versions of it.
func VersionZone(serial int, ca string) string {
	return fmt.Sprintf(`$ORIGIN example.org.
@        3600 IN SOA   ns1.example.org. hostmaster.example.org. %d 7200 3600 1209600 3600
@        3600 IN NS    ns1
ns1      3600 IN A     127.0.0.1
@        3600 IN CAA   0 issue "%s"
alias    3600 IN CNAME www
www      3600 IN A     192.0.2.1
*.wild   3600 IN CAA   0 issue "%s"
`, serial, ca, ca)
}

// AnswerStrings lists the answer records of r of type t (all types for 0) as text, sorted.
func AnswerStrings(r *dns.Msg, t uint16) []string {
	var out []string
	for _, rr := range r.Answer {
		if t == 0 || rr.Header().Rrtype == t {
			out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
		}
	}
	slices.Sort(out)
	return out
}
