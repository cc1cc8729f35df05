package chart

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// No container engine runs here, so the Dockerfile is checked by reading it: stages, the
// static build, the non-root distroless final stage, and a build context that holds every
// package the binaries import.

type dockerStage struct {
	from, name   string
	instructions []string // logical lines (continuations joined), without FROM
}

func parseDockerfile(t *testing.T, path string) []dockerStage {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []dockerStage
	var logical strings.Builder
	flush := func() {
		line := strings.TrimSpace(logical.String())
		logical.Reset()
		if line == "" {
			return
		}
		fields := strings.Fields(line)
		if strings.EqualFold(fields[0], "FROM") {
			st := dockerStage{}
			args := fields[1:]
			for len(args) > 0 && strings.HasPrefix(args[0], "--") {
				args = args[1:]
			}
			if len(args) == 0 {
				t.Fatalf("FROM without an image: %q", line)
			}
			st.from = args[0]
			if len(args) == 3 && strings.EqualFold(args[1], "AS") {
				st.name = args[2]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			if !strings.EqualFold(fields[0], "ARG") {
				t.Fatalf("instruction before the first FROM: %q", line)
			}
			return
		}
		stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, line)
	}
	for _, raw := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(raw)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			logical.WriteString(cont + " ")
			continue
		}
		logical.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stages", len(stages))
	}
	builder, final := stages[0], stages[len(stages)-1]
	if !strings.HasPrefix(builder.from, "golang:1.26") || builder.name == "" {
		t.Errorf("builder stage = %q AS %q, want a named golang:1.26 stage", builder.from, builder.name)
	}
	if final.from != "gcr.io/distroless/static:nonroot" && final.from != "scratch" {
		t.Errorf("final stage from %q, want distroless static nonroot (or scratch)", final.from)
	}

	builds := 0
	for _, in := range builder.instructions {
		if !strings.HasPrefix(in, "RUN") {
			continue
		}
		for _, part := range strings.Split(in, "&&") {
			if !strings.Contains(part, "go build") {
				continue
			}
			builds++
			for _, want := range []string{"CGO_ENABLED=0", "-trimpath"} {
				if !strings.Contains(part, want) {
					t.Errorf("go build without %s: %q", want, part)
				}
			}
		}
		if strings.Contains(in, "go build") {
			for _, want := range []string{"internal/version.version=${VERSION}", "internal/version.commit=${COMMIT}"} {
				if !strings.Contains(in, want) {
					t.Errorf("go build does not stamp %s (see Makefile LDFLAGS): %q", want, in)
				}
			}
		}
		if strings.Contains(in, "go build") || strings.Contains(in, "go mod download") {
			if !strings.Contains(in, "--mount=type=cache,target=/go/pkg/mod") {
				t.Errorf("module cache mount missing: %q", in)
			}
		}
	}
	if builds != 2 {
		t.Errorf("want go builds of the manager and the CLI, found %d", builds)
	}

	var user, entrypoint string
	copied := map[string]bool{}
	copyFrom := regexp.MustCompile(`^COPY --from=` + regexp.QuoteMeta(builder.name) + `\s+\S+\s+(\S+)$`)
	for _, in := range final.instructions {
		switch {
		case strings.HasPrefix(in, "USER "):
			user = strings.TrimSpace(strings.TrimPrefix(in, "USER "))
		case strings.HasPrefix(in, "ENTRYPOINT "):
			entrypoint = strings.TrimSpace(strings.TrimPrefix(in, "ENTRYPOINT "))
		case strings.HasPrefix(in, "COPY "):
			m := copyFrom.FindStringSubmatch(in)
			if m == nil {
				t.Errorf("final stage copies something other than a built binary: %q", in)
				continue
			}
			copied[m[1]] = true
		case strings.HasPrefix(in, "RUN "), strings.HasPrefix(in, "ADD "):
			t.Errorf("final stage must not run or add anything: %q", in)
		}
	}
	if user != "65532:65532" {
		t.Errorf("USER = %q, want the numeric nonroot user 65532:65532 (runAsNonRoot checks a number)", user)
	}
	if entrypoint != `["/manager"]` {
		t.Errorf("ENTRYPOINT = %q", entrypoint)
	}
	for _, bin := range []string{"/manager", "/taskroute"} {
		if !copied[bin] {
			t.Errorf("final stage lacks %s", bin)
		}
	}
}

// TestDockerBuildContext: .dockerignore lets in exactly the folders the builder copies, and
// those folders hold every package of this module that the binaries import.
func TestDockerBuildContext(t *testing.T) {
	stages := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{}
	for _, line := range strings.Split(string(ignore), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "!"); ok {
			allowed[strings.TrimSuffix(p, "/")] = true
		}
	}
	var copiedDirs []string
	for _, in := range stages[0].instructions {
		fields := strings.Fields(in)
		if fields[0] != "COPY" || strings.HasPrefix(fields[1], "--from") {
			continue
		}
		for _, src := range fields[1 : len(fields)-1] {
			src = strings.TrimSuffix(src, "/")
			if !allowed[src] {
				t.Errorf("the builder copies %s but .dockerignore does not let it in", src)
			}
			copiedDirs = append(copiedDirs, src)
		}
	}

	var mains []string
	for _, cmd := range []string{"manager", "taskroute"} {
		if files, _ := filepath.Glob(filepath.Join(repoRoot, "cmd", cmd, "*.go")); len(files) > 0 {
			mains = append(mains, "./cmd/"+cmd)
		}
	}
	if len(mains) == 0 {
		t.Skip("no cmd/ packages yet; nothing to check against the build context")
	}
	list := exec.Command("go", append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}, mains...)...)
	list.Dir = repoRoot
	out, err := list.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	const module = "github.com/taskroute/taskroute/"
	for _, pkg := range strings.Fields(string(out)) {
		rel, ok := strings.CutPrefix(pkg, module)
		if !ok {
			continue
		}
		top := strings.SplitN(rel, "/", 2)[0]
		if !slices.Contains(copiedDirs, top) {
			t.Errorf("%s is imported by the binaries but %s/ is not copied into the build context", pkg, top)
		}
	}
}
