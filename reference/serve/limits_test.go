package serve

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference"
)

// blocker returns a one-input model named id whose Forward signals on
// started and then waits until gate is closed, and answers y = x.
func blocker(id string, started chan<- struct{}, gate <-chan struct{}) *fakeModel {
	return broken(id, func(in map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
		started <- struct{}{}
		<-gate
		return map[string]numerics.Tensor{"y": in["x"].Clone()}, nil
	})
}

// ctxBlocker is a ContextModel that waits for its context to end and
// reports the context's error on done.
type ctxBlocker struct {
	*fakeModel
	done chan error
}

func (c *ctxBlocker) ForwardContext(ctx context.Context, _ map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	<-ctx.Done()
	c.done <- ctx.Err()
	return nil, ctx.Err()
}

// within returns f's answer, failing the test when f takes longer than d
// (a request that should be refused at once but waits).
func within(t *testing.T, d time.Duration, f func() response) response {
	t.Helper()
	c := make(chan response, 1)
	go func() { c <- f() }()
	select {
	case r := <-c:
		return r
	case <-time.After(d):
		t.Fatalf("no answer within %s", d)
	}
	return response{}
}

const blockBody = `{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}]}`

// eventually retries f every few milliseconds until it returns true or two
// seconds have passed.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !f(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 2 s", what)
		}
	}
}

func TestConcurrencyLimit(t *testing.T) {
	started, gate := make(chan struct{}, 8), make(chan struct{})
	models := append(testModels(), blocker("blocker", started, gate))
	s, err := New(models, WithMaxConcurrent(2))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	var wg sync.WaitGroup
	results := make(chan response, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- do(t, h, http.MethodPost, "/v2/models/blocker/infer", blockBody, nil)
		}()
	}
	<-started
	<-started
	// Saturated: any further inference is refused at once, on any model.
	for _, path := range []string{"/v2/models/blocker/infer", "/v2/models/nan/infer"} {
		r := within(t, time.Second, func() response { return do(t, h, http.MethodPost, path, blockBody, nil) })
		checkError(t, r, http.StatusServiceUnavailable, "limit of 2 inferences", "retry")
		if got := r.header.Get("Retry-After"); got != "1" {
			t.Errorf("%s: Retry-After = %q, want \"1\"", path, got)
		}
	}
	// Health, metadata and bad requests need no slot.
	for _, path := range []string{"/v2/health/live", "/v2/health/ready", "/v2", "/v2/models/blocker", "/v2/models/blocker/ready"} {
		if r := do(t, h, http.MethodGet, path, "", nil); r.status != http.StatusOK {
			t.Errorf("GET %s while saturated = %d %s", path, r.status, r.body)
		}
	}
	checkError(t, do(t, h, http.MethodPost, "/v2/models/blocker/infer", `{"inputs":[]}`, nil), http.StatusBadRequest, `input "x"`)
	close(gate)
	wg.Wait()
	close(results)
	for r := range results {
		if r.status != http.StatusOK {
			t.Errorf("a request admitted before saturation got %d %s", r.status, r.body)
		}
	}
	// The slots are free again once the answers are out.
	for range 3 {
		if r := do(t, h, http.MethodPost, "/v2/models/blocker/infer", blockBody, nil); r.status != http.StatusOK {
			t.Fatalf("after the load: %d %s", r.status, r.body)
		}
		<-started
	}
}

func TestRequestTimeout(t *testing.T) {
	started, gate := make(chan struct{}, 8), make(chan struct{})
	models := append(testModels(), blocker("blocker", started, gate))
	logs := &syncBuffer{}
	s, err := New(models, WithRequestTimeout(50*time.Millisecond), WithMaxConcurrent(1), WithLogger(slogJSON(logs)))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	begin := time.Now()
	r := do(t, h, http.MethodPost, "/v2/models/blocker/infer", blockBody, nil)
	if took := time.Since(begin); took < 50*time.Millisecond || took > 5*time.Second {
		t.Errorf("the timed-out request took %s, want about 50ms", took)
	}
	checkError(t, r, http.StatusServiceUnavailable, `model "blocker"`, "request timeout of 50ms")
	if got := r.header.Get("Retry-After"); got != "" {
		t.Errorf("a timeout answer has Retry-After %q", got)
	}
	if !strings.Contains(logs.String(), "inference timed out") {
		t.Errorf("the timeout is not logged:\n%s", logs.String())
	}
	<-started
	// The hung forward pass still holds the only slot.
	checkError(t, do(t, h, http.MethodPost, "/v2/models/echo-sum/infer", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, nil), http.StatusServiceUnavailable, "limit of 1")
	close(gate)
	eventually(t, "the slot coming back", func() bool {
		return do(t, h, http.MethodPost, "/v2/models/echo-sum/infer", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, nil).status == http.StatusOK
	})
}

func TestRequestTimeoutCancelsContextModels(t *testing.T) {
	cm := &ctxBlocker{fakeModel: broken("waiter", nil), done: make(chan error, 1)}
	s, err := New([]reference.Model{cm, echoSum("fp32", numerics.FP32)}, WithRequestTimeout(30*time.Millisecond), WithMaxConcurrent(1))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	checkError(t, do(t, h, http.MethodPost, "/v2/models/waiter/infer", blockBody, nil), http.StatusServiceUnavailable, "request timeout of 30ms")
	select {
	case err := <-cm.done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("ForwardContext saw %v, want the deadline", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("ForwardContext was not called, or its context never ended")
	}
	eventually(t, "the slot coming back", func() bool {
		return do(t, h, http.MethodPost, "/v2/models/echo-sum/infer", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, nil).status == http.StatusOK
	})
}

func TestClientGoneCancelsTheWait(t *testing.T) {
	cm := &ctxBlocker{fakeModel: broken("waiter", nil), done: make(chan error, 1)}
	s, err := New([]reference.Model{cm})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v2/models/waiter/infer", strings.NewReader(blockBody))
	rec := httptest.NewRecorder()
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	s.Handler().ServeHTTP(rec, req)
	if err := <-cm.done; !errors.Is(err, context.Canceled) {
		t.Errorf("ForwardContext saw %v, want the client's cancellation", err)
	}
	checkError(t, response{rec.Code, rec.Header(), rec.Body.Bytes()}, http.StatusServiceUnavailable, "cancelled")
}
