package worker

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// TestTaskContextErrIsSetOnceDoneIsClosed checks the context contract a waiter relies on:
// once Done is closed, Err is not nil (and Cause is the cause). A waiter woken by the
// close runs on another core while cancel goes on, so the error must be in place before
// the channel closes.
func TestTaskContextErrIsSetOnceDoneIsClosed(t *testing.T) {
	cause := errors.New("lease lost")
	for i := range 3000 {
		c := &taskContext{}
		done := c.Done()
		var wg sync.WaitGroup
		var err, gotCause error
		spinning := make(chan struct{})
		wg.Add(1)
		go func() { // spins on another core, so it sees the close the moment it happens
			defer wg.Done()
			close(spinning)
			for {
				select {
				case <-done:
					err, gotCause = c.Err(), context.Cause(c)
					return
				default:
				}
			}
		}()
		<-spinning
		c.cancel(context.Canceled, cause)
		wg.Wait()
		if err == nil || gotCause != cause {
			t.Fatalf("iteration %d: after Done closed, Err = %v and Cause = %v; want %v and %v", i, err, gotCause, context.Canceled, cause)
		}
	}
}
