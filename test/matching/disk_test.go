package matching

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/taskroute/taskroute/pkg/client"
)

// TestWALFollowsMemtableSize: the manager's --store-memtable-size reaches Pebble, whose
// preallocated WAL files (110% of the memtable) decide the data directory's floor.
func TestWALFollowsMemtableSize(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "--store-memtable-size=1Mi")
	c := s.client()
	defer c.Close()
	// Pebble preallocates a WAL file when the second write reaches it.
	for range 3 {
		if _, err := c.AddTask(context.Background(), client.Task{Queue: "disk", Type: "echo", Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	const limit = 1<<20 + 1<<20/10 + 64<<10 // 110% of 1 MiB, plus a filesystem's rounding
	wals := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(path, ".log") {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		wals++
		t.Logf("%s: %d bytes written, %d allocated", d.Name(), info.Size(), info.Sys().(*syscall.Stat_t).Blocks*512)
		if alloc := info.Sys().(*syscall.Stat_t).Blocks * 512; alloc > limit {
			t.Errorf("WAL %s has %d bytes allocated; want at most %d for a 1 MiB memtable", d.Name(), alloc, limit)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if wals == 0 {
		t.Fatalf("no WAL file in %s", dir)
	}
}
