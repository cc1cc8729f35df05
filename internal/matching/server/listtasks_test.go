package server_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching"
	"github.com/taskroute/taskroute/internal/matching/testserver"
)

// listAll follows ListTasks pages to the end and returns the task ids and the pages taken.
func listAll(t *testing.T, c matchingv1.MatchingServiceClient, req *matchingv1.ListTasksRequest) (ids []string, states []matchingv1.TaskState, pages int) {
	t.Helper()
	for token := ""; ; pages++ {
		req.PageToken = token
		resp, err := c.ListTasks(ctxT(t, 10*time.Second), req)
		if err != nil {
			t.Fatalf("list page %d: %v", pages, err)
		}
		for _, info := range resp.Tasks {
			if info.Queue != req.Queue || len(info.Payload)+len(info.Result) > 0 {
				t.Fatalf("listed %v", info)
			}
			ids, states = append(ids, info.TaskId), append(states, info.State)
		}
		if token = resp.NextPageToken; token == "" {
			return ids, states, pages + 1
		}
		if pages > 100 {
			t.Fatal("listing does not end")
		}
	}
}

// TestListTasksOverGRPC lists a queue's tasks among another queue's in the same namespace:
// id order, current states (a polled task is Started before its record says so), the
// state filter, pages of page_size, and GetTask returning the payload.
func TestListTasksOverGRPC(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	ctx := ctxT(t, 20*time.Second)
	var tasks []*matchingv1.TaskSpec
	for i := range 7 {
		tasks = append(tasks, spec(fmt.Sprintf("t%d", i)), &matchingv1.TaskSpec{Namespace: "default", Queue: "other", TaskId: fmt.Sprintf("t%da", i), TaskType: "echo"})
	}
	if _, err := c.AddTasks(ctx, &matchingv1.AddTasksRequest{Tasks: tasks}); err != nil {
		t.Fatal(err)
	}
	started := poll(t, c, "q1", 1, 5*time.Second)
	if len(started) != 1 || started[0].TaskId != "t0" {
		t.Fatalf("polled %v", started)
	}

	ids, states, pages := listAll(t, c, &matchingv1.ListTasksRequest{Namespace: "default", Queue: "q1", PageSize: 3})
	if fmt.Sprint(ids) != "[t0 t1 t2 t3 t4 t5 t6]" || pages != 3 {
		t.Fatalf("listed %v in %d pages, want t0..t6 in 3", ids, pages)
	}
	if states[0] != matchingv1.TaskState_TASK_STATE_STARTED || states[1] != matchingv1.TaskState_TASK_STATE_SCHEDULED {
		t.Fatalf("states %v", states)
	}
	ids, _, _ = listAll(t, c, &matchingv1.ListTasksRequest{Namespace: "default", Queue: "q1", State: matchingv1.TaskState_TASK_STATE_STARTED})
	if fmt.Sprint(ids) != "[t0]" {
		t.Fatalf("started tasks: %v", ids)
	}

	got, err := c.GetTask(ctx, &matchingv1.GetTaskRequest{Namespace: "default", TaskId: "t3"})
	if err != nil || string(got.Task.Payload) != "p-t3" {
		t.Fatalf("GetTask payload: %v %v", got, err)
	}
}

// TestListTasksPageIsBoundedByTheScanLimit: with more than a page's scan limit of other
// tasks before a queue's only task, a page ends early (with none) and the next finds it.
func TestListTasksPageIsBoundedByTheScanLimit(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	ctx := ctxT(t, 60*time.Second)
	for b := 0; b*1000 < matching.ListTasksScanLimit+1; b++ {
		var tasks []*matchingv1.TaskSpec
		for i := range 1000 {
			tasks = append(tasks, &matchingv1.TaskSpec{Namespace: "default", Queue: "bulk", TaskId: fmt.Sprintf("a%06d", b*1000+i), TaskType: "echo"})
		}
		if _, err := c.AddTasks(ctx, &matchingv1.AddTasksRequest{Tasks: tasks}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: spec("z-last")}); err != nil {
		t.Fatal(err)
	}
	first, err := c.ListTasks(ctx, &matchingv1.ListTasksRequest{Namespace: "default", Queue: "q1"})
	if err != nil || len(first.Tasks) != 0 || first.NextPageToken == "" {
		t.Fatalf("first page: %d tasks, token %q, %v; want none and a token", len(first.Tasks), first.GetNextPageToken(), err)
	}
	ids, _, _ := listAll(t, c, &matchingv1.ListTasksRequest{Namespace: "default", Queue: "q1"})
	if fmt.Sprint(ids) != "[z-last]" {
		t.Fatalf("listed %v", ids)
	}
}

// TestListTasksPageIsBoundedByBytesRead: records with big payloads end a page after
// ListTasksScanBytes read, before the record limit.
func TestListTasksPageIsBoundedByBytesRead(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	ctx := ctxT(t, 60*time.Second)
	payload := make([]byte, 1<<20-1024)
	const batch = 8
	for b := 0; b*batch*len(payload) < matching.ListTasksScanBytes; b++ {
		var tasks []*matchingv1.TaskSpec
		for i := range batch {
			tasks = append(tasks, &matchingv1.TaskSpec{Namespace: "default", Queue: "bulk", TaskId: fmt.Sprintf("a%03d", b*batch+i), TaskType: "echo", Payload: payload})
		}
		if _, err := c.AddTasks(ctx, &matchingv1.AddTasksRequest{Tasks: tasks}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: spec("z-last")}); err != nil {
		t.Fatal(err)
	}
	first, err := c.ListTasks(ctx, &matchingv1.ListTasksRequest{Namespace: "default", Queue: "q1"})
	if err != nil || len(first.Tasks) != 0 || first.NextPageToken == "" {
		t.Fatalf("first page: %d tasks, token %q, %v; want none and a token", len(first.Tasks), first.GetNextPageToken(), err)
	}
	ids, _, _ := listAll(t, c, &matchingv1.ListTasksRequest{Namespace: "default", Queue: "q1"})
	if fmt.Sprint(ids) != "[z-last]" {
		t.Fatalf("listed %v", ids)
	}
}

func TestListTasksValidation(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	for _, tc := range []struct {
		req  *matchingv1.ListTasksRequest
		want string
	}{
		{&matchingv1.ListTasksRequest{Namespace: "default"}, "queue: must be 1..253 characters, got 0"},
		{&matchingv1.ListTasksRequest{Namespace: "default", Queue: "q", PageSize: 1001}, "page_size: must be 0 (100) or 1..1000, got 1001"},
		{&matchingv1.ListTasksRequest{Namespace: "default", Queue: "q", State: 99}, "state: unknown state 99"},
		{&matchingv1.ListTasksRequest{Namespace: "default", Queue: "q", PageToken: "not a token!"}, "page_token: must be a next_page_token of ListTasks"},
	} {
		_, err := c.ListTasks(ctxT(t, 5*time.Second), tc.req)
		if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != tc.want {
			t.Errorf("%v: got %v, want InvalidArgument %q", tc.req, err, tc.want)
		}
	}
}
