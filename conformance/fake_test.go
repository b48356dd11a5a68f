package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
)

// The fake is a small Open Inference Protocol server that serves a linear
// stand-in for seed-cnn (same tensor contract: input [N,1,28,28] → logits
// and probabilities [N,10]), with goldens computed from the same function.
// Each fault breaks exactly one rule.

const (
	fakeModel   = "seed-cnn"
	fakeVersion = "fp32"
	fakeIn      = 28 * 28
	fakeOut     = 10
)

// fakeForward computes the stand-in model in float64: logits = x·Wᵀ + b
// with fixed weights, probabilities = softmax(logits).
func fakeForward(x []float32, n int) (logits, probs []float32) {
	logits = make([]float32, n*fakeOut)
	probs = make([]float32, n*fakeOut)
	for s := 0; s < n; s++ {
		l := make([]float64, fakeOut)
		maxL := math.Inf(-1)
		for k := 0; k < fakeOut; k++ {
			acc := 0.1 * float64(k)
			for i := 0; i < fakeIn; i++ {
				acc += float64(x[s*fakeIn+i]) * 0.01 * math.Sin(float64(k*fakeIn+i))
			}
			l[k] = acc
			maxL = math.Max(maxL, acc)
		}
		sum := 0.0
		for k := range l {
			sum += math.Exp(l[k] - maxL)
		}
		for k := range l {
			logits[s*fakeOut+k] = float32(l[k])
			probs[s*fakeOut+k] = float32(math.Exp(l[k]-maxL) / sum)
		}
	}
	return logits, probs
}

// fakeGoldens writes a golden set for the stand-in model: n cases with
// batch sizes 1 and 2.
func fakeGoldens(t testing.TB, n int) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	set := golden.Set{
		Model: fakeModel, Version: fakeVersion, DType: numerics.FP32, Device: "cpu",
		Producer:       golden.Producer{Name: "fake", Version: "1"},
		ToleranceClass: "fp32",
		Weights:        golden.FileRef{Path: "weights.safetensors", SHA256: golden.Digest([]byte("weights"))},
	}
	fsys["weights.safetensors"] = &fstest.MapFile{Data: []byte("weights")}
	for c := 0; c < n; c++ {
		batch := 1 + c%2
		x := make([]float32, batch*fakeIn)
		for i := range x {
			x[i] = float32((i*37+c*101)%97) / 97
		}
		logits, probs := fakeForward(x, batch)
		b, err := golden.EncodeCase(
			map[string]numerics.Tensor{"input": numerics.NewF32([]int64{int64(batch), 1, 28, 28}, x)},
			map[string]numerics.Tensor{
				"logits":        numerics.NewF32([]int64{int64(batch), fakeOut}, logits),
				"probabilities": numerics.NewF32([]int64{int64(batch), fakeOut}, probs),
			}, nil)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("case-%03d", c)
		file := "seed-cnn/fp32/" + name + ".safetensors"
		fsys[file] = &fstest.MapFile{Data: b}
		set.Cases = append(set.Cases, golden.Case{Name: name, File: file, SHA256: golden.Digest(b),
			Inputs: []string{"input"}, Outputs: []string{"logits", "probabilities"}})
	}
	m := golden.Manifest{Kind: golden.Kind, SpecVersion: "v1", Generator: golden.Producer{Name: "fake", Version: "1"}, Sets: []golden.Set{set}}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	fsys[golden.ManifestFile] = &fstest.MapFile{Data: mb}
	return fsys
}

// Faults of the fake, each breaking one rule.
const (
	faultNone             = ""
	faultNotReady         = "not-ready"
	faultModelNotReady    = "model-not-ready"
	faultNoExtensions     = "no-extensions"
	faultMetadataShape    = "metadata-wrong-shape"
	faultNoIDEcho         = "no-id-echo"
	faultWrongID          = "wrong-id"
	faultWrongNumbers     = "wrong-numbers"
	faultOutputDatatype   = "output-datatype"
	fault500BadRequest    = "500-for-bad-request"
	faultErrorNotJSON     = "error-not-json"
	faultUnknownModel200  = "unknown-model-200"
	faultHangInfer        = "hang-infer"
	faultGarbageInfer     = "garbage-infer"
	faultHugeInfer        = "huge-infer"
	faultEchoAuthInErrors = "echo-auth-in-errors"
	// Faults of the safety level.
	faultTrailingGarbage  = "trailing-garbage-ignored"
	faultOversize500      = "oversize-500"
	faultLeakyErrors      = "leaky-errors"
	faultDiesAfterBattery = "dies-after-battery"
)

// fakeMaxBody is the fake's request body limit; a larger body gets 413.
const fakeMaxBody = 8 << 20

// fakeDeathAfter is how many 400 answers wedge the dies-after-battery
// fake at its next readiness probe (its readiness and inference then
// answer 503).
const fakeDeathAfter = 20

// fake is the fake server's configuration.
type fake struct {
	fault string
	// rejected counts the 400 answers, and dead is set by the first
	// readiness probe after fakeDeathAfter of them (dies-after-battery).
	rejected atomic.Int64
	dead     atomic.Bool
	// token, when set, is required as a bearer token on every request.
	token string
}

func (f *fake) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fake) writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if f.fault == faultEchoAuthInErrors {
		msg += " (you sent " + r.Header.Get("Authorization") + ")"
	}
	if status == http.StatusBadRequest {
		f.rejected.Add(1)
	}
	if f.fault == faultLeakyErrors {
		msg += "\ngoroutine 7 [running]:\nmain.infer(...)\n\t/home/vendor/server/infer.go:42 +0x1d"
	}
	if f.fault == faultErrorNotJSON {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		fmt.Fprintln(w, msg)
		return
	}
	f.writeJSON(w, status, oip.ErrorResponse{Error: msg})
}

func (f *fake) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK) // an empty body is allowed
	})
	mux.HandleFunc("GET /v2/health/ready", func(w http.ResponseWriter, r *http.Request) {
		if f.fault == faultDiesAfterBattery && f.rejected.Load() >= fakeDeathAfter {
			f.dead.Store(true)
		}
		if f.fault == faultNotReady || f.dead.Load() {
			f.writeJSON(w, http.StatusServiceUnavailable, map[string]bool{"ready": false})
			return
		}
		f.writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
	})
	mux.HandleFunc("GET /v2", func(w http.ResponseWriter, r *http.Request) {
		md := map[string]any{"name": "fake", "version": "1.0", "extensions": []string{}}
		if f.fault == faultNoExtensions {
			delete(md, "extensions")
		}
		f.writeJSON(w, http.StatusOK, md)
	})
	model := func(next func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			known := r.PathValue("model") == fakeModel
			if v := r.PathValue("version"); v != "" && v != fakeVersion {
				known = false
			}
			if !known && f.fault != faultUnknownModel200 {
				f.writeError(w, r, http.StatusNotFound, "unknown model "+r.PathValue("model"))
				return
			}
			next(w, r)
		}
	}
	ready := model(func(w http.ResponseWriter, r *http.Request) {
		if f.fault == faultModelNotReady && r.PathValue("version") != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	meta := model(func(w http.ResponseWriter, r *http.Request) {
		in := []int64{-1, 1, 28, 28}
		if f.fault == faultMetadataShape {
			in = []int64{-1, 28, 28}
		}
		f.writeJSON(w, http.StatusOK, oip.ModelMetadata{
			Name: fakeModel, Versions: []string{fakeVersion}, Platform: "fake",
			Inputs: []oip.TensorMetadata{{Name: "input", Datatype: "FP32", Shape: in}},
			Outputs: []oip.TensorMetadata{
				{Name: "logits", Datatype: "FP32", Shape: []int64{-1, 10}},
				{Name: "probabilities", Datatype: "FP32", Shape: []int64{-1, 10}},
			},
		})
	})
	infer := model(f.infer)
	for _, p := range []string{"/v2/models/{model}", "/v2/models/{model}/versions/{version}"} {
		mux.Handle("GET "+p+"/ready", ready)
		mux.Handle("GET "+p, meta)
		mux.Handle("POST "+p+"/infer", infer)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
			f.writeError(w, r, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (f *fake) infer(w http.ResponseWriter, r *http.Request) {
	switch f.fault {
	case faultHangInfer:
		// Read the body so that the server notices the client hanging
		// up (which cancels the request's context).
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
		return
	case faultGarbageInfer:
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("\x00\xff{{ not json"))
		return
	case faultHugeInfer:
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(strings.Repeat("[", 64<<10))
		for i := 0; i < 320; i++ { // 20 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		return
	}
	badStatus := http.StatusBadRequest
	if f.fault == fault500BadRequest {
		badStatus = http.StatusInternalServerError
	}
	if f.dead.Load() {
		f.writeError(w, r, http.StatusServiceUnavailable, "wedged")
		return
	}
	if r.ContentLength > fakeMaxBody {
		if f.fault == faultOversize500 {
			f.writeError(w, r, http.StatusInternalServerError, "out of memory")
			return
		}
		f.writeError(w, r, http.StatusRequestEntityTooLarge, "request body over the limit")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, fakeMaxBody))
	if err != nil {
		f.writeError(w, r, http.StatusRequestEntityTooLarge, "request body over the limit")
		return
	}
	var req oip.InferenceRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		f.writeError(w, r, badStatus, "request body is not an inference request: "+err.Error())
		return
	}
	if _, err := dec.Token(); err != io.EOF && f.fault != faultTrailingGarbage {
		f.writeError(w, r, badStatus, "request body: data after the JSON object")
		return
	}
	if len(req.Inputs) != 1 || req.Inputs[0].Name != "input" || req.Inputs[0].Datatype != "FP32" {
		f.writeError(w, r, badStatus, "want one FP32 input named input")
		return
	}
	in := req.Inputs[0]
	if len(in.Shape) != 4 || in.Shape[1] != 1 || in.Shape[2] != 28 || in.Shape[3] != 28 {
		f.writeError(w, r, badStatus, fmt.Sprintf("input shape %v, want [N,1,28,28]", in.Shape))
		return
	}
	x, err := oip.DecodeData(in.Datatype, in.Shape, in.Data)
	if err != nil {
		f.writeError(w, r, badStatus, err.Error())
		return
	}
	n := int(in.Shape[0])
	logits, probs := fakeForward(x.F32, n)
	want := map[string]bool{"logits": true, "probabilities": true}
	if len(req.Outputs) > 0 {
		want = map[string]bool{}
		for _, o := range req.Outputs {
			if o.Name != "logits" && o.Name != "probabilities" {
				f.writeError(w, r, badStatus, fmt.Sprintf("model %s has no output %q", fakeModel, o.Name))
				return
			}
			want[o.Name] = true
		}
	}
	if f.fault == faultWrongNumbers {
		logits[3] += 0.5
	}
	resp := oip.InferenceResponse{ModelName: fakeModel, ModelVersion: fakeVersion, ID: req.ID}
	switch f.fault {
	case faultNoIDEcho:
		resp.ID = ""
	case faultWrongID:
		resp.ID = "fixed-id"
	}
	dt := "FP32"
	if f.fault == faultOutputDatatype {
		dt = "FP64"
	}
	for _, o := range []struct {
		name string
		data []float32
	}{{"logits", logits}, {"probabilities", probs}} {
		if !want[o.name] {
			continue
		}
		d, err := oip.EncodeData(numerics.NewF32([]int64{int64(n), fakeOut}, o.data))
		if err != nil {
			f.writeError(w, r, http.StatusInternalServerError, err.Error())
			return
		}
		resp.Outputs = append(resp.Outputs, oip.ResponseOutput{Name: o.name, Shape: []int64{int64(n), fakeOut}, Datatype: dt, Data: d})
	}
	f.writeJSON(w, http.StatusOK, resp)
}

// fakeOracle computes the stand-in model, as the reference oracle would.
type fakeOracle struct{}

func (fakeOracle) Predict(_ context.Context, model, version string, inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	if model != fakeModel || version != fakeVersion {
		return nil, fmt.Errorf("fake oracle: no model %s/%s", model, version)
	}
	x := inputs["input"]
	n := int(x.Shape[0])
	logits, probs := fakeForward(x.F32, n)
	return map[string]numerics.Tensor{
		"logits":        numerics.NewF32([]int64{int64(n), fakeOut}, logits),
		"probabilities": numerics.NewF32([]int64{int64(n), fakeOut}, probs),
	}, nil
}

// fixedClock returns a clock that advances by step on every reading; it is
// safe for concurrent use, as Options.Clock must be.
func fixedClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	t := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(step)
		return t
	}
}
