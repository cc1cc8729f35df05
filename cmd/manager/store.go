package main

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Bounds of --store-memtable-size: below 1 MiB Pebble flushes after a few hundred tasks;
// Pebble refuses 4 GiB and more, and each memtable costs about 6.6x its size in
// preallocated WAL files.
const (
	minMemTableBytes = 1 << 20
	maxMemTableBytes = 1 << 30
)

// byteSize is a flag holding a size in bytes, written as a Kubernetes quantity ("4Mi",
// "8M", "4194304") so the chart can pass its value unchanged.
type byteSize struct {
	bytes    int64
	min, max int64
}

func (b *byteSize) String() string {
	if b == nil {
		return ""
	}
	return resource.NewQuantity(b.bytes, resource.BinarySI).String()
}

func (b *byteSize) Set(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return fmt.Errorf("want a size such as 4Mi or 4194304: %w", err)
	}
	n, ok := q.AsInt64()
	if !ok || n < b.min || n > b.max {
		return fmt.Errorf("must be between %s and %s, got %s",
			resource.NewQuantity(b.min, resource.BinarySI), resource.NewQuantity(b.max, resource.BinarySI), s)
	}
	b.bytes = n
	return nil
}
