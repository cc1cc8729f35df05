package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/taskroute/taskroute/pkg/client"
)

// serverProc is the matching service under test: `manager --standalone` as a child
// process with durable (synced) writes on a real data dir.
type serverProc struct {
	bin     string
	addr    string
	dataDir string
	extra   []string
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{}

	inProcess bool // run the service inside the driver (profiling only)
	inproc    *inProcessServer
}

func newServer(bin, dataDir string, extra []string) (*serverProc, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()
	return &serverProc{bin: bin, addr: addr, dataDir: dataDir, extra: extra}, nil
}

// start launches the process; it does not wait for readiness.
func (s *serverProc) start() error {
	if s.inProcess {
		p, err := startInProcess(s.dataDir)
		if err != nil {
			return err
		}
		s.inproc, s.addr, s.started = p, p.svc.Addr(), time.Now()
		return nil
	}
	args := append([]string{
		"--standalone",
		// No Kubernetes here: the development settings must be asked for by name.
		"--matching-auth=disabled", "--matching-tls=disabled",
		"--matching-bind-address", s.addr,
		"--data-dir", s.dataDir,
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", "0",
		// The benchmark measures capacity: per-namespace quotas (add rate, backlog, queues)
		// are lifted; -server-args can set them again (the last flag wins).
		"--quota-add-rate=0", "--quota-max-backlog=0", "--quota-max-queues=0",
	}, s.extra...)
	logf, err := os.OpenFile(filepath.Join(s.dataDir, "..", "manager.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	s.cmd = exec.Command(s.bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.started = time.Now()
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); _ = logf.Close(); close(s.exited) }()
	return nil
}

// waitReady waits until ListQueues answers.
func (s *serverProc) waitReady(c *client.Client, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.ListQueues(ctx, 1)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("manager exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("manager not ready after %v: %v", timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *serverProc) kill() {
	if s.inproc != nil {
		s.inproc.svc.Abandon()
		s.inproc.cancel()
		s.inproc = nil
		return
	}
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

func (s *serverProc) stop() {
	if s.inproc != nil {
		s.inproc.stop()
		s.inproc = nil
		return
	}
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.kill()
	}
}

// rssBytes reads the process's resident set size from /proc.
func (s *serverProc) rssBytes() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	if s.inProcess {
		return 0, fmt.Errorf("memory is measured on a server process, not -inprocess")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}
