package server

import "google.golang.org/grpc"

// flowControlWindow is the HTTP/2 stream and connection window of the service's gRPC server.
//
// Fixed windows turn off gRPC's bandwidth-delay-product estimation, which sends a PING on
// received data and waits for its ack, and with 64 KiB starting windows a WINDOW_UPDATE per
// 16 KiB consumed: syscalls and wake-ups on both ends for every few dozen tasks of a worker
// stream. 1 MiB carries adds and results with an update per 256 KiB, and bounds the memory
// each client can make the service buffer per stream and connection (estimation could grow
// windows to 16 MiB). Larger messages (a 4 MiB AddTasks; MaxRecvMsgSize still applies)
// flow as the server reads them, a window at a time.
const flowControlWindow = 1 << 20

// flowControlOptions go before Config.ServerOptions, so the manager can change the sizes.
func flowControlOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.StaticStreamWindowSize(flowControlWindow),
		grpc.StaticConnWindowSize(flowControlWindow),
	}
}
