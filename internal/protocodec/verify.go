package protocodec

import (
	"fmt"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The generated decoder differs from protobuf-go in ways that matter to a server facing
// any peer: it does not check that proto3 strings are valid UTF-8, and it reads map
// entries leniently (a key or value of another wire type, or running past its entry).
// verify walks the wire bytes with a plan per message type built once from its descriptor
// and says whether protobuf-go would read them the same way (the generated code also drops
// unknown fields of well-known types such as Duration, which protobuf-go keeps); the codec lets protobuf-go
// decide whenever it might not. The walk skips scalars without reflection or allocation.

// maxDepth bounds the nesting followed, as protobuf bounds decoding.
const maxDepth = 100

// verdict is the outcome of verify.
type verdict struct {
	badUTF8 protoreflect.FullName // the first string field that is not valid UTF-8
	regular bool                  // false: malformed, or read by protobuf-go differently
}

func (v verdict) ok() bool { return v.regular && v.badUTF8 == "" }

func (v verdict) err() error {
	if v.badUTF8 != "" {
		return fmt.Errorf("proto: field %s contains invalid UTF-8", v.badUTF8)
	}
	return fmt.Errorf("proto: cannot parse invalid wire-format data")
}

// verify walks b, the wire bytes of a message of type md.
func verify(b []byte, md protoreflect.MessageDescriptor) verdict {
	return planOf(md).verify(b, 0)
}

// plan says how to read one message type's fields by number.
type plan struct {
	fields []rule // indexed by field number
	large  map[protowire.Number]*rule
	// unknown is the rule of the field numbers the type does not have: accepted, except
	// in a type whose generated code cannot keep unknown fields (a well-known type,
	// decoded by vtprotobuf's own helpers).
	unknown rule
}

// largeNumber is where field numbers go to the map instead of the slice.
const largeNumber = 1024

type rule struct {
	// accepts has bit 1<<t set for each wire type t that both decoders read alike: the
	// field's own (and length-delimited for a packable repeated scalar). protobuf-go keeps
	// a known field of another wire type as an unknown field; the generated code fails.
	// An unknown field is accepted with any wire type, except in a type that drops them.
	accepts uint8
	isUTF8  bool // a string field whose file requires UTF-8 (proto3 and editions)
	name    protoreflect.FullName
	message *plan // a message or map-entry field
}

func (p *plan) rule(num protowire.Number) *rule {
	if int(num) < len(p.fields) {
		return &p.fields[num]
	}
	if r, ok := p.large[num]; ok {
		return r
	}
	return &p.unknown
}

var plans sync.Map // protoreflect.FullName -> *plan

func planOf(md protoreflect.MessageDescriptor) *plan {
	if p, ok := plans.Load(md.FullName()); ok {
		return p.(*plan)
	}
	p := buildPlan(md, map[protoreflect.FullName]*plan{})
	actual, _ := plans.LoadOrStore(md.FullName(), p)
	return actual.(*plan)
}

// buildPlan builds the plan of md; building holds the plans under construction, so a
// recursive type refers to its own plan.
func buildPlan(md protoreflect.MessageDescriptor, building map[protoreflect.FullName]*plan) *plan {
	if p, ok := building[md.FullName()]; ok {
		return p
	}
	p := &plan{large: map[protowire.Number]*rule{}, unknown: rule{accepts: anyWireType}}
	if md.ParentFile().Package() == "google.protobuf" {
		p.unknown.accepts = 0
	}
	building[md.FullName()] = p
	fields := md.Fields()
	maxSmall := protowire.Number(0)
	for i := range fields.Len() {
		if n := fields.Get(i).Number(); n < largeNumber {
			maxSmall = max(maxSmall, n)
		}
	}
	p.fields = make([]rule, maxSmall+1)
	for n := range p.fields {
		p.fields[n] = p.unknown
	}
	for i := range fields.Len() {
		fd := fields.Get(i)
		r := ruleFor(fd, building)
		if fd.Number() < largeNumber {
			p.fields[fd.Number()] = r
		} else {
			p.large[fd.Number()] = &r
		}
	}
	return p
}

// anyWireType accepts the wire types that exist (0..5).
const anyWireType = 1<<protowire.VarintType | 1<<protowire.Fixed64Type | 1<<protowire.BytesType |
	1<<protowire.StartGroupType | 1<<protowire.EndGroupType | 1<<protowire.Fixed32Type

func ruleFor(fd protoreflect.FieldDescriptor, building map[protoreflect.FullName]*plan) rule {
	wireType := wireTypeOf(fd.Kind())
	r := rule{name: fd.FullName(), accepts: 1 << wireType}
	switch fd.Kind() {
	case protoreflect.StringKind:
		r.isUTF8 = fd.ParentFile().Syntax() != protoreflect.Proto2
	case protoreflect.MessageKind:
		r.message = buildPlan(fd.Message(), building)
	}
	if fd.IsList() && wireType != protowire.BytesType && wireType != protowire.StartGroupType {
		r.accepts |= 1 << protowire.BytesType // packed
	}
	return r
}

func wireTypeOf(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return protowire.BytesType
	case protoreflect.GroupKind:
		return protowire.StartGroupType
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	}
	return protowire.VarintType
}

func (p *plan) verify(b []byte, depth int) verdict {
	if depth > maxDepth {
		return verdict{}
	}
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return verdict{}
		}
		b = b[n:]
		r := p.rule(num)
		if r.accepts&(1<<typ) == 0 {
			return verdict{} // see accepts
		}
		if typ != protowire.BytesType {
			if n = consumeValue(num, typ, b); n < 0 {
				return verdict{}
			}
			b = b[n:]
			continue
		}
		length, n := consumeVarint(b)
		if n < 0 || length > uint64(len(b)-n) {
			return verdict{}
		}
		v := b[n : n+int(length)]
		b = b[n+int(length):]
		if out := r.verifyValue(v, depth); !out.ok() {
			return out
		}
	}
	return verdict{regular: true}
}

// consumeTag reads a tag, refusing what protobuf-go refuses (number 0 or above the
// maximum) and a padded tag (protobuf-go keeps an unknown field's tag re-encoded, the
// generated code as sent). Most tags are one byte.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	if b[0] < 0x80 {
		if b[0] < 8 {
			return 0, 0, -1
		}
		return protowire.Number(b[0] >> 3), protowire.Type(b[0] & 7), 1
	}
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num > protowire.MaxValidNumber || n != protowire.SizeTag(num) {
		return 0, 0, -1
	}
	return num, typ, n
}

func consumeVarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return protowire.ConsumeVarint(b)
}

// consumeValue skips the value of a field that is not length-delimited.
func consumeValue(num protowire.Number, typ protowire.Type, b []byte) int {
	switch typ {
	case protowire.VarintType:
		_, n := consumeVarint(b)
		return n
	case protowire.Fixed32Type:
		return fixedLength(b, 4)
	case protowire.Fixed64Type:
		return fixedLength(b, 8)
	}
	return protowire.ConsumeFieldValue(num, typ, b)
}

func fixedLength(b []byte, size int) int {
	if len(b) < size {
		return -1
	}
	return size
}

func (r *rule) verifyValue(v []byte, depth int) verdict {
	switch {
	case r.isUTF8 && !utf8.Valid(v):
		return verdict{badUTF8: r.name, regular: true}
	case r.message != nil:
		return r.message.verify(v, depth+1)
	}
	return verdict{regular: true}
}
