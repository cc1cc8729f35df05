package matching

import (
	"container/heap"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/taskroute/taskroute/internal/storage"
)

// timerPage is how many timer index entries are loaded into memory at a time.
const timerPage = 4096

// timerItem is a task's next deadline in the in-memory heap.
type timerItem struct {
	at  int64
	key string // namespace \x00 id
	idx int
	t   *task // nil for items loaded from the index (the task may not be in memory)
}

type timerHeap []*timerItem

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *timerHeap) Push(x any)        { it := x.(*timerItem); it.idx = len(*h); *h = append(*h, it) }
func (h *timerHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.idx = -1
	return it
}

// timerService fires task deadlines (retry waits, schedule-to-start, start-to-close,
// heartbeat) from one goroutine. The durable timer index is ordered by deadline, so after
// a restart only its first page is read before serving; later pages load as time passes.
// Every deadline up to loadedUntil is in the heap; later ones are on disk only.
type timerService struct {
	e           *Engine
	mu          sync.Mutex
	h           timerHeap
	loadedUntil int64
	loading     bool
	wake        chan struct{}
}

func newTimerService(e *Engine) *timerService {
	return &timerService{e: e, wake: make(chan struct{}, 1)}
}

// set replaces t's in-memory timer with at (0 removes it). Called under t's shard lock.
func (s *timerService) set(t *task, at int64) {
	s.mu.Lock()
	if t.tm != nil {
		if t.tm.idx >= 0 {
			heap.Remove(&s.h, t.tm.idx)
		}
		t.tm = nil
	}
	first := false
	if at != 0 && (at <= s.loadedUntil || s.loading) {
		it := &timerItem{at: at, key: t.key, t: t}
		heap.Push(&s.h, it)
		t.tm = it
		first = it.idx == 0
	}
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// loadPage reads the next page of the timer index into the heap.
func (s *timerService) loadPage() error {
	s.mu.Lock()
	from := s.loadedUntil
	s.loading = true
	s.mu.Unlock()
	var fromT time.Time
	if from > 0 {
		fromT = time.Unix(0, from)
	}
	var items []*timerItem
	err := s.e.store.ScanTimers(fromT, timerPage, func(te storage.TimerEntry) bool {
		items = append(items, &timerItem{at: te.At.UnixNano(), key: taskKey(te.Namespace, te.TaskID)})
		return true
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loading = false
	if err != nil {
		return err
	}
	for _, it := range items {
		heap.Push(&s.h, it)
	}
	if len(items) < timerPage {
		s.loadedUntil = math.MaxInt64
	} else {
		s.loadedUntil = items[len(items)-1].at
	}
	return nil
}

func (s *timerService) loop() {
	defer s.e.wg.Done()
	var due []*timerItem
	tm := s.e.clock.NewTimer(time.Hour)
	defer tm.Stop()
	for {
		now := s.e.now().UnixNano()
		s.mu.Lock()
		due = due[:0]
		for len(s.h) > 0 && s.h[0].at <= now {
			it := heap.Pop(&s.h).(*timerItem)
			if it.t != nil && it.t.tm == it {
				it.t.tm = nil
			}
			due = append(due, it)
		}
		needPage := s.loadedUntil != math.MaxInt64 && (len(s.h) == 0 || s.h[0].at > s.loadedUntil) && now >= s.loadedUntil
		next := int64(math.MaxInt64)
		if len(s.h) > 0 {
			next = s.h[0].at
		}
		if s.loadedUntil < next {
			next = s.loadedUntil
		}
		s.mu.Unlock()
		for _, it := range due {
			s.e.fire(it.key, it.at)
		}
		if needPage {
			if err := s.loadPage(); err != nil {
				s.e.log.Error(err, "Failed to load timers")
			}
			continue
		}
		if len(due) > 0 {
			continue
		}
		wait := time.Hour
		if next != math.MaxInt64 {
			wait = max(time.Duration(next-s.e.now().UnixNano()), time.Millisecond)
		}
		tm.Reset(wait)
		select {
		case <-tm.C():
		case <-s.wake:
			if !tm.Stop() {
				select {
				case <-tm.C():
				default:
				}
			}
		case <-s.e.closing:
			return
		}
	}
}

// fire handles a due deadline of one task, if it is still the task's current one.
func (e *Engine) fire(key string, at int64) {
	ns, id, ok := strings.Cut(key, "\x00")
	if !ok {
		return
	}
	s, _ := e.tasks.shard(key)
	s.mu.Lock()
	t, err := e.tasks.lookup(s, key, ns, id)
	if err != nil {
		s.mu.Unlock()
		return
	}
	if t.timerAt != at || t.nextTimer() != at {
		s.evict(key, t)
		s.mu.Unlock()
		return
	}
	now := e.now()
	nowNs := now.UnixNano()
	var o op
	switch {
	case t.state == stateScheduled && t.retryAt != 0:
		o = e.readyLocked(t, now)
	case t.state == stateScheduled && t.s2sDeadline != 0 && nowNs >= t.s2sDeadline:
		e.unbufferLocked(t)
		t.failure = &failure{message: "schedule-to-start timeout", errorType: ErrorTypeScheduleToStartTimeout, nonRetryable: true}
		e.metrics.failedAttempt(t, ErrorTypeScheduleToStartTimeout)
		o = e.finish(t, stateTimedOut, now)
	case t.state == stateStarted:
		f := &failure{message: "start-to-close timeout", errorType: ErrorTypeStartToCloseTimeout}
		if t.hbDeadline != 0 && (t.s2cDeadline == 0 || t.hbDeadline < t.s2cDeadline) {
			f = &failure{message: "heartbeat timeout", errorType: ErrorTypeHeartbeatTimeout}
		}
		// Keep the last heartbeat details with the failure, so the retry can resume.
		f.details = t.hbDetails
		e.metrics.failedAttempt(t, f.errorType)
		o = e.endAttemptLocked(t, f, stateTimedOut, now)
	default:
		s.evict(key, t)
		s.mu.Unlock()
		return
	}
	e.commitAsync(o)
	s.mu.Unlock()
}
