package pebblestore

import (
	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
)

var bloomFilter pebble.FilterPolicy = bloom.FilterPolicy(10)

// quietLogger drops Pebble's informational logs (flushes, compactions) and keeps fatals.
type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{})  {}
func (quietLogger) Errorf(string, ...interface{}) {}
func (quietLogger) Fatalf(format string, args ...interface{}) {
	pebble.DefaultLogger.Fatalf(format, args...)
}
