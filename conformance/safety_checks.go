package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/spec"
)

// The checks of the robustness requirements of level safety
// (spec/v1/safety.md). The bad-input battery (SAFE-MALFORMED-JSON to
// SAFE-OVERSIZE) sends each case to the inference path of every profile
// model, on a connection of its own, and wants it rejected: 400 with an
// error response within the request timeout.

// safetyBattery is the bad-input battery of the safety level.
var safetyBattery = []check{
	{ID: "safety/malformed-json", Requirements: []string{"SAFE-MALFORMED-JSON"}, Level: spec.Safety,
		Title: "inference bodies that are not a JSON inference request object get 400", Run: checkMalformedJSON},
	{ID: "safety/wrong-shape", Requirements: []string{"SAFE-WRONG-SHAPE"}, Level: spec.Safety,
		Title: "inputs of a shape outside the contract get 400, even with data of matching length", Run: checkWrongShape},
	{ID: "safety/wrong-dtype", Requirements: []string{"SAFE-WRONG-DTYPE"}, Level: spec.Safety,
		Title: "inputs of another datatype, or with values of the wrong kind, get 400", Run: checkWrongDtype},
	{ID: "safety/shape-data-mismatch", Requirements: []string{"SAFE-SHAPE-DATA-MISMATCH"}, Level: spec.Safety,
		Title: "data with more or fewer elements than the shape, or nested other than the shape, gets 400", Run: checkShapeDataMismatch},
	{ID: "safety/missing-input", Requirements: []string{"SAFE-MISSING-INPUT"}, Level: spec.Safety,
		Title: "missing, empty, unknown and repeated inputs get 400; an omitted optional input is served", Run: checkMissingInput},
	{ID: "safety/nonfinite", Requirements: []string{"SAFE-NONFINITE"}, Level: spec.Safety,
		Title: "non-finite floats and integers outside their domain get 400", Run: checkNonfinite},
	{ID: "safety/oversize", Requirements: []string{"SAFE-OVERSIZE"}, Level: spec.Safety,
		Title: "a 256 MiB body, a shape of 2^31 samples and JSON 100 000 arrays deep get 400 or 413, and the server stays live", Run: checkOversize},
}

// safetyClosing are the safety checks that come after every other one:
// SAFE-ERROR-HYGIENE judges the error responses of the whole run, and
// SAFE-SURVIVES-ABUSE comes last (see checks).
var safetyClosing = []check{
	{ID: "safety/error-hygiene", Requirements: []string{"SAFE-ERROR-HYGIENE"}, Level: spec.Safety,
		Title: "no error response of the run holds a stack trace, a source location, a path or a credential", Run: checkErrorHygiene},
	{ID: "safety/survives-abuse", Requirements: []string{"SAFE-SURVIVES-ABUSE"}, Level: spec.Safety,
		Title: "after the battery the server is live and ready and a golden case per model agrees", Run: checkSurvivesAbuse},
}

// badCase is one request of the battery.
type badCase struct {
	name   string
	body   []byte
	header http.Header
}

// jsonObj is a JSON object the battery builds its bodies from.
type jsonObj = map[string]any

// mustJSON renders a value the battery built; its values are plain JSON
// values, so this cannot fail but for a bug of the suite.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("the suite built a body it cannot encode: %v", err))
	}
	return b
}

// inputObj is one request input as a JSON object.
func inputObj(name string, datatype any, shape any, data any) jsonObj {
	return jsonObj{"name": name, "datatype": datatype, "shape": shape, "data": data}
}

// requestObj is an inference request object with the given inputs.
func requestObj(inputs ...any) jsonObj {
	if inputs == nil {
		inputs = []any{}
	}
	return jsonObj{"inputs": inputs}
}

// elements returns the elements of a tensor as JSON values.
func elements(t numerics.Tensor) []any {
	out := make([]any, t.Len())
	for i := range out {
		switch t.DType {
		case numerics.FP32:
			out[i] = json.Number(strconv.FormatFloat(float64(t.F32[i]), 'g', -1, 32))
		case numerics.FP64:
			out[i] = json.Number(strconv.FormatFloat(t.F64[i], 'g', -1, 64))
		default:
			out[i] = json.Number(strconv.FormatInt(t.I64[i], 10))
		}
	}
	return out
}

// validInputs returns the inputs of a valid request of n samples of length
// t as JSON objects with flat data, optional inputs included when all is
// set.
func validInputs(s *sampler, c spec.Contract, n int, t int64, all bool) ([]jsonObj, []namedTensor, error) {
	var lengths []int64
	if all {
		lengths = slices.Repeat([]int64{t}, n)
	}
	ins, err := s.draw(c, n, t, lengths)
	if err != nil {
		return nil, nil, err
	}
	out := make([]jsonObj, len(ins))
	for i, in := range ins {
		out[i] = inputObj(in.name, string(in.t.DType), in.t.Shape, elements(in.t))
	}
	return out, ins, nil
}

// withInput returns a copy of ins with input i replaced by in.
func withInput(ins []jsonObj, i int, in jsonObj) []any {
	out := make([]any, len(ins))
	for j := range ins {
		out[j] = ins[j]
	}
	out[i] = in
	return out
}

// edit returns a copy of an input object with the given members set.
func edit(in jsonObj, kv ...any) jsonObj {
	out := jsonObj{}
	for k, v := range in {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// anyInputs turns input objects into the members of an inputs array.
func anyInputs(ins []jsonObj) []any {
	out := make([]any, len(ins))
	for i, in := range ins {
		out[i] = in
	}
	return out
}

// send sends a request of the battery to model m: to the versioned path
// when the profile names a version.
func (e *env) send(ctx context.Context, m *modelUnderTest, req rawInfer) *response {
	return e.b.sendInfer(ctx, m.ref.Name, m.ref.Version, req)
}

// battery sends cases to model m and records each that is not rejected.
// It returns how many it sent; a case the run's binding has no form for
// is not sent, and a note in unsent says so.
func (e *env) battery(ctx context.Context, r *recorder, m *modelUnderTest, cases []badCase, unsent *[]string) int {
	sent := 0
	for _, bc := range cases {
		where := fmt.Sprintf("%s case %q", m.ref.Label(), bc.name)
		resp := e.send(ctx, m, rawInfer{body: bc.body, header: bc.header})
		if resp.unsent != nil {
			*unsent = append(*unsent, fmt.Sprintf("%s (%v)", where, resp.unsent))
			continue
		}
		r.rejected(resp, where, badRequest)
		sent++
	}
	return sent
}

// unsentNote says which cases were not sent, for a check's message.
func unsentNote(unsent []string) []string {
	if len(unsent) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%d case%s not sent, having no form in the run's binding: %s", len(unsent), plural(len(unsent)), strings.Join(unsent, "; "))}
}

// rejected records resp and fails unless it is a rejection: a status in
// want with an error response. A failure names the case, quotes what was
// sent and what came back.
func (r *recorder) rejected(resp *response, where string, want statusRange) bool {
	var sub recorder
	ok := sub.expectError(resp, "the request must be rejected", want)
	r.add(resp)
	if ok {
		return true
	}
	got := ""
	if resp.status > 0 {
		got = fmt.Sprintf("; it answered %s", quoteExcerpt(resp.ex.ResponseExcerpt, 200))
	}
	r.failf("%s: sent %s; %s%s", where, quoteExcerpt(resp.ex.RequestExcerpt, 160), sub.failures[0], got)
	return false
}

// quoteExcerpt quotes at most limit bytes of an excerpt for a message.
func quoteExcerpt(s string, limit int) string {
	if len(s) > limit {
		cut := limit
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strconv.Quote(s)
}

// batteryResult ends a battery check; a check that could send no case
// is not checked.
func batteryResult(r *recorder, sent int, what string, notes []string) Result {
	r.figure("cases", Count(sent))
	if sent == 0 {
		return notChecked(r.ev, "not checked: no %s could be sent; %s", what, strings.Join(notes, "; "))
	}
	msg := fmt.Sprintf("all %d %s were rejected with 400 and an error response", sent, what)
	if len(notes) > 0 {
		msg += "; " + strings.Join(notes, "; ")
	}
	res := r.result(msg)
	if res.Status == spec.Fail {
		res.Message = fmt.Sprintf("%d of %d %s were not rejected; %s", len(r.failures), sent, what, res.Message)
	}
	return res
}

func checkMalformedJSON(ctx context.Context, e *env) Result {
	var r recorder
	sent := 0
	var unsent []string
	for _, m := range e.models {
		s := newSampler(e.seed, "safety/malformed-json", m.ref.Label())
		ins, _, err := validInputs(s, m.contract, 1, s.length(m.contract), false)
		if err != nil {
			return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
		}
		valid := mustJSON(requestObj(anyInputs(ins)...))
		// token puts a bare token (not JSON) in place of the first element
		// of the first input's data.
		const mark = "aiconform-token-mark"
		token := func(tok string) []byte {
			data := slices.Clone(ins[0]["data"].([]any))
			data[0] = mark
			b := mustJSON(requestObj(withInput(ins, 0, edit(ins[0], "data", data))...))
			return bytes.Replace(b, []byte(strconv.Quote(mark)), []byte(tok), 1)
		}
		first := ins[0]
		cases := []badCase{
			{name: "empty body", body: []byte{}},
			{name: "truncated request", body: valid[:len(valid)/2]},
			{name: "text that is not JSON", body: []byte("this is not JSON")},
			{name: "a JSON array (holding the request)", body: mustJSON([]any{json.RawMessage(valid)})},
			{name: "a JSON string", body: []byte(`"inputs"`)},
			{name: "a JSON number", body: []byte(`42`)},
			{name: "the token NaN in data", body: token("NaN")},
			{name: "the token Infinity in data", body: token("Infinity")},
			{name: "an object without inputs", body: mustJSON(jsonObj{"id": "aiconform-no-inputs"})},
			{name: "inputs that is not an array", body: mustJSON(jsonObj{"inputs": first})},
			{name: "shape as a string", body: mustJSON(requestObj(withInput(ins, 0, edit(first, "shape", string(mustJSON(first["shape"]))))...))},
			{name: "datatype as a number", body: mustJSON(requestObj(withInput(ins, 0, edit(first, "datatype", 32))...))},
			{name: "data as an object", body: mustJSON(requestObj(withInput(ins, 0, edit(first, "data", jsonObj{"values": first["data"]}))...))},
			{name: "a valid request followed by trailing garbage", body: append(slices.Clone(valid), []byte(` {"trailing": garbage`)...)},
		}
		sent += e.battery(ctx, &r, m, cases, &unsent)
	}
	return batteryResult(&r, sent, "malformed bodies", unsentNote(unsent))
}

// shapeElements is the number of elements data of a shape holds, a
// negative dimension counted as its absolute value.
func shapeElements(shape []int64) int {
	n := 1
	for _, d := range shape {
		n *= int(max(d, -d))
	}
	return n
}

// fillInput is input ct with a shape and valid data of matching length.
func fillInput(s *sampler, c spec.Contract, ct spec.Tensor, shape []int64) (jsonObj, error) {
	k := shapeElements(shape)
	data := make([]any, 0, k)
	for len(data) < k {
		// Draw samples of the longest length until there are enough values.
		t := int64(1)
		if c.Sequence != nil {
			t = c.Sequence.Max
		}
		ins, err := s.draw(c, 1, t, slices.Repeat([]int64{t}, 1))
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(ins, func(x namedTensor) bool { return x.name == ct.Name })
		if i < 0 {
			return nil, fmt.Errorf("%s has no input %q", c.Model, ct.Name)
		}
		data = append(data, elements(ins[i].t)...)
	}
	return inputObj(ct.Name, string(ct.Datatype), shape, data[:k]), nil
}

func checkWrongShape(ctx context.Context, e *env) Result {
	var r recorder
	sent := 0
	var unsent []string
	for _, m := range e.models {
		c := m.contract
		s := newSampler(e.seed, "safety/wrong-shape", m.ref.Label())
		t := s.length(c)
		in0 := c.Inputs[0]
		base, err := concreteShape(c, in0, 1, t)
		if err != nil {
			return errorResult(err.Error())
		}
		type shaped struct {
			name  string
			shape []int64
		}
		var shapes []shaped
		if len(base) >= 2 {
			lower := append(slices.Clone(base[:len(base)-2]), base[len(base)-2]*base[len(base)-1])
			shapes = append(shapes, shaped{fmt.Sprintf("rank one lower %v", lower), lower})
		}
		higher := append(slices.Clone(base), 1)
		shapes = append(shapes, shaped{fmt.Sprintf("rank one higher %v", higher), higher})
		for _, w := range c.Battery.WrongShapes {
			shapes = append(shapes, shaped{fmt.Sprintf("wrong fixed dimension %v", w), w})
		}
		neg := slices.Clone(base)
		neg[0] = -1
		shapes = append(shapes, shaped{fmt.Sprintf("negative dimension %v", neg), neg})
		if c.Sequence != nil {
			zero := slices.Clone(base)
			zero[c.Sequence.Axis] = 0
			shapes = append(shapes, shaped{fmt.Sprintf("sequence length 0 %v", zero), zero})
			if c.Battery.TooLong {
				long := slices.Clone(base)
				long[c.Sequence.Axis] = c.Sequence.Max + 1
				shapes = append(shapes, shaped{fmt.Sprintf("sequence length %d %v", c.Sequence.Max+1, long), long})
			}
		}
		var cases []badCase
		for _, sh := range shapes {
			in, err := fillInput(s, c, in0, sh.shape)
			if err != nil {
				return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
			}
			cases = append(cases, badCase{name: sh.name, body: mustJSON(requestObj(in))})
		}
		// An attention mask whose shape differs from the ids'.
		if mi := slices.IndexFunc(c.Inputs, func(x spec.Tensor) bool { return x.Domain != nil && x.Domain.Mask }); mi >= 0 && c.Sequence != nil {
			const idsLen = 8
			ins, _, err := validInputs(s, c, 1, idsLen, true)
			if err != nil {
				return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
			}
			mshape, _ := concreteShape(c, c.Inputs[mi], 1, idsLen-1)
			mask := inputObj(c.Inputs[mi].Name, string(c.Inputs[mi].Datatype), mshape, slices.Repeat([]any{1}, shapeElements(mshape)))
			cases = append(cases, badCase{name: fmt.Sprintf("%s of shape %v beside inputs of shape %v", c.Inputs[mi].Name, mshape, ins[0]["shape"]),
				body: mustJSON(requestObj(withInput(ins, mi, mask)...))})
		}
		sent += e.battery(ctx, &r, m, cases, &unsent)
	}
	return batteryResult(&r, sent, "requests of a wrong shape", unsentNote(unsent))
}

func checkWrongDtype(ctx context.Context, e *env) Result {
	var r recorder
	sent := 0
	var unsent []string
	for _, m := range e.models {
		c := m.contract
		s := newSampler(e.seed, "safety/wrong-dtype", m.ref.Label())
		ins, _, err := validInputs(s, c, 1, s.length(c), false)
		if err != nil {
			return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
		}
		var cases []badCase
		add := func(i int, name string, kv ...any) {
			cases = append(cases, badCase{name: name, body: mustJSON(requestObj(withInput(ins, i, edit(ins[i], kv...))...))})
		}
		for i, in := range ins {
			ct, _ := c.Input(in["name"].(string))
			data := in["data"].([]any)
			switch {
			case ct.Datatype.IsFloat():
				other := numerics.FP64
				if ct.Datatype == numerics.FP64 {
					other = numerics.FP32
				}
				add(i, fmt.Sprintf("%s for %s input %s", other, ct.Datatype, ct.Name), "datatype", string(other))
				strs := slices.Clone(data)
				strs[0] = string(data[0].(json.Number))
				add(i, fmt.Sprintf("a string in the %s data of %s", ct.Datatype, ct.Name), "data", strs)
				bools := slices.Clone(data)
				bools[0] = true
				add(i, fmt.Sprintf("a boolean in the %s data of %s", ct.Datatype, ct.Name), "data", bools)
			case ct.Domain != nil && ct.Domain.Integers != nil:
				for _, dt := range []string{"FP32", "INT32"} {
					add(i, fmt.Sprintf("%s for %s input %s", dt, ct.Datatype, ct.Name), "datatype", dt)
				}
				strs := make([]any, len(data))
				for j, v := range data {
					strs[j] = string(v.(json.Number))
				}
				add(i, fmt.Sprintf("BYTES for %s input %s", ct.Datatype, ct.Name), "datatype", "BYTES", "data", strs)
				frac := slices.Clone(data)
				frac[0] = json.Number("1.5")
				add(i, fmt.Sprintf("1.5 in the %s data of %s", ct.Datatype, ct.Name), "data", frac)
			}
		}
		add(0, "an unknown datatype name", "datatype", "AICONFORM_NO_SUCH_TYPE")
		sent += e.battery(ctx, &r, m, cases, &unsent)
	}
	return batteryResult(&r, sent, "requests of a wrong datatype", unsentNote(unsent))
}

// nest renders flat elements as nested arrays of the given shape.
func nest(flat []any, shape []int64) any {
	if len(shape) <= 1 {
		return slices.Clone(flat)
	}
	per := len(flat) / int(shape[0])
	out := make([]any, shape[0])
	for i := range out {
		out[i] = nest(flat[i*per:(i+1)*per], shape[1:])
	}
	return out
}

// wrapLeaves returns nested data with every element wrapped in an array
// of one.
func wrapLeaves(v any) any {
	arr, ok := v.([]any)
	if !ok {
		return []any{v}
	}
	out := make([]any, len(arr))
	for i, x := range arr {
		out[i] = wrapLeaves(x)
	}
	return out
}

func checkShapeDataMismatch(ctx context.Context, e *env) Result {
	var r recorder
	sent := 0
	var unsent []string
	var notes []string
	for _, m := range e.models {
		c := m.contract
		s := newSampler(e.seed, "safety/shape-data-mismatch", m.ref.Label())
		ins, _, err := validInputs(s, c, 2, s.length(c), false)
		if err != nil {
			return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
		}
		in0 := ins[0]
		data := in0["data"].([]any)
		shape := in0["shape"].([]int64)
		var cases []badCase
		add := func(name string, d any) {
			cases = append(cases, badCase{name: name, body: mustJSON(requestObj(withInput(ins, 0, edit(in0, "data", d))...))})
		}
		add(fmt.Sprintf("data one element short (%d for shape %v)", len(data)-1, shape), data[:len(data)-1])
		add(fmt.Sprintf("data one element too many (%d for shape %v)", len(data)+1, shape), append(slices.Clone(data), data[0]))
		add(fmt.Sprintf("empty data for shape %v", shape), []any{})
		// Rows of unequal length: the first innermost row gives its last
		// element to the second; the element count stays right.
		if w := int(shape[len(shape)-1]); len(data) >= 2*w && w >= 1 {
			rows := make([]any, len(data)/w)
			for i := range rows {
				rows[i] = slices.Clone(data[i*w : (i+1)*w])
			}
			rows[0], rows[1] = slices.Clone(data[:w-1]), slices.Clone(data[w-1:2*w])
			add(fmt.Sprintf("nested data with rows of unequal length (%d and %d) for shape %v", w-1, w+1, shape), nest(rows, shape[:len(shape)-1]))
		}
		add(fmt.Sprintf("nested data one level deeper than shape %v", shape), wrapLeaves(nest(data, shape)))
		if len(shape) >= 3 {
			merged := append(slices.Clone(shape[:len(shape)-2]), shape[len(shape)-2]*shape[len(shape)-1])
			add(fmt.Sprintf("nested data one level shallower than shape %v (nested as %v)", shape, merged), nest(data, merged))
		} else {
			notes = append(notes, fmt.Sprintf("%s: no nesting shallower than rank %d but flat data, which is valid", m.ref.Label(), len(shape)))
		}
		sent += e.battery(ctx, &r, m, cases, &unsent)
	}
	return batteryResult(&r, sent, "requests whose data disagrees with their shape", append(notes, unsentNote(unsent)...))
}

// noSuchBatteryInput is the input name SAFE-MISSING-INPUT adds.
const noSuchBatteryInput = "aiconform_no_such_input"

func checkMissingInput(ctx context.Context, e *env) Result {
	var r recorder
	sent := 0
	var unsent []string
	optional := 0
	for _, m := range e.models {
		c := m.contract
		s := newSampler(e.seed, "safety/missing-input", m.ref.Label())
		ins, _, err := validInputs(s, c, 1, s.length(c), true)
		if err != nil {
			return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
		}
		var cases []badCase
		for i, ct := range c.Inputs {
			if ct.Optional {
				continue
			}
			rest := slices.Delete(anyInputs(ins), i, i+1)
			cases = append(cases, badCase{name: fmt.Sprintf("without required input %s", ct.Name), body: mustJSON(requestObj(rest...))})
		}
		cases = append(cases,
			badCase{name: "an empty inputs array", body: mustJSON(requestObj())},
			badCase{name: fmt.Sprintf("an unknown input %s beside the model's", noSuchBatteryInput),
				body: mustJSON(requestObj(append(anyInputs(ins), edit(ins[0], "name", noSuchBatteryInput))...))},
			badCase{name: fmt.Sprintf("input %s named twice", ins[0]["name"]), body: mustJSON(requestObj(append(anyInputs(ins), ins[0])...))},
		)
		sent += e.battery(ctx, &r, m, cases, &unsent)
		for i, ct := range c.Inputs {
			if !ct.Optional {
				continue
			}
			rest := slices.Delete(anyInputs(ins), i, i+1)
			resp := e.send(ctx, m, rawInfer{body: mustJSON(requestObj(rest...))})
			if resp.unsent != nil {
				unsent = append(unsent, fmt.Sprintf("%s case %q (%v)", m.ref.Label(), "without optional input "+ct.Name, resp.unsent))
				continue
			}
			optional++
			r.add(resp)
			if !resp.ok(http.StatusOK) {
				r.failf("%s case %q: sent %s; %s %s, want 200 (an optional input may be omitted); it answered %s", m.ref.Label(), "without optional input "+ct.Name,
					quoteExcerpt(resp.ex.RequestExcerpt, 160), resp.what(), resp.outcome(), quoteExcerpt(resp.ex.ResponseExcerpt, 200))
			}
		}
	}
	r.figure("cases", Count(sent+optional))
	if sent+optional == 0 {
		return notChecked(r.ev, "not checked: no request could be sent; %s", strings.Join(unsentNote(unsent), "; "))
	}
	msg := fmt.Sprintf("all %d requests with a missing, empty, unknown or repeated input were rejected with 400 and an error response, and %d without an optional input were served", sent, optional)
	if n := unsentNote(unsent); len(n) > 0 {
		msg += "; " + n[0]
	}
	return r.result(msg)
}

func checkNonfinite(ctx context.Context, e *env) Result {
	var r recorder
	sent := 0
	var unsent []string
	// Whether OIP-BINARY-DATA applies decides the binary cases; the server
	// metadata is read leniently, as api/binary-data reads it.
	md := e.b.serverMetadata(ctx)
	r.add(md)
	extensions, known := serverExtensions(md)
	binary := known && slices.Contains(extensions, oip.ExtensionBinaryData)
	var notes []string
	for _, m := range e.models {
		c := m.contract
		s := newSampler(e.seed, "safety/nonfinite", m.ref.Label())
		ins, tens, err := validInputs(s, c, 1, s.length(c), true)
		if err != nil {
			return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
		}
		var cases []badCase
		add := func(i int, name string, v any) {
			data := slices.Clone(ins[i]["data"].([]any))
			data[len(data)-1] = v
			cases = append(cases, badCase{name: name, body: mustJSON(requestObj(withInput(ins, i, edit(ins[i], "data", data))...))})
		}
		for i, ct := range c.Inputs {
			switch {
			case ct.Datatype == numerics.FP32:
				add(i, fmt.Sprintf("1e39 in the FP32 data of %s", ct.Name), json.Number("1e39"))
			case ct.Datatype == numerics.FP64:
				add(i, fmt.Sprintf("1e309 in the FP64 data of %s", ct.Name), json.Number("1e309"))
			case ct.Domain != nil && ct.Domain.Mask:
				add(i, fmt.Sprintf("value 2 in %s", ct.Name), json.Number("2"))
			case ct.Domain != nil && ct.Domain.Integers != nil:
				lo, hi := ct.Domain.Integers[0], ct.Domain.Integers[1]
				for _, v := range []string{strconv.FormatInt(lo-1, 10), strconv.FormatInt(hi+1, 10), "9223372036854775808"} {
					add(i, fmt.Sprintf("value %s in %s", v, ct.Name), json.Number(v))
				}
			}
			if ct.Datatype != numerics.FP32 || !binary {
				continue
			}
			for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
				bad := slices.Clone(tens)
				x := bad[i].t
				x.F32 = slices.Clone(x.F32)
				x.F32[len(x.F32)-1] = v
				bad[i].t = x
				body, header, err := encodeInfer(inferRequest{inputs: bad, binaryInputs: true})
				if err != nil {
					return errorResult(fmt.Sprintf("cannot encode a binary request of %s: %v", m.ref.Label(), err))
				}
				cases = append(cases, badCase{name: fmt.Sprintf("binary FP32 %s holding %v", ct.Name, v), body: body, header: header})
			}
		}
		sent += e.battery(ctx, &r, m, cases, &unsent)
	}
	switch {
	case !known:
		notes = append(notes, fmt.Sprintf("not checked: the binary NaN and ±Inf cases, since the server metadata could not be read to learn whether %s applies (%s)", "OIP-BINARY-DATA", md.outcome()))
	case !binary:
		notes = append(notes, fmt.Sprintf("binary NaN and ±Inf cases not sent: OIP-BINARY-DATA does not apply (the server metadata's extensions %v do not contain %s)", extensions, oip.ExtensionBinaryData))
	}
	res := batteryResult(&r, sent, "requests with non-finite or out-of-domain values", append(notes, unsentNote(unsent)...))
	if res.Status == spec.Pass && !known {
		return notChecked(res.Evidence, "%s", res.Message)
	}
	return res
}

// serverExtensions reads the extensions of a server metadata response
// leniently (judging it is api/server-metadata's job); known is false
// when they could not be read.
func serverExtensions(resp *response) (extensions []string, known bool) {
	js, _, _ := resp.jsonPart()
	var md struct {
		Extensions []string `json:"extensions"`
	}
	if !resp.ok(http.StatusOK) || json.Unmarshal(js, &md) != nil {
		return nil, false
	}
	return md.Extensions, true
}

// Sizes of SAFE-OVERSIZE's cases.
const (
	oversizeBytes = 256 << 20
	oversizeDepth = 100000
	// oversizeBatch is the batch dimension of the shape that declares
	// more elements than a server will allocate.
	oversizeBatch = 2147483648
)

// zeros is an endless stream of "0," for the oversized body.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		if i%2 == 0 {
			p[i] = '0'
		} else {
			p[i] = ','
		}
	}
	return len(p) &^ 1, nil
}

// oversizeBody returns the head and a stream of a body of exactly n bytes:
// a request whose input of the given shape has far more data than the
// shape holds.
func oversizeBody(name, datatype string, shape []int64, n int64) ([]byte, io.Reader) {
	head := fmt.Appendf(nil, `{"inputs":[{"name":%q,"datatype":%q,"shape":%s,"data":[`, name, datatype, mustJSON(shape))
	tail := []byte(`0]}]}`)
	middle := n - int64(len(head)) - int64(len(tail))
	middle &^= 1
	pad := n - int64(len(head)) - int64(len(tail)) - middle // 0 or 1 spaces
	return head, io.MultiReader(bytes.NewReader(head), io.LimitReader(zeros{}, middle), strings.NewReader(strings.Repeat(" ", int(pad))), bytes.NewReader(tail))
}

func checkOversize(ctx context.Context, e *env) Result {
	var r recorder
	sent := 0
	var unsent []string
	// judge wants 413, or a rejection (400 with an error response); the
	// body of a 413 is not examined.
	judge := func(resp *response, where string) {
		switch {
		case resp.err == nil && resp.status == http.StatusRequestEntityTooLarge:
			r.add(resp)
		case resp.err == nil && resp.status != http.StatusBadRequest:
			r.add(resp)
			r.failf("%s: sent %s; %s %s, want 400 or 413; it answered %s", where, quoteExcerpt(resp.ex.RequestExcerpt, 160), resp.what(), resp.outcome(), quoteExcerpt(resp.ex.ResponseExcerpt, 200))
		default:
			r.rejected(resp, where, badRequest)
		}
	}
	live := func(where string) {
		resp := e.b.live(ctx)
		r.add(resp)
		if !resp.ok(http.StatusOK) {
			r.failf("after %s: %s %s, want 200 (the server stays live)", where, resp.what(), resp.outcome())
		}
	}
	for _, m := range e.models {
		c := m.contract
		in0 := c.Inputs[0]
		shape, err := concreteShape(c, in0, 1, 1)
		if err != nil {
			return errorResult(err.Error())
		}
		where := fmt.Sprintf("%s case %q", m.ref.Label(), fmt.Sprintf("a %d MiB request whose data does not match shape %v", oversizeBytes>>20, shape))
		judge(e.b.oversized(ctx, m.ref.Name, m.ref.Version, in0, shape, oversizeBytes), where)
		live(where)
		sent++
		if c.Battery.HugeBatch {
			big := slices.Clone(shape)
			big[0] = oversizeBatch
			s := newSampler(e.seed, "safety/oversize", m.ref.Label())
			in, err := fillInput(s, c, in0, []int64{1})
			if err != nil {
				return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
			}
			in["shape"] = big
			where := fmt.Sprintf("%s case %q", m.ref.Label(), fmt.Sprintf("shape %v with one data element", big))
			if resp := e.send(ctx, m, rawInfer{body: mustJSON(requestObj(in))}); resp.unsent != nil {
				unsent = append(unsent, fmt.Sprintf("%s (%v)", where, resp.unsent))
			} else {
				judge(resp, where)
				live(where)
				sent++
			}
		}
		deep := fmt.Appendf(nil, `{"inputs":[{"name":%q,"datatype":%q,"shape":%s,"data":`, in0.Name, in0.Datatype, mustJSON(shape))
		deep = append(deep, bytes.Repeat([]byte("["), oversizeDepth)...)
		deep = append(deep, '0')
		deep = append(deep, bytes.Repeat([]byte("]"), oversizeDepth)...)
		deep = append(deep, "}]}"...)
		where = fmt.Sprintf("%s case %q", m.ref.Label(), fmt.Sprintf("data nested %d arrays deep", oversizeDepth))
		// Streamed like the 256 MiB body: a server may answer before it
		// has read all of it, and the answer must still be read.
		resp := e.send(ctx, m, rawInfer{body: deep, stream: true})
		if resp.unsent != nil {
			unsent = append(unsent, fmt.Sprintf("%s (%v)", where, resp.unsent))
			continue
		}
		judge(resp, where)
		live(where)
		sent++
	}
	r.figure("cases", Count(sent))
	msg := fmt.Sprintf("all %d oversized requests got 400 or 413 within the request timeout, and the server stayed live after each", sent)
	if n := unsentNote(unsent); len(n) > 0 {
		msg += "; " + n[0]
	}
	return r.result(msg)
}

func checkErrorHygiene(_ context.Context, e *env) Result {
	var r recorder
	scanned, leaks, more := e.c.hygieneFindings()
	r.figure("errorResponsesScanned", Count(scanned))
	for _, l := range leaks {
		r.ev.Exchanges = append(r.ev.Exchanges, l.ex)
		r.failf("%s", l.String())
	}
	if more > 0 {
		r.failf("%d more matches not kept", more)
	}
	if scanned == 0 {
		return notChecked(r.ev, "not checked: the run received no error response to scan")
	}
	return r.result(fmt.Sprintf("none of the %d error responses of the run holds a stack trace, a source location, a path or a credential", scanned))
}

func checkSurvivesAbuse(ctx context.Context, e *env) Result {
	var r recorder
	tally := caseTally{r: &r}
	liveOK, liveMsg := pollHealth(ctx, e, &r, e.b.live, "the server is live")
	readyOK, readyMsg := pollHealth(ctx, e, &r, e.b.ready, "the server is ready")
	for _, m := range e.models {
		gs := m.sets[0]
		if res := e.sendGolden(ctx, &r, &tally, m, gs, gs.cases[0], false); res != nil {
			return *res
		}
	}
	res := tally.result("golden cases after the battery")
	var health []string
	if !liveOK {
		health = append(health, liveMsg)
	}
	if !readyOK {
		health = append(health, readyMsg)
	}
	if len(health) > 0 {
		msg := strings.Join(health, "; ")
		if res.Status == spec.Fail {
			msg += "; " + res.Message
		}
		return Result{Status: spec.Fail, Evidence: res.Evidence, Message: "after the battery: " + msg}
	}
	if res.Status == spec.Fail {
		res.Message = "after the battery: " + res.Message
		return res
	}
	res.Message = fmt.Sprintf("after the battery the server is live (%s) and ready (%s); %s", liveMsg, readyMsg, res.Message)
	return res
}
