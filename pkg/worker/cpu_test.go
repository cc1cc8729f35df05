package worker

import (
	"syscall"
	"testing"
	"time"
)

// ProcessCPU is the CPU time (user and system) this process used so far, for benchmarks
// that report CPU per task: it holds up better than wall time on a loaded machine.
func ProcessCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
