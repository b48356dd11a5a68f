package conformance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/internal/fuzzcheck"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/spec"
)

// fuzzModel is a model under test of FuzzInferenceResponse and the
// inputs of the request its responses answer: a batch of two.
type fuzzModel struct {
	m      *modelUnderTest
	inputs []namedTensor
}

// fuzzModels returns the fp32 reference models with their requests.
func fuzzModels(t testing.TB) []fuzzModel {
	t.Helper()
	var out []fuzzModel
	for _, id := range spec.ReferenceModels() {
		c, err := spec.ModelContract(id, "fp32")
		if err != nil {
			t.Fatal(err)
		}
		ins, err := newSampler(1, "fuzz", id).draw(c, 2, 3, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := &modelUnderTest{ref: ModelRef{Name: id, Version: "fp32", Reference: id, ReferenceVersion: "fp32"}, contract: c}
		out = append(out, fuzzModel{m: m, inputs: ins})
	}
	return out
}

// seedResponse returns a valid response of fm's model to its request,
// every output as flat JSON data, nested JSON data or binary data, and
// its Inference-Header-Content-Length ("" without binary data).
func seedResponse(t testing.TB, fm fuzzModel, form string) ([]byte, string) {
	t.Helper()
	n, steps := batchOf(fm.m.contract, fm.inputs)
	resp := oip.InferenceResponse{ModelName: fm.m.ref.Name, ModelVersion: fm.m.ref.Version, ID: "fuzz"}
	var chunks [][]byte
	for _, ct := range fm.m.contract.Outputs {
		shape, err := concreteShape(fm.m.contract, ct, n, steps)
		if err != nil {
			t.Fatal(err)
		}
		size := 1
		for _, d := range shape {
			size *= int(d)
		}
		vals := make([]float32, size)
		for i := range vals {
			vals[i] = float32(i%7) / 8
		}
		x := numerics.NewF32(shape, vals)
		o := oip.ResponseOutput{Name: ct.Name, Shape: shape, Datatype: string(x.DType)}
		switch form {
		case "binary":
			raw, err := oip.EncodeBinary(x)
			if err != nil {
				t.Fatal(err)
			}
			o.Parameters = oip.Parameters{oip.ParamBinaryDataSize: len(raw)}
			chunks = append(chunks, raw)
		case "nested":
			o.Data, err = oip.EncodeNestedData(x)
		default:
			o.Data, err = oip.EncodeData(x)
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Outputs = append(resp.Outputs, o)
	}
	js, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) == 0 {
		return js, ""
	}
	return oip.JoinBody(js, chunks...), strconv.Itoa(len(js))
}

// FuzzInferenceResponse feeds a 200 answer to an inference request of a
// reference model (which model the first argument picks) through the
// suite's own decoding of it, expectInference: the split at
// Inference-Header-Content-Length, the JSON decoding, the schema, the
// conversion into oip.InferenceResponse and the decoding of every output,
// JSON (flat, nested, with proto3's non-finite strings) or binary. An
// accepted response yields, for each of its outputs, a valid tensor of
// the output's datatype and shape, and the outputs decoded are the ones
// the schema validated: the conversion reads no member the document does
// not spell exactly so. Memory stays bounded by the body's size.
func FuzzInferenceResponse(f *testing.F) {
	models := fuzzModels(f)
	for i, fm := range models {
		for _, form := range []string{"flat", "nested", "binary"} {
			body, hl := seedResponse(f, fm, form)
			f.Add(uint8(i), body, hl, "application/json")
		}
	}
	example, err := os.ReadFile(filepath.Join("..", "testdata", "examples", "valid", "infer-response.oip-infer-response.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(1), example, "", "application/json; charset=utf-8")
	f.Add(uint8(1), []byte(`{"model_name":"seed-rnn","outputs":[{"name":"logits","shape":[2,2],"datatype":"FP32","data":["NaN",1,"-Infinity",2]}]}`), "", "application/json")
	f.Add(uint8(1), []byte(`{"model_name":"seed-rnn","outputs":[{"name":"logits","shape":[2,2],"datatype":"FP32","data":[1,2,3,4]}],"outputſ":[]}`), "", "application/json")
	f.Add(uint8(0), []byte(`{"error":"no"}`), "", "text/plain")
	f.Fuzz(func(t *testing.T, which uint8, body []byte, headerLength, contentType string) {
		fm := models[int(which)%len(models)]
		resp := &response{
			ex:     Exchange{Method: http.MethodPost, Path: "/v2/models/" + fm.m.ref.Name + "/infer", StatusCode: http.StatusOK, ContentType: contentType},
			status: http.StatusOK,
			header: http.Header{},
			body:   body,
		}
		if headerLength != "" {
			resp.header.Set(oip.HeaderInferenceContentLength, headerLength)
		}
		var (
			r   recorder
			out *inferOutcome
		)
		fuzzcheck.Bounded(t, fuzzcheck.Limit(len(body)+len(headerLength)+len(contentType)), "expectInference", func() {
			out, _ = r.expectInference(resp, fm.m, fm.inputs, nil)
		})
		if out == nil {
			return
		}
		js, _, err := resp.jsonPart()
		if err != nil {
			t.Fatalf("a decoded response has no JSON part: %v", err)
		}
		doc, err := decodeJSON(js)
		if err != nil {
			t.Fatalf("a decoded response is not JSON: %v", err)
		}
		if msg := sameResponse(doc, out.resp); msg != "" {
			t.Fatalf("the response decoded is not the document validated: %s", msg)
		}
		for _, o := range out.resp.Outputs {
			x, ok := out.outputs[o.Name]
			if !ok {
				continue // its failure is recorded
			}
			if msg := fuzzcheck.CheckTensor(x, o.Datatype, o.Shape); msg != "" {
				t.Fatalf("output %q: %s", o.Name, msg)
			}
		}
	})
}

// sameResponse says how resp differs from doc, the JSON document it was
// decoded from, in the members the suite reads; "" when it does not.
func sameResponse(doc any, resp oip.InferenceResponse) string {
	obj, ok := doc.(map[string]any)
	if !ok {
		return "the document is not an object"
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	for k, got := range map[string]string{"model_name": resp.ModelName, "model_version": resp.ModelVersion, "id": resp.ID} {
		if want := str(obj, k); got != want {
			return fmt.Sprintf("%s is %q, the document says %q", k, got, want)
		}
	}
	outs, _ := obj["outputs"].([]any)
	if len(outs) != len(resp.Outputs) {
		return fmt.Sprintf("%d outputs, the document has %d", len(resp.Outputs), len(outs))
	}
	for i, o := range resp.Outputs {
		d, _ := outs[i].(map[string]any)
		if o.Name != str(d, "name") || o.Datatype != str(d, "datatype") {
			return fmt.Sprintf("/outputs/%d is %s %s, the document says %s %s", i, o.Name, o.Datatype, str(d, "name"), str(d, "datatype"))
		}
		shape, _ := d["shape"].([]any)
		want := make([]string, len(shape))
		for j, s := range shape {
			want[j] = fmt.Sprint(s)
		}
		got := make([]string, len(o.Shape))
		for j, s := range o.Shape {
			got[j] = strconv.FormatInt(s, 10)
		}
		if !slices.Equal(got, want) {
			return fmt.Sprintf("/outputs/%d/shape is %v, the document says %v", i, got, want)
		}
		_, hasData := d["data"]
		if hasData != (len(o.Data) != 0) {
			return fmt.Sprintf("/outputs/%d: data present %v, in the document %v", i, len(o.Data) != 0, hasData)
		}
		p, _ := d["parameters"].(map[string]any)
		if len(p) != len(o.Parameters) {
			return fmt.Sprintf("/outputs/%d: %d parameters, the document has %d", i, len(o.Parameters), len(p))
		}
	}
	return ""
}

// profileSeeds returns the profiles of the repository, valid and not,
// each with whether it is JSON.
func profileSeeds(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{"builtin.yaml": builtinProfileYAML}
	for _, pattern := range []string{"../testdata/profiles/*.*", "../testdata/profiles/*/*.*"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			out[file] = b
		}
	}
	return out
}

// profileCmp compares profiles, their unexported bookkeeping aside.
var profileCmp = []cmp.Option{cmpopts.IgnoreUnexported(Profile{}), cmpopts.EquateEmpty()}

// FuzzParseProfile feeds a profile document, YAML or JSON as the second
// argument says, to ParseProfile. An accepted profile validates
// (Profile.Validate), records the digest of the bytes it was read from,
// and its JSON form parses back to the same profile. Memory stays bounded
// by the document's size.
func FuzzParseProfile(f *testing.F) {
	for name, b := range profileSeeds(f) {
		f.Add(b, filepath.Ext(name) == ".json")
	}
	f.Add([]byte(`{"kind":"profile","specVersion":"v1","name":"x","levels":["core"],"models":[{"name":"m","reference":"seed-cnn","referenceVersion":"fp32"}],"timeouts":{"request":"9223372036s"}}`), true)
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		source := "profile.yaml"
		if isJSON {
			source = "profile.json"
		}
		var (
			p   *Profile
			err error
		)
		fuzzcheck.Bounded(t, fuzzcheck.Limit(len(data)), "ParseProfile", func() {
			p, err = ParseProfile(source, data)
		})
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParseProfile accepted a profile that Validate rejects: %v", err)
		}
		if p.Digest() != golden.Digest(data) {
			t.Fatalf("digest %s is not the sha256 of the document", p.Digest())
		}
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("an accepted profile does not encode: %v", err)
		}
		q, err := ParseProfile("again.json", again)
		if err != nil {
			t.Fatalf("the JSON form of an accepted profile does not parse: %v\n%s", err, again)
		}
		if d := cmp.Diff(p, q, profileCmp...); d != "" {
			t.Fatalf("the JSON form of an accepted profile parses to another profile (-first +again):\n%s", d)
		}
	})
}

// FuzzModelCard feeds a model card, YAML or JSON as the second argument
// says, to parseModelCard, against the built-in profile. An accepted card
// has one entry per service model of the document; every budget it
// declares is a positive duration or rate, and the server budget comes
// with its rate. Memory stays bounded by the card's size.
func FuzzModelCard(f *testing.F) {
	p, err := BuiltinProfile()
	if err != nil {
		f.Fatal(err)
	}
	_, builtinCard, ok := BuiltinDocument(builtinCardPrefix + p.ModelCard)
	if !ok {
		f.Fatal("no built-in model card")
	}
	f.Add(builtinCard, false)
	for _, pattern := range []string{"../testdata/examples/*/*.modelcard.*"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, filepath.Ext(file) == ".json")
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		source := "card.yaml"
		if isJSON {
			source = "card.json"
		}
		var (
			card *modelCard
			err  error
		)
		fuzzcheck.Bounded(t, fuzzcheck.Limit(len(data)), "parseModelCard", func() {
			card, err = parseModelCard(p, source, data)
		})
		if err != nil {
			return
		}
		if card.digest != golden.Digest(data) || card.source != source {
			t.Fatalf("card source %q digest %s, want %q and the document's sha256", card.source, card.digest, source)
		}
		for i, m := range card.models {
			b := m.budgets
			for what, d := range map[string]*Duration{"singleStreamP90": b.SingleStreamP90, "serverP99": b.ServerP99} {
				if d != nil && *d <= 0 {
					t.Fatalf("/service/models/%d/latency/%s is %v, want a positive duration", i, what, time.Duration(*d))
				}
			}
			if b.ServerQPS < 0 || b.OfflineMinThroughput < 0 || (b.ServerP99 == nil) != (b.ServerQPS == 0) {
				t.Fatalf("/service/models/%d/latency: budgets %+v", i, b)
			}
			for _, pm := range p.Models {
				if pm.Name == m.name && pm.Version == m.version && (pm.Reference != m.reference || pm.ReferenceVersion != m.referenceVersion) {
					t.Fatalf("/service/models/%d stands for %s/%s, the profile says %s/%s", i, m.reference, m.referenceVersion, pm.Reference, pm.ReferenceVersion)
				}
			}
		}
	})
}

// jsonLeaves counts the values of a decoded JSON array that are not
// arrays, nested arrays recursed into, and says whether they are all
// numbers, strings or booleans, as tensor elements are.
func jsonLeaves(v any) (int, bool) {
	switch x := v.(type) {
	case []any:
		n, ok := 0, true
		for _, e := range x {
			m, good := jsonLeaves(e)
			n, ok = n+m, ok && good
		}
		return n, ok
	case map[string]any, nil:
		return 1, false
	}
	return 1, true
}

// FuzzCountJSONValues feeds tensor data to countJSONValues, the scan with
// which a load run checks each answer's element count without decoding
// it. It never panics, and on data that is valid JSON (the only data it
// gets: json.Unmarshal has read the answer) it agrees with decoding: an
// array of numbers, strings or booleans, nested arrays recursed into, is
// counted as decoding counts; anything else (a scalar, an object, a
// null) is an error.
func FuzzCountJSONValues(f *testing.F) {
	for _, s := range []string{
		`[1,2,3]`, `[[1,2],[3,4]]`, ` [ [ ] , [ -1.5e3 , 2 ] ] `, `[]`, `[[],[]]`,
		`["a,b","c\"]d",true,false]`, `[{"a":[1,2]},3]`, `[null]`, `["\\",1]`, `[1]]`, `[[1]`, `["abc`, `1`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		n, err := countJSONValues(raw)
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return
		}
		_, isArray := v.([]any)
		want, elements := jsonLeaves(v)
		if !isArray || !elements {
			if err == nil {
				t.Fatalf("countJSONValues(%s) = %d, want an error: the data is not an array of tensor elements", raw, n)
			}
			return
		}
		if err != nil || n != want {
			t.Fatalf("countJSONValues(%s) = %d, %v; decoding counts %d", raw, n, err, want)
		}
	})
}
