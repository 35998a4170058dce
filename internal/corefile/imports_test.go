package corefile

import (
	goparser "go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestImports keeps the Corefile's reading beneath the plugin: none of its files, tests included,
// imports the module root or CoreDNS's server; caddy's dispenser and CoreDNS's plugin package (its
// zone helpers) are the CoreDNS code it uses.
func TestImports(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		checked++
		t.Run(e.Name()+" imports neither the plugin nor CoreDNS's server", func(t *testing.T) {
			f, err := goparser.ParseFile(token.NewFileSet(), e.Name(), nil, goparser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				p := strings.Trim(imp.Path.Value, `"`)
				root := p == "github.com/caapolicy/caapolicy" || strings.HasPrefix(p, "github.com/caapolicy/caapolicy/internal/corednstest")
				coredns := strings.Contains(p, "coredns") && p != "github.com/coredns/caddy" && p != "github.com/coredns/coredns/plugin"
				if root || coredns {
					t.Errorf("%s imports %s", e.Name(), p)
				}
			}
		})
	}
	if checked < 2 {
		t.Errorf("checked %d Go files; the test is not reading package corefile's directory", checked)
	}
}
