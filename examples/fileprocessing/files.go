package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// disk is one host's local directory plus the shared bucket uploads go to. Each worker
// works on <root>/hosts/<host> only, so a file downloaded on one host is not found by
// a worker on another: that is what makes the host routing necessary.
type disk struct {
	local  string
	bucket string
}

func newDisk(root, host string) (*disk, error) {
	d := &disk{local: filepath.Join(root, "hosts", host), bucket: filepath.Join(root, "bucket")}
	for _, dir := range []string{d.local, d.bucket} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// errNotOnHost says a step ran on a host that does not have the file.
var errNotOnHost = errors.New("file is not on this host")

// checkName refuses names that are not a plain file name.
func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return fmt.Errorf("payload: %q is not a file name", name)
	}
	return nil
}

// download stands in for fetching the file: it writes content derived from the name.
func (d *disk) download(name string) error {
	return writeAtomic(filepath.Join(d.local, name+".download"), sourceContent(name))
}

// process turns the downloaded file into the processed one.
func (d *disk) process(name string) error {
	in, err := os.ReadFile(filepath.Join(d.local, name+".download"))
	if errors.Is(err, os.ErrNotExist) {
		return errNotOnHost
	}
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(d.local, name+".processed"), processedContent(in))
}

// upload puts the processed file into the bucket once: an object that is already there
// with the same content (an attempt that uploaded and then lost its worker) is kept, so
// a repeated upload does not write twice. It returns whether it wrote the object.
func (d *disk) upload(name string) (bool, error) {
	data, err := os.ReadFile(filepath.Join(d.local, name+".processed"))
	if errors.Is(err, os.ErrNotExist) {
		return false, errNotOnHost
	}
	if err != nil {
		return false, err
	}
	wrote, err := createOnce(filepath.Join(d.bucket, name), data)
	if err != nil {
		return false, err
	}
	_ = os.Remove(filepath.Join(d.local, name+".download"))
	_ = os.Remove(filepath.Join(d.local, name+".processed"))
	return wrote, nil
}

// sourceContent is what "downloading" name yields.
func sourceContent(name string) []byte { return []byte("contents of " + name + "\n") }

// processedContent is the processing step: the input followed by its SHA-256.
func processedContent(in []byte) []byte {
	sum := sha256.Sum256(in)
	return append(append([]byte(nil), in...), hex.EncodeToString(sum[:])+"\n"...)
}

// ExpectedUpload is what the bucket holds for name after the flow.
func ExpectedUpload(name string) []byte { return processedContent(sourceContent(name)) }

// writeAtomic writes path through a temporary file and a rename, so a reader never sees
// half a file (a worker may be killed at any point).
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// createOnce creates path with data unless it exists; an existing path must hold data.
// The hard link makes creation atomic and exclusive.
func createOnce(path string, data []byte) (bool, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	err = os.Link(tmp.Name(), path)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, os.ErrExist) {
		return false, err
	}
	existing, rerr := os.ReadFile(path)
	if rerr != nil {
		return false, rerr
	}
	if !bytes.Equal(existing, data) {
		return false, fmt.Errorf("%s already holds different content", path)
	}
	return false, nil
}
