package matching

import (
	"fmt"
	"testing"
)

// Closing the engine right after a queue was touched must wait for the backlog page load
// that touch started: the store is closed next, and a page load reading a closed store
// panics (Pebble) and takes the process down on every shutdown under load.
func TestCloseWaitsForPageLoads(t *testing.T) {
	dir := t.TempDir()
	v := open(t, dir, Options{})
	for i := range 200 {
		add(t, v.e, tspec(fmt.Sprintf("waiting-%03d", i)))
	}
	v.close()
	for round := range 20 {
		v = open(t, dir, Options{})
		// Loading the queue for this add starts a page load of the 200 waiting tasks.
		add(t, v.e, tspec(fmt.Sprintf("round-%02d", round)))
		v.close()
	}
}
