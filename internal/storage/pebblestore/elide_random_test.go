package pebblestore

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble"
)

// TestElisionMatchesPlainBatches applies random sequences of Set, Delete and SingleDelete
// on a few keys through the eliding batch to one store and through plain Pebble batches
// to another, and compares every key after each commit, after reopening both stores and
// after a full compaction. The sequences keep the SingleDelete contract: a key is
// single-deleted only when it was set at most once since its last delete.
func TestElisionMatchesPlainBatches(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { elisionMatchesPlain(t, seed) })
	}
}

var randomKeys = []string{"k0", "k1", "k2", "k3"}

func elisionMatchesPlain(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0))
	dirs := [2]string{t.TempDir(), t.TempDir()}
	open := func() (eliding, plain *Store) {
		var s [2]*Store
		for i, dir := range dirs {
			var err error
			if s[i], err = Open(dir, Options{}); err != nil {
				t.Fatal(err)
			}
		}
		return s[0], s[1]
	}
	eliding, plain := open()
	setsSinceDelete := map[string]int{}
	added, written, n := 0, 0, 0
	for round := 0; round < 200; round++ {
		bt, pb := eliding.NewBatch().(*batch), plain.db.NewBatch()
		var ops []op
		for range 1 + rng.IntN(12) {
			o := randomOp(rng, setsSinceDelete, &n)
			ops = append(ops, o)
			bt.apply(o)
			applyPlain(pb, o)
		}
		added += bt.Len()
		if err := eliding.Commit(bt, false); err != nil {
			t.Fatal(err)
		}
		written += bt.Written()
		if err := pb.Commit(pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		compareStores(t, eliding, plain, fmt.Sprintf("after round %d %v", round, ops))
		if rng.IntN(20) == 0 { // flushes put versions and tombstones in tables, where they meet in compactions
			for _, s := range []*Store{eliding, plain} {
				if err := s.db.Flush(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if written >= added {
		t.Fatalf("%d mutations written of %d added: nothing elided", written, added)
	}
	for _, s := range []*Store{eliding, plain} {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	eliding, plain = open()
	defer eliding.Close()
	defer plain.Close()
	compareStores(t, eliding, plain, "after reopening")
	for _, s := range []*Store{eliding, plain} {
		if err := s.db.Compact([]byte("a"), []byte("z"), true); err != nil {
			t.Fatal(err)
		}
	}
	compareStores(t, eliding, plain, "after compaction")
}

// randomOp picks a mutation of a random key that keeps the SingleDelete contract.
func randomOp(rng *rand.Rand, setsSinceDelete map[string]int, n *int) op {
	key := randomKeys[rng.IntN(len(randomKeys))]
	kinds := "sssdx"
	if setsSinceDelete[key] > 1 {
		kinds = "sssd"
	}
	o := op{kind: kinds[rng.IntN(len(kinds))], key: key}
	if o.kind == 's' {
		*n++
		o.v = fmt.Sprint("v", *n)
		setsSinceDelete[key]++
	} else {
		setsSinceDelete[key] = 0
	}
	return o
}

func applyPlain(pb *pebble.Batch, o op) {
	switch o.kind {
	case 's':
		_ = pb.Set([]byte(o.key), []byte(o.v), nil)
	case 'd':
		_ = pb.Delete([]byte(o.key), nil)
	default:
		_ = pb.SingleDelete([]byte(o.key), nil)
	}
}

func compareStores(t *testing.T, eliding, plain *Store, when string) {
	t.Helper()
	for _, k := range randomKeys {
		got, gotOK := value(t, eliding, k)
		want, wantOK := value(t, plain, k)
		if got != want || gotOK != wantOK {
			t.Fatalf("%s: %s = %q (present %v) through the eliding batch, %q (present %v) through plain batches", when, k, got, gotOK, want, wantOK)
		}
	}
}
