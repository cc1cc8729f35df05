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

// server is a standalone manager process.
type server struct {
	t       testing.TB
	addr    string
	dataDir string
	args    []string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
}

// startServer runs `manager --standalone` on a fresh loopback port and data dir (or the
// given one) and waits until it answers.
func startServer(t testing.TB, dataDir string, extraArgs ...string) *server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	s := &server{t: t, addr: freeAddr(t), dataDir: dataDir, args: extraArgs}
	s.logPath = filepath.Join(t.TempDir(), "manager.log")
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.t.Helper()
	args := append([]string{
		"--standalone",
		// No Kubernetes here: the development settings must be asked for by name.
		"--matching-auth=disabled", "--matching-tls=disabled",
		"--matching-bind-address", s.addr,
		"--data-dir", s.dataDir,
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", "0",
	}, s.args...)
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	s.cmd = exec.Command(managerBin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		_ = logf.Close()
		close(s.exited)
	}()
	s.waitReady(60 * time.Second)
}

// waitReady waits until the service answers a ListQueues call.
func (s *server) waitReady(timeout time.Duration) {
	s.t.Helper()
	c := s.client()
	defer c.Close()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.ListQueues(ctx, 1)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-s.exited:
			s.t.Fatalf("manager exited before it was ready: %v\n%s", err, s.logTail())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("manager not ready after %v: %v\n%s", timeout, err, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

// restart starts a new process on the same port and data dir.
func (s *server) restart() {
	s.t.Helper()
	s.start()
}

func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.kill()
	}
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
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
