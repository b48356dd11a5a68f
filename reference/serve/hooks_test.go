package serve

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference"
)

// tracedModel records the batch of every Forward it sees and tags its
// outputs: sum gets tag added, so that the order of wrappers shows.
type tracedModel struct {
	reference.Model
	tag float32

	mu      sync.Mutex
	batches []int64
}

func (m *tracedModel) Forward(in map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	return m.ForwardContext(context.Background(), in)
}

func (m *tracedModel) ForwardContext(ctx context.Context, in map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	m.mu.Lock()
	m.batches = append(m.batches, in["x"].Shape[0])
	m.mu.Unlock()
	var out map[string]numerics.Tensor
	var err error
	if cm, ok := m.Model.(ContextModel); ok {
		out, err = cm.ForwardContext(ctx, in)
	} else {
		out, err = m.Model.Forward(in)
	}
	if err != nil {
		return nil, err
	}
	sum := out["sum"].Clone()
	for i := range sum.F32 {
		sum.F32[i] = sum.F32[i]*10 + m.tag
	}
	return map[string]numerics.Tensor{"sum": sum, "echo": out["echo"]}, nil
}

const echoBody = `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`

func TestModelWrappersOrderAndChecks(t *testing.T) {
	tag := func(v float32) func(reference.Model) reference.Model {
		return func(m reference.Model) reference.Model { return &tracedModel{Model: m, tag: v} }
	}
	s, err := New([]reference.Model{echoSum("fp32", numerics.FP32)}, WithModelWrapper(tag(1)), WithModelWrapper(tag(2)))
	if err != nil {
		t.Fatal(err)
	}
	// The first wrapper is innermost: ((10·10)+1)·10+2.
	r := do(t, s.Handler(), "POST", "/v2/models/echo-sum/infer", echoBody, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"data":[1012]`) {
		t.Errorf("infer = %d %s, want sum 1012 (the first wrapper innermost)", r.status, r.body)
	}

	renamed := func(m reference.Model) reference.Model { return broken("other", nil) }
	noInputs := func(m reference.Model) reference.Model {
		f := echoSum("fp32", numerics.FP32)
		f.inputs = nil
		return f
	}
	for _, tc := range []struct {
		name string
		wrap func(reference.Model) reference.Model
		want string
	}{
		{"nil", func(reference.Model) reference.Model { return nil }, "a model wrapper returned nil"},
		{"renamed", renamed, `changed it to "other"`},
		{"invalid specs", noInputs, "has no inputs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New([]reference.Model{echoSum("fp32", numerics.FP32)}, WithModelWrapper(tc.wrap))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// Model wrappers sit above the dynamic batcher: they see each request's
// own batch even when the batcher merges concurrent requests.
func TestModelWrapperSitsAboveTheBatcher(t *testing.T) {
	var traced *tracedModel
	wrap := func(m reference.Model) reference.Model {
		traced = &tracedModel{Model: m}
		return traced
	}
	s, err := New([]reference.Model{echoSum("fp32", numerics.FP32)}, WithBatching(BatchConfig{MaxBatch: 8, MaxDelay: 50 * time.Millisecond}), WithModelWrapper(wrap))
	if err != nil {
		t.Fatal(err)
	}
	b, ok := traced.Model.(*batcher)
	if !ok {
		t.Fatalf("the wrapper wraps %T, want the batcher", traced.Model)
	}
	loaded(t, b) // the requests gather for MaxDelay, as under load
	const n = 8
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if r := do(t, s.Handler(), "POST", "/v2/models/echo-sum/infer", echoBody, nil); r.status != 200 {
				t.Errorf("infer = %d %s", r.status, r.body)
			}
		})
	}
	wg.Wait()
	if st := b.stats(); st.Merged == 0 {
		t.Errorf("the batcher merged no requests (%+v): the test shows nothing", st)
	}
	if want := slices.Repeat([]int64{1}, n); !slices.Equal(traced.batches, want) {
		t.Errorf("the wrapper saw batches %v, want %v (each request alone)", traced.batches, want)
	}
}

func TestHandlerWrappersPlace(t *testing.T) {
	var order []string
	var sawAuth []string
	mark := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				sawAuth = append(sawAuth, r.Header.Get("Authorization"))
				if r.URL.Path == "/v2/boom" {
					panic("boom")
				}
				next.ServeHTTP(w, r)
			})
		}
	}
	var logs bytes.Buffer
	s, err := New([]reference.Model{echoSum("fp32", numerics.FP32)},
		WithAuthToken("tok"), WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))),
		WithHandlerWrapper(mark("outer")), WithHandlerWrapper(mark("inner")))
	if err != nil {
		t.Fatal(err)
	}
	// Outside authentication: the wrappers see a request that gets 401.
	r := do(t, s.Handler(), "GET", "/v2", "", nil)
	if r.status != http.StatusUnauthorized || !slices.Equal(order, []string{"outer", "inner"}) {
		t.Errorf("GET /v2 without a token: %d, wrappers ran %v; want 401 after outer then inner", r.status, order)
	}
	// Inside panic recovery and the access log.
	r = do(t, s.Handler(), "GET", "/v2/boom", "", map[string]string{"Authorization": "Bearer tok"})
	if r.status != http.StatusInternalServerError {
		t.Errorf("a panicking wrapper: %d, want 500 from panic recovery", r.status)
	}
	if !strings.Contains(logs.String(), `"path":"/v2/boom","status":500`) {
		t.Errorf("the access log has no line for the panicking wrapper's request:\n%s", logs.String())
	}
	if sawAuth[0] != "" || sawAuth[len(sawAuth)-1] != "Bearer tok" {
		t.Errorf("wrappers saw credentials %q", sawAuth)
	}
}

func TestAuthExempt(t *testing.T) {
	exempt := WithAuthExempt(func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/ready") })
	if _, err := New([]reference.Model{echoSum("fp32", numerics.FP32)}, exempt); err == nil || !strings.Contains(err.Error(), "needs an auth token") {
		t.Errorf("New(WithAuthExempt) without a token = %v, want an error saying it needs one", err)
	}
	// The option may come before WithAuthToken.
	s, err := New([]reference.Model{echoSum("fp32", numerics.FP32)}, exempt, WithAuthToken("tok"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/v2/models/echo-sum/ready", 200},
		{"/v2/models/echo-sum/versions/fp32/ready", 200},
		{"/v2/health/ready", 200},
		{"/v2/models/echo-sum", 401},
		{"/v2", 401},
	} {
		if r := do(t, s.Handler(), "GET", tc.path, "", nil); r.status != tc.want {
			t.Errorf("GET %s without a token: %d, want %d", tc.path, r.status, tc.want)
		}
	}
}
