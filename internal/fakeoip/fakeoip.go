// Package fakeoip is a small Open Inference Protocol v2 server for the
// tests of the conformance engine and of its go test entry point: it serves
// a linear stand-in for seed-cnn (the same tensor contract) with goldens
// computed from the same function, and can break one rule at a time.
package fakeoip

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
)

// The stand-in model: input [N,1,28,28] → logits and probabilities
// [N,10], served as Model at Version.
const (
	// Model is the served model's name, and the reference model it
	// stands in for.
	Model = "seed-cnn"
	// Version is the served version, and the reference version.
	Version = "fp32"
	// Classes is the width of the outputs.
	Classes = 10
	inElems = 28 * 28
)

// Forward computes the stand-in model in float64: logits = x·Wᵀ + b
// with fixed weights, probabilities = softmax(logits).
func Forward(x []float32, n int) (logits, probs []float32) {
	logits = make([]float32, n*Classes)
	probs = make([]float32, n*Classes)
	for s := 0; s < n; s++ {
		l := make([]float64, Classes)
		maxL := math.Inf(-1)
		for k := 0; k < Classes; k++ {
			acc := 0.1 * float64(k)
			for i := 0; i < inElems; i++ {
				acc += float64(x[s*inElems+i]) * 0.01 * math.Sin(float64(k*inElems+i))
			}
			l[k] = acc
			maxL = math.Max(maxL, acc)
		}
		sum := 0.0
		for k := range l {
			sum += math.Exp(l[k] - maxL)
		}
		for k := range l {
			logits[s*Classes+k] = float32(l[k])
			probs[s*Classes+k] = float32(math.Exp(l[k]-maxL) / sum)
		}
	}
	return logits, probs
}

// Goldens writes a golden set for the stand-in model: n cases with
// batch sizes 1 and 2.
func Goldens(t testing.TB, n int) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	set := golden.Set{
		Model: Model, Version: Version, DType: numerics.FP32, Device: "cpu",
		Producer:       golden.Producer{Name: "fake", Version: "1"},
		ToleranceClass: "fp32",
		Weights:        golden.FileRef{Path: "weights.safetensors", SHA256: golden.Digest([]byte("weights"))},
	}
	fsys["weights.safetensors"] = &fstest.MapFile{Data: []byte("weights")}
	for c := 0; c < n; c++ {
		batch := 1 + c%2
		x := make([]float32, batch*inElems)
		for i := range x {
			x[i] = float32((i*37+c*101)%97) / 97
		}
		logits, probs := Forward(x, batch)
		b, err := golden.EncodeCase(
			map[string]numerics.Tensor{"input": numerics.NewF32([]int64{int64(batch), 1, 28, 28}, x)},
			map[string]numerics.Tensor{
				"logits":        numerics.NewF32([]int64{int64(batch), Classes}, logits),
				"probabilities": numerics.NewF32([]int64{int64(batch), Classes}, probs),
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

// Faults of the fake, each breaking one rule (FaultNone breaks none).
const (
	FaultNone             = ""
	FaultNotReady         = "not-ready"
	FaultModelNotReady    = "model-not-ready"
	FaultNoExtensions     = "no-extensions"
	FaultMetadataShape    = "metadata-wrong-shape"
	FaultNoIDEcho         = "no-id-echo"
	FaultWrongID          = "wrong-id"
	FaultWrongNumbers     = "wrong-numbers"
	FaultOutputDatatype   = "output-datatype"
	Fault500BadRequest    = "500-for-bad-request"
	FaultErrorNotJSON     = "error-not-json"
	FaultUnknownModel200  = "unknown-model-200"
	FaultHangInfer        = "hang-infer"
	FaultGarbageInfer     = "garbage-infer"
	FaultHugeInfer        = "huge-infer"
	FaultEchoAuthInErrors = "echo-auth-in-errors"
	FaultIgnoreAuth       = "ignore-auth"
	FaultAuth403Metadata  = "auth-403-with-metadata"
	// Faults of the safety level.
	FaultTrailingGarbage  = "trailing-garbage-ignored"
	FaultOversize500      = "oversize-500"
	FaultLeakyErrors      = "leaky-errors"
	FaultDiesAfterBattery = "dies-after-battery"
)

// maxBody is the fake's request body limit; a larger body gets 413.
const maxBody = 8 << 20

// deathAfter is how many 400 answers wedge the dies-after-battery fake at
// its next readiness probe (its readiness and inference then answer 503).
const deathAfter = 20

// Server is the fake server's configuration.
type Server struct {
	// Fault is one of the Fault constants.
	Fault string
	// Token, when set, is required as a bearer token on every request.
	Token string
	// rejected counts the 400 answers, and dead is set by the first
	// readiness probe after deathAfter of them (dies-after-battery).
	rejected atomic.Int64
	dead     atomic.Bool
}

func (f *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *Server) writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if f.Fault == FaultEchoAuthInErrors {
		msg += " (you sent " + r.Header.Get("Authorization") + ")"
	}
	if status == http.StatusBadRequest {
		f.rejected.Add(1)
	}
	if f.Fault == FaultLeakyErrors {
		msg += "\ngoroutine 7 [running]:\nmain.infer(...)\n\t/home/vendor/server/infer.go:42 +0x1d"
	}
	if f.Fault == FaultErrorNotJSON {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		fmt.Fprintln(w, msg)
		return
	}
	f.writeJSON(w, status, oip.ErrorResponse{Error: msg})
}

// Handler serves the fake over HTTP.
func (f *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK) // an empty body is allowed
	})
	mux.HandleFunc("GET /v2/health/ready", func(w http.ResponseWriter, r *http.Request) {
		if f.Fault == FaultDiesAfterBattery && f.rejected.Load() >= deathAfter {
			f.dead.Store(true)
		}
		if f.Fault == FaultNotReady || f.dead.Load() {
			f.writeJSON(w, http.StatusServiceUnavailable, map[string]bool{"ready": false})
			return
		}
		f.writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
	})
	mux.HandleFunc("GET /v2", func(w http.ResponseWriter, r *http.Request) {
		md := map[string]any{"name": "fake", "version": "1.0", "extensions": []string{}}
		if f.Fault == FaultNoExtensions {
			delete(md, "extensions")
		}
		f.writeJSON(w, http.StatusOK, md)
	})
	model := func(next func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			known := r.PathValue("model") == Model
			if v := r.PathValue("version"); v != "" && v != Version {
				known = false
			}
			if !known && f.Fault != FaultUnknownModel200 {
				f.writeError(w, r, http.StatusNotFound, "unknown model "+r.PathValue("model"))
				return
			}
			next(w, r)
		}
	}
	ready := model(func(w http.ResponseWriter, r *http.Request) {
		if f.Fault == FaultModelNotReady && r.PathValue("version") != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	meta := model(func(w http.ResponseWriter, r *http.Request) {
		in := []int64{-1, 1, 28, 28}
		if f.Fault == FaultMetadataShape {
			in = []int64{-1, 28, 28}
		}
		f.writeJSON(w, http.StatusOK, oip.ModelMetadata{
			Name: Model, Versions: []string{Version}, Platform: "fake",
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
		if f.Token != "" && f.Fault != FaultIgnoreAuth && r.Header.Get("Authorization") != "Bearer "+f.Token {
			if f.Fault == FaultAuth403Metadata {
				f.writeJSON(w, http.StatusForbidden, map[string]any{"error": "forbidden", "name": Model, "versions": []string{Version}})
				return
			}
			f.writeError(w, r, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (f *Server) infer(w http.ResponseWriter, r *http.Request) {
	switch f.Fault {
	case FaultHangInfer:
		// Read the body so that the server notices the client hanging
		// up (which cancels the request's context).
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
		return
	case FaultGarbageInfer:
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("\x00\xff{{ not json"))
		return
	case FaultHugeInfer:
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
	if f.Fault == Fault500BadRequest {
		badStatus = http.StatusInternalServerError
	}
	if f.dead.Load() {
		f.writeError(w, r, http.StatusServiceUnavailable, "wedged")
		return
	}
	if r.ContentLength > maxBody {
		if f.Fault == FaultOversize500 {
			f.writeError(w, r, http.StatusInternalServerError, "out of memory")
			return
		}
		f.writeError(w, r, http.StatusRequestEntityTooLarge, "request body over the limit")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
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
	if _, err := dec.Token(); err != io.EOF && f.Fault != FaultTrailingGarbage {
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
	logits, probs := Forward(x.F32, n)
	want := map[string]bool{"logits": true, "probabilities": true}
	if len(req.Outputs) > 0 {
		want = map[string]bool{}
		for _, o := range req.Outputs {
			if o.Name != "logits" && o.Name != "probabilities" {
				f.writeError(w, r, badStatus, fmt.Sprintf("model %s has no output %q", Model, o.Name))
				return
			}
			want[o.Name] = true
		}
	}
	if f.Fault == FaultWrongNumbers {
		logits[3] += 0.5
	}
	resp := oip.InferenceResponse{ModelName: Model, ModelVersion: Version, ID: req.ID}
	switch f.Fault {
	case FaultNoIDEcho:
		resp.ID = ""
	case FaultWrongID:
		resp.ID = "fixed-id"
	}
	dt := "FP32"
	if f.Fault == FaultOutputDatatype {
		dt = "FP64"
	}
	for _, o := range []struct {
		name string
		data []float32
	}{{"logits", logits}, {"probabilities", probs}} {
		if !want[o.name] {
			continue
		}
		d, err := oip.EncodeData(numerics.NewF32([]int64{int64(n), Classes}, o.data))
		if err != nil {
			f.writeError(w, r, http.StatusInternalServerError, err.Error())
			return
		}
		resp.Outputs = append(resp.Outputs, oip.ResponseOutput{Name: o.name, Shape: []int64{int64(n), Classes}, Datatype: dt, Data: d})
	}
	f.writeJSON(w, http.StatusOK, resp)
}

// Oracle computes the stand-in model, as the reference oracle would.
type Oracle struct{}

// Predict computes the stand-in model for inputs.
func (Oracle) Predict(_ context.Context, model, version string, inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	if model != Model || version != Version {
		return nil, fmt.Errorf("fake oracle: no model %s/%s", model, version)
	}
	x := inputs["input"]
	n := int(x.Shape[0])
	logits, probs := Forward(x.F32, n)
	return map[string]numerics.Tensor{
		"logits":        numerics.NewF32([]int64{int64(n), Classes}, logits),
		"probabilities": numerics.NewF32([]int64{int64(n), Classes}, probs),
	}, nil
}
