package watch

import (
	"net/netip"
	"slices"
	"testing"
)

func TestCATable(t *testing.T) {
	var ct CATable
	for _, l := range []struct{ ca, cidr string }{
		{"letsencrypt.org", "66.133.109.0/24"},
		{"sectigo.com", "66.133.109.36/32"}, // nested: the longer prefix wins
		{"letsencrypt.org", "2600:1f14::/32"},
		{"sectigo.com", "2600:1f14:ab::/48"},
		{"pki.goog", "192.0.2.7"}, // a single address
	} {
		if err := ct.Add(l.ca, l.cidr, "Testfile:1"); err != nil {
			t.Fatal(err)
		}
	}
	for addr, want := range map[string]string{
		"66.133.109.1": "letsencrypt.org", "66.133.109.36": "sectigo.com", "66.133.110.1": UnknownCA,
		"::ffff:66.133.109.36": "sectigo.com", "2600:1f14::1": "letsencrypt.org", "2600:1f14:ab::53": "sectigo.com",
		"2600:1f15::1": UnknownCA, "192.0.2.7": "pki.goog", "192.0.2.8": UnknownCA,
	} {
		t.Run(addr+" is "+want, func(t *testing.T) {
			if got := ct.Lookup(netip.MustParseAddr(addr)); got != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
	if got := testing.AllocsPerRun(100, func() { ct.Lookup(netip.MustParseAddr("2600:1f14:ab::53")) }); got != 0 {
		t.Errorf("Lookup allocates %v times", got)
	}
	if got, want := ct.CAs(), []string{"letsencrypt.org", "pki.goog", "sectigo.com"}; !slices.Equal(got, want) {
		t.Errorf("CAs() = %q, want %q", got, want)
	}
	var empty CATable
	if empty.Lookup(netip.MustParseAddr("192.0.2.1")) != UnknownCA || empty.CAs() != nil {
		t.Error("an empty table attributes")
	}
	var none *CATable
	if none.Lookup(netip.MustParseAddr("192.0.2.1")) != UnknownCA || none.CAs() != nil {
		t.Error("no table attributes")
	}
}

func TestCATableErrors(t *testing.T) {
	for _, tc := range []struct{ name, ca, cidr, want string }{
		{"not a prefix", "letsencrypt.org", "66.133.109", `ca letsencrypt.org: "66.133.109" is not a CIDR prefix; write 192.0.2.0/24 or 2001:db8::/32`},
		{"host bits", "letsencrypt.org", "66.133.109.1/24", "ca letsencrypt.org: 66.133.109.1/24 has host bits set; write 66.133.109.0/24"},
		{"twice", "letsencrypt.org", "10.0.0.0/8", "ca letsencrypt.org: 10.0.0.0/8 is listed twice (first at Testfile:1); remove one"},
		{"another CA's", "sectigo.com", "::ffff:10.0.0.0/104", "ca sectigo.com: 10.0.0.0/8 is already attributed to letsencrypt.org (at Testfile:1); a source belongs to one CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ct CATable
			if err := ct.Add("letsencrypt.org", "10.0.0.0/8", "Testfile:1"); err != nil {
				t.Fatal(err)
			}
			if err := ct.Add(tc.ca, tc.cidr, "Testfile:2"); err == nil || err.Error() != tc.want {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestCATablesShare: tables listing the same prefixes for the same CAs, in any order, are one
// table; others, and empty ones, stay their own.
func TestCATablesShare(t *testing.T) {
	table := func(lines ...[2]string) *CATable {
		ct := &CATable{}
		for _, l := range lines {
			if err := ct.Add(l[0], l[1], "Testfile:1"); err != nil {
				t.Fatal(err)
			}
		}
		return ct
	}
	le4, le6, sec := [2]string{"letsencrypt.org", "66.133.109.0/24"}, [2]string{"letsencrypt.org", "2600:3000::/29"}, [2]string{"sectigo.com", "91.199.212.0/24"}
	var s CATables
	first := s.Share(table(le4, le6, sec))
	for _, tc := range []struct {
		name   string
		t      *CATable
		shared bool
	}{
		{"same lines in another order", table(sec, le6, le4), true},
		{"another prefix", table(le4, le6, [2]string{"sectigo.com", "91.199.213.0/24"}), false},
		{"another CA for a prefix", table(le4, le6, [2]string{"digicert.com", "91.199.212.0/24"}), false},
		{"no ca lines", table(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Share(tc.t)
			if (got == first) != tc.shared || (!tc.shared && got != tc.t) {
				t.Errorf("shared with the first table: %v, want %v", got == first, tc.shared)
			}
		})
	}
}
