package cluster

import (
	"context"
	"io"
	"net"
	"sync"
)

// relay accepts connections on l and joins each to a new connection made by
// dial: it lets the bed's namespaces reach the API server on the host's
// loopback, and the host reach Services inside the bed.
type relay struct {
	l    net.Listener
	dial func(ctx context.Context) (net.Conn, error)
	wg   sync.WaitGroup
}

func startRelay(l net.Listener, dial func(ctx context.Context) (net.Conn, error)) *relay {
	r := &relay{l: l, dial: dial}
	r.wg.Add(1)
	go r.serve()
	return r
}

func (r *relay) serve() {
	defer r.wg.Done()
	for {
		in, err := r.l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			out, err := r.dial(context.Background())
			if err != nil {
				return
			}
			defer out.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(out, in); closeWrite(out); done <- struct{}{} }()
			go func() { _, _ = io.Copy(in, out); closeWrite(in); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// Addr is where the relay listens.
func (r *relay) Addr() string { return r.l.Addr().String() }

func (r *relay) Close() error {
	err := r.l.Close()
	r.wg.Wait()
	return err
}
