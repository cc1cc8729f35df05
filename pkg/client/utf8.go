package client

import (
	"context"
	"fmt"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// checkUTF8 is a unary client interceptor that turns the refusal of a request holding a
// string field that is not valid UTF-8 into InvalidArgument naming the field
// ("task.headers[k]"). The connection's codec (protocodec) refuses to marshal such a
// string, which gRPC reports as an Internal marshaling error with no field named; only
// then is the request walked for the field, so a valid request (every add) is not
// checked twice. A request that could not be marshalled was never sent.
func checkUTF8(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if status.Code(err) != codes.Internal {
		return err
	}
	if m, ok := req.(proto.Message); ok {
		if field := invalidUTF8Path(m.ProtoReflect()); field != "" {
			return invalid(field, "must be valid UTF-8")
		}
	}
	return err
}

// invalidUTF8Path returns the path of the first string in m that is not valid UTF-8, or
// "". The check runs without building paths (a path per field cost 24 allocations per
// task of an AddTasks batch); only a message that fails it is walked again for the path.
func invalidUTF8Path(m protoreflect.Message) string {
	if validUTF8(m) {
		return ""
	}
	return invalidUTF8Field(m, "")
}

// validUTF8 reports whether every string in m, nested messages included, is valid UTF-8.
func validUTF8(m protoreflect.Message) bool {
	ok := true
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		ok = validUTF8Value(fd, v)
		return ok
	})
	return ok
}

func validUTF8Value(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	switch {
	case fd.IsList():
		l := v.List()
		for i := range l.Len() {
			if !validUTF8Scalar(fd, l.Get(i)) {
				return false
			}
		}
		return true
	case fd.IsMap():
		ok := true
		stringKeys := fd.MapKey().Kind() == protoreflect.StringKind
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			ok = (!stringKeys || utf8.ValidString(k.String())) && validUTF8Scalar(fd.MapValue(), mv)
			return ok
		})
		return ok
	}
	return validUTF8Scalar(fd, v)
}

func validUTF8Scalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return utf8.ValidString(v.String())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return validUTF8(v.Message())
	}
	return true
}

// invalidUTF8Field returns the path of the first string in m that is not valid UTF-8, or "".
func invalidUTF8Field(m protoreflect.Message, prefix string) string {
	var bad string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		bad = invalidUTF8Value(fd, v, prefix+string(fd.Name()))
		return bad == ""
	})
	return bad
}

func invalidUTF8Value(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) string {
	switch {
	case fd.IsList():
		l := v.List()
		for i := range l.Len() {
			if bad := invalidUTF8Scalar(fd, l.Get(i), fmt.Sprintf("%s[%d]", path, i)); bad != "" {
				return bad
			}
		}
	case fd.IsMap():
		var bad string
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			key := k.Value()
			if fd.MapKey().Kind() == protoreflect.StringKind && !utf8.ValidString(key.String()) {
				bad = path + " (a key)"
				return false
			}
			bad = invalidUTF8Scalar(fd.MapValue(), mv, fmt.Sprintf("%s[%s]", path, k.String()))
			return bad == ""
		})
		return bad
	default:
		return invalidUTF8Scalar(fd, v, path)
	}
	return ""
}

func invalidUTF8Scalar(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) string {
	switch fd.Kind() {
	case protoreflect.StringKind:
		if !utf8.ValidString(v.String()) {
			return path
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return invalidUTF8Field(v.Message(), path+".")
	}
	return ""
}
