package faults

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/reference/serve"
)

// This file holds the helpers of the faults that wrap the HTTP handler
// (serve.WithHandlerWrapper), and those of them that change responses:
// no-id-echo, bad-metadata, bad-server-metadata, leaky-errors,
// dies-after-abuse, nan-output, nondeterministic, binary-big-endian and the
// health faults (not-live, never-ready, model-not-ready); and ignore-auth.
// request.go holds those that look at requests.

// peekLimit is the largest request body a fault reads before the server
// does, the server's default limit; a larger body passes unexamined.
const peekLimit = serve.DefaultMaxBodyBytes

// bufferWriter collects a response so that a fault can change it before
// it is sent.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newBufferWriter() *bufferWriter { return &bufferWriter{header: http.Header{}} }

func (b *bufferWriter) Header() http.Header { return b.header }

func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 && code >= 200 {
		b.status = code
	}
}

func (b *bufferWriter) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// code is the status sent, 200 when the handler sent none.
func (b *bufferWriter) code() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}

// send writes the collected response to w with body in place of the
// collected one (nil keeps it), with a Content-Length that fits.
func (b *bufferWriter) send(w http.ResponseWriter, body []byte) {
	if body == nil {
		body = b.body.Bytes()
	}
	h := w.Header()
	for k, v := range b.header {
		h[k] = v
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(b.code())
	_, _ = w.Write(body)
}

// sendJSON writes the collected response to w with the JSON object
// members in place of its body; if members cannot be encoded, the
// collected body goes out unchanged.
func (b *bufferWriter) sendJSON(w http.ResponseWriter, members map[string]json.RawMessage) {
	body, err := json.Marshal(members)
	if err != nil {
		b.send(w, nil)
		return
	}
	b.send(w, append(body, '\n'))
}

// modelRoute splits a path /v2/models/{m}[/versions/{v}][/ready|/infer]
// into the model, the version ("" when the path names none) and the
// action ("" for metadata, "ready" or "infer").
func modelRoute(path string) (model, version, action string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/v2/models/")
	if !ok {
		return "", "", "", false
	}
	parts := strings.Split(rest, "/")
	isAction := func(s string) bool { return s == "ready" || s == "infer" }
	switch {
	case len(parts) == 1:
		model = parts[0]
	case len(parts) == 2 && isAction(parts[1]):
		model, action = parts[0], parts[1]
	case len(parts) == 3 && parts[1] == "versions":
		model, version = parts[0], parts[2]
	case len(parts) == 4 && parts[1] == "versions" && isAction(parts[3]):
		model, version, action = parts[0], parts[2], parts[3]
	default:
		return "", "", "", false
	}
	if model == "" || (len(parts) >= 3 && version == "") {
		return "", "", "", false
	}
	return model, version, action, true
}

// isInfer reports whether r is an inference request.
func isInfer(r *http.Request) bool {
	_, _, action, ok := modelRoute(r.URL.Path)
	return ok && action == "infer" && r.Method == http.MethodPost
}

// peekBody reads r's body when it is at most limit bytes and puts an
// equal body back for the handlers after, which read it as if nothing had
// happened. ok is false when the body is larger (then nothing is lost
// either) or cannot be read.
func peekBody(r *http.Request, limit int64) (body []byte, ok bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true
	}
	if r.ContentLength > limit {
		return nil, false
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil || int64(len(buf)) > limit {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(buf))
	return buf, true
}

// inferAnswer is a 200 inference response taken apart: the members of its
// JSON object, its outputs, and the binary data of each output sent as
// binary data.
type inferAnswer struct {
	members map[string]json.RawMessage
	outputs []oip.ResponseOutput
	// binary holds, for each output sent as binary data, its bytes (nil
	// for an output with JSON data).
	binary [][]byte
	// hasBinary says whether the body carries binary data, i.e. whether
	// it had an Inference-Header-Content-Length header.
	hasBinary bool
	// outputsChanged says whether outputs must be encoded again.
	outputsChanged bool
}

// parseInferAnswer takes apart a 200 inference response.
func parseInferAnswer(h http.Header, body []byte) (*inferAnswer, error) {
	headerLength := h.Get(oip.HeaderInferenceContentLength)
	js, bin, err := oip.SplitBody(body, headerLength)
	if err != nil {
		return nil, err
	}
	a := &inferAnswer{hasBinary: headerLength != ""}
	if err := json.Unmarshal(js, &a.members); err != nil {
		return nil, err
	}
	if raw, ok := a.members["outputs"]; ok {
		if err := json.Unmarshal(raw, &a.outputs); err != nil {
			return nil, err
		}
	}
	rd := oip.NewBinaryReader(bin)
	a.binary = make([][]byte, len(a.outputs))
	for i, o := range a.outputs {
		size, isBinary, err := oip.BinaryDataSize(o.Parameters)
		if err != nil {
			return nil, err
		}
		if !isBinary {
			continue
		}
		seg, err := rd.Next(size)
		if err != nil {
			return nil, err
		}
		a.binary[i] = slices.Clone(seg)
	}
	if rd.Len() != 0 {
		return nil, errors.New("binary data after the JSON object belongs to no output")
	}
	return a, nil
}

// send writes the answer, encoded again, with the status and headers of
// b.
func (a *inferAnswer) send(w http.ResponseWriter, b *bufferWriter) {
	if a.outputsChanged {
		raw, err := json.Marshal(a.outputs)
		if err != nil {
			b.send(w, nil)
			return
		}
		a.members["outputs"] = raw
	}
	js, err := json.Marshal(a.members)
	if err != nil {
		b.send(w, nil)
		return
	}
	var chunks [][]byte
	for _, seg := range a.binary {
		if seg != nil {
			chunks = append(chunks, seg)
		}
	}
	if a.hasBinary {
		b.header.Set(oip.HeaderInferenceContentLength, strconv.Itoa(len(js)))
	} else {
		js = append(js, '\n')
	}
	b.send(w, oip.JoinBody(js, chunks...))
}

// rewriteInfer returns a handler wrapper that passes every 200 inference
// response through edit, which changes the answer in place; prepare, when
// not nil, runs first and returns what edit gets as its second argument.
// Other responses, and answers it cannot take apart, are sent unchanged.
func rewriteInfer[T any](prepare func(r *http.Request) T, edit func(a *inferAnswer, state T)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !isInfer(r) {
				next.ServeHTTP(w, r)
				return
			}
			var state T
			if prepare != nil {
				state = prepare(r)
			}
			bw := newBufferWriter()
			next.ServeHTTP(bw, r)
			if bw.code() != http.StatusOK {
				bw.send(w, nil)
				return
			}
			a, err := parseInferAnswer(bw.header, bw.body.Bytes())
			if err != nil {
				bw.send(w, nil)
				return
			}
			edit(a, state)
			a.send(w, bw)
		})
	}
}

// noIDEcho: inference responses lose their id.
func noIDEcho() func(http.Handler) http.Handler {
	return rewriteInfer[struct{}](nil, func(a *inferAnswer, _ struct{}) {
		delete(a.members, "id")
	})
}

// badMetadata: model metadata declares a fixed batch of 1 where the
// model has the variable batch dimension -1 first.
func badMetadata() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _, action, ok := modelRoute(r.URL.Path)
			if !ok || action != "" || r.Method != http.MethodGet {
				next.ServeHTTP(w, r)
				return
			}
			bw := newBufferWriter()
			next.ServeHTTP(bw, r)
			var members map[string]json.RawMessage
			var inputs []oip.TensorMetadata
			if bw.code() != http.StatusOK || json.Unmarshal(bw.body.Bytes(), &members) != nil || json.Unmarshal(members["inputs"], &inputs) != nil {
				bw.send(w, nil)
				return
			}
			for i := range inputs {
				if len(inputs[i].Shape) > 0 && inputs[i].Shape[0] == -1 {
					inputs[i].Shape[0] = 1
				}
			}
			raw, err := json.Marshal(inputs)
			if err != nil {
				bw.send(w, nil)
				return
			}
			members["inputs"] = raw
			bw.sendJSON(w, members)
		})
	}
}

// leakyErrors: the message of every error response gets the stack trace
// of the goroutine that answered it appended.
func leakyErrors() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			bw := newBufferWriter()
			next.ServeHTTP(bw, r)
			var members map[string]json.RawMessage
			var msg string
			if bw.code() < 400 || json.Unmarshal(bw.body.Bytes(), &members) != nil || json.Unmarshal(members["error"], &msg) != nil {
				bw.send(w, nil)
				return
			}
			raw, err := json.Marshal(msg + "\n" + string(debug.Stack()))
			if err != nil {
				bw.send(w, nil)
				return
			}
			members["error"] = raw
			bw.sendJSON(w, members)
		})
	}
}

// ignoreAuth: every request is exempt from authentication.
func ignoreAuth() ([]serve.Option, error) {
	return []serve.Option{serve.WithAuthExempt(func(*http.Request) bool { return true })}, nil
}

// diesAfterAbuse: the server counts the requests it rejects (400
// and 413). Once there are abuseLimit of them, the next server readiness
// probe finds the server wedged, and from then on every request is
// answered 503. The wedge waits for the readiness probe so that the
// requests sent while the bad-input battery runs, valid ones and liveness
// probes among them, are answered as usual.
func diesAfterAbuse() func(http.Handler) http.Handler {
	var rejected atomic.Int64
	var dead atomic.Bool
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/health/ready" && rejected.Load() >= abuseLimit {
				dead.Store(true)
			}
			if dead.Load() {
				serve.WriteError(w, http.StatusServiceUnavailable, "service unavailable")
				return
			}
			sw := &faultStatusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			if sw.status == http.StatusBadRequest || sw.status == http.StatusRequestEntityTooLarge {
				rejected.Add(1)
			}
		})
	}
}

// faultStatusWriter records the status a handler sent.
type faultStatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *faultStatusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *faultStatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *faultStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// nanOutput: FP32 and FP64 outputs named probabilities have every
// value below nanBelow replaced by NaN: in JSON data the string "NaN" (the
// proto3 JSON form of a NaN float), in binary data a quiet NaN.
func nanOutput() func(http.Handler) http.Handler {
	return rewriteInfer[struct{}](nil, func(a *inferAnswer, _ struct{}) {
		for i := range a.outputs {
			o := &a.outputs[i]
			if o.Name != probabilitiesOutput || (o.Datatype != string(numerics.FP32) && o.Datatype != string(numerics.FP64)) {
				continue
			}
			if a.binary[i] != nil {
				nanBinary(o.Datatype, a.binary[i])
				continue
			}
			t, err := oip.DecodeData(o.Datatype, o.Shape, o.Data)
			if err != nil {
				continue
			}
			if data, changed := nanJSON(t); changed {
				o.Data = data
				a.outputsChanged = true
			}
		}
	})
}

// nanBinary replaces, in place, each value of raw (little-endian FP32 or
// FP64) below nanBelow by a quiet NaN.
func nanBinary(datatype string, raw []byte) {
	if datatype == string(numerics.FP32) {
		for i := 0; i+4 <= len(raw); i += 4 {
			if math.Float32frombits(binary.LittleEndian.Uint32(raw[i:])) < nanBelow {
				binary.LittleEndian.PutUint32(raw[i:], 0x7fc00000)
			}
		}
		return
	}
	for i := 0; i+8 <= len(raw); i += 8 {
		if math.Float64frombits(binary.LittleEndian.Uint64(raw[i:])) < nanBelow {
			binary.LittleEndian.PutUint64(raw[i:], 0x7ff8000000000000)
		}
	}
}

// nanJSON renders t as flat JSON data with "NaN" for each value below
// nanBelow; changed is false when there is none.
func nanJSON(t numerics.Tensor) (json.RawMessage, bool) {
	bits := 64
	if t.DType == numerics.FP32 {
		bits = 32
	}
	changed := false
	b := []byte{'['}
	for i, v := range t.Float64s() {
		if i > 0 {
			b = append(b, ',')
		}
		if v < nanBelow {
			b = append(b, `"NaN"`...)
			changed = true
			continue
		}
		b = strconv.AppendFloat(b, v, 'g', -1, bits)
	}
	return append(b, ']'), changed
}

// nondeterministic: the n-th answer (from 0) to an inference
// request identical to earlier ones (same path and body but for the id)
// has the values of its JSON floating outputs, probabilities excepted,
// moved by classShare of the tolerance class: up when n is even, down when
// it is odd. Outputs sent as binary data are left as they are.
func nondeterministic() func(http.Handler) http.Handler {
	seen := &requestCounter{counts: map[[sha256.Size]byte]int64{}}
	prepare := func(r *http.Request) float64 {
		key, ok := requestKey(r, peekLimit)
		if !ok {
			return 0
		}
		if seen.next(key)%2 == 0 {
			return 1
		}
		return -1
	}
	return rewriteInfer(prepare, func(a *inferAnswer, sign float64) {
		if sign == 0 {
			return
		}
		for i := range a.outputs {
			o := &a.outputs[i]
			dt := numerics.DType(o.Datatype)
			if a.binary[i] != nil || !dt.IsFloat() || o.Name == probabilitiesOutput {
				continue
			}
			t, err := oip.DecodeData(o.Datatype, o.Shape, o.Data)
			if err != nil {
				continue
			}
			tol := classOf(dt)
			v := t.Float64s()
			for j, x := range v {
				v[j] = x + sign*classShare*(tol.ATol+tol.RTol*math.Abs(x))
			}
			data, err := oip.EncodeData(withFloats(t, v))
			if err != nil {
				continue
			}
			o.Data = data
			a.outputsChanged = true
		}
	})
}

// requestKey identifies an inference request up to its id: the SHA-256 of
// its path and body, with the id removed from the JSON object. ok is
// false for a body that is too large or whose JSON part is not an object.
func requestKey(r *http.Request, limit int64) (key [sha256.Size]byte, ok bool) {
	body, ok := peekBody(r, limit)
	if !ok {
		return key, false
	}
	js, bin, err := oip.SplitBody(body, r.Header.Get(oip.HeaderInferenceContentLength))
	if err != nil {
		return key, false
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(js, &members) != nil || members == nil {
		return key, false
	}
	delete(members, "id")
	canonical, err := json.Marshal(members)
	if err != nil {
		return key, false
	}
	h := sha256.New()
	h.Write([]byte(r.URL.Path))
	h.Write([]byte{0})
	h.Write(canonical)
	h.Write([]byte{0})
	h.Write(bin)
	h.Sum(key[:0])
	return key, true
}

// requestCounter counts the requests seen per key. It forgets everything
// when it holds maxCountedRequests keys.
type requestCounter struct {
	mu     sync.Mutex
	counts map[[sha256.Size]byte]int64
}

// maxCountedRequests bounds the keys a requestCounter holds.
const maxCountedRequests = 1 << 16

// next returns how many times key was seen before, and counts this time.
func (rc *requestCounter) next(key [sha256.Size]byte) int64 {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if _, ok := rc.counts[key]; !ok && len(rc.counts) >= maxCountedRequests {
		clear(rc.counts)
	}
	n := rc.counts[key]
	rc.counts[key] = n + 1
	return n
}

// answer503 returns a handler wrapper that answers 503 with msg(r) to
// the GET requests for which hit reports true, once the server's own
// answer to them is 200; other requests, and those the server answers
// otherwise (an unknown model: 404), pass unchanged.
func answer503(hit func(r *http.Request) bool, msg func(r *http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !hit(r) {
				next.ServeHTTP(w, r)
				return
			}
			bw := newBufferWriter()
			next.ServeHTTP(bw, r)
			if bw.code() != http.StatusOK {
				bw.send(w, nil)
				return
			}
			serve.WriteError(w, http.StatusServiceUnavailable, msg(r))
		})
	}
}

// notLive: GET /v2/health/live answers 503.
func notLive() func(http.Handler) http.Handler {
	return answer503(func(r *http.Request) bool { return r.URL.Path == "/v2/health/live" },
		func(*http.Request) string { return "the server is not live" })
}

// neverReady: GET /v2/health/ready answers 503.
func neverReady() func(http.Handler) http.Handler {
	return answer503(func(r *http.Request) bool { return r.URL.Path == "/v2/health/ready" },
		func(*http.Request) string { return "the server is not ready" })
}

// modelNotReady: the versioned model readiness route answers 503 for a
// served model version.
func modelNotReady() func(http.Handler) http.Handler {
	return answer503(func(r *http.Request) bool {
		_, version, action, ok := modelRoute(r.URL.Path)
		return ok && version != "" && action == "ready"
	}, func(r *http.Request) string {
		model, version, _, _ := modelRoute(r.URL.Path)
		return "model " + strconv.Quote(model) + " version " + strconv.Quote(version) + " is not ready"
	})
}

// badServerMetadata: server metadata loses its version member.
func badServerMetadata() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || (r.URL.Path != "/v2" && r.URL.Path != "/v2/") {
				next.ServeHTTP(w, r)
				return
			}
			bw := newBufferWriter()
			next.ServeHTTP(bw, r)
			var members map[string]json.RawMessage
			if bw.code() != http.StatusOK || json.Unmarshal(bw.body.Bytes(), &members) != nil {
				bw.send(w, nil)
				return
			}
			delete(members, "version")
			bw.sendJSON(w, members)
		})
	}
}

// binaryBigEndian: the elements of every output sent as binary data have
// their bytes reversed, which turns little-endian into big-endian.
func binaryBigEndian() func(http.Handler) http.Handler {
	return rewriteInfer[struct{}](nil, func(a *inferAnswer, _ struct{}) {
		for i, seg := range a.binary {
			size := numerics.DType(a.outputs[i].Datatype).Size()
			if seg == nil || size <= 1 {
				continue
			}
			for j := 0; j+size <= len(seg); j += size {
				slices.Reverse(seg[j : j+size])
			}
		}
	})
}
