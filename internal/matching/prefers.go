package matching

import (
	"encoding/binary"
	"slices"
	"strconv"
	"strings"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// preference is a task's preferred (soft) capability: met as a requirement is, it adds
// its weight to the score of a poll whose worker meets it.
type preference struct {
	capability
	weight int32
}

// prefSep starts the preferences in a route key; like routeSep, it cannot occur in names
// or values. A task's route key, which names its backlog partition, is its requirements'
// key followed by prefSep and its preferences' key when it has preferences: tasks with the
// same requirements and different preferences wait in different partitions, so each
// partition's head tells whom the partition waits for.
const prefSep = "\x1e"

// withPreferences returns validated preferences sorted by name and the route key of a
// task with requirements key route and these preferences.
func withPreferences(route string, in []*matchingv1.PreferredCapability) ([]preference, string) {
	if len(in) == 0 {
		return nil, route
	}
	prefs := make([]preference, len(in))
	for i, p := range in {
		prefs[i] = preference{capability{p.GetCapability().GetName(), p.GetCapability().GetValue()}, p.GetWeight()}
	}
	slices.SortFunc(prefs, func(a, b preference) int { return strings.Compare(a.name, b.name) })
	return prefs, route + prefSep + preferencesKey(prefs)
}

// preferencesKey is the canonical text of sorted preferences: name=value:weight joined by
// routeSep.
func preferencesKey(prefs []preference) string {
	var b strings.Builder
	for i, p := range prefs {
		if i > 0 {
			b.WriteString(routeSep)
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(p.value)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(int(p.weight)))
	}
	return b.String()
}

// parsePreferences returns the preferences of a route key (nil for none).
func parsePreferences(route string) []preference {
	_, key, ok := strings.Cut(route, prefSep)
	if !ok || key == "" {
		return nil
	}
	parts := strings.Split(key, routeSep)
	prefs := make([]preference, len(parts))
	for i, p := range parts {
		nv, w, _ := strings.Cut(p, ":")
		prefs[i].name, prefs[i].value, _ = strings.Cut(nv, "=")
		n, _ := strconv.Atoi(w)
		prefs[i].weight = int32(n)
	}
	return prefs
}

// score is the total weight of the preferences a worker's capabilities meet.
func (s capabilitySet) score(prefs []preference) int32 {
	var sum int32
	for _, p := range prefs {
		if s.meets(p.capability) {
			sum += p.weight
		}
	}
	return sum
}

func preferencesProto(prefs []preference) []*matchingv1.PreferredCapability {
	if len(prefs) == 0 {
		return nil
	}
	out := make([]*matchingv1.PreferredCapability, len(prefs))
	for i, p := range prefs {
		out[i] = &matchingv1.PreferredCapability{Capability: &matchingv1.Capability{Name: p.name, Value: p.value}, Weight: p.weight}
	}
	return out
}

// appendPreferences appends the durable form of prefs to a task record.
func appendPreferences(dst []byte, prefs []preference) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(prefs)))
	for _, p := range prefs {
		dst = appendString(dst, p.name)
		dst = appendString(dst, p.value)
		dst = binary.AppendUvarint(dst, uint64(p.weight))
	}
	return dst
}

// decodePreferences reads what appendPreferences wrote.
func (d *decoder) preferences() []preference {
	n := d.uvarint()
	if n == 0 || n > 64 {
		return nil
	}
	prefs := make([]preference, n)
	for i := range prefs {
		prefs[i] = preference{capability{d.string(), d.string()}, int32(d.uvarint())}
	}
	return prefs
}
