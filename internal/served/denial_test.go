package served

import (
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// TestWithType: the bitmap comes back sorted, with the type once, and the input untouched.
func TestWithType(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        []uint16
		add       uint16
		want      []uint16
		unchanged []uint16
	}{
		{"added in order", []uint16{dns.TypeA, dns.TypeTXT, dns.TypeSPF}, dns.TypeCAA, []uint16{dns.TypeA, dns.TypeTXT, dns.TypeSPF, dns.TypeCAA}, []uint16{dns.TypeA, dns.TypeTXT, dns.TypeSPF}},
		{"already there", []uint16{dns.TypeA, dns.TypeCAA}, dns.TypeCAA, []uint16{dns.TypeA, dns.TypeCAA}, []uint16{dns.TypeA, dns.TypeCAA}},
		{"NS among others", []uint16{dns.TypeA, dns.TypeHINFO}, dns.TypeNS, []uint16{dns.TypeA, dns.TypeNS, dns.TypeHINFO}, []uint16{dns.TypeA, dns.TypeHINFO}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			if got := withType(in, tc.add); !slices.Equal(got, tc.want) {
				t.Errorf("withType(%v, %d) = %v, want %v", tc.in, tc.add, got, tc.want)
			}
			if !slices.Equal(in, tc.unchanged) {
				t.Errorf("input changed to %v", in)
			}
		})
	}
}
