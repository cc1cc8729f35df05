package client

import "google.golang.org/grpc"

// flowControlWindow is the HTTP/2 stream and connection window of Dial's connections.
//
// Fixed windows turn off gRPC's bandwidth-delay-product estimation, which sends a PING on
// received data and waits for its ack, and with 64 KiB starting windows a WINDOW_UPDATE per
// 16 KiB consumed: syscalls and wake-ups on both ends for every few dozen tasks. 1 MiB
// covers a stream of tasks and results with an update per 256 KiB, and bounds what the
// service can make this process buffer per connection (estimation could grow windows to 16
// MiB). A larger message (a 4 MiB AddTasks, a large result; the message size limits still
// apply) flows as the receiver reads it, a window at a time, which costs nothing over
// loopback and one round trip per MiB elsewhere.
const flowControlWindow = 1 << 20

// flowControlOptions go before the caller's dial options, so WithDialOptions can change
// the sizes (gRPC ignores windows below 64 KiB).
func flowControlOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithStaticStreamWindowSize(flowControlWindow),
		grpc.WithStaticConnWindowSize(flowControlWindow),
	}
}
