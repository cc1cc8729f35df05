package matching

import (
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/storage"
)

// sessionCandidate is a live worker of a queue that may take a session.
type sessionCandidate struct {
	identity, process string
	maxSessions       int32
}

// sessionCandidates lists the live workers of a kind that declared session slots,
// advertise a process and meet reqs.
func (q *queueManager) sessionCandidates(kind uint8, reqs []capability, now int64) ([]sessionCandidate, bool) {
	if !q.lock() {
		return nil, false
	}
	defer q.mu.Unlock()
	q.touchLocked(now)
	var out []sessionCandidate
	for _, w := range q.pollers {
		if w.maxSessions <= 0 || w.kind != kind || !q.livePollerLocked(w, now) || !w.caps.meetsAll(reqs) {
			continue
		}
		if p := w.caps.value(capabilityProcess); p != "" {
			out = append(out, sessionCandidate{identity: w.identity, process: p, maxSessions: w.maxSessions})
		}
	}
	return out, true
}

// CreateSession opens a session (validated request) on a live worker with a free slot and
// persists it; an id that exists returns that session, created false.
func (e *Engine) CreateSession(req *matchingv1.CreateSessionRequest) (*matchingv1.SessionInfo, bool, error) {
	now := e.now().UnixNano()
	s := &session{Namespace: req.GetNamespace(), Queue: req.GetQueue(), ID: req.GetSessionId(), Kind: kindActivity,
		State: sessionOpen, CreatedAt: now, loadedAt: now}
	if s.ID == "" {
		s.ID = uuid.NewString()
	}
	if req.GetKind() == matchingv1.TaskKind_TASK_KIND_WORKFLOW {
		s.Kind = kindWorkflow
	}
	s.Requires, _ = requirementsOf(req.GetRequires())
	if old, ok := e.sessions.get(s.Namespace, s.ID); ok {
		return old.info(), false, nil
	}
	var cands []sessionCandidate
	for ok := false; !ok; {
		cands, ok = e.queue(s.Namespace, s.Queue).sessionCandidates(s.Kind, s.Requires, now)
	}
	bound, old, err := e.sessions.bind(s, cands)
	if old != nil || err != nil {
		return old.infoOrNil(), false, err
	}
	if err := e.persistCreatedSession(s); err != nil {
		e.sessions.forget(s)
		return nil, false, status.Errorf(codes.Unavailable, "writing session: %v", err)
	}
	e.log.V(1).Info("Created session", "namespace", bound.Namespace, "queue", bound.Queue, "session", bound.ID, "worker", bound.Worker)
	return bound.info(), true, nil
}

func (s *session) infoOrNil() *matchingv1.SessionInfo {
	if s == nil {
		return nil
	}
	return s.info()
}

// bind picks, under the table's lock, the candidate with the fewest open sessions below
// its slots, binds s to it, takes the slot and returns a copy of s as bound (s itself
// belongs to the table from then on). It returns a copy of the existing session when s's
// id was created meanwhile, ResourceExhausted when no candidate has a free slot.
func (st *sessionTable) bind(s *session, cands []sessionCandidate) (bound session, existing *session, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if old, ok := st.byID[sessionKey(s.Namespace, s.ID)]; ok {
		c := *old
		return session{}, &c, nil
	}
	best, bestOpen := -1, int32(0)
	for i, c := range cands {
		n := st.open[workerSlotKey(s.Namespace, s.Queue, c.identity)]
		if n < c.maxSessions && (best < 0 || n < bestOpen) {
			best, bestOpen = i, n
		}
	}
	if best < 0 {
		return session{}, nil, status.Errorf(codes.ResourceExhausted,
			"no live worker of queue %s with the required capabilities has a free session slot (%d with session slots)", s.Queue, len(cands))
	}
	s.Worker, s.Process = cands[best].identity, cands[best].process
	st.byID[sessionKey(s.Namespace, s.ID)] = s
	st.open[workerSlotKey(s.Namespace, s.Queue, s.Worker)]++
	return *s, nil, nil
}

// forget drops a session whose creation could not be persisted.
func (st *sessionTable) forget(s *session) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.byID[sessionKey(s.Namespace, s.ID)] == s {
		delete(st.byID, sessionKey(s.Namespace, s.ID))
		if s.State == sessionOpen {
			st.open[workerSlotKey(s.Namespace, s.Queue, s.Worker)]--
		}
	}
}

// CompleteSession ends an open session and releases its slot; a closed one is returned
// as it is. Unknown id: NotFound.
func (e *Engine) CompleteSession(ns, id string) (*matchingv1.SessionInfo, error) {
	s, ok := e.sessions.close(ns, id, sessionCompleted, e.now().UnixNano(), "")
	if !ok {
		return e.GetSession(ns, id)
	}
	if err := e.persistSession(ns, id); err != nil {
		return nil, status.Errorf(codes.Unavailable, "writing session: %v", err)
	}
	e.log.V(1).Info("Completed session", "namespace", ns, "session", id)
	return s.info(), nil
}

// GetSession returns a session; unknown id: NotFound.
func (e *Engine) GetSession(ns, id string) (*matchingv1.SessionInfo, error) {
	s, ok := e.sessions.get(ns, id)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "session %s not found in namespace %s", id, ns)
	}
	return s.info(), nil
}

// persistSession writes a session's record as it is when the write joins a commit group
// (synced, grouped with other writes): groups commit in order, so of two writes of one
// session racing (a create and a complete), the one committed last holds the latest state.
func (e *Engine) persistSession(ns, id string) error {
	var encodeErr error
	err := e.committer.Write(e.sessionWrite(ns, id, &encodeErr)).Wait()
	if encodeErr != nil {
		return encodeErr
	}
	return err
}

// persistCreatedSession queues the record of s, just created, for the next commit group
// and returns without waiting for its sync. Groups commit in order, so the record is
// durable before any task added to the session afterwards is acknowledged: a crash can
// lose only a session that has no task yet, and its id is then NotFound, as after a
// failed create. Waiting for the sync put the disk's sync tail into every create.
// Should the commit fail, the session is forgotten (NotFound from then on).
func (e *Engine) persistCreatedSession(s *session) error {
	var encodeErr error
	e.committer.WriteThenFor(storage.CauseOther, e.sessionWrite(s.Namespace, s.ID, &encodeErr), func(err error) {
		if err != nil {
			e.log.Error(err, "Forgot a created session whose record could not be written", "namespace", s.Namespace, "session", s.ID)
			e.sessions.forget(s)
		}
	})
	return encodeErr
}

// sessionWrite returns the write of a session's record as it is when the write joins a
// commit group; an encoding error goes to encodeErr.
func (e *Engine) sessionWrite(ns, id string, encodeErr *error) func(storage.Batch) {
	return func(b storage.Batch) {
		s, ok := e.sessions.get(ns, id)
		if !ok {
			return // forgotten meanwhile (expired): nothing to keep
		}
		v, err := s.encode()
		if err != nil {
			*encodeErr = err
			return
		}
		b.PutSession(ns, id, v)
	}
}
