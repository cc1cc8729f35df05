package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestStoreMemtableSizeFlag(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want int64
		err  string
	}{
		{arg: "", want: 4 << 20},
		{arg: "--store-memtable-size=8Mi", want: 8 << 20},
		{arg: "--store-memtable-size=2097152", want: 2 << 20},
		{arg: "--store-memtable-size=512Ki", err: "must be between 1Mi and 1Gi, got 512Ki"},
		{arg: "--store-memtable-size=2Gi", err: "must be between 1Mi and 1Gi, got 2Gi"},
		{arg: "--store-memtable-size=big", err: "want a size such as 4Mi"},
	} {
		var o matchingOptions
		fs := flag.NewFlagSet("manager", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o.bind(fs)
		var args []string
		if tc.arg != "" {
			args = []string{tc.arg}
		}
		err := fs.Parse(args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "store-memtable-size") {
				t.Errorf("%s: error %v; want one naming the flag and %q", tc.arg, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.arg, err)
		}
		if got := o.config(&matchingSecurity{}, &quotaOptions{}).Store.MemTableBytes; got != tc.want {
			t.Errorf("%s: memtable %d bytes; want %d", tc.arg, got, tc.want)
		}
	}
}
