package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/matching/standalone"
	"github.com/taskroute/taskroute/pkg/client"
)

// TestFileProcessingSurvivesALostHost runs the example as its users would: the real
// standalone service process, three worker processes on three hosts and the driver, 30
// files. One host's worker is killed -9 mid-run. Every file must end uploaded exactly
// once with the right content; the lost host's routed steps must fail with
// TargetWorkerLost within the liveness timeout plus a second of the kill, and those files
// must be finished from a new download on another host.
func TestFileProcessingSurvivesALostHost(t *testing.T) {
	const (
		liveness = 3 * time.Second
		files    = 30
		lostHost = "host-a"
	)
	bins := buildBinaries(t)
	addr := startService(t, bins, liveness)
	root := t.TempDir()
	workers := map[string]*exec.Cmd{}
	for _, host := range []string{"host-a", "host-b", "host-c"} {
		workers[host] = startProcess(t, bins.example, "worker", "--address", addr, "--host", host,
			"--dir", root, "--slots", "2", "--work-time", "150ms")
	}
	waitForWorkers(t, addr, len(workers))

	driver := exec.Command(bins.example, "run", "--address", addr, "--files", fmt.Sprint(files),
		"--prefix", "e2e", "--timeout", "50s")
	stdout, err := driver.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	driver.Stderr = os.Stderr
	if err := driver.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	var out []string
	var killed time.Time
	for line := range lines {
		out = append(out, line)
		if killed.IsZero() && strings.HasPrefix(line, "uploaded ") && strings.Contains(line, " on "+lostHost+" ") {
			killed = time.Now() // host-a has worked: the rest of its files are mid-flow
			_ = workers[lostHost].Process.Kill()
		}
	}
	if err := driver.Wait(); err != nil {
		t.Fatalf("driver: %v\n%s", err, strings.Join(out, "\n"))
	}
	if killed.IsZero() {
		t.Fatalf("no file was uploaded on %s, so it was never killed:\n%s", lostHost, strings.Join(out, "\n"))
	}
	checkRun(t, parseRun(t, out), files, lostHost, killed, liveness)
	checkBucket(t, filepath.Join(root, "bucket"), files)
}

// run is what the driver printed.
type run struct {
	uploadedOn map[string][]string    // file -> hosts of its "uploaded" lines
	lostAt     map[string][]time.Time // file -> when its routed steps failed TargetWorkerLost
	lostHosts  map[string]bool
	summary    string
}

func parseRun(t *testing.T, out []string) run {
	t.Helper()
	r := run{uploadedOn: map[string][]string{}, lostAt: map[string][]time.Time{}, lostHosts: map[string]bool{}}
	for _, line := range out {
		f := strings.Fields(line)
		switch {
		case f[0] == "uploaded" && len(f) == 5: // uploaded NAME on HOST restarts=N
			r.uploadedOn[f[1]] = append(r.uploadedOn[f[1]], f[3])
		case f[0] == "restarted" && len(f) == 11: // restarted NAME from download: STEP on HOST failed TargetWorkerLost at TIME
			at, err := time.Parse(time.RFC3339Nano, f[10])
			if err != nil || f[8] != "TargetWorkerLost" {
				t.Fatalf("unexpected line %q", line)
			}
			r.lostAt[f[1]] = append(r.lostAt[f[1]], at)
			r.lostHosts[f[6]] = true
		case f[0] == "summary:":
			r.summary = line
		default:
			t.Fatalf("unexpected line %q", line)
		}
	}
	t.Log(r.summary)
	return r
}

func checkRun(t *testing.T, r run, files int, lostHost string, killed time.Time, liveness time.Duration) {
	t.Helper()
	if want := fmt.Sprintf("summary: files=%d uploaded-once=%d failed=0", files, files); !strings.HasPrefix(r.summary, want) {
		t.Errorf("summary %q, want %q...", r.summary, want)
	}
	for i := range files {
		name := fmt.Sprintf("file-%03d", i)
		if hosts := r.uploadedOn[name]; len(hosts) != 1 {
			t.Errorf("%s uploaded %d times (%v), want once", name, len(hosts), hosts)
		}
	}
	if len(r.lostAt) == 0 {
		t.Fatalf("no file was restarted after %s was killed", lostHost)
	}
	if len(r.lostHosts) != 1 || !r.lostHosts[lostHost] {
		t.Errorf("steps were lost on %v, want only on %s", r.lostHosts, lostHost)
	}
	var slowest time.Duration
	for name, times := range r.lostAt {
		for _, at := range times {
			took := at.Sub(killed)
			slowest = max(slowest, took)
			if took > liveness+time.Second {
				t.Errorf("%s failed TargetWorkerLost %v after the kill, want within %v", name, took, liveness+time.Second)
			}
		}
		if hosts := r.uploadedOn[name]; len(hosts) == 1 && hosts[0] == lostHost {
			t.Errorf("%s was restarted but finished on the lost host", name)
		}
	}
	t.Logf("%d files restarted from download after %s was killed; the last routed step failed %v after the kill (liveness timeout %v)",
		len(r.lostAt), lostHost, slowest, liveness)
}

// checkBucket: one object per file, with the processed content.
func checkBucket(t *testing.T, bucket string, files int) {
	t.Helper()
	entries, err := os.ReadDir(bucket)
	if err != nil {
		t.Fatal(err)
	}
	objects := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			continue // a temporary file of the killed worker
		}
		objects++
		data, err := os.ReadFile(filepath.Join(bucket, e.Name()))
		if err != nil || !bytes.Equal(data, ExpectedUpload(e.Name())) {
			t.Errorf("bucket object %s = %q, %v", e.Name(), data, err)
		}
	}
	if objects != files {
		t.Errorf("bucket holds %d objects, want %d", objects, files)
	}
}

type binaries struct{ manager, example string }

// buildBinaries builds the manager and this example.
func buildBinaries(t *testing.T) binaries {
	t.Helper()
	dir := t.TempDir()
	b := binaries{manager: filepath.Join(dir, "manager"), example: filepath.Join(dir, "fileprocessing")}
	for pkg, out := range map[string]string{"../../cmd/manager": b.manager, ".": b.example} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, msg)
		}
	}
	return b
}

// startService runs `manager --standalone` on a free loopback port and waits until it
// answers.
func startService(t *testing.T, b binaries, liveness time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	p := &standalone.Process{Bin: b.manager, Addr: addr, DataDir: t.TempDir(),
		LogPath: filepath.Join(t.TempDir(), "manager.log"),
		Args:    []string{"--matching-worker-liveness-timeout=" + liveness.String()}}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(10 * time.Second) })
	c := dial(t, addr)
	if err := p.WaitReady(c, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return addr
}

// startProcess runs the example binary. Its log goes to a file, shown when the test fails.
func startProcess(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "worker.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("log of %v:\n%s", args, data)
		}
	})
	return cmd
}

// waitForWorkers waits (bounded) until the queue lists n workers.
func waitForWorkers(t *testing.T, addr string, n int) {
	t.Helper()
	c := dial(t, addr)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		d, err := c.DescribeQueue(context.Background(), "fileprocessing")
		if err == nil && len(d.Pollers) == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the queue did not list %d workers", n)
}

func dial(t *testing.T, addr string) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
