// Package protocodec is the gRPC codec of the matching protocol: it marshals the messages
// of api/matching/v1 with the methods protoc-gen-go-vtproto generates for them (MarshalVT,
// UnmarshalVT, SizeVT) instead of protobuf-go's reflection-driven tables, and hands every
// other message (health, reflection, KEDA's external scaler) to gRPC's proto codec. The
// bytes on the wire are the same protobuf bytes either way.
//
// It is installed per server (grpc.ForceServerCodecV2) and per client connection
// (grpc.ForceCodecV2), never with encoding.RegisterCodecV2: a library must not change the
// codec of its user's whole process.
package protocodec

import (
	"google.golang.org/grpc/encoding"
	encproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// vtMessage is a message with the generated reflection-free methods.
type vtMessage interface {
	proto.Message
	Reset()
	SizeVT() int
	MarshalToSizedBufferVT(dAtA []byte) (int, error)
	UnmarshalVT(dAtA []byte) error
}

// Codec is a grpc encoding.CodecV2 named "proto", like gRPC's own, so the content-subtype
// on the wire does not change.
type Codec struct{ fallback encoding.CodecV2 }

// New returns the codec; messages without generated methods go to gRPC's proto codec.
func New() Codec { return Codec{fallback: encoding.GetCodecV2(encproto.Name)} }

// Name is "proto".
func (Codec) Name() string { return encproto.Name }

// Marshal encodes v into one buffer, taken from gRPC's pool when it is large enough to be
// worth pooling (as gRPC's proto codec does); gRPC frees it after writing it.
func (c Codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(vtMessage)
	if !ok {
		return c.fallback.Marshal(v)
	}
	size := m.SizeVT()
	if mem.IsBelowBufferPoolingThreshold(size) {
		buf := make([]byte, size)
		if err := marshalInto(m, buf); err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	if err := marshalInto(m, (*buf)[:size]); err != nil {
		pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// marshalInto fills buf, exactly SizeVT bytes long, and refuses a string that is not valid
// UTF-8 as protobuf-go's Marshal does (the generated code does not check).
func marshalInto(m vtMessage, buf []byte) error {
	if _, err := m.MarshalToSizedBufferVT(buf); err != nil {
		return err
	}
	if v := verify(buf, m.ProtoReflect().Descriptor()); !v.ok() {
		return v.err()
	}
	return nil
}

// reusable is a message generated with the pool feature: ResetVT empties it but keeps its
// repeated sub-messages and bytes buffers, which the next UnmarshalVT fills again.
type reusable interface{ ResetVT() }

// Unmarshal decodes data into v, replacing what v held (as proto.Unmarshal does). The
// input buffer goes back to gRPC's pool afterwards, which is safe because UnmarshalVT
// copies every bytes and string field out of it (the generator's unmarshal_unsafe
// feature, which aliases the input, is not used). Input that the generated decoder
// refuses or that verify doubts (invalid UTF-8, irregular wire data: verify.go) is decoded
// again by protobuf-go, which has the last word, so a peer sees exactly the acceptance
// and errors it saw before; only well-formed input takes the fast path alone.
//
// A message with ResetVT (api/matching/v1/buf.gen.yaml names them) is emptied with it,
// so a caller that decodes into the same message again reuses its sub-messages instead
// of allocating new ones. Such a caller must take out of it what it keeps: the bytes
// fields of its sub-messages (Task.Payload, Task.HeartbeatDetails) are decoded into the
// buffers they held, and the sub-messages themselves are refilled.
func (c Codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(vtMessage)
	if !ok {
		return c.fallback.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	if r, ok := m.(reusable); ok {
		r.ResetVT()
	} else {
		m.Reset()
	}
	if err := m.UnmarshalVT(b); err != nil || !verify(b, m.ProtoReflect().Descriptor()).ok() {
		return proto.Unmarshal(b, m)
	}
	return nil
}
