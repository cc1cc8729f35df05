package localcluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// process is one control-plane component running in its own process group, with its
// output in <workdir>/logs/<name>.log.
type process struct {
	name    string
	logFile string
	cmd     *exec.Cmd

	done    chan struct{} // closed when the process has exited
	mu      sync.Mutex
	exitErr error
}

// startProcess starts bin with args. The process gets its own process group so that
// stop reaches every child it spawns, and Pdeathsig so that it dies with the test
// binary even when Stop is never called (a panic, a killed `go test`).
func startProcess(name, logDir, bin string, args ...string) (*process, error) {
	return startProcessEnv(name, logDir, nil, bin, args...)
}

func startProcessEnv(name, logDir string, env []string, bin string, args ...string) (*process, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s binary %q: %w (run hack/testbin.sh cluster, then eval \"$(hack/testbin-env.sh)\")", name, bin, err)
	}
	logFile := filepath.Join(logDir, name+".log")
	out, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "$ %s %s\n", bin, joinArgs(args))
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, logFile: logFile, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		out.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process is gone, and how it ended.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.exitErr == nil {
			return true, errors.New("exited with status 0")
		}
		return true, p.exitErr
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, and SIGKILL if it has not exited in grace.
func (p *process) stop(grace time.Duration) {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Children that ignored SIGTERM but outlived the leader.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// tail returns the last n bytes of the process's log.
func (p *process) tail(n int64) string {
	f, err := os.Open(p.logFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func joinArgs(args []string) string {
	var b bytes.Buffer
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a)
	}
	return b.String()
}

// freePorts returns n distinct loopback ports that were free a moment ago. All listeners
// are held open until every port is chosen, so the n ports differ from each other.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// StartProcess runs another process alongside the cluster (the manager, for instance):
// it is stopped first by Stop, its output goes to logs/<name>.log, LogTails includes it,
// and Healthy reports it if it exits. env is added to this process's environment.
func (c *Cluster) StartProcess(name string, env []string, bin string, args ...string) error {
	p, err := startProcessEnv(name, filepath.Join(c.WorkDir, "logs"), env, bin, args...)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

// StopProcess stops a process started by StartProcess (SIGTERM, then SIGKILL after
// grace) and forgets it, so Healthy no longer reports it.
func (c *Cluster) StopProcess(name string, grace time.Duration) error {
	for i, p := range c.procs {
		if p.name == name {
			p.stop(grace)
			c.procs = append(c.procs[:i], c.procs[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("no process named %q", name)
}
