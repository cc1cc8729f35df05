package pebblestore

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble"

	"github.com/taskroute/taskroute/internal/storage"
)

// op is one mutation of a test sequence: 's' Set (value v), 'd' Delete, 'x' SingleDelete.
type op struct {
	kind byte
	key  string
	v    string
}

func (o op) String() string {
	switch o.kind {
	case 's':
		return "SET " + o.key + "=" + o.v
	case 'd':
		return "DEL " + o.key
	}
	return "SINGLEDEL " + o.key
}

func (b *batch) apply(o op) {
	switch o.kind {
	case 's':
		b.set([]byte(o.key), []byte(o.v))
	case 'd':
		b.delete([]byte(o.key))
	default:
		b.singleDelete([]byte(o.key))
	}
}

// records lists the records of a Pebble batch in order.
func records(t *testing.T, pb *pebble.Batch) []string {
	t.Helper()
	var out []string
	for r := pb.Reader(); ; {
		kind, key, value, ok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		switch kind {
		case pebble.InternalKeyKindSet:
			out = append(out, op{'s', string(key), string(value)}.String())
		case pebble.InternalKeyKindDelete:
			out = append(out, op{kind: 'd', key: string(key)}.String())
		case pebble.InternalKeyKindSingleDelete:
			out = append(out, op{kind: 'x', key: string(key)}.String())
		default:
			t.Fatalf("unexpected record kind %v", kind)
		}
	}
}

// value reads key from the store ("" and false when absent).
func value(t *testing.T, s *Store, key string) (string, bool) {
	t.Helper()
	v, err := s.get(nil, []byte(key))
	if errors.Is(err, storage.ErrNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(v), true
}

// TestElisionRules writes each rule's sequence in one batch over a store in which the key
// k already holds "old" (put once, so a SingleDelete of it is valid), and checks which
// records reached Pebble, in which order, and what the store holds afterwards, also after
// a flush and a full compaction (where a SingleDelete that met two versions of a key would
// uncover the older one).
func TestElisionRules(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fresh     bool // k has no version before the batch
		ops       []op
		survivors []string
		want      string // "" for absent
	}{
		{"set then set drops the earlier set", false,
			[]op{{'s', "k", "a"}, {'s', "k", "b"}},
			[]string{"SET k=b"}, "b"},
		{"three sets keep the last", false,
			[]op{{'s', "k", "a"}, {'s', "k", "b"}, {'s', "k", "c"}},
			[]string{"SET k=c"}, "c"},
		{"set then single delete drop both", true,
			[]op{{'s', "k", "a"}, {'x', "k", ""}},
			nil, ""},
		{"set then delete keeps the delete", false,
			[]op{{'s', "k", "a"}, {'d', "k", ""}},
			[]string{"DEL k"}, ""},
		{"delete then set keeps both", false,
			[]op{{'d', "k", ""}, {'s', "k", "a"}},
			[]string{"DEL k", "SET k=a"}, "a"},
		{"single delete then set keeps both", false,
			[]op{{'x', "k", ""}, {'s', "k", "a"}},
			[]string{"SINGLEDEL k", "SET k=a"}, "a"},
		{"a cancelled pair leaves the single delete before it", false,
			[]op{{'x', "k", ""}, {'s', "k", "a"}, {'x', "k", ""}},
			[]string{"SINGLEDEL k"}, ""},
		{"a cancelled pair leaves the delete before it", false,
			[]op{{'d', "k", ""}, {'s', "k", "a"}, {'x', "k", ""}, {'s', "k", "b"}},
			[]string{"DEL k", "SET k=b"}, "b"},
		{"survivors keep their order", false,
			[]op{{'s', "k", "a"}, {'s', "j", "1"}, {'s', "i", "2"}, {'d', "k", ""}, {'s', "i", "3"}, {'s', "k", "c"}},
			[]string{"SET j=1", "DEL k", "SET i=3", "SET k=c"}, "c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			if !tc.fresh {
				if err := s.db.Set([]byte("k"), []byte("old"), pebble.NoSync); err != nil {
					t.Fatal(err)
				}
				if err := s.db.Flush(); err != nil { // "old" in a table, the batch in the memtable
					t.Fatal(err)
				}
			}
			bt := s.NewBatch().(*batch)
			for _, o := range tc.ops {
				bt.apply(o)
			}
			if bt.Len() != len(tc.ops) {
				t.Fatalf("Len %d, want every mutation added (%d)", bt.Len(), len(tc.ops))
			}
			if err := bt.elide(); err != nil {
				t.Fatal(err)
			}
			if got := records(t, bt.b); strings.Join(got, ", ") != strings.Join(tc.survivors, ", ") {
				t.Fatalf("reached Pebble: %q, want %q", got, tc.survivors)
			}
			if err := s.Commit(bt, false); err != nil {
				t.Fatal(err)
			}
			if bt.Written() != len(tc.survivors) {
				t.Fatalf("Written %d, want %d", bt.Written(), len(tc.survivors))
			}
			check := func(when string) {
				v, ok := value(t, s, "k")
				if ok != (tc.want != "") || v != tc.want {
					t.Fatalf("%s: k = %q (present %v), want %q", when, v, ok, tc.want)
				}
			}
			check("after commit")
			if err := s.db.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := s.db.Compact([]byte("a"), []byte("z"), true); err != nil {
				t.Fatal(err)
			}
			check("after compaction")
		})
	}
}

// TestElisionAcrossManyKeys grows the elider's table (thousands of keys in one batch,
// each set twice far apart, every tenth one deleted at the end) and checks that every
// earlier set was dropped and every key holds its last value.
func TestElisionAcrossManyKeys(t *testing.T) {
	s := openTemp(t)
	const keys = 5000
	key := func(i int) string { return fmt.Sprintf("key-%05d", i) }
	bt := s.NewBatch().(*batch)
	for round := range 2 {
		for i := range keys {
			bt.apply(op{'s', key(i), fmt.Sprint(round)})
		}
	}
	for i := 0; i < keys; i += 10 {
		bt.apply(op{kind: 'd', key: key(i)})
	}
	if err := s.Commit(bt, false); err != nil {
		t.Fatal(err)
	}
	if want := keys; bt.Written() != want {
		t.Fatalf("Written %d of %d added, want %d", bt.Written(), bt.Len(), want)
	}
	for i := range keys {
		v, ok := value(t, s, key(i))
		if deleted := i%10 == 0; ok == deleted || (!deleted && v != "1") {
			t.Fatalf("%s = %q (present %v)", key(i), v, ok)
		}
	}
}

// TestSetTableProbesPastCollisions stores hashes that share their home slot and finds
// each again, and an emptied table finds none.
func TestSetTableProbesPastCollisions(t *testing.T) {
	var st setTable
	const n = 300
	st.init(n)
	for i := range n {
		h := uint64(i)<<32 | 7 // one home slot for all
		s := st.find(h)
		s.hash, s.set = h, int32(i)
	}
	for i := range n {
		h := uint64(i)<<32 | 7
		if s := st.find(h); s.hash != h || s.set != int32(i) {
			t.Fatalf("hash %#x: slot %+v, want set %d", h, *s, i)
		}
	}
	if s := st.find(1<<63 | 7); s.hash != 0 {
		t.Fatalf("a hash never stored found slot %+v", *s)
	}
	st.init(n)
	if s := st.find(7); s.hash != 0 {
		t.Fatalf("after init: slot %+v", *s)
	}
}
