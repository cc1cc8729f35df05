package client_test

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http2"
)

// frameCounts are the HTTP/2 control frames one direction of a connection carried.
type frameCounts struct {
	pings         atomic.Int64 // PING frames that are not acks: BDP probes or keepalives
	windowUpdates atomic.Int64
	dataBytes     atomic.Int64 // DATA frame payload
}

// h2Proxy forwards loopback TCP connections to a gRPC server byte for byte and counts the
// HTTP/2 frames of both directions, so a test sees what flow control puts on the wire.
type h2Proxy struct {
	toServer, toClient frameCounts
	lis                net.Listener
	wg                 sync.WaitGroup
}

// startH2Proxy listens on 127.0.0.1 and forwards every connection to target; it stops
// (closing its connections) when the test ends.
func startH2Proxy(t *testing.T, target string) *h2Proxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &h2Proxy{lis: lis}
	var mu sync.Mutex
	var conns []net.Conn
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			down, err := lis.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = down.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, down, up)
			mu.Unlock()
			p.wg.Add(2)
			go p.pipe(up, down, &p.toServer, len(http2.ClientPreface))
			go p.pipe(down, up, &p.toClient, 0)
		}
	}()
	t.Cleanup(func() {
		_ = lis.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *h2Proxy) addr() string { return p.lis.Addr().String() }

// received is the DATA the sender of counts read from the other direction: what its
// WINDOW_UPDATE frames acknowledge.
func (p *h2Proxy) received(counts *frameCounts) int64 {
	if counts == &p.toClient {
		return p.toServer.dataBytes.Load()
	}
	return p.toClient.dataBytes.Load()
}

// pipe copies src to dst frame by frame after a preface of prefaceLen bytes (the client's
// 24-byte connection preface is not a frame), counting the frames it forwards.
func (p *h2Proxy) pipe(dst, src net.Conn, counts *frameCounts, prefaceLen int) {
	defer p.wg.Done()
	defer func() { _ = dst.Close() }()
	if _, err := io.CopyN(dst, src, int64(prefaceLen)); err != nil {
		return
	}
	for {
		hdr, err := http2.ReadFrameHeader(src)
		if err != nil {
			return
		}
		counts.count(hdr)
		if _, err := dst.Write(frameHeaderBytes(hdr)); err != nil {
			return
		}
		if _, err := io.CopyN(dst, src, int64(hdr.Length)); err != nil {
			return
		}
	}
}

func (c *frameCounts) count(hdr http2.FrameHeader) {
	switch hdr.Type {
	case http2.FramePing:
		if !hdr.Flags.Has(http2.FlagPingAck) {
			c.pings.Add(1)
		}
	case http2.FrameWindowUpdate:
		c.windowUpdates.Add(1)
	case http2.FrameData:
		c.dataBytes.Add(int64(hdr.Length))
	}
}

// frameHeaderBytes encodes a frame header again (RFC 9113 section 4.1).
func frameHeaderBytes(h http2.FrameHeader) []byte {
	return []byte{
		byte(h.Length >> 16), byte(h.Length >> 8), byte(h.Length),
		byte(h.Type), byte(h.Flags),
		byte(h.StreamID >> 24), byte(h.StreamID >> 16), byte(h.StreamID >> 8), byte(h.StreamID),
	}
}
