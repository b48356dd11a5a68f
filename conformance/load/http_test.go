package load

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestHTTPTarget(t *testing.T) {
	var gotBody, gotHeader, gotMethod atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody.Store(string(b))
		gotHeader.Store(r.Header.Get("X-Key"))
		gotMethod.Store(r.Method)
		w.Header().Set("X-Echo", r.Header.Get("X-Key"))
		fmt.Fprint(w, `{"ok":true}`)
	})
	mux.HandleFunc("/busy", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", http.StatusServiceUnavailable) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write(bytes.Repeat([]byte("x"), 4096)) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	closed := httptest.NewServer(mux)
	closedURL := closed.URL
	closed.Close()

	wantOK := func(q Query, r Response) error {
		if r.Status != 200 || string(r.Body) != `{"ok":true}` || r.HeaderValue("X-Echo") != "k1" {
			return fmt.Errorf("status %d body %q X-Echo %q", r.Status, r.Body, r.HeaderValue("X-Echo"))
		}
		return nil
	}
	tests := []struct {
		name string
		c    HTTPConfig
		want string // ErrorKind of the outcome; empty for success
	}{
		{"ok", HTTPConfig{URL: srv.URL + "/ok"}, ""},
		{"body and header", HTTPConfig{URL: srv.URL + "/ok", Header: http.Header{"X-Key": {"k1"}},
			Body: func(q Query) []byte { return []byte(fmt.Sprint("query ", q.Seq)) }, Check: wantOK}, ""},
		{"status", HTTPConfig{URL: srv.URL + "/busy"}, "status 503"},
		{"check fails", HTTPConfig{URL: srv.URL + "/big", Check: wantOK}, KindInvalid},
		{"check keeps its kind", HTTPConfig{URL: srv.URL + "/ok", Check: func(Query, Response) error {
			return &QueryError{Kind: KindStatus, Status: 299}
		}}, "status 299"},
		{"timeout", HTTPConfig{URL: srv.URL + "/slow", Timeout: 100 * time.Millisecond}, KindTimeout},
		{"oversize body", HTTPConfig{URL: srv.URL + "/big", MaxBodyBytes: 1000}, KindInvalid},
		{"closed server", HTTPConfig{URL: closedURL + "/ok"}, KindTransport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, err := NewHTTPTarget(tt.c)
			if err != nil {
				t.Fatal(err)
			}
			defer target.Close()
			err = target.Hit(context.Background(), Query{Seq: 7})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Hit = %v, want success", err)
			case tt.want != "" && (err == nil || ErrorKind(err) != tt.want):
				t.Fatalf("Hit = %v (kind %q), want kind %q", err, ErrorKind(err), tt.want)
			}
			if tt.c.Body != nil {
				if gotBody.Load() != "query 7" || gotHeader.Load() != "k1" || gotMethod.Load() != http.MethodPost {
					t.Errorf("server saw %v %q with X-Key %q", gotMethod.Load(), gotBody.Load(), gotHeader.Load())
				}
			}
		})
	}

	// A context deadline earlier than the target's timeout bounds the query.
	target, _ := NewHTTPTarget(HTTPConfig{URL: srv.URL + "/slow"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := target.Hit(ctx, Query{}); ErrorKind(err) != KindTimeout {
		t.Errorf("Hit past the context's deadline = %v, want a timeout", err)
	}
}

func TestNewHTTPTargetInvalid(t *testing.T) {
	for _, c := range []HTTPConfig{
		{URL: "localhost:80/x"},
		{URL: "ftp://host/x"},
		{URL: "http://host/x", MaxConnections: -1},
		{URL: "http://host/x", MaxBodyBytes: -1},
		{URL: "http://host/x", Timeout: -1},
		{URL: "http://[::1"},
	} {
		if _, err := NewHTTPTarget(c); err == nil || !strings.HasPrefix(err.Error(), "http target:") {
			t.Errorf("NewHTTPTarget(%+v) = %v, want an error", c, err)
		}
	}
}

func TestHTTPRun(t *testing.T) {
	var open, peak atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		fmt.Fprint(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			n := open.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	defer srv.Close()
	target, err := NewHTTPTarget(HTTPConfig{URL: srv.URL, MaxConnections: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	r, err := Run(context.Background(), Plan{Rate: 1000, Duration: 200 * time.Millisecond, Warmup: 4}, target, Options{MaxConnections: 8})
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed != 0 || r.Sent < 100 {
		t.Errorf("sent %d, failed %d: %v", r.Sent, r.Failed, r.Errors)
	}
	if peak.Load() > 8 {
		t.Errorf("%d connections open at once, cap 8", peak.Load())
	}
	if p50, _ := r.Percentile(0.5); p50 < 2*time.Millisecond {
		t.Errorf("median %v below the handler's 2 ms", p50)
	}
}

func TestClassify(t *testing.T) {
	emfile := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}
	noPort := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EADDRNOTAVAIL)}
	tests := []struct {
		name      string
		err       error
		kind      string
		exhausted string
	}{
		{"body too large", fasthttp.ErrBodyTooLarge, KindInvalid, ""},
		{"timeout", fasthttp.ErrTimeout, KindTimeout, ""},
		{"dial timeout", fasthttp.ErrDialTimeout, KindTimeout, ""},
		{"no free connection in time", fasthttp.ErrNoFreeConns, KindTimeout, ""},
		{"closed", fasthttp.ErrConnectionClosed, KindTransport, ""},
		{"out of descriptors", emfile, KindTransport, "file descriptors"},
		{"out of ports", noPort, KindTransport, "ephemeral ports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify(tt.err, 100)
			if got := ErrorKind(err); got != tt.kind {
				t.Errorf("kind %q, want %q", got, tt.kind)
			}
			if got := exhaustion(err); got != tt.exhausted {
				t.Errorf("exhaustion %q, want %q", got, tt.exhausted)
			}
		})
	}
}
