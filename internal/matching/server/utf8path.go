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
	path := ""
	eachBytesField(b, func(num protowire.Number, v []byte) bool {
		fd := md.Fields().ByNumber(num)
		if fd == nil {
			return true
		}
		index := seen[num]
		seen[num]++
		path = invalidUTF8InField(v, fd, prefix+string(fd.Name()), index, depth)
		return path == ""
	})
	return path
}

// eachBytesField calls fn with the number and value of each length-delimited field of the
// message wire bytes b, skipping the others, until fn returns false or b ends; it reports
// false when b turns out malformed first.
func eachBytesField(b []byte, fn func(num protowire.Number, v []byte) bool) (wellFormed bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return false
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if !fn(num, v) {
			return true
		}
	}
	return true
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
	if !eachBytesField(v, func(num protowire.Number, b []byte) bool {
		switch num {
		case keyField.Number():
			key = b
		case valueField.Number():
			value = b
		}
		return true
	}) {
		return ""
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
