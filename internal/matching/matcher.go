package matching

import matchingv1 "github.com/taskroute/taskroute/api/matching/v1"

// matcher holds the polls of one kind of a queue that wait for a task and pairs them with
// tasks as they arrive. Guarded by its queue's lock.
type matcher struct {
	waiting []*poller
}

// poller is one waiting PollTasks call.
type poller struct {
	kind     uint8
	mask     uint16 // bit p set: serves priority p
	max      int
	got      []gotTask
	done     chan struct{}
	signaled bool
	waiting  bool
	worker   *pollerInfo
	owner    Owner // becomes the owner of the leases this poll gets
}

// gotTask is a task handed to a poller: either already started by the adder (out set) or
// claimed from the backlog for the poller to start (t set).
type gotTask struct {
	t   *task
	out *matchingv1.Task
}

// serves reports whether p may be given t.
func (p *poller) serves(t *task) bool { return p.mask&(1<<t.priority) != 0 }

// full reports whether p holds as many tasks as it asked for.
func (p *poller) full() bool { return len(p.got) >= p.max }

func (p *poller) signal() {
	if !p.signaled {
		p.signaled = true
		close(p.done)
	}
}

// park adds p to the waiting polls.
func (m *matcher) park(p *poller) {
	p.waiting = true
	m.waiting = append(m.waiting, p)
}

// unpark removes p from the waiting polls if it is still there.
func (m *matcher) unpark(p *poller) {
	if !p.waiting {
		return
	}
	p.waiting = false
	for i, w := range m.waiting {
		if w == p {
			m.removeAt(i)
			return
		}
	}
}

// match returns the first waiting poll that serves t, or nil.
func (m *matcher) match(t *task) *poller {
	for _, p := range m.waiting {
		if p.serves(t) {
			return p
		}
	}
	return nil
}

// handed records that p was given a task: a full poll stops waiting, and p is woken.
func (m *matcher) handed(p *poller) {
	if p.full() {
		m.unpark(p)
	}
	p.signal()
}

// dropFull removes the polls that are full (after a pass that handed out several tasks).
func (m *matcher) dropFull() {
	out := m.waiting[:0]
	for _, p := range m.waiting {
		if p.full() {
			p.waiting = false
			continue
		}
		out = append(out, p)
	}
	clear(m.waiting[len(out):])
	m.waiting = out
}

func (m *matcher) removeAt(i int) {
	copy(m.waiting[i:], m.waiting[i+1:])
	m.waiting[len(m.waiting)-1] = nil
	m.waiting = m.waiting[:len(m.waiting)-1]
}

// wakeAll returns every waiting poll (engine shutdown, worker shutdown).
func (m *matcher) wakeAll() {
	for _, p := range m.waiting {
		p.waiting = false
		p.signal()
	}
	m.waiting = nil
}
