package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/taskroute/taskroute/internal/matching/standalone"
	"github.com/taskroute/taskroute/pkg/client"
)

// serverProc is the matching service under test: `manager --standalone` as a child
// process with durable (synced) writes on a real data dir, or, for profiling only, the
// service inside the driver.
type serverProc struct {
	proc standalone.Process
	addr string

	inProcess  bool
	addSenders int // of the driver's client
	inproc     *inProcessServer
	started    time.Time // of the in-process service
}

func newServer(bin, dataDir string, extra []string) (*serverProc, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()
	return &serverProc{addr: addr, proc: standalone.Process{
		Bin: bin, Addr: addr, DataDir: dataDir,
		LogPath: filepath.Join(dataDir, "..", "manager.log"),
		// The benchmark measures capacity: per-namespace quotas (add rate, backlog,
		// queues) are lifted; -server-args can set them again (the last flag wins).
		Args: append([]string{"--quota-add-rate=0", "--quota-max-backlog=0", "--quota-max-queues=0"}, extra...),
	}}, nil
}

// start launches the service; it does not wait for readiness.
func (s *serverProc) start() error {
	if s.inProcess {
		p, err := startInProcess(s.proc.DataDir)
		if err != nil {
			return err
		}
		s.inproc, s.addr, s.started = p, p.svc.Addr(), time.Now()
		return nil
	}
	return s.proc.Start()
}

// startedAt is when the last start launched the service.
func (s *serverProc) startedAt() time.Time {
	if s.inProcess {
		return s.started
	}
	return s.proc.StartedAt()
}

// waitReady waits until ListQueues answers (in process too: the process is then never
// started, so only the answer or the timeout ends the wait).
func (s *serverProc) waitReady(c *client.Client, timeout time.Duration) error {
	return s.proc.WaitReady(c, timeout)
}

func (s *serverProc) kill() {
	if s.inproc != nil {
		s.inproc.svc.Abandon()
		s.inproc.cancel()
		s.inproc = nil
		return
	}
	s.proc.Kill()
}

func (s *serverProc) stop() {
	if s.inproc != nil {
		s.inproc.stop()
		s.inproc = nil
		return
	}
	s.proc.Stop(30 * time.Second)
}

// rssBytes reads the process's resident set size from /proc.
func (s *serverProc) rssBytes() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.proc.Pid()))
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
