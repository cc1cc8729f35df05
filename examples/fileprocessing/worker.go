package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

// Task types of the flow.
const (
	typeDownload = "download"
	typeProcess  = "process"
	typeUpload   = "upload"
)

// errorTypeNotOnHost fails a step that ran where its file is not (it cannot happen while
// the follow-ups carry the download's SameHost requirement).
const errorTypeNotOnHost = "FileNotOnHost"

// handlers run the steps on one host's disk.
type handlers struct {
	disk     *disk
	workTime time.Duration
	log      logr.Logger
}

func runWorker(ctx context.Context, o workerOptions) error {
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{})
	w, err := newWorker(ctx, o, log)
	if err != nil {
		return err
	}
	d, err := newDisk(o.Dir, w.Host())
	if err != nil {
		return err
	}
	h := &handlers{disk: d, workTime: o.WorkTime, log: log}
	w.Register(typeDownload, h.download)
	w.Register(typeProcess, h.process)
	w.Register(typeUpload, h.upload)
	log.Info("Started worker", "host", w.Host(), "process", w.ProcessID(), "dir", d.local)
	return w.Run(ctx)
}

// newWorker connects from the operator's environment in a pod, else to --address.
func newWorker(ctx context.Context, o workerOptions, log logr.Logger) (*worker.Worker, error) {
	tune := func(opts *worker.Options) {
		if o.Host != "" {
			opts.Host = o.Host
		}
		opts.Logger = log
		opts.ShutdownTimeout = 10 * time.Second
	}
	if o.fromEnvironment() {
		return worker.FromEnvironment(tune)
	}
	c, err := o.dial(ctx)
	if err != nil {
		return nil, err
	}
	opts := worker.Options{Queue: o.Queue, Slots: o.Slots}
	tune(&opts)
	return worker.New(c, opts)
}

// download fetches the file onto this host and returns the requirement that routes the
// follow-ups here (Task.SameHost, as JSON).
func (h *handlers) download(ctx context.Context, t *worker.Task) ([]byte, error) {
	name := string(t.Payload)
	if err := h.step(ctx, name); err != nil {
		return nil, err
	}
	if err := h.disk.download(name); err != nil {
		return nil, err
	}
	h.log.Info("Downloaded file", "file", name, "task", t.ID)
	return json.Marshal(t.SameHost())
}

func (h *handlers) process(ctx context.Context, t *worker.Task) ([]byte, error) {
	name := string(t.Payload)
	if err := h.step(ctx, name); err != nil {
		return nil, err
	}
	if err := h.disk.process(name); err != nil {
		return nil, notOnHost(err, name)
	}
	h.log.Info("Processed file", "file", name, "task", t.ID)
	return nil, nil
}

func (h *handlers) upload(ctx context.Context, t *worker.Task) ([]byte, error) {
	name := string(t.Payload)
	if err := h.step(ctx, name); err != nil {
		return nil, err
	}
	wrote, err := h.disk.upload(name)
	if err != nil {
		return nil, notOnHost(err, name)
	}
	h.log.Info("Uploaded file", "file", name, "task", t.ID, "written", wrote)
	return nil, nil
}

// step checks the file name and spends the simulated work time.
func (h *handlers) step(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return worker.NonRetryable(worker.NewError("BadInput", "%v", err))
	}
	select {
	case <-time.After(h.workTime):
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// notOnHost makes a missing file a non-retryable failure: a retry on this host would not
// find it either.
func notOnHost(err error, name string) error {
	if errors.Is(err, errNotOnHost) {
		return worker.NonRetryable(worker.NewError(errorTypeNotOnHost, "%s: %v", name, err))
	}
	return err
}

// requirementFrom decodes a download's result into the follow-ups' requirement.
func requirementFrom(result []byte) (client.Capabilities, error) {
	var req client.Capabilities
	if err := json.Unmarshal(result, &req); err != nil || len(req) == 0 {
		return nil, fmt.Errorf("download result %q is not a host requirement", result)
	}
	return req, nil
}
