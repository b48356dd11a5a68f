package testnet

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestBlackHole: a connection is accepted, and nothing is ever answered.
func TestBlackHole(t *testing.T) {
	c, err := net.Dial("tcp", BlackHole(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var b [1]byte
	n, err := c.Read(b[:])
	if ne, ok := err.(net.Error); n != 0 || !ok || !ne.Timeout() {
		t.Errorf("read %d bytes, err %v; want a timeout with nothing read", n, err)
	}
}

// TestClosedAddr: connecting is refused.
func TestClosedAddr(t *testing.T) {
	if c, err := net.Dial("tcp", ClosedAddr(t)); err == nil {
		c.Close()
		t.Error("a connection to the closed address was accepted")
	}
}

// TestServe: each connection reaches the handler, and the handlers that
// still block on their connections end when the test does.
func TestServe(t *testing.T) {
	blocked := make(chan struct{})
	addr := Serve(t, func(c net.Conn) {
		c.Write([]byte("hello"))
		close(blocked)
		var b [1]byte
		c.Read(b[:]) // until the cleanup closes it
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, 5)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v; want hello", b, err)
	}
	<-blocked
}

func TestCountingListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &CountingListener{Listener: ln}
	defer cl.Close()
	for i := range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := cl.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got := cl.Accepted(); got != int64(i+1) {
			t.Fatalf("Accepted() = %d after %d connections", got, i+1)
		}
	}
	cl.Close()
	if _, err := cl.Accept(); err == nil {
		t.Fatal("Accept on a closed listener succeeded")
	}
	if got := cl.Accepted(); got != 2 {
		t.Errorf("Accepted() = %d after a failed Accept, want 2", got)
	}
}
