package caapolicy

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"

	"github.com/caapolicy/caapolicy/internal/corednstest"

	"github.com/miekg/dns"
)

var updateExamples = flag.Bool("update-examples", false, "rewrite examples/*/answers.txt from what each example answers")

// TestExamples runs every directory of examples/ as README says (its Corefile, from inside the
// directory, with the zone files and keys beside it) and asks each question its answers.txt
// lists ("; dig NAME TYPE"), requiring the records written below it. Each Corefile is one of
// README's examples, verbatim.
func TestExamples(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("examples", "*", "Corefile"))
	if err != nil || len(dirs) < 7 {
		t.Fatalf("examples/*/Corefile: %d found (%v), want one per README example", len(dirs), err)
	}
	readme := readmeBlocks(t, "corefile")
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	defer func(p string) { dnsserver.Port = p }(dnsserver.Port)
	for _, cfPath := range dirs {
		dir := filepath.Dir(cfPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cf, err := os.ReadFile(cfPath)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(readme, string(cf)) {
				t.Fatalf("%s is not one of README's corefile examples, verbatim", cfPath)
			}
			answersPath := filepath.Join(root, dir, "answers.txt")
			questions, want := readAnswers(t, answersPath)
			work := t.TempDir()
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			copyDir(t, dir, work, entries)
			t.Chdir(work)
			dnsserver.Port = strconv.Itoa(corednstest.FreePort(t))
			_, udp, _ := corednstest.Start(t, bindLoopback(string(cf)))
			var got []string
			for _, q := range questions {
				f := strings.Fields(q)
				r := exchange(t, "udp", udp, new(dns.Msg).SetQuestion(dns.Fqdn(f[0]), dns.StringToType[f[1]]))
				got = append(got, "; dig "+q)
				for _, rr := range r.Answer {
					got = append(got, rr.String())
				}
			}
			if *updateExamples {
				write(t, answersPath, strings.Join(got, "\n")+"\n")
				return
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s answers\n%s\nwant (answers.txt)\n%s", dir, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// copyDir copies the files entries of dir into work, and the files of its subdirectories (an
// example's caapolicy.d/) into the same subdirectories of work.
func copyDir(t *testing.T, dir, work string, entries []os.DirEntry) {
	t.Helper()
	for _, e := range entries {
		if e.IsDir() {
			sub, err := os.ReadDir(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(work, e.Name()), 0o700); err != nil {
				t.Fatal(err)
			}
			copyDir(t, filepath.Join(dir, e.Name()), filepath.Join(work, e.Name()), sub)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(work, e.Name()), string(b))
	}
}

// readAnswers reads an answers.txt: its questions ("; dig NAME TYPE" lines) and all its lines,
// the records normalised as miekg/dns prints them.
func readAnswers(t *testing.T, path string) (questions, lines []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		if q, ok := strings.CutPrefix(l, "; dig "); ok {
			questions = append(questions, q)
			lines = append(lines, l)
			continue
		}
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("%s: %q: %v", path, l, err)
		}
		lines = append(lines, rr.String())
	}
	return questions, lines
}

// TestExampleImports requires every file an example imports (examples/*/caapolicy.d/) to be one
// of README's txt blocks, verbatim, as the example's Corefile is one of its corefile blocks.
func TestExampleImports(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("examples", "*", "caapolicy.d", "*.conf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("examples/*/caapolicy.d/*.conf: none found (%v)", err)
	}
	shown := readmeBlocks(t, "txt")
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(shown, string(b)) {
				t.Errorf("%s is not one of README's txt blocks, verbatim", f)
			}
		})
	}
}
