package queueconfig

import (
	"slices"
	"strings"
	"testing"
)

func TestWakesCoalesceAndNeverBlock(t *testing.T) {
	var w Wakes
	a, b := Key{Namespace: "ns", Name: "a"}, Key{Namespace: "ns", Name: "b"}
	w.Notify(Key{Namespace: "ns", Name: "before-listen"}) // nobody listens: not kept
	ready := w.Listen()
	for range 1000 { // far more than any buffer: Notify must not block
		w.Notify(a)
	}
	w.Notify(b)
	select {
	case <-ready:
	default:
		t.Fatal("Listen's channel did not signal pending keys")
	}
	got := w.Take()
	slices.SortFunc(got, func(x, y Key) int { return strings.Compare(x.String(), y.String()) })
	if !slices.Equal(got, []Key{a, b}) {
		t.Fatalf("Take = %v, want [a b] once each", got)
	}
	select {
	case <-ready:
		t.Fatal("Listen's channel signalled again with nothing pending")
	default:
	}
	if got := w.Take(); len(got) != 0 {
		t.Fatalf("Take after Take = %v", got)
	}
}
