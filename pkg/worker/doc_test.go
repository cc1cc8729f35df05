package worker_test

import (
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestPackageDocCodeIsCompiledExample: every code line of the package documentation is a
// line of example_test.go, which the compiler checks, so the documented usage compiles.
func TestPackageDocCodeIsCompiledExample(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "worker.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	compiled := map[string]bool{}
	for _, l := range strings.Split(string(example), "\n") {
		compiled[strings.TrimSpace(l)] = true
	}
	var code int
	for _, l := range strings.Split(f.Doc.Text(), "\n") {
		if !strings.HasPrefix(l, "\t") {
			continue
		}
		code++
		if !compiled[strings.TrimSpace(l)] {
			t.Errorf("package doc shows %q, which is not a line of example_test.go", strings.TrimSpace(l))
		}
	}
	if code == 0 {
		t.Fatal("package doc has no code block")
	}
}
