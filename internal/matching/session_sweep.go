package matching

import (
	"fmt"
	"time"

	"github.com/taskroute/taskroute/internal/storage"
)

// loadSessions reads the stored sessions at start. An open one's worker gets one liveness
// timeout from now to poll or heartbeat again before the session fails.
func (e *Engine) loadSessions() error {
	now := e.now().UnixNano()
	var decodeErr error
	st := e.sessions
	err := e.store.ScanSessions(func(ns, id string, v []byte) bool {
		s, err := decodeSession(v)
		if err != nil {
			decodeErr = fmt.Errorf("session %s/%s: %w", ns, id, err)
			return false
		}
		s.loadedAt = now
		st.byID[sessionKey(ns, id)] = s
		if s.State == sessionOpen {
			st.open[workerSlotKey(s.Namespace, s.Queue, s.Worker)]++
		}
		return true
	})
	if err != nil {
		return err
	}
	return decodeErr
}

// FailLostSessions fails the open sessions whose worker has been gone (no open poll, no
// poll or heartbeat within the liveness timeout, or ShutdownWorker) for the liveness
// timeout, and returns how many. Their waiting tasks are routed to the worker's process,
// so the lost target sweep that follows fails them, with ErrorTypeSessionFailed.
func (e *Engine) FailLostSessions() int {
	now := e.now()
	failed := 0
	for _, s := range e.sessions.openList() {
		if now.UnixNano()-s.loadedAt <= int64(e.opts.WorkerLivenessTimeout) || e.sessionWorkerLive(s, now.UnixNano()) {
			continue
		}
		why := fmt.Sprintf("worker %s (process %s) of the session is gone", s.Worker, s.Process)
		if _, ok := e.sessions.close(s.Namespace, s.ID, sessionFailed, now.UnixNano(), why); !ok {
			continue
		}
		failed++
		if err := e.persistSession(s.Namespace, s.ID); err != nil {
			e.log.Error(err, "Failed to persist a failed session", "namespace", s.Namespace, "session", s.ID)
		}
		e.log.Info("Failed session of a gone worker", "namespace", s.Namespace, "queue", s.Queue, "session", s.ID, "worker", s.Worker)
	}
	e.forgetClosedSessions(now)
	return failed
}

// sessionWorkerLive reports whether the session's worker process is alive on its queue.
// It never loads the queue: an unloaded queue had no waiting poll and no activity for the
// idle timeout, and unloading forgot its workers, so none of them is alive on it (as on a
// freshly loaded one), and loading it just to say so would cost an idle queue's memory.
func (e *Engine) sessionWorkerLive(s session, now int64) bool {
	for {
		q := e.loadedQueue(s.Namespace, s.Queue)
		if q == nil {
			return false
		}
		if !q.lock() { // unloaded meanwhile: look again
			continue
		}
		w := q.pollers[s.Worker]
		live := w != nil && q.livePollerLocked(w, now) && w.caps.value(capabilityProcess) == s.Process
		q.mu.Unlock()
		return live
	}
}

// forgetClosedSessions deletes completed and failed sessions once their queue's retention
// has passed since they closed.
func (e *Engine) forgetClosedSessions(now time.Time) {
	for _, s := range e.sessions.closedList() {
		if now.Sub(time.Unix(0, s.ClosedAt)) <= e.config(s.Namespace, s.Queue).Retention {
			continue
		}
		if err := e.committer.Write(func(b storage.Batch) { b.DeleteSession(s.Namespace, s.ID) }).Wait(); err != nil {
			e.log.Error(err, "Failed to delete an expired session", "namespace", s.Namespace, "session", s.ID)
			continue
		}
		e.sessions.remove(s.Namespace, s.ID)
	}
}

// closedList returns copies of the completed and failed sessions.
func (st *sessionTable) closedList() []session {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []session
	for _, s := range st.byID {
		if s.State != sessionOpen {
			out = append(out, *s)
		}
	}
	return out
}

// remove forgets a closed session.
func (st *sessionTable) remove(ns, id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s, ok := st.byID[sessionKey(ns, id)]; ok && s.State != sessionOpen {
		delete(st.byID, sessionKey(ns, id))
	}
}
