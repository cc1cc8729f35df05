// Package standalone runs the matching service as a child process (`manager --standalone`)
// on a loopback port with a real data dir, for the end-to-end tests and the benchmark
// driver, which both need a server they can kill -9 and restart.
package standalone

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/taskroute/taskroute/pkg/client"
)

// Process is one `manager --standalone`. Start may be called again after the process
// exited (a restart on the same address and data dir).
type Process struct {
	Bin     string   // the manager binary
	Addr    string   // loopback host:port the service binds to
	DataDir string   // the Pebble store
	LogPath string   // stdout and stderr are appended here
	Args    []string // extra flags, after the defaults (the last flag wins)

	cmd     *exec.Cmd
	exited  chan struct{}
	started time.Time
}

// Start launches the process with the development settings (no Kubernetes, so no
// TokenReview and no CA: they must be asked for by name) and no metrics or probe ports.
// It does not wait for readiness.
func (p *Process) Start() error {
	args := append([]string{
		"--standalone",
		"--matching-auth=disabled", "--matching-tls=disabled",
		"--matching-bind-address", p.Addr,
		"--data-dir", p.DataDir,
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", "0",
	}, p.Args...)
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(p.Bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		_ = logf.Close()
		return err
	}
	exited := make(chan struct{})
	p.exited = exited
	go func() { _ = p.cmd.Wait(); _ = logf.Close(); close(exited) }()
	return nil
}

// StartedAt is when the last Start launched the process.
func (p *Process) StartedAt() time.Time { return p.started }

// Pid is the process id of the last Start.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// WaitReady waits until c (dialed to Addr) gets an answer to ListQueues, and fails early
// if the process exits first.
func (p *Process) WaitReady(c *client.Client, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.ListQueues(ctx, 1)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("manager exited before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("manager not ready after %v: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *Process) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// Stop asks for a graceful stop (SIGTERM) and kills the process if it is still there
// after grace.
func (p *Process) Stop(grace time.Duration) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		p.Kill()
	}
}
