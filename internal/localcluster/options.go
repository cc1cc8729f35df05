package localcluster

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Binaries are the executables of the cluster's components.
type Binaries struct {
	Etcd              string
	APIServer         string
	ControllerManager string
	Scheduler         string
	Kwok              string
	// KwokStages is kwok's stage configuration (node-initialize, heartbeat, pod-ready ...).
	KwokStages string
}

// BinariesFromEnv reads the variables that hack/testbin-env.sh exports.
func BinariesFromEnv() (Binaries, error) {
	get := func(k string) (string, error) {
		v := os.Getenv(k)
		if v == "" {
			return "", fmt.Errorf("%s is not set: run hack/testbin.sh cluster, then eval \"$(hack/testbin-env.sh)\"", k)
		}
		return v, nil
	}
	var b Binaries
	dir, err := get("TASKROUTE_KUBE_BIN_DIR")
	if err != nil {
		return b, err
	}
	if b.Etcd, err = get("TASKROUTE_ETCD_BIN"); err != nil {
		return b, err
	}
	if b.Kwok, err = get("TASKROUTE_KWOK_BIN"); err != nil {
		return b, err
	}
	if b.KwokStages, err = get("TASKROUTE_KWOK_STAGES"); err != nil {
		return b, err
	}
	b.APIServer = filepath.Join(dir, "kube-apiserver")
	b.ControllerManager = filepath.Join(dir, "kube-controller-manager")
	b.Scheduler = filepath.Join(dir, "kube-scheduler")
	return b, nil
}

// Options configure Start. The zero value plus Binaries is a working cluster.
type Options struct {
	// Binaries of the components. Empty means BinariesFromEnv.
	Binaries Binaries

	// WorkDir is the cluster's directory (data, certificates, kubeconfig, logs). Empty
	// means a new temporary directory. Stop removes it unless KeepWorkDir is set.
	WorkDir     string
	KeepWorkDir bool

	// Nodes are the fake nodes to create; nil means DefaultNodes.
	Nodes []NodeSpec

	// StartTimeout bounds Start as a whole; 0 means 3 minutes (a loaded 2-core machine
	// needs about 20 seconds).
	StartTimeout time.Duration

	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

func (o *Options) defaults() error {
	if o.Binaries == (Binaries{}) {
		b, err := BinariesFromEnv()
		if err != nil {
			return err
		}
		o.Binaries = b
	}
	if o.Nodes == nil {
		o.Nodes = DefaultNodes()
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 3 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}
