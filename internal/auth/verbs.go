package auth

import (
	esv1 "github.com/taskroute/taskroute/api/externalscaler/v1alpha1"
	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// Virtual resource that cross-namespace grants name in RBAC rules. Nothing stores it: it
// exists only for SubjectAccessReviews, like "pods/exec" style subresources.
const (
	QueueGroup    = "matching.taskroute.dev"
	QueueResource = "queues"
)

// Verbs a Role grants on queues.matching.taskroute.dev. A verb covers a family of RPCs, so
// a Role says what a foreign namespace may do ("add tasks to our queue") rather than
// listing RPC names.
const (
	VerbAdd    = "add"    // AddTask, AddTasks, CreateSession, CompleteSession
	VerbPoll   = "poll"   // PollTasks, WorkerStream, ShutdownWorker, liveness heartbeats and the lease operations of a worker
	VerbGet    = "get"    // GetTask, GetSession, DescribeQueue, GetQueueConfig; KEDA's external scaler (reads a backlog)
	VerbList   = "list"   // ListQueues, ListTasks
	VerbCancel = "cancel" // CancelTask
	// VerbUpdate changes a queue's configuration (SetQueueConfig, ResetQueueConfig): the
	// Kubernetes verb for writing an object, here the queue's settings.
	VerbUpdate = "update"
	VerbUse    = "use" // any method not listed below (new RPCs until they get a verb)
)

// methodVerbs maps full gRPC method names to the verb they need.
var methodVerbs = map[string]string{
	matchingv1.MatchingService_AddTask_FullMethodName:               VerbAdd,
	matchingv1.MatchingService_AddTasks_FullMethodName:              VerbAdd,
	matchingv1.MatchingService_PollTasks_FullMethodName:             VerbPoll,
	matchingv1.MatchingService_CompleteTask_FullMethodName:          VerbPoll,
	matchingv1.MatchingService_CompleteTasks_FullMethodName:         VerbPoll,
	matchingv1.MatchingService_FailTask_FullMethodName:              VerbPoll,
	matchingv1.MatchingService_HeartbeatTask_FullMethodName:         VerbPoll,
	matchingv1.MatchingService_ReportTaskCanceled_FullMethodName:    VerbPoll,
	matchingv1.MatchingService_ReleaseTask_FullMethodName:           VerbPoll,
	matchingv1.MatchingService_ShutdownWorker_FullMethodName:        VerbPoll,
	matchingv1.MatchingService_WorkerStream_FullMethodName:          VerbPoll,
	matchingv1.MatchingService_CancelTask_FullMethodName:            VerbCancel,
	matchingv1.MatchingService_GetTask_FullMethodName:               VerbGet,
	matchingv1.MatchingService_DescribeQueue_FullMethodName:         VerbGet,
	matchingv1.MatchingService_ListQueues_FullMethodName:            VerbList,
	matchingv1.MatchingService_RecordWorkerHeartbeat_FullMethodName: VerbPoll,
	matchingv1.MatchingService_GetQueueConfig_FullMethodName:        VerbGet,
	matchingv1.MatchingService_SetQueueConfig_FullMethodName:        VerbUpdate,
	matchingv1.MatchingService_ResetQueueConfig_FullMethodName:      VerbUpdate,
	matchingv1.MatchingService_ListTasks_FullMethodName:             VerbList,
	matchingv1.MatchingService_CreateSession_FullMethodName:         VerbAdd,
	matchingv1.MatchingService_CompleteSession_FullMethodName:       VerbAdd,
	matchingv1.MatchingService_GetSession_FullMethodName:            VerbGet,
	// KEDA's external scaler reads a queue's backlog; its queue is in the trigger
	// metadata, so a grant covers the namespace's queues (no resourceNames).
	esv1.ExternalScaler_IsActive_FullMethodName:       VerbGet,
	esv1.ExternalScaler_StreamIsActive_FullMethodName: VerbGet,
	esv1.ExternalScaler_GetMetricSpec_FullMethodName:  VerbGet,
	esv1.ExternalScaler_GetMetrics_FullMethodName:     VerbGet,
}

// VerbFor returns the verb a method needs on queues of a foreign namespace.
func VerbFor(fullMethod string) string {
	if v, ok := methodVerbs[fullMethod]; ok {
		return v
	}
	return VerbUse
}
