package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"time"

	"github.com/taskroute/taskroute/pkg/client"
)

// connOptions say how to reach the matching service.
type connOptions struct {
	Address   string
	Namespace string
	Queue     string
}

func (o *connOptions) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.Address, "address", "", "matching service address; empty: the TASKROUTE_* environment (as in a WorkerPool pod) when TASKROUTE_ADDRESS is set, else 127.0.0.1:7233 (plaintext)")
	fs.StringVar(&o.Namespace, "namespace", "default", "namespace of the queue (ignored when connecting from the TASKROUTE_* environment)")
	fs.StringVar(&o.Queue, "queue", "fileprocessing", "task queue")
}

// fromEnvironment is true when the connection comes from the operator's environment.
func (o *connOptions) fromEnvironment() bool {
	return o.Address == "" && os.Getenv("TASKROUTE_ADDRESS") != ""
}

// dial connects a client: plaintext to --address, or with the pod's credentials.
func (o *connOptions) dial(ctx context.Context) (*client.Client, error) {
	if o.fromEnvironment() {
		return client.FromEnvironment(ctx)
	}
	addr := o.Address
	if addr == "" {
		addr = "127.0.0.1:7233"
	}
	return client.Dial(ctx, addr, client.WithNamespace(o.Namespace))
}

// workerOptions are the flags of `fileprocessing worker`.
type workerOptions struct {
	connOptions
	Host     string
	Dir      string
	Slots    int
	WorkTime time.Duration
}

func parseWorkerOptions(args []string) workerOptions {
	var o workerOptions
	fs := flag.NewFlagSet("fileprocessing worker", flag.ExitOnError)
	o.connOptions.bind(fs)
	fs.StringVar(&o.Host, "host", "", "host this worker advertises (taskroute.dev/host); default TASKROUTE_NODE_NAME, else the host name")
	fs.StringVar(&o.Dir, "dir", defaultDir(), "root directory: files live in <dir>/hosts/<host>, uploads in <dir>/bucket")
	fs.IntVar(&o.Slots, "slots", 2, "tasks run at once (TASKROUTE_SLOTS when connecting from the environment)")
	fs.DurationVar(&o.WorkTime, "work-time", 200*time.Millisecond, "simulated time each handler takes")
	_ = fs.Parse(args)
	return o
}

// driverOptions are the flags of `fileprocessing run`.
type driverOptions struct {
	connOptions
	Files       int
	Prefix      string
	Parallel    int
	MaxRestarts int
	Timeout     time.Duration
}

func parseDriverOptions(args []string) driverOptions {
	var o driverOptions
	fs := flag.NewFlagSet("fileprocessing run", flag.ExitOnError)
	o.connOptions.bind(fs)
	fs.IntVar(&o.Files, "files", 10, "number of files to process")
	fs.StringVar(&o.Prefix, "prefix", "", "task id prefix (default: the start time), so that runs do not collide")
	fs.IntVar(&o.Parallel, "parallel", 32, "files in flight at once")
	fs.IntVar(&o.MaxRestarts, "max-restarts", 5, "restarts from the download allowed per file")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "time allowed for the whole run")
	_ = fs.Parse(args)
	if o.Prefix == "" {
		o.Prefix = time.Now().UTC().Format("20060102T150405")
	}
	return o
}

func defaultDir() string { return filepath.Join(os.TempDir(), "taskroute-fileprocessing") }
