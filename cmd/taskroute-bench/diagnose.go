package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/taskroute/taskroute/pkg/client"
)

// taskNumber is the numeric suffix of a benchmark task id ("b-123" -> 123).
func taskNumber(id string) (int, bool) {
	i := strings.LastIndexByte(id, '-')
	n, err := strconv.Atoi(id[i+1:])
	return n, err == nil && n >= 0
}

// missingTasks asks the service about tasks that never ran (up to 2000 of them): how many
// are in each state and a few examples. Scheduled ones are stranded in the backlog;
// Started ones were handed to a poll whose answer never reached a worker.
func missingTasks(c *client.Client, ran []atomic.Bool, prefix string) string {
	states := map[string]int{}
	var examples []string
	missing, asked := 0, 0
	for n := range ran {
		if ran[n].Load() {
			continue
		}
		missing++
		if asked >= 2000 {
			continue
		}
		asked++
		id := prefix + strconv.Itoa(n)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		info, err := c.GetTask(ctx, id)
		cancel()
		if err != nil {
			states["error: "+err.Error()]++
			continue
		}
		states[string(info.State)]++
		if len(examples) < 5 {
			examples = append(examples, fmt.Sprintf("%s %s attempt %d started %v", id, info.State, info.Attempt, info.StartedTime))
		}
	}
	return fmt.Sprintf("%d never ran; of %d asked, by state %v; e.g. %v", missing, asked, states, examples)
}

// countingLogger is a worker logger (including V(1), where failed polls are logged) that
// counts messages and keeps the last few, so a stalled run shows what the workers saw.
func countingLogger() (logr.Logger, func() string) {
	var mu sync.Mutex
	counts := map[string]int{}
	var last []string
	l := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		msg := args
		if i := strings.Index(args, `"msg"=`); i >= 0 {
			msg = args[i:]
			if j := strings.Index(msg[6:], `"`); j >= 0 {
				if k := strings.Index(msg[7+j:], `"`); k >= 0 {
					msg = msg[:8+j+k]
				}
			}
		}
		counts[msg]++
		if len(last) < 10 {
			last = append(last, args)
		} else {
			copy(last, last[1:])
			last[len(last)-1] = args
		}
	}, funcr.Options{Verbosity: 1})
	return l, func() string {
		mu.Lock()
		defer mu.Unlock()
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%dx %s; ", counts[k], k)
		}
		fmt.Fprintf(&b, "last: %v", last)
		return b.String()
	}
}
