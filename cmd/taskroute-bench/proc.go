package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// clockTicksPerSecond is USER_HZ, the unit of utime and stime in /proc/PID/stat; it is
// 100 on every Linux architecture Go supports.
const clockTicksPerSecond = 100

// cpuTicks reads a process's user+system CPU time, in clock ticks, from /proc/PID/stat.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatTicks(string(b))
}

// parseStatTicks takes utime (field 14) and stime (field 15) of a /proc/PID/stat line.
// The fields are counted after the command name, which may hold spaces and ')', so the
// count starts after the last ')'.
func parseStatTicks(stat string) (int64, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 || end+2 > len(stat) {
		return 0, fmt.Errorf("stat %q: no command name", stat)
	}
	f := strings.Fields(stat[end+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("stat %q: %d fields after the command name, want at least 13", stat, len(f))
	}
	utime, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat utime: %w", err)
	}
	stime, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat stime: %w", err)
	}
	return utime + stime, nil
}

// cpuSeconds is a process's user+system CPU seconds (0 when /proc cannot be read).
func cpuSeconds(pid int) float64 {
	t, err := cpuTicks(pid)
	if err != nil {
		return 0
	}
	return float64(t) / clockTicksPerSecond
}

// contextSwitches sums the voluntary and involuntary context switches of every thread of
// a process (/proc/PID/task/*/status). /proc/PID/status alone counts the main thread only.
// A thread that exits between two reads drops out of the later sum, so a difference over
// a window does not count the switches of threads that exited inside it (the Go runtime
// seldom ends its threads).
func contextSwitches(pid int) (int64, error) {
	taskDir := fmt.Sprintf("/proc/%d/task", pid)
	threads, err := os.ReadDir(taskDir)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, t := range threads {
		b, err := os.ReadFile(filepath.Join(taskDir, t.Name(), "status"))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue // the thread exited after the listing
		}
		if err != nil {
			return 0, err
		}
		n, err := parseContextSwitches(string(b))
		if err != nil {
			return 0, fmt.Errorf("thread %s of %d: %w", t.Name(), pid, err)
		}
		sum += n
	}
	return sum, nil
}

// parseContextSwitches adds voluntary_ctxt_switches and nonvoluntary_ctxt_switches of a
// /proc/PID/task/TID/status file; both must be there.
func parseContextSwitches(status string) (int64, error) {
	var sum int64
	found := 0
	for _, line := range strings.Split(status, "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok || (key != "voluntary_ctxt_switches" && key != "nonvoluntary_ctxt_switches") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status %s: %w", key, err)
		}
		sum += n
		found++
	}
	if found != 2 {
		return 0, fmt.Errorf("status: found %d of voluntary_ctxt_switches and nonvoluntary_ctxt_switches, want both", found)
	}
	return sum, nil
}
