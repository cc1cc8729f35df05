package client

import (
	"context"
	"fmt"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// checkUTF8 is a unary client interceptor that refuses a request holding a string field
// that is not valid UTF-8 with InvalidArgument naming the field ("task.headers[k]").
// protobuf cannot marshal such a string, and gRPC would report it as an Internal
// marshaling error with no field named.
func checkUTF8(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if m, ok := req.(proto.Message); ok {
		if field := invalidUTF8Field(m.ProtoReflect(), ""); field != "" {
			return invalid(field, "must be valid UTF-8")
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
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
