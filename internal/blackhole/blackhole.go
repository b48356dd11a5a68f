// Package blackhole starts, for tests, a TCP listener on loopback that
// accepts every connection and never reads from it or answers: the
// misbehaving endpoint that a conformance run must still end against.
package blackhole

import (
	"net"
	"sync"
	"testing"
)

// Listen starts a black hole on 127.0.0.1 and returns its address. The
// listener and every connection it accepted are closed when the test ends.
func Listen(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("blackhole: %v", err)
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
