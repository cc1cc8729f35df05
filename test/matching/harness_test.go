// Package matching holds the end-to-end tests of the matching service: the real manager
// binary in --standalone mode as a child process (real gRPC on 127.0.0.1, real Pebble dir),
// driven by the SDK and by real worker processes (./testworker).
package matching

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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/matching/standalone"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/workerenv"
)

var (
	managerBin string
	workerBin  string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "taskroute-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	managerBin = filepath.Join(dir, "manager")
	workerBin = filepath.Join(dir, "testworker")
	for pkg, out := range map[string]string{"../../cmd/manager": managerBin, "./testworker": workerBin} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// server is a standalone manager process, failing its test when it cannot start.
type server struct {
	standalone.Process
	t    testing.TB
	addr string
}

// startServer runs `manager --standalone` on a fresh loopback port and data dir (or the
// given one) and waits until it answers.
func startServer(t testing.TB, dataDir string, extraArgs ...string) *server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	addr := freeAddr(t)
	s := &server{t: t, addr: addr, Process: standalone.Process{
		Bin: managerBin, Addr: addr, DataDir: dataDir, Args: extraArgs,
		LogPath: filepath.Join(t.TempDir(), "manager.log"),
	}}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.t.Helper()
	if err := s.Start(); err != nil {
		s.t.Fatal(err)
	}
	c := s.client()
	defer c.Close()
	if err := s.WaitReady(c, 60*time.Second); err != nil {
		s.t.Fatalf("%v\n%s", err, s.logTail())
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() { s.Kill() }

// restart starts a new process on the same port and data dir.
func (s *server) restart() {
	s.t.Helper()
	s.start()
}

func (s *server) stop() { s.Stop(15 * time.Second) }

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.LogPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (s *server) client(opts ...client.Option) *client.Client {
	s.t.Helper()
	opts = append([]client.Option{client.WithNamespace("e2e")}, opts...)
	c, err := client.Dial(context.Background(), s.addr, opts...)
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// workerProc is a testworker process.
type workerProc struct {
	t       testing.TB
	cmd     *exec.Cmd
	id      string
	logPath string // executions
	out     *lockedBuffer
	exited  chan struct{}
}

type workerConfig struct {
	queue          string
	types          string // comma-separated handlers
	slots          int
	tasksPerSecond float64
	shutdown       time.Duration
	id             string
	capabilities   string // TASKROUTE_CAPABILITIES, e.g. "gpu=a100"
	node           string // TASKROUTE_NODE_NAME: the host it advertises
	priorities     string // TASKROUTE_PRIORITIES, e.g. "4,5"
	sessions       int    // TASKROUTE_SESSIONS: session slots
}

func startWorker(t testing.TB, addr string, cfg workerConfig) *workerProc {
	t.Helper()
	if cfg.id == "" {
		cfg.id = fmt.Sprintf("worker-%d", time.Now().UnixNano()%1e6)
	}
	w := &workerProc{t: t, id: cfg.id, logPath: filepath.Join(t.TempDir(), cfg.id+".log"), out: &lockedBuffer{}}
	env := append(os.Environ(),
		workerenv.Address+"="+addr,
		workerenv.Namespace+"=e2e",
		workerenv.Queue+"="+cfg.queue,
		workerenv.WorkerID+"="+cfg.id,
		// The standalone server is plaintext without auth (development flags).
		"TASKROUTE_INSECURE=true",
		"TESTWORKER_LOG="+w.logPath,
		"TESTWORKER_TYPES="+cfg.types,
	)
	if cfg.slots > 0 {
		env = append(env, fmt.Sprintf("%s=%d", workerenv.Slots, cfg.slots))
	}
	if cfg.tasksPerSecond > 0 {
		env = append(env, fmt.Sprintf("%s=%g", workerenv.TasksPerSecond, cfg.tasksPerSecond))
	}
	if cfg.shutdown > 0 {
		env = append(env, "TESTWORKER_SHUTDOWN="+cfg.shutdown.String())
	}
	if cfg.sessions > 0 {
		env = append(env, fmt.Sprintf("%s=%d", workerenv.Sessions, cfg.sessions))
	}
	if cfg.priorities != "" {
		env = append(env, workerenv.Priorities+"="+cfg.priorities)
	}
	if cfg.node != "" {
		env = append(env, workerenv.NodeName+"="+cfg.node)
	}
	if cfg.capabilities != "" {
		env = append(env, workerenv.Capabilities+"="+cfg.capabilities)
	}
	w.cmd = exec.Command(workerBin)
	w.cmd.Env = env
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.out
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.exited = make(chan struct{})
	go func() { _ = w.cmd.Wait(); close(w.exited) }()
	t.Cleanup(func() { w.kill() })
	return w
}

func (w *workerProc) kill() {
	select {
	case <-w.exited:
		return
	default:
	}
	_ = syscall.Kill(w.cmd.Process.Pid, syscall.SIGKILL)
	<-w.exited
}

// terminate sends SIGTERM (graceful shutdown) and waits up to timeout for the exit.
func (w *workerProc) terminate(timeout time.Duration) {
	w.t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(timeout):
		w.t.Errorf("worker %s did not exit within %v of SIGTERM\n%s", w.id, timeout, w.out.String())
		w.kill()
	}
}

// executions reads the worker's execution log: task id -> attempts that ran here.
func (w *workerProc) executions() map[string][]string {
	f, err := os.Open(w.logPath)
	if err != nil {
		return map[string][]string{}
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 {
			out[fields[1]] = append(out[fields[1]], fields[2])
		}
	}
	return out
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		l.b.Reset()
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitState polls GetTask until the task reaches want.
func waitState(t testing.TB, c *client.Client, id string, want client.State, timeout time.Duration) *client.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *client.TaskInfo
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		info, err := c.GetTask(ctx, id)
		cancel()
		if err == nil {
			last = info
			if info.State == want {
				return info
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("task %s did not reach %s within %v; last seen %+v", id, want, timeout, last)
	return nil
}
