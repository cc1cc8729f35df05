package server

import "google.golang.org/grpc"

// rejectUndecodableStream makes each message received on a stream (KEDA's StreamIsActive
// request, among others) answer with the error the codec recorded for it, so that a
// streaming call refuses an undecodable request as a unary one does (decode.go).
func rejectUndecodableStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, decodedStream{ss})
}

// decodedStream is a server stream whose RecvMsg fails with the recorded decoding error.
// Installed first, it wraps the transport's stream directly, so the streams that later
// interceptors wrap around it (the auth guard authorizes each message) never see an
// undecodable message.
type decodedStream struct{ grpc.ServerStream }

func (s decodedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if err, found := undecodable.LoadAndDelete(m); found {
		return err.(error)
	}
	return nil
}
