package caapolicy

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayout keeps imports running one way, root → internal → caa: no file of an internal
// package, tests included, imports the module root, no non-test file imports the test helpers,
// and each imports only the CoreDNS code named for it. (Package caa checks its own imports:
// caa/imports_test.go.)
func TestLayout(t *testing.T) {
	for _, pkg := range []struct {
		dir     string
		why     string
		coredns func(path string) bool // the CoreDNS imports the package may have
	}{
		{"internal/watch", "the watcher: CoreDNS's log is the one CoreDNS package it uses",
			func(p string) bool { return p == "github.com/coredns/coredns/plugin/pkg/log" }},
		{"internal/served", "the served view: CoreDNS's plugin-level API (handlers, file's zones, dnssec's Sign, metadata) imported directly, never its server (core/dnsserver, coremain) nor caddy, which the plugin wires (its tests use caddy's test controller)",
			func(p string) bool {
				return !strings.HasPrefix(p, "github.com/coredns/coredns/core") && p != "github.com/coredns/coredns/coremain" &&
					!strings.HasPrefix(p, "github.com/coredns/caddy")
			}},
		{"internal/corednstest", "the shared test helpers, which start servers: any", func(string) bool { return true }},
		{"internal/dnsname", "name helpers: none", func(string) bool { return false }},
		{"internal/version", "the version: none", func(string) bool { return false }},
		{"internal/corefile", "the Corefile's reading: caddy's dispenser and CoreDNS's plugin package (its zone helpers)",
			func(p string) bool {
				return p == "github.com/coredns/caddy" || p == "github.com/coredns/coredns/plugin"
			}},
	} {
		entries, err := os.ReadDir(pkg.dir)
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".go") {
				continue
			}
			checked++
			file := filepath.Join(pkg.dir, e.Name())
			t.Run(file+" imports neither the plugin nor more of CoreDNS than "+pkg.why, func(t *testing.T) {
				f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
				if err != nil {
					t.Fatal(err)
				}
				for _, imp := range f.Imports {
					p := strings.Trim(imp.Path.Value, `"`)
					// The shared test helpers (internal/corednstest) import no caapolicy code; a test
					// file may use them.
					helpers := strings.HasPrefix(p, "github.com/caapolicy/caapolicy/internal/corednstest")
					root := p == "github.com/caapolicy/caapolicy" || (helpers && !strings.HasSuffix(file, "_test.go"))
					coredns := (strings.Contains(p, "coredns") || strings.Contains(p, "caddy")) && !pkg.coredns(p) &&
						!(p == "github.com/coredns/caddy" && strings.HasSuffix(file, "_test.go")) // caddy's test controller
					if root || coredns {
						t.Errorf("%s imports %s", file, p)
					}
				}
			})
		}
		if checked < 2 {
			t.Errorf("checked %d Go files in %s; the test is not reading the package's directory", checked, pkg.dir)
		}
	}
}

// TestNoReflect: no non-test file of the module reads types by reflection, CoreDNS's least of
// all: a CoreDNS release that changed a private type would silently change what the plugin does.
// Nested modules (their own go.mod) are tools of their own and are not read.
func TestNoReflect(t *testing.T) {
	checked := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); path != "." && err == nil || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		checked++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if strings.Trim(imp.Path.Value, `"`) == "reflect" {
				t.Errorf("%s imports reflect", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Errorf("checked %d Go files; the walk is not reading the module", checked)
	}
}
