package served

import (
	"strings"
	"testing"
)

// TestLoadSerial: what a process remembers of a zone's policy across reloads decides whether a
// reload may change it. Where secondaries exist, a changed policy needs a higher serial and a
// serial never goes down; without them anything goes. moved says secondaries must be told. The
// cases are loads of one zone, in this order.
func TestLoadSerial(t *testing.T) {
	for _, tc := range []struct {
		name        string
		secondaries bool
		fp          uint64
		serial      uint32
		moved       bool
		err         string // part of the error, "" for none
	}{
		{"the first load moves the served serial", true, 1, 1, true, ""},
		{"the same policy under the same serial is a reload that changes nothing", true, 1, 1, false, ""},
		{"a changed policy under the same serial is refused", true, 2, 1, false, "changed but its serial is still 1, so secondaries would keep the old CAA records; raise it: serial 2"},
		{"a lower serial is refused", true, 1, 0, false, "went down from 1 to 0"},
		{"a changed policy with a higher serial moves it", true, 2, 2, true, ""},
		{"without secondaries a changed policy under the same serial is taken", false, 3, 2, false, ""},
		{"without secondaries a lower serial is taken too", false, 3, 1, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			moved, err := LoadSerial("example.test.@TestLoadSerial", "example.test.", tc.fp, tc.serial, tc.secondaries)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one saying %q", err, tc.err)
			}
			if moved != tc.moved {
				t.Errorf("moved = %v, want %v", moved, tc.moved)
			}
		})
	}
}
