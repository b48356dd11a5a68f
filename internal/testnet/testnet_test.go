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
