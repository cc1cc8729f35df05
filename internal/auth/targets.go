package auth

import (
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxTargets bounds the distinct (namespace, queue) pairs one request may name, so a batch
// cannot turn into thousands of SubjectAccessReviews.
const maxTargets = 64

// Target is one namespace (and queue, when the request names one) a request touches.
type Target struct {
	Namespace string
	Queue     string // empty for requests about tasks or a whole namespace
}

// requestTargets finds every namespace a request names, generically: the top-level string
// field "namespace" and the "namespace" of message fields and of each element of repeated
// message fields one level down (AddTaskRequest.task, AddTasksRequest.tasks[i],
// CompleteTasksRequest.completions[i]). A sibling string field "queue" becomes the
// target's queue. namespaced is false when the message type has no namespace field at
// either level: such a method cannot be authorized by namespace and is refused.
// An empty namespace is an InvalidArgument naming the field.
func requestTargets(msg proto.Message) (targets []Target, namespaced bool, err error) {
	seen := map[Target]bool{}
	add := func(m protoreflect.Message, path string) error {
		nsField := stringField(m.Descriptor(), "namespace")
		if nsField == nil {
			return nil
		}
		namespaced = true
		ns := m.Get(nsField).String()
		if ns == "" {
			return status.Errorf(codes.InvalidArgument, "%snamespace: required", path)
		}
		t := Target{Namespace: ns}
		if qf := stringField(m.Descriptor(), "queue"); qf != nil {
			t.Queue = m.Get(qf).String()
		}
		if !seen[t] {
			if len(seen) == maxTargets {
				return status.Errorf(codes.InvalidArgument, "request names more than %d distinct namespace/queue pairs", maxTargets)
			}
			seen[t] = true
			targets = append(targets, t)
		}
		return nil
	}
	root := msg.ProtoReflect()
	if err := add(root, ""); err != nil {
		return nil, false, err
	}
	fields := root.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.Kind() != protoreflect.MessageKind || fd.IsMap() {
			continue
		}
		if stringField(fd.Message(), "namespace") != nil {
			namespaced = true // even when the field is unset or the list is empty
		}
		if fd.IsList() {
			list := root.Get(fd).List()
			for j := 0; j < list.Len(); j++ {
				if err := add(list.Get(j).Message(), fmt.Sprintf("%s[%d].", fd.Name(), j)); err != nil {
					return nil, false, err
				}
			}
			continue
		}
		if root.Has(fd) {
			if err := add(root.Get(fd).Message(), string(fd.Name())+"."); err != nil {
				return nil, false, err
			}
		}
	}
	return targets, namespaced, nil
}

func stringField(md protoreflect.MessageDescriptor, name protoreflect.Name) protoreflect.FieldDescriptor {
	fd := md.Fields().ByName(name)
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() || fd.IsMap() {
		return nil
	}
	return fd
}
