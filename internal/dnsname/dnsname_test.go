package dnsname

import "testing"

func TestAtOrBelow(t *testing.T) {
	for _, tc := range []struct {
		n, parent string
		want      bool
	}{
		{"www.example.org.", "example.org.", true},
		{"example.org.", "example.org.", true},
		{"a.b.example.org.", "example.org.", true},
		{"example.org.", ".", true},
		{"example.org.", "www.example.org.", false},
		{"wwwexample.org.", "example.org.", false},
		{"example.org.", "org.", true},
		{"example.com.", "example.org.", false},
		{`x\.example.org.`, "example.org.", false}, // one label "x.example", under org.
		{`x\\.example.org.`, "example.org.", true}, // label "x\", then example.org.
	} {
		verdict := "is not below"
		if tc.want {
			verdict = "is at or below"
		}
		t.Run(tc.n+" "+verdict+" "+tc.parent, func(t *testing.T) {
			if got := AtOrBelow(tc.n, tc.parent); got != tc.want {
				t.Errorf("AtOrBelow(%q, %q) = %v, want %v", tc.n, tc.parent, got, tc.want)
			}
		})
	}
	var below bool
	if n := testing.AllocsPerRun(100, func() { below = AtOrBelow("www.example.org.", "example.org.") }); n != 0 || !below {
		t.Errorf("AtOrBelow allocates %v times (answer %v)", n, below)
	}
}

func TestLower(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"mixed case", "WwW.Example.ORG.", "www.example.org."},
		{"lowercase already", "example.org.", "example.org."},
		{"bytes outside A-Z kept", `A\032B\255.`, `a\032b\255.`},
		{"root", ".", "."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf [256]byte
			if got := string(Lower(buf[:0], tc.in)); got != tc.want {
				t.Errorf("Lower(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	var buf [256]byte
	if n := testing.AllocsPerRun(100, func() { Lower(buf[:0], "WWW.Example.ORG.") }); n != 0 {
		t.Errorf("Lower allocates %v times", n)
	}
}
