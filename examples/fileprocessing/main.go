// Command fileprocessing is the file-processing flow of task routing: a file is downloaded
// on any worker, then processed and uploaded on the host that downloaded it, because the
// file is only on that host's disk. When that host's workers are gone, the follow-ups fail
// with TargetWorkerLost and the driver starts the file over from the download.
//
//	fileprocessing worker --host NAME   run the download, process and upload handlers
//	fileprocessing run --files N        drive N files through the flow and print a summary
//
// See README.md in this folder for the command lines and the Kubernetes manifests.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage:
  fileprocessing worker [flags]   run the handlers (download, process, upload) on one host
  fileprocessing run [flags]      drive files through download -> process -> upload

Run "fileprocessing worker -h" or "fileprocessing run -h" for the flags.`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "worker":
		err = runWorker(ctx, parseWorkerOptions(os.Args[2:]))
	case "run":
		err = runDriver(ctx, parseDriverOptions(os.Args[2:]), os.Stdout)
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fileprocessing:", err)
		os.Exit(1)
	}
}
