package caa

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// parsePackage parses caa's own files, tests excluded, with their comments.
func parsePackage(t *testing.T) map[string]*ast.File {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*ast.File{}
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
			if files[n], err = parser.ParseFile(token.NewFileSet(), n, nil, parser.ParseComments); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(files) < 2 {
		t.Fatalf("parsed %d files; the test is not reading package caa's directory", len(files))
	}
	return files
}

// TestNoExportedVars: the package shares no mutable state with its callers. A table a caller
// may read is a function returning a copy (ACMEMethods) or a constant.
func TestNoExportedVars(t *testing.T) {
	for name, f := range parsePackage(t) {
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.VAR {
				for _, s := range g.Specs {
					for _, id := range s.(*ast.ValueSpec).Names {
						if id.IsExported() {
							t.Errorf("%s: exported package variable %s; make it a function or a constant", name, id.Name)
						}
					}
				}
			}
		}
	}
}

// TestTypesSayConcurrency: every exported type's documentation says whether it is safe for
// concurrent use.
func TestTypesSayConcurrency(t *testing.T) {
	for name, f := range parsePackage(t) {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, s := range g.Specs {
				ts := s.(*ast.TypeSpec)
				doc := ts.Doc
				if doc == nil {
					doc = g.Doc
				}
				if ts.Name.IsExported() && !strings.Contains(doc.Text(), "concurrent") {
					t.Errorf("%s: the documentation of %s does not say whether it is safe for concurrent use", name, ts.Name.Name)
				}
			}
		}
	}
}
