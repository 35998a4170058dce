package caa

import (
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestNoCoreDNSImport keeps package caa usable by any Go program: none of its files, tests
// included, imports CoreDNS or caddy; miekg/dns is its only DNS dependency. Nor does it import
// crypto/x509: reading certificates and the CCADB is no CAA semantics, and lives with caacheck
// (cmd/caacheck/internal/issuer).
func TestNoCoreDNSImport(t *testing.T) {
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
		t.Run(e.Name()+" imports neither CoreDNS, the plugin nor crypto/x509", func(t *testing.T) {
			f, err := parser.ParseFile(token.NewFileSet(), e.Name(), nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				p := strings.Trim(imp.Path.Value, `"`)
				if strings.Contains(p, "coredns") || strings.Contains(p, "caapolicy/caapolicy") && p != "github.com/caapolicy/caapolicy/caa" || strings.HasPrefix(p, "crypto/x509") {
					t.Errorf("%s imports %s", e.Name(), p)
				}
			}
		})
	}
	if checked < 2 { // this file and at least one of the package's
		t.Errorf("checked %d Go files; the test is not reading package caa's directory", checked)
	}
}
