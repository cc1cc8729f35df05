package matching

import (
	"encoding/json"
	"sync"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// ErrorTypeSessionFailed ends the waiting tasks of a session whose worker is gone.
const ErrorTypeSessionFailed = "SessionFailed"

// capabilityProcess is the capability every SDK worker advertises with a per-start id; a
// session's tasks require its worker's value, so they reuse process routing (and its lost
// target sweep) and can never run in another process.
const capabilityProcess = "taskroute.dev/process"

// Session states, numbered as in the protocol's SessionState.
const (
	sessionOpen      uint8 = 1
	sessionCompleted uint8 = 2
	sessionFailed    uint8 = 3
)

// session is one session's record, persisted as JSON under its namespace and id (a few
// per worker, written on create and close only: no need for the task record's format).
type session struct {
	Namespace string       `json:"ns"`
	Queue     string       `json:"queue"`
	ID        string       `json:"id"`
	Kind      uint8        `json:"kind"`
	State     uint8        `json:"state"`
	Worker    string       `json:"worker"`
	Process   string       `json:"process"`
	Requires  []capability `json:"-"`
	Reqs      [][2]string  `json:"requires,omitempty"`
	CreatedAt int64        `json:"created"`
	ClosedAt  int64        `json:"closed,omitempty"`
	Failure   string       `json:"failure,omitempty"`

	// loadedAt (memory only): creation, or the engine's start for a stored session. Its
	// worker has one liveness timeout from then to show up before the session fails.
	loadedAt int64
}

func (s *session) encode() ([]byte, error) {
	s.Reqs = s.Reqs[:0]
	for _, r := range s.Requires {
		s.Reqs = append(s.Reqs, [2]string{r.name, r.value})
	}
	return json.Marshal(s)
}

func decodeSession(b []byte) (*session, error) {
	s := &session{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, err
	}
	for _, r := range s.Reqs {
		s.Requires = append(s.Requires, capability{r[0], r[1]})
	}
	return s, nil
}

// info is the session as the protocol shows it.
func (s *session) info() *matchingv1.SessionInfo {
	return &matchingv1.SessionInfo{
		Namespace: s.Namespace, Queue: s.Queue, Kind: kindProto(s.Kind), SessionId: s.ID,
		State: matchingv1.SessionState(s.State), WorkerIdentity: s.Worker, WorkerProcess: s.Process,
		Requires: capabilitiesProto(s.Requires), CreateTime: ts(s.CreatedAt), CloseTime: ts(s.ClosedAt),
		Failure: s.Failure,
	}
}

// sessionTable holds every session of the engine and each worker's count of open ones.
// Its lock is a leaf: nothing else is locked while it is held, so it may be taken under
// a queue's lock (Describe) but never the other way round. Slot accounting happens under
// it alone, so concurrent creations cannot exceed a worker's slots.
type sessionTable struct {
	mu   sync.Mutex
	byID map[string]*session // namespace \x00 id
	open map[string]int32    // namespace \x00 queue \x00 worker identity
}

func newSessionTable() *sessionTable {
	return &sessionTable{byID: map[string]*session{}, open: map[string]int32{}}
}

func sessionKey(ns, id string) string { return ns + "\x00" + id }

func workerSlotKey(ns, queue, worker string) string { return ns + "\x00" + queue + "\x00" + worker }

// openSessions returns how many open sessions a worker of a queue holds.
func (st *sessionTable) openSessions(ns, queue, worker string) int32 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.open[workerSlotKey(ns, queue, worker)]
}

// get returns a copy of a session, or false.
func (st *sessionTable) get(ns, id string) (session, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.byID[sessionKey(ns, id)]
	if !ok {
		return session{}, false
	}
	return *s, true
}

// close moves an open session to state (completed or failed) and releases its slot; it
// reports false, changing nothing, when the session is not open.
func (st *sessionTable) close(ns, id string, state uint8, now int64, why string) (session, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.byID[sessionKey(ns, id)]
	if !ok || s.State != sessionOpen {
		return session{}, false
	}
	s.State, s.ClosedAt, s.Failure = state, now, why
	st.open[workerSlotKey(s.Namespace, s.Queue, s.Worker)]--
	return *s, true
}

// openList returns copies of the open sessions.
func (st *sessionTable) openList() []session {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []session
	for _, s := range st.byID {
		if s.State == sessionOpen {
			out = append(out, *s)
		}
	}
	return out
}

// value returns the value of the named capability, "" when the set lacks it.
func (s capabilitySet) value(name string) string {
	for _, c := range s {
		if c.name == name {
			return c.value
		}
	}
	return ""
}
