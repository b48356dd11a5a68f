package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/spec"
)

// The soak's mix: what each query of a run sends, by its sequence number.
// It cycles over kinds in proportion to their weights; each kind varies
// what it sends (model, length, case) with the query's sequence number, so
// that a run is reproducible and the server sees many shapes.
//
//   - good requests, which must get 200 with outputs: seed-cnn, seed-rnn
//     and seed-transformer at fp32 and fp64, JSON or binary tensor data,
//     sequence lengths 8 to 64 and now and then any of 1…64;
//   - the kinds of requests the suite's safety battery sends, which must
//     be rejected with their 4xx: malformed JSON, a wrong shape, a wrong
//     datatype, data that disagrees with the shape, a missing input,
//     non-finite values, data nested 100000 arrays deep, an unknown
//     model, and a body declared larger than the server accepts;
//   - clients that leave early: a request cancelled while the server
//     works on it, a body cut off halfway, headers cut off halfway.

// outcome is how a query of the mix ended.
type outcome int

const (
	// asExpected: a good request got 200, a hostile one its rejection, a
	// leaving client left.
	asExpected outcome = iota
	// unexpected: anything else, which the soak reports.
	unexpected
)

// class groups the kinds of the mix.
type class string

const (
	good    class = "good"
	hostile class = "hostile"
	leaving class = "leaving"
)

// kind is one kind of query of the mix.
type kind struct {
	name   string
	class  class
	weight int
	// send sends the variant of query seq and says how it ended, with a
	// description of anything unexpected.
	send func(ctx context.Context, c *client, seq uint64) (outcome, string)
}

// client sends the mix to a server.
type client struct {
	base string // http://host:port
	addr string // host:port, for the raw connections
	http *http.Client
	// models are the request bodies' ingredients, by model id.
	models map[string]spec.Contract
	// timeout bounds each raw-connection exchange.
	timeout time.Duration
}

// newClient returns a client of the server at base (http://host:port).
func newClient(base string, timeout time.Duration) (*client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("target %q: want http://host:port", base)
	}
	c := &client{
		base: strings.TrimSuffix(base, "/"),
		addr: u.Host,
		http: &http.Client{
			Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second},
			Timeout:   timeout,
		},
		models:  map[string]spec.Contract{},
		timeout: timeout,
	}
	for _, id := range []string{"seed-cnn", "seed-rnn", "seed-transformer"} {
		for _, v := range []string{"fp32", "fp64"} {
			ct, err := spec.ModelContract(id, v)
			if err != nil {
				return nil, fmt.Errorf("the contract of %s %s: %w", id, v, err)
			}
			c.models[id+"/"+v] = ct
		}
	}
	return c, nil
}

// close drops the client's idle connections.
func (c *client) close() { c.http.CloseIdleConnections() }

// mix returns the kinds of the soak's mix.
func mix() []kind {
	return []kind{
		{name: "good seed-cnn JSON", class: good, weight: 4, send: sendGood("seed-cnn", false)},
		{name: "good seed-rnn JSON", class: good, weight: 3, send: sendGood("seed-rnn", false)},
		{name: "good seed-transformer JSON", class: good, weight: 2, send: sendGood("seed-transformer", false)},
		{name: "good seed-cnn binary", class: good, weight: 1, send: sendGood("seed-cnn", true)},
		{name: "good seed-rnn binary", class: good, weight: 1, send: sendGood("seed-rnn", true)},
		{name: "malformed JSON", class: hostile, weight: 1, send: sendMalformed},
		{name: "wrong shape", class: hostile, weight: 1, send: sendEdited(func(in map[string]any) { in["shape"] = []int64{1, 3, 1, 1, 1} })},
		{name: "wrong datatype", class: hostile, weight: 1, send: sendEdited(func(in map[string]any) { in["datatype"] = "BYTES" })},
		{name: "shape-data mismatch", class: hostile, weight: 1, send: sendEdited(func(in map[string]any) { in["data"] = in["data"].([]any)[1:] })},
		{name: "missing input", class: hostile, weight: 1, send: sendMissingInput},
		{name: "non-finite binary data", class: hostile, weight: 1, send: sendNonFinite},
		{name: "deep nesting", class: hostile, weight: 1, send: sendDeep},
		{name: "unknown model", class: hostile, weight: 1, send: sendUnknownModel},
		{name: "oversize", class: hostile, weight: 1, send: sendOversize},
		{name: "cancelled mid-request", class: leaving, weight: 1, send: sendCancelled},
		{name: "body cut off", class: leaving, weight: 1, send: sendCutBody},
		{name: "headers cut off", class: leaving, weight: 1, send: sendCutHeaders},
	}
}

// pick returns the kind of query seq and the query's variant number: seq
// walks the kinds, each as many times as its weight, and the variant
// counts the walks.
func pick(kinds []kind, seq uint64) (kind, uint64) {
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	slot := int(seq % uint64(total))
	for _, k := range kinds {
		if slot < k.weight {
			return k, seq / uint64(total)
		}
		slot -= k.weight
	}
	panic("unreachable")
}

// request is a valid request of the model key ("seed-rnn/fp64") for
// variant v: batch 1, for the sequence models a length of 8, 16, 32 or 64
// (the lengths a client mostly sends), and every eighth variant any length
// of 1…64 (which makes the server build programs for new shapes all along),
// values drawn from each input's domain with v as the seed. It returns the
// request object and its path.
func (c *client) request(key string, v uint64) (map[string]any, string) {
	length := int64(8) << (v % 4)
	if v%8 == 7 {
		length = int64(1 + (v/8)%64)
	}
	return c.requestOfLength(key, v, length)
}

// requestOfLength is request with the given sequence length.
func (c *client) requestOfLength(key string, v uint64, length int64) (map[string]any, string) {
	ct := c.models[key]
	r := rand.New(rand.NewPCG(v, 0x50a4))
	var inputs []any
	for _, in := range ct.Inputs {
		if in.Optional {
			continue
		}
		shape := make([]int64, len(in.Shape))
		n := int64(1)
		for i, d := range in.Shape {
			switch {
			case d > 0:
				shape[i] = d
			case i == 0:
				shape[i] = 1
			default:
				shape[i] = length
			}
			n *= shape[i]
		}
		data := make([]any, n)
		for i := range data {
			switch dom := in.Domain; {
			case dom != nil && dom.Integers != nil:
				data[i] = dom.Integers[0] + r.Int64N(dom.Integers[1]-dom.Integers[0]+1)
			case dom != nil && dom.Uniform != nil && in.Datatype == numerics.FP64:
				data[i] = dom.Uniform[0] + r.Float64()*(dom.Uniform[1]-dom.Uniform[0])
			case dom != nil && dom.Uniform != nil:
				data[i] = float32(dom.Uniform[0] + r.Float64()*(dom.Uniform[1]-dom.Uniform[0]))
			default:
				data[i] = int64(1)
			}
		}
		inputs = append(inputs, map[string]any{"name": in.Name, "datatype": string(in.Datatype), "shape": shape, "data": data})
	}
	return map[string]any{"id": fmt.Sprintf("soak-%d", v), "inputs": inputs}, "/v2/models/" + ct.Model + "/versions/" + ct.Version + "/infer"
}

// version is the model version of variant v: fp32 twice as often as fp64.
func version(v uint64) string {
	if v%3 == 2 {
		return "fp64"
	}
	return "fp32"
}

// post sends body to path and returns the status and the response body.
func (c *client) post(ctx context.Context, path string, body []byte, header http.Header) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// expect judges a hostile request: it must get one of the statuses want
// with an error response.
func expect(status int, body []byte, err error, want ...int) (outcome, string) {
	if err != nil {
		return unexpected, "transport: " + err.Error()
	}
	for _, w := range want {
		if status == w && bytes.Contains(body, []byte(`"error"`)) {
			return asExpected, ""
		}
	}
	return unexpected, fmt.Sprintf("status %d, want %v with an error response: %.200s", status, want, body)
}

// sendGood sends a valid request to model id, its JSON inputs as binary
// tensor data when binary is set, and wants 200 with outputs.
func sendGood(id string, binaryData bool) func(ctx context.Context, c *client, seq uint64) (outcome, string) {
	return func(ctx context.Context, c *client, v uint64) (outcome, string) {
		req, path := c.request(id+"/"+version(v), v)
		var body []byte
		var header http.Header
		if binaryData {
			var err error
			if body, header, err = asBinary(req); err != nil {
				return unexpected, err.Error()
			}
		} else {
			body = mustJSON(req)
		}
		status, resp, err := c.post(ctx, path, body, header)
		switch {
		case err != nil:
			return unexpected, "transport: " + err.Error()
		case status != http.StatusOK || !bytes.Contains(resp, []byte(`"outputs"`)):
			return unexpected, fmt.Sprintf("status %d, want 200 with outputs: %.200s", status, resp)
		}
		return asExpected, ""
	}
}

// asBinary turns a request's FP32 and INT64 inputs into binary tensor
// data: the JSON object without data, then the raw little-endian values.
func asBinary(req map[string]any) ([]byte, http.Header, error) {
	var raw bytes.Buffer
	for _, in := range req["inputs"].([]any) {
		in := in.(map[string]any)
		start := raw.Len()
		for _, x := range in["data"].([]any) {
			if err := binary.Write(&raw, binary.LittleEndian, x); err != nil {
				return nil, nil, fmt.Errorf("binary data: %w", err)
			}
		}
		delete(in, "data")
		in["parameters"] = map[string]any{"binary_data_size": raw.Len() - start}
	}
	head := mustJSON(req)
	return append(head, raw.Bytes()...), http.Header{"Inference-Header-Content-Length": {strconv.Itoa(len(head))}}, nil
}

// sendMalformed sends one of several bodies that are not an inference
// request.
func sendMalformed(ctx context.Context, c *client, v uint64) (outcome, string) {
	req, path := c.request("seed-cnn/fp32", v)
	valid := mustJSON(req)
	bodies := [][]byte{
		{},
		valid[:len(valid)/2],
		[]byte("this is not JSON"),
		[]byte(`"inputs"`),
		bytes.Replace(valid, []byte(`"data":[`), []byte(`"data":[NaN,`), 1),
		append(valid, []byte(` {"trailing": garbage`)...),
		mustJSON(map[string]any{"id": "no inputs"}),
	}
	status, body, err := c.post(ctx, path, bodies[v%uint64(len(bodies))], nil)
	return expect(status, body, err, http.StatusBadRequest)
}

// sendEdited sends a valid request of a model whose first input edit
// spoils.
func sendEdited(edit func(in map[string]any)) func(ctx context.Context, c *client, seq uint64) (outcome, string) {
	return func(ctx context.Context, c *client, v uint64) (outcome, string) {
		ids := []string{"seed-cnn", "seed-rnn", "seed-transformer"}
		req, path := c.request(ids[v%3]+"/"+version(v), v)
		edit(req["inputs"].([]any)[0].(map[string]any))
		status, body, err := c.post(ctx, path, mustJSON(req), nil)
		return expect(status, body, err, http.StatusBadRequest)
	}
}

// sendMissingInput sends a seed-cnn request whose input has another name.
func sendMissingInput(ctx context.Context, c *client, v uint64) (outcome, string) {
	req, path := c.request("seed-cnn/"+version(v), v)
	req["inputs"].([]any)[0].(map[string]any)["name"] = "soak-no-such-input"
	status, body, err := c.post(ctx, path, mustJSON(req), nil)
	return expect(status, body, err, http.StatusBadRequest)
}

// sendNonFinite sends a seed-rnn request in binary tensor data with a NaN
// or an infinity among its values.
func sendNonFinite(ctx context.Context, c *client, v uint64) (outcome, string) {
	req, path := c.request("seed-rnn/fp32", v)
	data := req["inputs"].([]any)[0].(map[string]any)["data"].([]any)
	data[int(v)%len(data)] = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}[v%3]
	body, header, err := asBinary(req)
	if err != nil {
		return unexpected, err.Error()
	}
	status, resp, err := c.post(ctx, path, body, header)
	return expect(status, resp, err, http.StatusBadRequest)
}

// sendDeep sends seed-cnn data nested 100000 arrays deep.
func sendDeep(ctx context.Context, c *client, _ uint64) (outcome, string) {
	const depth = 100000
	var b bytes.Buffer
	b.WriteString(`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,28,28],"data":`)
	b.WriteString(strings.Repeat("[", depth))
	b.WriteString("0")
	b.WriteString(strings.Repeat("]", depth))
	b.WriteString("}]}")
	status, body, err := c.post(ctx, "/v2/models/seed-cnn/infer", b.Bytes(), nil)
	return expect(status, body, err, http.StatusBadRequest)
}

// sendUnknownModel sends a valid request to a model the server does not
// have.
func sendUnknownModel(ctx context.Context, c *client, v uint64) (outcome, string) {
	req, _ := c.request("seed-cnn/fp32", v)
	status, body, err := c.post(ctx, "/v2/models/soak-no-such-model/infer", mustJSON(req), nil)
	return expect(status, body, err, http.StatusNotFound)
}

// oversizeBytes is the length the oversize case declares: more than the
// server's default body limit (8 MiB). Only its first oversizeSent bytes
// are sent before the answer is read.
const (
	oversizeBytes = 16 << 20
	oversizeSent  = 64 << 10
)

// sendOversize declares a 16 MiB body on a connection of its own, sends
// its first 64 KiB and wants 413.
func sendOversize(ctx context.Context, c *client, _ uint64) (outcome, string) {
	conn, err := c.dial(ctx)
	if err != nil {
		return unexpected, "dial: " + err.Error()
	}
	defer conn.Close()
	head := fmt.Sprintf("POST /v2/models/seed-cnn/infer HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", c.addr, oversizeBytes)
	body := append([]byte(`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,28,28],"data":[`), bytes.Repeat([]byte("0,"), oversizeSent/2)...)
	if _, err := conn.Write(append([]byte(head), body...)); err != nil {
		return unexpected, "write: " + err.Error()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return unexpected, "reading the answer: " + err.Error()
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return expect(resp.StatusCode, b, nil, http.StatusRequestEntityTooLarge)
}

// sendCancelled sends a valid seed-transformer request of 64 positions and
// gives up on it after 0 to 4 ms, while the server works on it. An answer
// that comes first is fine if it is 200.
func sendCancelled(ctx context.Context, c *client, v uint64) (outcome, string) {
	req, path := c.requestOfLength("seed-transformer/"+version(v), v, 64)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(v%5)*time.Millisecond)
	defer cancel()
	status, body, err := c.post(ctx, path, mustJSON(req), nil)
	switch {
	case err != nil && ctx.Err() != nil:
		return asExpected, ""
	case err != nil:
		return unexpected, "transport: " + err.Error()
	case status != http.StatusOK:
		return unexpected, fmt.Sprintf("status %d, want 200 or nothing: %.200s", status, body)
	}
	return asExpected, ""
}

// sendCutBody declares a valid request's length on a connection of its
// own, sends half of it and closes the connection.
func sendCutBody(ctx context.Context, c *client, v uint64) (outcome, string) {
	req, path := c.request("seed-rnn/"+version(v), v)
	body := mustJSON(req)
	conn, err := c.dial(ctx)
	if err != nil {
		return unexpected, "dial: " + err.Error()
	}
	defer conn.Close()
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, c.addr, len(body))
	if _, err := conn.Write(append([]byte(head), body[:len(body)/2]...)); err != nil {
		return unexpected, "write: " + err.Error()
	}
	return asExpected, ""
}

// sendCutHeaders sends half a request line and headers on a connection of
// its own and closes it.
func sendCutHeaders(ctx context.Context, c *client, _ uint64) (outcome, string) {
	conn, err := c.dial(ctx)
	if err != nil {
		return unexpected, "dial: " + err.Error()
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "POST /v2/models/seed-cnn/infer HTTP/1.1\r\nHost: %s\r\nContent-", c.addr); err != nil {
		return unexpected, "write: " + err.Error()
	}
	return asExpected, ""
}

// dial opens a connection of its own to the server, with the client's
// timeout as its deadline.
func (c *client) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	return conn, conn.SetDeadline(time.Now().Add(c.timeout))
}

// mustJSON encodes a value the mix built from plain JSON values.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("soak: encoding a request: %v", err))
	}
	return b
}
