package corednstest

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// FencedBlocks returns the blocks of the Markdown file at path fenced as "~~~ lang", in order,
// each with its lines as written. A file that does not exist has none.
func FencedBlocks(t testing.TB, path, lang string) []string {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []string
	var cur strings.Builder
	in := false
	for s := bufio.NewScanner(f); s.Scan(); {
		line := strings.TrimSpace(s.Text())
		switch {
		case !in && line == "~~~ "+lang:
			in = true
			cur.Reset()
		case in && line == "~~~":
			in = false
			blocks = append(blocks, cur.String())
		case in:
			cur.WriteString(s.Text() + "\n")
		}
	}
	return blocks
}

// LinesWith returns the lines of s that start with prefix, joined by newlines.
func LinesWith(s, prefix string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
