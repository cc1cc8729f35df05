package server

import (
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxWireDepth bounds the nesting invalidUTF8Path follows, as protobuf bounds decoding.
const maxWireDepth = 100

// invalidUTF8Path walks the wire bytes b of a message of type md and returns the path of
// the first string field that is not valid UTF-8 ("tasks[1].headers[k]", "task.task_type"),
// or "" when there is none or b is malformed before one is found. It reads the raw bytes
// because protobuf refuses to decode such a message at all, and says only which type's
// field was bad, not where in the request it was.
func invalidUTF8Path(b []byte, md protoreflect.MessageDescriptor) string {
	return invalidUTF8InMessage(b, md, "", 0)
}

func invalidUTF8InMessage(b []byte, md protoreflect.MessageDescriptor, prefix string, depth int) string {
	if depth > maxWireDepth {
		return ""
	}
	seen := map[protowire.Number]int{} // occurrences so far: the index in a repeated field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return ""
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		fd := md.Fields().ByNumber(num)
		if fd == nil {
			continue
		}
		index := seen[num]
		seen[num]++
		if path := invalidUTF8InField(v, fd, prefix+string(fd.Name()), index, depth); path != "" {
			return path
		}
	}
	return ""
}

// invalidUTF8InField checks one length-delimited value v of field fd, the index-th
// occurrence of the field in its message.
func invalidUTF8InField(v []byte, fd protoreflect.FieldDescriptor, path string, index, depth int) string {
	switch {
	case fd.IsMap():
		return invalidUTF8InMapEntry(v, fd, path, depth)
	case fd.IsList():
		path = fmt.Sprintf("%s[%d]", path, index)
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		if !utf8.Valid(v) {
			return path
		}
	case protoreflect.MessageKind:
		return invalidUTF8InMessage(v, fd.Message(), path+".", depth+1)
	}
	return ""
}

// invalidUTF8InMapEntry checks a map entry (key = 1, value = 2), naming a bad value by its
// key ("headers[k]") and a bad key as "headers (a key)", as the client does.
func invalidUTF8InMapEntry(v []byte, fd protoreflect.FieldDescriptor, path string, depth int) string {
	keyField, valueField := fd.MapKey(), fd.MapValue()
	var key, value []byte
	for len(v) > 0 {
		num, typ, n := protowire.ConsumeTag(v)
		if n < 0 {
			return ""
		}
		v = v[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, v); n < 0 {
				return ""
			}
			v = v[n:]
			continue
		}
		b, n := protowire.ConsumeBytes(v)
		if n < 0 {
			return ""
		}
		v = v[n:]
		switch num {
		case keyField.Number():
			key = b
		case valueField.Number():
			value = b
		}
	}
	if keyField.Kind() == protoreflect.StringKind && !utf8.Valid(key) {
		return path + " (a key)"
	}
	entry := fmt.Sprintf("%s[%s]", path, key)
	switch valueField.Kind() {
	case protoreflect.StringKind:
		if !utf8.Valid(value) {
			return entry
		}
	case protoreflect.MessageKind:
		return invalidUTF8InMessage(value, valueField.Message(), entry+".", depth+1)
	}
	return ""
}
