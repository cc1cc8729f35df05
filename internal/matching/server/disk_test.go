package server_test

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching/testserver"
)

// allocatedBytes is what `du` counts for dir: the blocks allocated to its files, which
// includes space a file reserved ahead (Pebble preallocates its WAL) but has not written.
func allocatedBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// runTinyTasks adds n tiny tasks in batches of 100 and completes each batch.
func runTinyTasks(t *testing.T, c matchingv1.MatchingServiceClient, n int) {
	t.Helper()
	for b := 0; b < n/100; b++ {
		req := &matchingv1.AddTasksRequest{}
		for i := range 100 {
			s := spec(fmt.Sprintf("t-%d-%d", b, i))
			s.Queue = "disk"
			req.Tasks = append(req.Tasks, s)
		}
		if _, err := c.AddTasks(ctxT(t, 10*time.Second), req); err != nil {
			t.Fatal(err)
		}
		tasks := poll(t, c, "disk", 100, 5*time.Second)
		done := &matchingv1.CompleteTasksRequest{}
		for _, tk := range tasks {
			done.Completions = append(done.Completions, &matchingv1.CompleteTaskRequest{Namespace: "default", TaskId: tk.TaskId, LeaseId: tk.LeaseId, WorkerIdentity: "w1"})
		}
		if len(done.Completions) == 0 {
			t.Fatalf("batch %d: poll returned no task", b)
		}
		if _, err := c.CompleteTasks(ctxT(t, 10*time.Second), done); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDataDirStaysSmallForTinyTasks: a few thousand tiny tasks must not take hundreds of
// megabytes of disk. The data directory's size is dominated by the WAL files Pebble
// preallocates at 110% of the memtable size (up to six of them, counting those kept for
// reuse); with a 64 MiB memtable one WAL alone took 70 MB.
func TestDataDirStaysSmallForTinyTasks(t *testing.T) {
	const tasks, bound = 5000, 32 << 20
	dir := t.TempDir()
	addr, stop := testserver.Start(t, testserver.Options{DataDir: dir})
	runTinyTasks(t, dial(t, addr), tasks)
	used := allocatedBytes(t, dir)
	stop()
	t.Logf("%d tiny tasks added and completed: %.1f MiB allocated in the data dir", tasks, float64(used)/(1<<20))
	if used > bound {
		t.Errorf("data dir holds %d bytes after %d tiny tasks; want at most %d", used, tasks, bound)
	}
}
