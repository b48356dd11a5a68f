package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference"
)

func TestListenAndServeShutsDownOnCancel(t *testing.T) {
	h, _ := newTestServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() { errc <- ListenAndServe(ctx, "127.0.0.1:0", h, func(a net.Addr) { addrc <- a }) }()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatalf("ListenAndServe: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("ready was not called")
	}
	resp, err := http.Get("http://" + addr.String() + "/v2/health/ready")
	if err != nil {
		t.Fatalf("GET ready: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "{\"ready\":true}\n" {
		t.Fatalf("ready = %d %q", resp.StatusCode, b)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("ListenAndServe after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListenAndServe did not return after cancel")
	}
	if c, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		c.Close()
		t.Error("the port still accepts connections after shutdown")
	}
}

func TestListenAndServeBindError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	called := false
	err = ListenAndServe(context.Background(), ln.Addr().String(), http.NotFoundHandler(), func(net.Addr) { called = true })
	var le *ListenError
	if !errors.As(err, &le) || le.Addr != ln.Addr().String() {
		t.Fatalf("ListenAndServe on a taken port = %v, want a *ListenError for %s", err, ln.Addr())
	}
	if !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("error %q does not name the address", err)
	}
	if called {
		t.Error("ready was called though listening failed")
	}
}

func TestServeReturnsListenerErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // Accept fails at once
	err = Serve(context.Background(), ln, http.NotFoundHandler())
	if err == nil {
		t.Fatal("Serve on a closed listener returned nil")
	}
}

// gatedModel is a model whose every Forward announces itself on started
// and then waits for release to be closed before it computes.
type gatedModel struct {
	reference.Model
	started chan<- struct{}
	release <-chan struct{}
}

func (g gatedModel) Forward(in map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	g.started <- struct{}{}
	<-g.release
	return g.Model.Forward(in)
}

// TestServeShutdownUnderLoad keeps inferences in flight (held in their
// model by a WithModelWrapper gate), cancels the server's context, and
// checks that new connections are refused at once while the requests in
// flight are still running; then either lets them finish within the grace
// (each gets its 200, Serve returns nil before the grace is over) or holds
// them past it (they are cut off, Serve returns a *ShutdownError about
// when the grace ends).
func TestServeShutdownUnderLoad(t *testing.T) {
	const inFlight = 8
	tests := []struct {
		name  string
		grace time.Duration
		// releaseAfter is how long the held requests are held after the
		// refusal of new connections is seen (and, when cut, after the
		// server has given up on them).
		releaseAfter time.Duration
		cut          bool
	}{
		{name: "drained within the grace", grace: 5 * time.Second, releaseAfter: 200 * time.Millisecond},
		{name: "cut off past the grace", grace: 300 * time.Millisecond, releaseAfter: 100 * time.Millisecond, cut: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started := make(chan struct{}, inFlight)
			release := make(chan struct{})
			var once sync.Once
			letGo := func() { once.Do(func() { close(release) }) }
			defer letGo()
			srv, err := New([]reference.Model{echoSum("fp32", numerics.FP32)},
				WithMaxConcurrent(inFlight),
				WithModelWrapper(func(m reference.Model) reference.Model {
					return gatedModel{Model: m, started: started, release: release}
				}))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			addrc := make(chan net.Addr, 1)
			errc := make(chan error, 1)
			go func() {
				errc <- ListenAndServe(ctx, "127.0.0.1:0", srv.Handler(), func(a net.Addr) { addrc <- a }, WithShutdownGrace(tt.grace))
			}()
			var addr string
			select {
			case a := <-addrc:
				addr = a.String()
			case err := <-errc:
				t.Fatalf("ListenAndServe: %v", err)
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: inFlight}}
			defer client.CloseIdleConnections()
			type answer struct {
				status int
				body   string
				err    error
			}
			answers := make(chan answer, inFlight)
			for i := range inFlight {
				go func() {
					body := fmt.Sprintf(`{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[%d,1,1,1]}]}`, i)
					resp, err := client.Post("http://"+addr+"/v2/models/echo-sum/infer", "application/json", strings.NewReader(body))
					if err != nil {
						answers <- answer{err: err}
						return
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					answers <- answer{status: resp.StatusCode, body: string(b), err: err}
				}()
			}
			for range inFlight {
				select {
				case <-started:
				case <-time.After(10 * time.Second):
					t.Fatal("the inferences did not all reach the model")
				}
			}
			cancel()
			shutdownStart := time.Now()
			refused := false
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
				if err != nil {
					refused = true
					break
				}
				c.Close()
			}
			if !refused {
				t.Fatal("new connections are still accepted 2 s after the shutdown began")
			}
			select {
			case a := <-answers:
				t.Fatalf("a held request was answered before its release: %+v", a)
			default:
			}
			wait := func() (error, time.Duration) {
				select {
				case err := <-errc:
					return err, time.Since(shutdownStart)
				case <-time.After(tt.grace + 10*time.Second):
					t.Fatal("ListenAndServe did not return")
				}
				return nil, 0
			}
			var serveErr error
			var elapsed time.Duration
			if tt.cut {
				// The server gives up on the held requests while they
				// are still held.
				serveErr, elapsed = wait()
			}
			time.Sleep(tt.releaseAfter)
			letGo()
			for range inFlight {
				a := <-answers
				switch {
				case tt.cut && a.err == nil && a.status == http.StatusOK:
					t.Errorf("a request held past the grace was answered 200: %s", a.body)
				case !tt.cut && (a.err != nil || a.status != http.StatusOK || !strings.Contains(a.body, `"sum"`)):
					t.Errorf("a request in flight at the shutdown got %d %q (%v), want 200 with its outputs", a.status, a.body, a.err)
				}
			}
			if !tt.cut {
				serveErr, elapsed = wait()
			}
			var se *ShutdownError
			switch {
			case tt.cut && !errors.As(serveErr, &se):
				t.Errorf("ListenAndServe = %v, want a *ShutdownError", serveErr)
			case tt.cut && (elapsed < tt.grace || elapsed > tt.grace+time.Second):
				t.Errorf("the shutdown took %s, want about the grace of %s", elapsed, tt.grace)
			case !tt.cut && serveErr != nil:
				t.Errorf("ListenAndServe = %v, want nil", serveErr)
			case !tt.cut && elapsed >= tt.grace:
				t.Errorf("the shutdown took %s, want less than the grace of %s", elapsed, tt.grace)
			}
		})
	}
}

func TestServeRejectsNonPositiveGrace(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = Serve(context.Background(), ln, http.NotFoundHandler(), WithShutdownGrace(0))
	if err == nil || !strings.Contains(err.Error(), "grace") {
		t.Fatalf("Serve with a zero grace = %v, want an error about the grace", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener is still open")
	}
}
