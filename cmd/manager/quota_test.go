package main

import (
	"flag"
	"testing"
)

func TestQuotaFlags(t *testing.T) {
	var o quotaOptions
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	o.bind(fs)
	if err := fs.Parse([]string{"--quota-max-backlog=10", `--quota-overrides={"team-a":{"maxBacklog":0,"addRate":7}}`}); err != nil {
		t.Fatal(err)
	}
	q, err := o.quotas()
	if err != nil {
		t.Fatal(err)
	}
	if q.Default.MaxBacklog != 10 || q.Default.MaxQueues != 1000 {
		t.Fatalf("default = %+v", q.Default)
	}
	a := q.Overrides["team-a"]
	if a.MaxBacklog != 0 || a.AddRate != 7 || a.MaxQueues != 1000 {
		t.Fatalf("override = %+v", a)
	}
	o.overrides = `{"team-a":{"maxBacklogg":1}}`
	if _, err := o.quotas(); err == nil {
		t.Fatal("unknown field accepted")
	}
	o.overrides = `{"team-a":{"maxQueues":-1}}`
	if _, err := o.quotas(); err == nil {
		t.Fatal("negative limit accepted")
	}
}
