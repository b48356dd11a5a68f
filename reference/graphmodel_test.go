package reference

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiconform/aiconform/internal/racedetect"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/spec"
)

// generatedWeights holds each model's generated weights, made once and
// shared read-only by the tests (generating the transformer's takes a
// while under -race).
var generatedWeights = func() map[string]func() (map[string]numerics.Tensor, error) {
	out := map[string]func() (map[string]numerics.Tensor, error){}
	for _, id := range ModelIDs() {
		out[id] = sync.OnceValues(func() (map[string]numerics.Tensor, error) { return GenerateWeights(id) })
	}
	return out
}()

// testWeights returns a private copy of model id's generated weights.
func testWeights(t testing.TB, id string) map[string]numerics.Tensor {
	t.Helper()
	w, err := generatedWeights[id]()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]numerics.Tensor, len(w))
	for name, v := range w {
		out[name] = v.Clone()
	}
	return out
}

// badWeights is a case of a constructor test: edit spoils a private copy
// of the model's generated weights (nil leaves them as they are), and the
// constructor at dtype must fail with an error containing want.
type badWeights struct {
	name  string
	edit  func(w map[string]numerics.Tensor)
	dtype numerics.DType
	want  string
}

// testRejectsBadWeights runs the constructor newModel of model id on each
// case's weights.
func testRejectsBadWeights(t *testing.T, id string, newModel func(map[string]numerics.Tensor, numerics.DType) (Model, error), tests []badWeights) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := testWeights(t, id)
			if tt.edit != nil {
				tt.edit(w)
			}
			_, err := newModel(w, tt.dtype)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%s: constructor error = %v, want one containing %q", id, err, tt.want)
			}
		})
	}
}

// badInput is a case of a Forward test: Forward(inputs) must fail with an
// error containing want.
type badInput struct {
	name   string
	inputs map[string]numerics.Tensor
	want   string
}

// testRejectsBadInputs runs m.Forward on each case; with blame, the errors
// must also blame the request (IsInvalidInput).
func testRejectsBadInputs(t *testing.T, m Model, blame bool, tests []badInput) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Forward(tt.inputs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Forward error = %v, want one containing %q", err, tt.want)
			}
			if blame && !IsInvalidInput(err) {
				t.Errorf("Forward error %v does not blame the request (IsInvalidInput is false)", err)
			}
		})
	}
}

// testMetadata checks model id's ID and Version at both versions (model
// returns the model at a dtype) and that its Inputs and Outputs are its
// contract's.
func testMetadata(t *testing.T, id string, model func(testing.TB, numerics.DType) Model) {
	t.Helper()
	for _, c := range []struct {
		dtype   numerics.DType
		version string
	}{{numerics.FP32, "fp32"}, {numerics.FP64, "fp64"}} {
		m := model(t, c.dtype)
		if m.ID() != id || m.Version() != c.version {
			t.Errorf("model is %s/%s, want %s/%s", m.ID(), m.Version(), id, c.version)
		}
		want, err := spec.ModelContract(id, c.version)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want.Inputs, m.Inputs()); d != "" {
			t.Errorf("%s inputs (-want +got):\n%s", c.version, d)
		}
		if d := cmp.Diff(want.Outputs, m.Outputs()); d != "" {
			t.Errorf("%s outputs (-want +got):\n%s", c.version, d)
		}
	}
}

// testConcurrentForward runs m.Forward on each input map once alone, then
// on all of them at once, each from a goroutine of its own (run it with
// -race), and checks that every concurrent result equals the sequential
// one bit for bit and that the model's pool stays within its bounds.
func testConcurrentForward(t *testing.T, m Model, inputs []map[string]numerics.Tensor) {
	t.Helper()
	want := make([]map[string]numerics.Tensor, len(inputs))
	for i, in := range inputs {
		var err error
		if want[i], err = m.Forward(in); err != nil {
			t.Fatalf("call %d alone: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(inputs))
	for i, in := range inputs {
		wg.Go(func() {
			got, err := m.Forward(in)
			if err != nil {
				errs <- err
				return
			}
			for name, w := range want[i] {
				if g := got[name]; !slices.Equal(g.Shape, w.Shape) || !slices.Equal(g.F32, w.F32) || !slices.Equal(g.F64, w.F64) {
					errs <- fmt.Errorf("call %d: %s differs from the sequential result", i, name)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var pool *graphPool
	switch m := m.(type) {
	case *seedCNN:
		pool = m.pool
	case *seedRNN:
		pool = m.pool
	case *seedTransformer:
		pool = m.pool
	}
	checkPoolBounds(t, pool)
}

// checkPoolBounds checks that pool holds at least one idle program and no
// more idle programs than MaxIdlePrograms and IdleProgramBytes allow (a
// single one may be larger), nor more programs in all than its maxLive,
// and that no program is held.
func checkPoolBounds(t *testing.T, pool *graphPool) {
	t.Helper()
	pool.mu.Lock()
	defer pool.mu.Unlock()
	bytes := 0
	for _, it := range pool.idle {
		bytes += it.prog.bytes
	}
	if n := len(pool.idle); n < 1 || n > MaxIdlePrograms || (n > 1 && bytes > IdleProgramBytes) {
		t.Errorf("%d idle programs of %d bytes, want 1…%d of at most %d bytes", n, bytes, MaxIdlePrograms, IdleProgramBytes)
	}
	if pool.live != len(pool.idle) || pool.live > pool.maxLive {
		t.Errorf("%d live programs with %d idle and none held, want as many, and at most %d", pool.live, len(pool.idle), pool.maxLive)
	}
}

// TestBackingHelpers pins transposed, section and copyBacking on both
// backing types: the values they move and that their results own their
// storage.
func TestBackingHelpers(t *testing.T) {
	// m is the row-major matrix [3,2] {{0,1},{2,3},{4,5}}.
	m64 := []float64{0, 1, 2, 3, 4, 5}
	m32 := []float32{0, 1, 2, 3, 4, 5}
	tests := []struct {
		name string
		got  func(b any) any
		want []float64
	}{
		{"transposed all rows", func(b any) any { return transposed(b, 0, 3, 2) }, []float64{0, 2, 4, 1, 3, 5}},
		{"transposed rows 1…2", func(b any) any { return transposed(b, 1, 2, 2) }, []float64{2, 4, 3, 5}},
		{"transposed row 2", func(b any) any { return transposed(b, 2, 1, 2) }, []float64{4, 5}},
		{"section", func(b any) any { return section(b, 1, 4) }, []float64{1, 2, 3}},
		{"copyBacking", copyBacking, []float64{0, 1, 2, 3, 4, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got64, ok := tt.got(slices.Clone(m64)).([]float64)
			if !ok || !slices.Equal(got64, tt.want) {
				t.Errorf("on []float64: %v, want %v", got64, tt.want)
			}
			src := slices.Clone(m32)
			got32, ok := tt.got(src).([]float32)
			want32 := make([]float32, len(tt.want))
			for i, v := range tt.want {
				want32[i] = float32(v)
			}
			if !ok || !slices.Equal(got32, want32) {
				t.Errorf("on []float32: %v, want %v", got32, want32)
			}
			clear(src)
			if !slices.Equal(got32, want32) {
				t.Errorf("the result shares storage with its argument")
			}
		})
	}
}

// TestDescribeKinds pins the descriptions of golden batches.
func TestDescribeKinds(t *testing.T) {
	tests := []struct {
		names []string
		want  string
	}{
		{[]string{"zeros"}, "zeros"},
		{[]string{"zeros", "zeros", "zeros"}, "zeros"},
		{[]string{"zeros", "ones"}, "zeros; ones"},
		{[]string{"ones", "ones", "zeros"}, "ones; ones; zeros"},
	}
	for _, tt := range tests {
		if got := describeKinds(tt.names); got != tt.want {
			t.Errorf("describeKinds(%q) = %q, want %q", tt.names, got, tt.want)
		}
	}
}

// TestPoolBoundedOverManyShapes sends each model more distinct shapes than
// its pool keeps (50 sequence lengths, or seed-cnn's 16 batch sizes, the
// most it builds programs for) and checks that the
// pool stays within its bounds, that every program it evicted was closed
// and then collected (nothing keeps an evicted program alive), and that
// the shapes sent first, whose programs were evicted and are built anew,
// give the same answers bit for bit.
func TestPoolBoundedOverManyShapes(t *testing.T) {
	many := 50
	if racedetect.Enabled {
		many = 2 * MaxIdlePrograms
	}
	tests := []struct {
		name   string
		shapes int
		model  func(t *testing.T) (Model, *graphModel)
		// input returns the i-th input (i = 1…shapes), of a shape of its own.
		input func(i int) map[string]numerics.Tensor
	}{
		{
			name:   "seed-cnn FP32 batch sizes",
			shapes: cnnChunk,
			model: func(t *testing.T) (Model, *graphModel) {
				m := testModel(t, numerics.FP32).(*seedCNN)
				return m, &m.graphModel
			},
			input: func(i int) map[string]numerics.Tensor {
				return map[string]numerics.Tensor{"input": images(fmt.Sprintf("shapes-%d", i), i)}
			},
		},
		{
			name:   "seed-rnn FP64 lengths",
			shapes: many,
			model: func(t *testing.T) (Model, *graphModel) {
				m := testRNN(t, numerics.FP64)
				return m, &m.graphModel
			},
			input: func(i int) map[string]numerics.Tensor {
				return map[string]numerics.Tensor{"input": as(sequences(fmt.Sprintf("shapes-%d", i), 1+i%3, i), numerics.FP64)}
			},
		},
		{
			name:   "seed-transformer FP32 lengths",
			shapes: many,
			model: func(t *testing.T) (Model, *graphModel) {
				m, err := NewSeedTransformer(testWeights(t, SeedTransformerID), numerics.FP32)
				if err != nil {
					t.Fatal(err)
				}
				return m, &m.(*seedTransformer).graphModel
			},
			input: func(i int) map[string]numerics.Tensor {
				return tfInputs(tfTokens(fmt.Sprintf("shapes-%d", i), 1, i), numerics.Tensor{})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, gm := tt.model(t)
			var closed, collected atomic.Int64
			pool := gm.pool
			pool.close = func(p *program) {
				closed.Add(1)
				runtime.AddCleanup(p, func(*atomic.Int64) { collected.Add(1) }, &collected)
				p.close()
			}
			first := map[int]map[string]numerics.Tensor{}
			for i := 1; i <= tt.shapes; i++ {
				out, err := m.Forward(tt.input(i))
				if err != nil {
					t.Fatalf("shape %d: %v", i, err)
				}
				if i <= 3 {
					first[i] = out
				}
				if st := pool.snapshot(); st.Idle > MaxIdlePrograms || st.Live > pool.maxLive {
					t.Fatalf("after shape %d: %d idle and %d live programs, want at most %d and %d", i, st.Idle, st.Live, MaxIdlePrograms, pool.maxLive)
				}
			}
			checkPoolBounds(t, pool)
			st := pool.snapshot()
			if st.Evictions == 0 || st.Builds <= int64(MaxIdlePrograms) {
				t.Fatalf("%d builds and %d evictions over %d shapes, want more builds than the pool keeps and evictions", st.Builds, st.Evictions, tt.shapes)
			}
			for i, want := range first {
				got, err := m.Forward(tt.input(i))
				if err != nil {
					t.Fatalf("shape %d again: %v", i, err)
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("shape %d again, on a program built anew (-first +again):\n%s", i, d)
				}
			}
			for deadline := time.Now().Add(10 * time.Second); collected.Load() < closed.Load() && time.Now().Before(deadline); {
				runtime.GC()
				time.Sleep(10 * time.Millisecond)
			}
			if c, n := collected.Load(), closed.Load(); n == 0 || c < n {
				t.Errorf("%d of %d closed programs were collected, want all (and some closed)", c, n)
			}
		})
	}
}
