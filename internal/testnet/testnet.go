// Package testnet gives tests the loopback endpoints a conformance run
// must cope with: a black hole, which accepts every connection and never
// reads from it or answers, an address where nothing listens, and a
// listener that hands each connection to the test, to answer as no HTTP
// server would.
package testnet

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// BlackHole starts a black hole on 127.0.0.1 and returns its address. The
// listener and every connection it accepted are closed when the test ends.
func BlackHole(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	var (
		mu   sync.Mutex
		held []net.Conn
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // accepted, never read, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// ClosedAddr returns a loopback address where nothing listens: a port that
// was free a moment ago, so that connecting to it is refused.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Serve starts a listener on 127.0.0.1 that hands every connection it
// accepts to handle, each on a goroutine of its own, and returns its
// address. When the test ends, the listener and every connection are
// closed and Serve waits for the handlers to return: a handler that
// blocks must block on its connection.
func Serve(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	var (
		mu       sync.Mutex
		conns    []net.Conn
		handlers sync.WaitGroup
		done     = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		handlers.Wait()
	})
	return ln.Addr().String()
}

// CountingListener is a listener that counts the connections it accepted.
type CountingListener struct {
	net.Listener
	accepted atomic.Int64
}

// Accept accepts the next connection and counts it.
func (l *CountingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// Accepted is the number of connections accepted so far.
func (l *CountingListener) Accepted() int64 { return l.accepted.Load() }
