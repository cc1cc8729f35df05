package clock

import (
	"testing"
	"time"
)

func TestFakeFiresInOrderOnlyWhenStepped(t *testing.T) {
	f := NewFake(time.Unix(1000, 0))
	late := f.NewTimer(2 * time.Second)
	early := f.NewTimer(time.Second)
	fired := make(chan string, 2)
	f.AfterFunc(1500*time.Millisecond, func() { fired <- "func" })

	f.Advance(999 * time.Millisecond)
	select {
	case <-early.C():
		t.Fatal("timer fired before its deadline")
	default:
	}
	f.Advance(time.Millisecond)
	if got := <-early.C(); !got.Equal(time.Unix(1001, 0)) {
		t.Fatalf("early fired at %v", got)
	}
	if f.Timers() != 2 {
		t.Fatalf("pending timers = %d, want 2", f.Timers())
	}
	f.Advance(time.Second)
	if got := <-fired; got != "func" {
		t.Fatal(got)
	}
	<-late.C()
	if f.Timers() != 0 {
		t.Fatalf("pending timers = %d after all fired", f.Timers())
	}
}

func TestFakeStopAndReset(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	tm := f.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of an active timer reported false")
	}
	f.Advance(2 * time.Second)
	select {
	case <-tm.C():
		t.Fatal("stopped timer fired")
	default:
	}
	if tm.Reset(time.Second) {
		t.Fatal("Reset of a stopped timer reported it active")
	}
	done := make(chan struct{})
	if !f.WaitForTimers(1, done) {
		t.Fatal("WaitForTimers did not see the reset timer")
	}
	f.Advance(time.Second)
	<-tm.C()
}
