package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Violation is one schema violation: Pointer is the JSON pointer of the
// failing instance location ("" for the document itself, or "/a/0/b"),
// Message says what was expected.
type Violation struct {
	Pointer string
	Message string
}

// String renders v as "POINTER: MESSAGE", the document itself as "/".
func (v Violation) String() string {
	p := v.Pointer
	if p == "" {
		p = "/"
	}
	return p + ": " + v.Message
}

// Validate validates doc, a decoded JSON instance (map[string]any, []any,
// string, bool, nil, json.Number, float64, ...), against the schema of kind
// at version ("" for the latest). A value of any other Go type is validated
// as its encoding/json form. It returns the violations sorted by pointer,
// none when doc is valid. The error is only for an unknown kind or version,
// a broken schema or a value JSON cannot represent.
func Validate(kind, version string, doc any) ([]Violation, error) {
	v, err := resolve(kind, version)
	if err != nil {
		return nil, err
	}
	sch, err := compiled(kind, v)
	if err != nil {
		return nil, err
	}
	inst, err := normalize(doc)
	if err != nil {
		return nil, fmt.Errorf("schemas: validating %s %s: %w", kind, v, err)
	}
	err = sch.Validate(inst)
	if err == nil {
		return nil, nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, fmt.Errorf("schemas: validating %s %s: %w", kind, v, err)
	}
	return violations(ve, inst), nil
}

// compileKey names one compiled schema.
type compileKey struct{ kind, version string }

var (
	compileMu    sync.Mutex
	compileCache = map[compileKey]func() (*jsonschema.Schema, error){}
)

// compiled returns the compiled schema of kind at version, compiling it on
// first use. Each schema is compiled once, by a compiler of its own, so a
// broken schema affects only itself.
func compiled(kind, version string) (*jsonschema.Schema, error) {
	k := compileKey{kind, version}
	compileMu.Lock()
	f, ok := compileCache[k]
	if !ok {
		f = sync.OnceValues(func() (*jsonschema.Schema, error) {
			c := jsonschema.NewCompiler()
			c.DefaultDraft(jsonschema.Draft2020)
			c.AssertFormat()
			c.UseLoader(embeddedLoader{})
			s, err := c.Compile(URL(kind, version))
			if err != nil {
				return nil, fmt.Errorf("schemas: compiling %s: %w", filePath(kind, version), err)
			}
			return s, nil
		})
		compileCache[k] = f
	}
	compileMu.Unlock()
	return f()
}

// embeddedLoader resolves schema URLs to the embedded files and refuses
// everything else: schemas are never fetched from the network. (The
// JSON Schema meta-schemas are built into the compiler.)
type embeddedLoader struct{}

// Load implements jsonschema.URLLoader.
func (embeddedLoader) Load(url string) (any, error) {
	rel, ok := strings.CutPrefix(url, BaseURL)
	if ok {
		kind, file, _ := strings.Cut(rel, "/")
		version, isSchema := strings.CutSuffix(file, ".schema.json")
		if isSchema && slices.Contains(index()[kind], version) {
			b, err := files.ReadFile(filePath(kind, version))
			if err != nil {
				return nil, err
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", filePath(kind, version), err)
			}
			return doc, nil
		}
	}
	return nil, fmt.Errorf("%s is not an embedded aiconform schema (schemas are never loaded from the network)", url)
}

// normalize returns doc as the JSON value types the validator understands,
// converting through encoding/json when doc holds other Go types.
func normalize(doc any) (any, error) {
	if isJSONValue(doc) {
		return doc, nil
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("document is not representable as JSON: %w", err)
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

func isJSONValue(v any) bool {
	switch v := v.(type) {
	case nil, bool, string, json.Number, float64, float32,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return true
	case []any:
		for _, e := range v {
			if !isJSONValue(e) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, e := range v {
			if !isJSONValue(e) {
				return false
			}
		}
		return true
	}
	return false
}

// violations flattens the error tree into its leaves (the deepest causes),
// one violation per missing or unexpected property, sorted by pointer. No
// message shows a credential the document carries (a token pasted where
// the name of its environment variable belongs, say): see redact.
func violations(root *jsonschema.ValidationError, inst any) []Violation {
	var out []Violation
	secrets := credentials(inst)
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		ptr := pointer(e.InstanceLocation)
		if _, ok := e.ErrorKind.(*kind.FalseSchema); ok && len(e.InstanceLocation) > 0 {
			// A false subschema under properties: the property may not be here.
			loc := e.InstanceLocation
			if _, isObject := lookup(inst, loc[:len(loc)-1]).(map[string]any); isObject {
				msg := fmt.Sprintf("property %s is not allowed here", quote(loc[len(loc)-1]))
				out = append(out, Violation{Pointer: pointer(loc[:len(loc)-1]), Message: redact(msg, "", nil, secrets)})
				return
			}
		}
		value, key := lookup(inst, e.InstanceLocation), ""
		if loc := e.InstanceLocation; len(loc) > 0 {
			key = loc[len(loc)-1]
		}
		for _, m := range messages(e.ErrorKind, value) {
			out = append(out, Violation{Pointer: ptr, Message: redact(m, key, value, secrets)})
		}
	}
	walk(root)
	slices.SortFunc(out, func(a, b Violation) int {
		if c := comparePointers(a.Pointer, b.Pointer); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	return slices.Compact(out)
}

// comparePointers orders pointers token by token, array indexes numerically,
// so /a/2 sorts before /a/10.
func comparePointers(a, b string) int {
	ta, tb := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(ta) && i < len(tb); i++ {
		if ta[i] == tb[i] {
			continue
		}
		na, errA := strconv.Atoi(ta[i])
		nb, errB := strconv.Atoi(tb[i])
		if errA == nil && errB == nil {
			return na - nb
		}
		return strings.Compare(ta[i], tb[i])
	}
	return len(ta) - len(tb)
}

// pointer renders instance location tokens as an RFC 6901 JSON pointer.
func pointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		sb.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	return sb.String()
}

// lookup returns the value at the instance location, or nil.
func lookup(v any, tokens []string) any {
	for _, t := range tokens {
		switch c := v.(type) {
		case map[string]any:
			v = c[t]
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// messages renders one leaf error as readable messages that say what was
// expected; value is the failing instance.
func messages(k jsonschema.ErrorKind, value any) []string {
	switch k := k.(type) {
	case *kind.Required:
		return eachQuoted("missing property %s", k.Missing)
	case *kind.AdditionalProperties:
		return eachQuoted("additional property %s is not allowed", k.Properties)
	case *kind.DependentRequired:
		return eachQuoted("missing property %s, required when "+quote(k.Prop)+" is present", k.Missing)
	case *kind.Dependency:
		return eachQuoted("missing property %s, required when "+quote(k.Prop)+" is present", k.Missing)
	}
	return []string{kindMessage(k, value)}
}

func eachQuoted(format string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = fmt.Sprintf(format, quote(n))
	}
	return out
}

func kindMessage(k jsonschema.ErrorKind, value any) string {
	switch k := k.(type) {
	case *kind.Type:
		return fmt.Sprintf("expected %s, got %s", alternatives(k.Want), describe(k.Got, value))
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = show(w)
		}
		if len(want) == 1 {
			return fmt.Sprintf("expected %s, got %s", want[0], show(k.Got))
		}
		return fmt.Sprintf("expected one of %s, got %s", strings.Join(want, ", "), show(k.Got))
	case *kind.Const:
		return fmt.Sprintf("expected %s, got %s", show(k.Want), show(k.Got))
	case *kind.Format:
		return fmt.Sprintf("expected a valid %s, got %s (%v)", k.Want, show(k.Got), k.Err)
	case *kind.Pattern:
		return fmt.Sprintf("expected a string matching %s, got %s", k.Want, quote(k.Got))
	case *kind.Minimum:
		return fmt.Sprintf("expected a number >= %s, got %s", rat(k.Want), rat(k.Got))
	case *kind.Maximum:
		return fmt.Sprintf("expected a number <= %s, got %s", rat(k.Want), rat(k.Got))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("expected a number > %s, got %s", rat(k.Want), rat(k.Got))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("expected a number < %s, got %s", rat(k.Want), rat(k.Got))
	case *kind.MultipleOf:
		return fmt.Sprintf("expected a multiple of %s, got %s", rat(k.Want), rat(k.Got))
	case *kind.MinItems:
		return fmt.Sprintf("expected at least %s, got %d", plural(k.Want, "item"), k.Got)
	case *kind.MaxItems:
		return fmt.Sprintf("expected at most %s, got %d", plural(k.Want, "item"), k.Got)
	case *kind.MinLength:
		return fmt.Sprintf("expected at least %s, got %d", plural(k.Want, "character"), k.Got)
	case *kind.MaxLength:
		return fmt.Sprintf("expected at most %s, got %d", plural(k.Want, "character"), k.Got)
	case *kind.MinProperties:
		return fmt.Sprintf("expected at least %s, got %d", plural(k.Want, "property"), k.Got)
	case *kind.MaxProperties:
		return fmt.Sprintf("expected at most %s, got %d", plural(k.Want, "property"), k.Got)
	case *kind.UniqueItems:
		return fmt.Sprintf("expected unique items, items %d and %d are equal", k.Duplicates[0], k.Duplicates[1])
	case *kind.FalseSchema:
		return "no value is allowed here"
	case *kind.Not:
		return "the value matches a schema it must not match"
	case *kind.OneOf:
		if len(k.Subschemas) == 2 {
			return fmt.Sprintf("expected exactly one alternative to match, alternatives %d and %d both match", k.Subschemas[0], k.Subschemas[1])
		}
	case *kind.InvalidJsonValue:
		return fmt.Sprintf("expected a JSON value, got %v (%T)", k.Value, k.Value)
	}
	return k.LocalizedString(printer)
}

// printer renders the validator's own messages for kinds not handled above.
var printer = message.NewPrinter(language.English)

// alternatives joins names as "a", "a or b", "a, b or c".
func alternatives(names []string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// describe names a JSON type with the failing scalar value, if any.
func describe(typ string, value any) string {
	switch value.(type) {
	case nil, []any, map[string]any:
		return typ
	}
	return typ + " " + show(value)
}

// show renders a JSON value briefly.
func show(v any) string {
	switch v := v.(type) {
	case string:
		return quote(v)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

// quote quotes s for a message, shortened if long.
func quote(s string) string {
	const max = 80
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return strconv.Quote(s)
}

func rat(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
