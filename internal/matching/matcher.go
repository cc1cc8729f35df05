package matching

import matchingv1 "github.com/taskroute/taskroute/api/matching/v1"

// matcher holds the polls of one kind of a queue that wait for a task and pairs them with
// tasks as they arrive, the longest-waiting poll first. All waiting polls are in one FIFO
// (a task that requires nothing goes to its head); they are also grouped by their worker's
// capability set, and each route key (a task's requirement set) maps to the groups that
// meet it, so matching a routed task looks only at polls that can take it, never at every
// poll. Guarded by its queue's lock.
type matcher struct {
	waiting []*poller // every waiting poll, in the order they parked
	parks   uint64    // polls parked so far: a poll's place in the FIFO
	groups  []*pollGroup
	byCap   map[capability][]*pollGroup // groups by each capability they have, and by name alone
	gen     uint64                      // bumped when a group is added
	compat  map[string]compatibleGroups // route key -> the groups that meet it
}

// compatibleGroups is the poll groups that meet a route, as of generation gen.
type compatibleGroups struct {
	gen uint64
	gs  []*pollGroup
}

// pollGroup is the waiting polls of workers with one capability set.
type pollGroup struct {
	caps    capabilitySet
	key     string
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
	group    *pollGroup // set while waiting in the matcher
	seq      uint64     // its place in the FIFO of waiting polls
	parked   bool       // counted in worker.openPolls until unparked
	worker   *pollerInfo
	owner    Owner // becomes the owner of the leases this poll gets
}

// gotTask is a task handed to a poller: either already started by the adder (out set) or
// claimed from the backlog for the poller to start (t set).
type gotTask struct {
	t   *task
	out *matchingv1.Task
}

// full reports whether p holds as many tasks as it asked for.
func (p *poller) full() bool { return len(p.got) >= p.max }

func (p *poller) signal() {
	if !p.signaled {
		p.signaled = true
		close(p.done)
	}
}

// park adds p to the waiting polls, at the end of the FIFO and of its worker's group.
func (m *matcher) park(p *poller) {
	g := m.group(p.worker.caps, p.worker.capsKey)
	p.group = g
	m.parks++
	p.seq = m.parks
	g.waiting = append(g.waiting, p)
	m.waiting = append(m.waiting, p)
}

func (m *matcher) group(caps capabilitySet, key string) *pollGroup {
	for _, g := range m.groups {
		if g.key == key {
			return g
		}
	}
	g := &pollGroup{caps: caps, key: key}
	m.groups = append(m.groups, g)
	if m.byCap == nil {
		m.byCap = map[capability][]*pollGroup{}
	}
	for _, c := range caps {
		m.byCap[c] = append(m.byCap[c], g)
		if c.value != "" {
			m.byCap[capability{c.name, ""}] = append(m.byCap[capability{c.name, ""}], g)
		}
	}
	m.gen++
	return g
}

// unpark removes p from the waiting polls if it is still there.
func (m *matcher) unpark(p *poller) {
	g := p.group
	if g == nil {
		return
	}
	p.group = nil
	g.waiting = remove(g.waiting, p)
	m.waiting = remove(m.waiting, p)
}

// remove deletes p from polls, keeping the order.
func remove(polls []*poller, p *poller) []*poller {
	for i, w := range polls {
		if w == p {
			copy(polls[i:], polls[i+1:])
			polls[len(polls)-1] = nil
			return polls[:len(polls)-1]
		}
	}
	return polls
}

// match returns the longest-waiting poll that may take t (its worker meets t's
// requirements and it serves t's priority), or nil.
func (m *matcher) match(t *task) *poller {
	if t.route == "" {
		for _, p := range m.waiting {
			if p.mask&(1<<t.priority) != 0 {
				return p
			}
		}
		return nil
	}
	var best *poller
	for _, g := range m.compatible(t) {
		for _, p := range g.waiting {
			if p.mask&(1<<t.priority) != 0 {
				if best == nil || p.seq < best.seq {
					best = p
				}
				break
			}
		}
	}
	return best
}

// compatible returns the groups whose capabilities meet t's (non-empty) requirements.
func (m *matcher) compatible(t *task) []*pollGroup {
	if c, ok := m.compat[t.route]; ok && c.gen == m.gen {
		return c.gs
	}
	// Only groups that have the first requirement can meet them all.
	var gs []*pollGroup
	for _, g := range m.byCap[t.requires[0]] {
		if g.caps.meetsAll(t.requires[1:]) {
			gs = append(gs, g)
		}
	}
	if m.compat == nil {
		m.compat = map[string]compatibleGroups{}
	}
	m.compat[t.route] = compatibleGroups{m.gen, gs}
	return gs
}

// handed records that p was given a task: a full poll stops waiting, and p is woken.
func (m *matcher) handed(p *poller) {
	if p.full() {
		m.unpark(p)
	}
	p.signal()
}

// each calls fn for every waiting poll, longest-waiting first, until fn returns false.
func (m *matcher) each(fn func(p *poller) bool) {
	for _, p := range m.waiting {
		if !fn(p) {
			return
		}
	}
}

// dropFull removes the polls that are full (after a pass that handed out several tasks).
func (m *matcher) dropFull() {
	m.waiting = dropFull(m.waiting)
	for _, g := range m.groups {
		g.waiting = dropFull(g.waiting)
	}
}

func dropFull(polls []*poller) []*poller {
	out := polls[:0]
	for _, p := range polls {
		if p.full() {
			p.group = nil
			continue
		}
		out = append(out, p)
	}
	clear(polls[len(out):])
	return out
}

// any reports whether any poll waits.
func (m *matcher) any() bool { return len(m.waiting) > 0 }

// wakeAll returns every waiting poll (engine shutdown).
func (m *matcher) wakeAll() {
	for _, p := range m.waiting {
		p.group = nil
		p.signal()
	}
	m.waiting = nil
	for _, g := range m.groups {
		g.waiting = nil
	}
}
