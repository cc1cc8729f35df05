package matching

// livePins indexes the live workers of a queue by each pinning capability they have (and
// by its name alone, for a requirement without a value), so a sweep of the lost-target
// loop checks a partition's pins against the workers that have its first pin instead of
// against every worker: one pass over the pollers per queue and sweep, however many
// pinned partitions hold tasks. Built only when a pinned partition with tasks is found.
type livePins map[capability][]*pollerInfo

// livePinsLocked builds the index from the queue's pollers live at now.
func (q *queueManager) livePinsLocked(now int64) livePins {
	idx := livePins{}
	for _, w := range q.pollers {
		if !q.livePollerLocked(w, now) {
			continue
		}
		for _, c := range w.caps {
			if !isPinning(c.name) {
				continue
			}
			idx[c] = append(idx[c], w)
			if c.value != "" {
				idx[capability{c.name, ""}] = append(idx[capability{c.name, ""}], w)
			}
		}
	}
	return idx
}

// anyMeets reports whether a live worker meets every one of pins (pinning requirements,
// at least one).
func (idx livePins) anyMeets(pins []capability) bool {
	for _, w := range idx[pins[0]] {
		if w.caps.meetsAll(pins[1:]) {
			return true
		}
	}
	return false
}

func isPinning(name string) bool {
	for _, n := range pinningNames {
		if name == n {
			return true
		}
	}
	return false
}
