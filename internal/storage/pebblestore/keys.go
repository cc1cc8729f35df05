package pebblestore

import (
	"encoding/binary"
	"time"

	"github.com/taskroute/taskroute/internal/storage"
)

// Key layout. One byte of prefix per index keeps keys compact; names are separated by a
// zero byte (validated away from names), numbers are big-endian so byte order = numeric order.
//
//	c <ns> 0 <queue>                                   queue configuration
//	t <ns> 0 <taskID>                                  task record
//	b <ns> 0 <queue> 0 <kind:1> <prio:1> <seq:8>       backlog entry -> 0 <len(taskID)> taskID record
//	b <ns> 0 <queue> 1 <partition> 0 <kind:1> ...      backlog entry of a partition (routed tasks)
//	d <unixnano:8> <ns> 0 <taskID>                     timer (next deadline of a task)
//	x <unixnano:8> <ns> 0 <taskID>                     retention expiry of a finished task
//	s <ns> 0 <sessionID>                               session record
//	m <name>                                           engine bookkeeping (the sequence floor)
const (
	prefixConfig  = 'c'
	prefixTask    = 't'
	prefixBacklog = 'b'
	prefixTimer   = 'd'
	prefixExpiry  = 'x'
	prefixSession = 's'
	prefixMeta    = 'm'
)

func metaKey(dst []byte, name string) []byte {
	dst = append(dst, prefixMeta)
	return append(dst, name...)
}

func taskKey(dst []byte, ns, id string) []byte {
	dst = append(dst, prefixTask)
	dst = append(dst, ns...)
	dst = append(dst, 0)
	return append(dst, id...)
}

func sessionKey(dst []byte, ns, id string) []byte {
	dst = append(dst, prefixSession)
	dst = append(dst, ns...)
	dst = append(dst, 0)
	return append(dst, id...)
}

func configKey(dst []byte, q storage.QueueRef) []byte {
	dst = append(dst, prefixConfig)
	dst = append(dst, q.Namespace...)
	dst = append(dst, 0)
	return append(dst, q.Queue...)
}

// partitionSep separates a queue name from a partition in backlog keys: below every name
// byte, above the zero separator, so a queue's partitions sort right after its plain backlog.
const partitionSep = 1

func backlogQueuePrefix(dst []byte, q storage.QueueRef) []byte {
	dst = append(dst, prefixBacklog)
	dst = append(dst, q.Namespace...)
	dst = append(dst, 0)
	dst = append(dst, q.Queue...)
	if q.Partition != "" {
		dst = append(dst, partitionSep)
		dst = append(dst, q.Partition...)
	}
	return append(dst, 0)
}

func backlogLevelPrefix(dst []byte, q storage.QueueRef, kind, prio uint8) []byte {
	dst = backlogQueuePrefix(dst, q)
	return append(dst, kind, prio)
}

func backlogKey(dst []byte, q storage.QueueRef, k storage.BacklogKey) []byte {
	dst = backlogLevelPrefix(dst, q, k.Kind, k.Priority)
	return binary.BigEndian.AppendUint64(dst, k.Seq)
}

func timeKey(dst []byte, prefix byte, at time.Time, ns, id string) []byte {
	dst = append(dst, prefix)
	dst = binary.BigEndian.AppendUint64(dst, uint64(at.UnixNano()))
	dst = append(dst, ns...)
	dst = append(dst, 0)
	return append(dst, id...)
}

// parseTimeKey splits the key of a timer or expiry entry.
func parseTimeKey(k []byte) (storage.TimerEntry, bool) {
	if len(k) < 10 {
		return storage.TimerEntry{}, false
	}
	at := time.Unix(0, int64(binary.BigEndian.Uint64(k[1:9])))
	rest := k[9:]
	for i, c := range rest {
		if c == 0 {
			return storage.TimerEntry{At: at, Namespace: string(rest[:i]), TaskID: string(rest[i+1:])}, true
		}
	}
	return storage.TimerEntry{}, false
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Backlog values: a zero byte (task ids never start with one; values of older stores are
// the bare id), the id's length as a uvarint, the id, then the task record.
func backlogValueLen(id string, rec []byte) int {
	return 1 + uvarintLen(uint64(len(id))) + len(id) + len(rec)
}

func appendBacklogValue(dst []byte, id string, rec []byte) []byte {
	dst = append(dst, 0)
	dst = binary.AppendUvarint(dst, uint64(len(id)))
	dst = append(dst, id...)
	return append(dst, rec...)
}

// parseBacklogValue returns the task id and record (both aliasing v) of a backlog value.
func parseBacklogValue(v []byte) (id, record []byte) {
	if len(v) == 0 || v[0] != 0 {
		return v, nil
	}
	n, w := binary.Uvarint(v[1:])
	if w <= 0 || uint64(len(v)-1-w) < n {
		return nil, nil
	}
	return v[1+w : 1+w+int(n)], v[1+w+int(n):]
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
