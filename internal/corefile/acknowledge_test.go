package corefile

import (
	"slices"
	"testing"
)

// TestAcknowledge: an acknowledge covers the warnings at its policy's lines (the owner's, each
// property's and persist line's), for every owner of its name block, and nothing else; one that
// covers nothing is itself a warning. Both lists come sorted by file and line.
func TestAcknowledge(t *testing.T) {
	b := parseBlock(t, `caapolicy example.org {
		issue letsencrypt.org
		name a b {
			issue none
			acknowledge both kept locked
		}
		name c {
			issue letsencrypt.org
			acknowledge nothing to see
		}
		iodef http://example.org/caa
	}`)
	warnings := []string{
		"Testfile:4: about a and b's issue none",
		"Testfile:3: about the owners a and b",
		"Testfile:3: about the owners a and b",
		"Testfile:2: about the apex",
	}
	shown, acked := b.Acknowledge(append(b.Warnings, warnings...))
	wantShown := []string{
		"Testfile:2: about the apex",
		"Testfile:9: acknowledge covers no warning: nothing in this policy is warned about; remove the acknowledge line",
		`Testfile:11: iodef "http://example.org/caa" sends incident reports over plain http; prefer https:`,
	}
	wantAcked := []string{
		"Testfile:3: about the owners a and b (acknowledged at Testfile:5: both kept locked)",
		"Testfile:3: about the owners a and b (acknowledged at Testfile:5: both kept locked)",
		"Testfile:4: about a and b's issue none (acknowledged at Testfile:5: both kept locked)",
	}
	if !slices.Equal(shown, wantShown) {
		t.Errorf("shown\n got %q\nwant %q", shown, wantShown)
	}
	if !slices.Equal(acked, wantAcked) {
		t.Errorf("acknowledged\n got %q\nwant %q", acked, wantAcked)
	}
}
