package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// ProjectedVolume writes files the way the kubelet's atomic writer updates a projected
// volume: a timestamped directory, "..data" pointing at it, each file a link through
// "..data"; an update writes a new directory and swaps "..data" with a rename. Tests of
// token and CA rotation use it to rotate files exactly as a pod sees them rotate.
type ProjectedVolume struct {
	Dir string
	gen int
}

// Write publishes files as the volume's new content.
func (v *ProjectedVolume) Write(t testing.TB, files map[string]string) {
	t.Helper()
	v.gen++
	ts := filepath.Join(v.Dir, fmt.Sprintf("..2026_01_01_00_00_%02d", v.gen))
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(ts, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := os.Readlink(filepath.Join(v.Dir, "..data"))
	tmp := filepath.Join(v.Dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.Dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		link := filepath.Join(v.Dir, name)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	if old != "" {
		_ = os.RemoveAll(filepath.Join(v.Dir, old))
	}
}
