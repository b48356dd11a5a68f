package conformance

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/oip/grpcbind"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
	"github.com/aiconform/aiconform/spec"
)

// InferenceLoad describes the inference queries of a load run against
// one served model: each query carries samples drawn from the reference
// model's input domain (spec/v1/models.json) with the given seed, every
// query a sample no earlier query carried.
type InferenceLoad struct {
	// Target is the endpoint: the base URL of its REST binding, e.g.
	// http://127.0.0.1:8000, or grpc://HOST:PORT (grpcs:// with TLS) for
	// its gRPC binding, where each query is one ModelInfer call.
	Target string
	// Model is the served model and the reference model it stands for.
	Model ModelRef
	// Seed seeds the samples; query Seq draws from its own stream of it.
	Seed uint64
	// Samples is the number of samples per query (the batch size); zero
	// means 1.
	Samples int
	// BinaryData sends the tensors as bytes rather than numbers: over
	// REST, the inputs as binary tensor data with binary_data_output
	// asking for the outputs the same way; over gRPC, the inputs as
	// raw_input_contents. Otherwise REST carries JSON data and gRPC typed
	// contents (fp32_contents, int64_contents).
	BinaryData bool
	// Token, when not empty, is sent as a bearer token (over gRPC, in the
	// authorization metadata).
	Token string
	// RootCAs verify an https or grpcs target; nil uses the system roots.
	RootCAs *x509.CertPool
	// Timeout bounds each query; zero uses load.DefaultTimeout.
	Timeout time.Duration
	// MaxConnections bounds the open connections; zero uses
	// load.DefaultMaxConnections.
	MaxConnections int
	// MaxBodyBytes caps each response body (over gRPC, each response
	// message): a longer one fails its query. Zero uses
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// InferenceTarget is a load.Target that sends Open Inference Protocol
// inference requests for one served model and fails a query whose
// response is not a success carrying the contract's outputs. Over REST a
// query is one POST to the model's infer route (load.HTTPTarget), over
// gRPC one ModelInfer call (load.GRPCTarget); both run on the same
// generator with the same semantics.
//
// Requests are prepared off the timed path: a goroutine encodes the
// bodies (over gRPC, the serialised ModelInferRequest messages) of the
// queries ahead of the last one sent (a bounded look-ahead), so a query's
// latency holds no encoding unless the look-ahead fell behind (LateBodies
// counts those). A response is validated structurally (status 200 or OK,
// the model's name, every output of the contract with its datatype, its
// shape and as many values, or bytes of binary data, as the shape holds)
// without decoding its values. The responses of the accuracy sample are
// decoded after that; a gRPC one in its REST form (grpcbind.ResponseToREST),
// so that both bindings reach the numeric checks alike.
type InferenceTarget struct {
	l        InferenceLoad
	contract spec.Contract
	// length is the sequence length of every sample (0 without a
	// sequence axis).
	length int64
	// shapes are the output shapes a response must carry, by name.
	shapes map[string]outputShape
	// hit sends a query; close closes its connections.
	hit      load.Target
	close    func() error
	ahead    *lookahead
	keep     *keeper
	sampleOf func(q load.Query) uint64
	// wire appends the request of one query's inputs to a buffer, in the
	// binding's form: appendInferBody, appendBinaryBody (after
	// binaryHeader, the JSON object of every binary request) or
	// appendModelInfer.
	wire         func(b []byte, ins []namedTensor) ([]byte, error)
	binaryHeader []byte
	// bodySize is the capacity a body is encoded into.
	bodySize int
}

// outputShape is what a response must say of one output.
type outputShape struct {
	datatype string
	shape    []int64
	count    int
	// bytes is the size of the output as binary data.
	bytes int64
}

// fixedSample is the sample index of the repeated arm of LAT-CACHE-AUDIT:
// a stream no query of a run draws otherwise.
const fixedSample = math.MaxUint64

// performanceLengths are the sequence lengths of a sample in the
// performance scenarios (spec/v1/performance.md, rule 1); a model with a
// sequence axis not listed uses its longest sequence.
var performanceLengths = map[string]int64{"seed-rnn": 32, "seed-transformer": 64}

// sampleLength is the sequence length of a performance sample of c.
func sampleLength(c spec.Contract) int64 {
	if c.Sequence == nil {
		return 0
	}
	if t, ok := performanceLengths[c.Model]; ok {
		return t
	}
	return c.Sequence.Max
}

// NewInferenceTarget checks the description and returns its target.
func NewInferenceTarget(l InferenceLoad) (*InferenceTarget, error) {
	return newInferenceTarget(l, nil, nil)
}

// newInferenceTarget is NewInferenceTarget with the hooks of the checks:
// keep, when not nil, keeps the outputs of the queries it selects for
// the accuracy sample; sampleOf, when not nil, maps a query to the
// sample it carries (the query's Seq otherwise).
func newInferenceTarget(l InferenceLoad, keep *keeper, sampleOf func(load.Query) uint64) (*InferenceTarget, error) {
	grpcTarget, base, err := loadTargetURL(l.Target)
	if err != nil {
		return nil, fmt.Errorf("conformance: inference load: %w", err)
	}
	if l.Model.Name == "" {
		return nil, errors.New("conformance: inference load: the model has no name")
	}
	c, err := spec.ModelContract(l.Model.Reference, l.Model.ReferenceVersion)
	if err != nil {
		return nil, fmt.Errorf("conformance: inference load of %s: %w", l.Model.Label(), err)
	}
	switch {
	case l.Samples < 0:
		return nil, fmt.Errorf("conformance: inference load of %s: %d samples per query, want a positive count (or 0 for 1)", l.Model.Label(), l.Samples)
	case l.Samples == 0:
		l.Samples = 1
	}
	if l.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("conformance: inference load of %s: body limit %d, want a positive number of bytes (or 0 for %d)", l.Model.Label(), l.MaxBodyBytes, DefaultMaxBodyBytes)
	}
	t := &InferenceTarget{l: l, contract: c, length: sampleLength(c), keep: keep, sampleOf: sampleOf, shapes: map[string]outputShape{}}
	if t.sampleOf == nil {
		t.sampleOf = func(q load.Query) uint64 { return q.Seq }
	}
	for _, o := range c.Outputs {
		shape, err := concreteShape(c, o, l.Samples, t.length)
		if err != nil {
			return nil, fmt.Errorf("conformance: inference load of %s: %w", l.Model.Label(), err)
		}
		n := 1
		for _, d := range shape {
			n *= int(d)
		}
		size, err := oip.BinarySize(string(o.Datatype), shape)
		if err != nil {
			return nil, fmt.Errorf("conformance: inference load of %s: output %q: %w", l.Model.Label(), o.Name, err)
		}
		t.shapes[o.Name] = outputShape{datatype: string(o.Datatype), shape: shape, count: n, bytes: size}
	}
	switch {
	case grpcTarget:
		t.wire = t.appendModelInfer
	case l.BinaryData:
		ins, err := t.inputs(0)
		if err != nil {
			return nil, fmt.Errorf("conformance: inference load of %s: %w", l.Model.Label(), err)
		}
		if t.binaryHeader, err = binaryRequestHeader(ins); err != nil {
			return nil, fmt.Errorf("conformance: inference load of %s: %w", l.Model.Label(), err)
		}
		t.wire = t.appendBinaryBody
	default:
		t.wire = func(b []byte, ins []namedTensor) ([]byte, error) { return appendInferBody(b, ins) }
	}
	// One body is encoded now: a contract whose samples cannot be drawn
	// or encoded is refused here, not query by query.
	first, err := t.encode(0)
	t.bodySize = len(first) + len(first)/8
	if err != nil {
		return nil, fmt.Errorf("conformance: inference load of %s: %w", l.Model.Label(), err)
	}
	var tlsConfig *tls.Config
	if l.RootCAs != nil {
		tlsConfig = &tls.Config{RootCAs: l.RootCAs, MinVersion: tls.VersionTLS12}
	}
	maxBody := int(min(cmp.Or(l.MaxBodyBytes, DefaultMaxBodyBytes), math.MaxInt32))
	t.ahead = newLookahead(len(first), t.encode)
	if grpcTarget {
		var md metadata.MD
		if l.Token != "" {
			md = metadata.Pairs(grpcbind.MetadataAuthorization, "Bearer "+l.Token)
		}
		var g *load.GRPCTarget
		g, err = load.NewGRPCTarget(load.GRPCConfig{
			URL:             base,
			Method:          pb.GRPCInferenceService_ModelInfer_FullMethodName,
			Metadata:        md,
			Request:         t.ahead.take,
			Check:           t.checkGRPC,
			TLS:             tlsConfig,
			MaxConnections:  l.MaxConnections,
			MaxMessageBytes: maxBody,
			Timeout:         l.Timeout,
		})
		if err == nil {
			t.hit, t.close = g, g.Close
		}
	} else {
		header := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
		if l.BinaryData {
			header.Set("Content-Type", oip.ContentTypeBinary)
			header.Set(oip.HeaderInferenceContentLength, strconv.Itoa(len(t.binaryHeader)))
			header.Set("Accept", oip.ContentTypeBinary+", application/json")
		}
		if l.Token != "" {
			header.Set("Authorization", "Bearer "+l.Token)
		}
		var h *load.HTTPTarget
		h, err = load.NewHTTPTarget(load.HTTPConfig{
			URL:            base + oip.ModelPath(l.Model.Name, l.Model.Version) + "/infer",
			Method:         http.MethodPost,
			Header:         header,
			Body:           t.ahead.take,
			Check:          t.checkREST,
			TLS:            tlsConfig,
			MaxConnections: l.MaxConnections,
			Timeout:        l.Timeout,
			MaxBodyBytes:   maxBody,
		})
		if err == nil {
			t.hit, t.close = h, h.Close
		}
	}
	if err != nil {
		t.ahead.close()
		return nil, fmt.Errorf("conformance: inference load of %s: %w", l.Model.Label(), err)
	}
	return t, nil
}

// loadTargetURL reads the target of a load: a grpc:// or grpcs:// URL is
// the gRPC binding's, kept as it is; anything else is the base URL of the
// REST binding, checked by parseTarget.
func loadTargetURL(target string) (grpcTarget bool, base string, err error) {
	if u, err := url.Parse(target); err == nil && (u.Scheme == "grpc" || u.Scheme == "grpcs") {
		return true, strings.TrimSuffix(target, "/"), nil
	}
	base, err = parseTarget(target)
	return false, base, err
}

// Hit implements load.Target.
func (t *InferenceTarget) Hit(ctx context.Context, q load.Query) error { return t.hit.Hit(ctx, q) }

// Close closes the target's connections and stops its look-ahead.
func (t *InferenceTarget) Close() error {
	t.ahead.close()
	return t.close()
}

// LateBodies is the number of request bodies encoded when their query was
// sent because the look-ahead had not prepared them.
func (t *InferenceTarget) LateBodies() int64 { return t.ahead.late.Load() }

// sampleSampler is the stream of the seed that sample i of a load run of
// model m draws from.
func sampleSampler(seed uint64, m ModelRef, sample uint64) *sampler {
	return newSampler(seed, "load", m.Label(), strconv.FormatUint(sample, 10))
}

// inputs draws the inputs of sample index i (Samples samples).
func (t *InferenceTarget) inputs(i uint64) ([]namedTensor, error) {
	return sampleSampler(t.l.Seed, t.l.Model, i).draw(t.contract, t.l.Samples, t.length, nil)
}

// encode returns the body of query seq. The fixed sample is drawn and
// encoded again each time, as fresh ones are, so that preparing the
// queries of the two arms of the cache audit costs the same.
func (t *InferenceTarget) encode(seq uint64) ([]byte, error) {
	return t.encodeSample(t.sampleOf(load.Query{Seq: seq}))
}

func (t *InferenceTarget) encodeSample(s uint64) ([]byte, error) {
	ins, err := t.inputs(s)
	if err != nil {
		return nil, err
	}
	return t.wire(make([]byte, 0, t.bodySize), ins)
}

// binaryRequestHeader is the JSON object of a request that carries ins as
// binary tensor data and asks for every output the same way. It is the
// same for every query of a load, since their inputs differ only in
// their values.
func binaryRequestHeader(ins []namedTensor) ([]byte, error) {
	wire := oip.InferenceRequest{Parameters: oip.Parameters{oip.ParamBinaryDataOutput: true}}
	for _, in := range ins {
		size, err := oip.BinarySize(string(in.t.DType), in.t.Shape)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", in.name, err)
		}
		wire.Inputs = append(wire.Inputs, oip.RequestInput{Name: in.name, Shape: in.t.Shape, Datatype: string(in.t.DType),
			Parameters: oip.Parameters{oip.ParamBinaryDataSize: size}})
	}
	return json.Marshal(wire)
}

// appendBinaryBody appends the request of ins with binary tensor data to
// b: the target's binaryHeader, then the bytes of each input.
func (t *InferenceTarget) appendBinaryBody(b []byte, ins []namedTensor) ([]byte, error) {
	b = append(b, t.binaryHeader...)
	for _, in := range ins {
		raw, err := oip.EncodeBinary(in.t)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", in.name, err)
		}
		b = append(b, raw...)
	}
	return b, nil
}

// appendModelInfer appends the serialised ModelInferRequest of ins to b:
// typed contents, or raw contents with BinaryData.
func (t *InferenceTarget) appendModelInfer(b []byte, ins []namedTensor) ([]byte, error) {
	req := &pb.ModelInferRequest{ModelName: t.l.Model.Name, ModelVersion: t.l.Model.Version}
	for _, in := range ins {
		tensor := &pb.ModelInferRequest_InferInputTensor{Name: in.name, Datatype: string(in.t.DType), Shape: in.t.Shape}
		if t.l.BinaryData {
			raw, err := oip.EncodeBinary(in.t)
			if err != nil {
				return nil, fmt.Errorf("input %q: %w", in.name, err)
			}
			req.RawInputContents = append(req.RawInputContents, raw)
		} else {
			c, err := grpcbind.TensorContents(in.t)
			if err != nil {
				return nil, fmt.Errorf("input %q: %w", in.name, err)
			}
			tensor.Contents = c
		}
		req.Inputs = append(req.Inputs, tensor)
	}
	return proto.MarshalOptions{}.MarshalAppend(b, req)
}

// appendInferBody appends the JSON inference request of inputs to b:
// what encodeInfer writes for them, written directly (each value in its
// shortest form that reads back exactly) rather than through
// encoding/json, since a load run prepares one body per query.
func appendInferBody(b []byte, ins []namedTensor) ([]byte, error) {
	b = append(b, `{"inputs":[`...)
	for i, in := range ins {
		if i > 0 {
			b = append(b, ',')
		}
		name, err := json.Marshal(in.name)
		if err != nil {
			return nil, err
		}
		b = append(b, `{"name":`...)
		b = append(b, name...)
		b = append(b, `,"shape":[`...)
		for j, d := range in.t.Shape {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, d, 10)
		}
		b = append(b, `],"datatype":"`...)
		b = append(b, in.t.DType...)
		b = append(b, `","data":[`...)
		n := in.t.Len()
		for j := 0; j < n; j++ {
			if j > 0 {
				b = append(b, ',')
			}
			switch in.t.DType {
			case numerics.FP32:
				v := float64(in.t.F32[j])
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, fmt.Errorf("input %q element %d is %v, which JSON cannot carry", in.name, j, v)
				}
				b = strconv.AppendFloat(b, v, 'g', -1, 32)
			case numerics.FP64:
				v := in.t.F64[j]
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, fmt.Errorf("input %q element %d is %v, which JSON cannot carry", in.name, j, v)
				}
				b = strconv.AppendFloat(b, v, 'g', -1, 64)
			case numerics.INT64:
				b = strconv.AppendInt(b, in.t.I64[j], 10)
			default:
				return nil, fmt.Errorf("input %q: datatype %s is not supported", in.name, in.t.DType)
			}
		}
		b = append(b, "]}"...)
	}
	return append(b, "]}"...), nil
}

// checkREST validates a complete REST response (JSON, or binary tensor
// data after its JSON object) and keeps the outputs of the queries of the
// accuracy sample.
func (t *InferenceTarget) checkREST(q load.Query, r load.Response) error {
	if r.Status != http.StatusOK {
		return &load.QueryError{Kind: load.KindStatus, Status: r.Status, Err: fmt.Errorf("status %d, want 200", r.Status)}
	}
	js, bin, err := oip.SplitBody(r.Body, r.HeaderValue(oip.HeaderInferenceContentLength))
	if err != nil {
		return err
	}
	var resp oip.InferenceResponse
	if err := json.Unmarshal(js, &resp); err != nil {
		return fmt.Errorf("the response is not an inference response: %w", err)
	}
	if err := t.validateREST(resp, len(bin)); err != nil {
		return err
	}
	return t.keepOutputs(q, resp, bin)
}

// validateREST checks the structure of a REST inference response whose
// JSON object is resp, followed by binLen bytes of binary data.
func (t *InferenceTarget) validateREST(resp oip.InferenceResponse, binLen int) error {
	if resp.ModelName != t.l.Model.Name {
		return fmt.Errorf("model_name is %q, want %q", resp.ModelName, t.l.Model.Name)
	}
	seen := 0
	var declared int64 // bytes of binary data the outputs declare
	for _, o := range resp.Outputs {
		size, isBinary, err := oip.BinaryDataSize(o.Parameters)
		if err != nil {
			return fmt.Errorf("output %q: %w", o.Name, err)
		}
		if declared += size; declared > int64(binLen) {
			return fmt.Errorf("the outputs declare more than the %d bytes of binary data the body carries after its JSON object", binLen)
		}
		want, ok := t.shapes[o.Name]
		if !ok {
			continue
		}
		seen++
		if err := want.judge(o.Name, o.Datatype, o.Shape); err != nil {
			return err
		}
		if isBinary {
			if size != want.bytes {
				return fmt.Errorf("output %q holds %d bytes of binary data, want %d (shape %v of %s)", o.Name, size, want.bytes, want.shape, want.datatype)
			}
			continue
		}
		if n, err := countJSONValues(o.Data); err != nil || n != want.count {
			if err != nil {
				return fmt.Errorf("output %q: %w", o.Name, err)
			}
			return fmt.Errorf("output %q holds %d values, want %d (shape %v)", o.Name, n, want.count, want.shape)
		}
	}
	if declared != int64(binLen) {
		return fmt.Errorf("the outputs declare %d bytes of binary data, the body carries %d after its JSON object", declared, binLen)
	}
	if seen != len(t.shapes) {
		return fmt.Errorf("the response carries %d of the contract's %d outputs", seen, len(t.shapes))
	}
	return nil
}

// judge checks the datatype and shape a response gives output name.
func (want outputShape) judge(name, datatype string, shape []int64) error {
	if datatype != want.datatype {
		return fmt.Errorf("output %q has datatype %s, want %s", name, datatype, want.datatype)
	}
	if !slices.Equal(shape, want.shape) {
		return fmt.Errorf("output %q has shape %v, want %v", name, shape, want.shape)
	}
	return nil
}

// keepOutputs decodes the contract's outputs of a REST inference response
// (its JSON object and the binary data after it) into the accuracy
// sample, when the keeper wants query q.
func (t *InferenceTarget) keepOutputs(q load.Query, resp oip.InferenceResponse, bin []byte) error {
	if t.keep == nil || q.Warmup || !t.keep.wants(q.Seq) {
		return nil
	}
	outs := map[string]numerics.Tensor{}
	rd := oip.NewBinaryReader(bin)
	for _, o := range resp.Outputs {
		if _, ok := t.shapes[o.Name]; !ok {
			// Its binary data, if any, comes before the next output's.
			if size, isBinary, err := oip.BinaryDataSize(o.Parameters); err == nil && isBinary {
				if _, err := rd.Next(size); err != nil {
					return fmt.Errorf("output %q: %w", o.Name, err)
				}
			}
			continue
		}
		x, err := decodeOutput(o, rd)
		if err != nil {
			return fmt.Errorf("output %q: %w", o.Name, err)
		}
		outs[o.Name] = x
	}
	t.keep.add(kept{seq: q.Seq, sample: t.sampleOf(q), outputs: outs})
	return nil
}

// countJSONValues counts the scalar values of JSON tensor data, flat or
// nested, without decoding them. raw is valid JSON (json.Unmarshal has
// read it); an object or a null, which are no tensor elements, is an
// error.
func countJSONValues(raw []byte) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return 0, errors.New("data is not a JSON array")
	}
	n, depth := 0, 0
	expectValue := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case ' ', '\t', '\n', '\r':
		case '[':
			depth++
			expectValue = true
		case ']':
			depth--
			expectValue = false
		case ',':
			expectValue = true
		case '{', '}', ':':
			return 0, errors.New("data holds an object, want numbers, strings or booleans (nested in arrays)")
		case '"':
			j := i + 1
			for j < len(raw) && raw[j] != '"' {
				if raw[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(raw) {
				return 0, errors.New("data holds an unterminated string")
			}
			i = j
			if expectValue {
				n++
			}
			expectValue = false
		default:
			if expectValue {
				if c == 'n' {
					return 0, errors.New("data holds null, want numbers, strings or booleans (nested in arrays)")
				}
				n++
			}
			expectValue = false
		}
	}
	if depth != 0 {
		return 0, errors.New("data's brackets do not balance")
	}
	return n, nil
}

// lookahead prepares the bodies of the queries ahead of the last one
// asked for, in a goroutine of its own, bounded in count and bytes.
type lookahead struct {
	encode func(seq uint64) ([]byte, error)
	depth  uint64
	late   atomic.Int64

	mu     sync.Mutex
	cond   *sync.Cond
	ready  map[uint64][]byte
	next   uint64 // the next seq the goroutine prepares
	asked  uint64 // one past the highest seq asked for
	closed bool
	done   chan struct{}
}

// lookaheadBytes bounds the bytes of the bodies prepared ahead.
const lookaheadBytes = 32 << 20

func newLookahead(bodySize int, encode func(uint64) ([]byte, error)) *lookahead {
	depth := uint64(min(max(lookaheadBytes/max(bodySize, 1), 8), 512))
	a := &lookahead{encode: encode, depth: depth, ready: map[uint64][]byte{}, done: make(chan struct{})}
	a.cond = sync.NewCond(&a.mu)
	go a.run()
	return a
}

func (a *lookahead) run() {
	defer close(a.done)
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		for !a.closed && a.next >= a.asked+a.depth {
			a.cond.Wait()
		}
		if a.closed {
			return
		}
		seq := a.next
		a.next++
		a.mu.Unlock()
		b, err := a.encode(seq)
		a.mu.Lock()
		if err == nil && seq >= a.asked {
			a.ready[seq] = b
		}
		// Bodies of queries sent without them are dropped.
		for s := range a.ready {
			if s+a.depth < a.asked {
				delete(a.ready, s)
			}
		}
	}
}

// take returns the body of query q, prepared ahead or encoded now.
func (a *lookahead) take(q load.Query) []byte {
	a.mu.Lock()
	b, ok := a.ready[q.Seq]
	delete(a.ready, q.Seq)
	if q.Seq+1 > a.asked {
		a.asked = q.Seq + 1
		if a.next < q.Seq+1 && !ok {
			a.next = q.Seq + 1
		}
		a.cond.Signal()
	}
	a.mu.Unlock()
	if ok {
		return b
	}
	a.late.Add(1)
	b, err := a.encode(q.Seq)
	if err != nil {
		return nil // the target refuses the empty body; the query fails
	}
	return b
}

func (a *lookahead) close() {
	a.mu.Lock()
	a.closed = true
	a.cond.Broadcast()
	a.mu.Unlock()
	<-a.done
}

// kept is a query of the accuracy sample: its sample and the outputs it
// got.
type kept struct {
	seq     uint64
	sample  uint64
	outputs map[string]numerics.Tensor
}

// keeper selects the accuracy sample of a scenario's timed queries
// (spec/v1/performance.md, rule 6): every query whose seeded key falls
// below accuracyShare (a random 1%), and the accuracyMinimum queries of
// smallest key (so at least that many), and keeps their outputs. Memory
// stays within 1% of the queries and accuracyMinimum more.
type keeper struct {
	seed uint64

	mu     sync.Mutex
	share  map[uint64]kept
	lowest keyHeap // the accuracyMinimum smallest keys, largest first
}

// The accuracy sample: a random 1% of the timed queries, at least 16.
const (
	accuracyShare   = 0.01
	accuracyMinimum = 16
)

func newKeeper(seed uint64, label string) *keeper {
	h := fnv.New64a()
	h.Write([]byte(label))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	return &keeper{seed: h.Sum64(), share: map[uint64]kept{}}
}

// key is query seq's uniform key in [0, 1).
func (k *keeper) key(seq uint64) float64 {
	return float64(mix64(k.seed^mix64(seq))>>11) / (1 << 53)
}

// wants reports whether query seq may belong to the sample.
func (k *keeper) wants(seq uint64) bool {
	u := k.key(seq)
	if u < accuracyShare {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.lowest) < accuracyMinimum || u < k.lowest[0].key
}

func (k *keeper) add(q kept) {
	u := k.key(q.seq)
	k.mu.Lock()
	defer k.mu.Unlock()
	if u < accuracyShare {
		k.share[q.seq] = q
	}
	if len(k.lowest) < accuracyMinimum {
		heap.Push(&k.lowest, keyed{key: u, q: q})
	} else if u < k.lowest[0].key {
		k.lowest[0] = keyed{key: u, q: q}
		heap.Fix(&k.lowest, 0)
	}
}

// sample returns the kept queries in Seq order.
func (k *keeper) sample() []kept {
	k.mu.Lock()
	defer k.mu.Unlock()
	byseq := map[uint64]kept{}
	for s, q := range k.share {
		byseq[s] = q
	}
	for _, e := range k.lowest {
		byseq[e.q.seq] = e.q
	}
	out := make([]kept, 0, len(byseq))
	for _, q := range byseq {
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b kept) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return out
}

type keyed struct {
	key float64
	q   kept
}

// keyHeap is a max-heap of keys.
type keyHeap []keyed

func (h keyHeap) Len() int           { return len(h) }
func (h keyHeap) Less(i, j int) bool { return h[i].key > h[j].key }
func (h keyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *keyHeap) Push(x any)        { *h = append(*h, x.(keyed)) }
func (h *keyHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// mix64 is the finalizer of SplitMix64.
func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}
