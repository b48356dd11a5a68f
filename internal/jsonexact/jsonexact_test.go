package jsonexact

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type inner struct {
	Shape []int64 `json:"shape"`
}

type base struct {
	Kind string `json:"kind"`
}

type doc struct {
	base
	Outputs []inner          `json:"outputs"`
	ByName  map[string]inner `json:"byName,omitempty"`
	When    time.Time        `json:"when"`
	Extra   string           `json:"-"`
	Params  map[string]any   `json:"parameters,omitempty"`
	Raw     json.RawMessage  `json:"raw,omitempty"`
	Plain   string
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in string
		want     doc
	}{
		{"exact names", `{"kind":"k","outputs":[{"shape":[1,2]}],"Plain":"p"}`,
			doc{base: base{Kind: "k"}, Outputs: []inner{{Shape: []int64{1, 2}}}, Plain: "p"}},
		{"a folded name after the field is left out", `{"outputs":[{"shape":[1]}],"outputſ":[]}`,
			doc{Outputs: []inner{{Shape: []int64{1}}}}},
		{"an upper-case name is left out", `{"OUTPUTS":[{"shape":[1]}]}`, doc{}},
		{"nested in arrays", `{"outputs":[{"shape":[3],"ſhape":[4]}]}`,
			doc{Outputs: []inner{{Shape: []int64{3}}}}},
		{"nested in map values", `{"byName":{"a":{"SHAPE":[4],"shape":[5]}}}`,
			doc{ByName: map[string]inner{"a": {Shape: []int64{5}}}}},
		{"promoted fields of an embedded struct", `{"KIND":"x","kind":"y"}`, doc{base: base{Kind: "y"}}},
		{"a field without a tag keeps its Go name", `{"plain":"x"}`, doc{}},
		{"members of a free-form map are kept", `{"parameters":{"Binary_Data_Size":1}}`,
			doc{Params: map[string]any{"Binary_Data_Size": 1.0}}},
		{"raw messages are kept whole", `{"raw":{"A":1,"a":2}}`, doc{Raw: json.RawMessage(`{"A":1,"a":2}`)}},
		{"types that decode themselves get their value whole", `{"when":"2025-01-02T03:04:05Z"}`,
			doc{When: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}},
		{"unknown names are kept, and ignored", `{"x-vendor":1}`, doc{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tt.in), &v); err != nil {
				t.Fatal(err)
			}
			var got doc
			if err := Decode(v, &got); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got, cmp.AllowUnexported(doc{})); d != "" {
				t.Errorf("Decode(%s) (-want +got):\n%s", tt.in, d)
			}
		})
	}
}

// selfDecoding decodes itself into a copy of its fields with Unmarshal,
// and counts.
type selfDecoding struct {
	Sent  int64 `json:"sent"`
	calls int
}

type selfDecodingFields selfDecoding

func (s *selfDecoding) UnmarshalJSON(b []byte) error {
	var f selfDecodingFields
	if err := Unmarshal(b, &f); err != nil {
		return err
	}
	*s = selfDecoding(f)
	s.calls++
	return nil
}

func TestUnmarshal(t *testing.T) {
	tests := []struct {
		name, in string
		want     selfDecoding
		err      bool
	}{
		{"exact names", `{"sent":47}`, selfDecoding{Sent: 47, calls: 1}, false},
		{"a folded name is left out, in a type that decodes itself", `{"sent":47,"ſent":999}`, selfDecoding{Sent: 47, calls: 1}, false},
		{"a large integer stays exact", `{"sent":9007199254740993}`, selfDecoding{Sent: 9007199254740993, calls: 1}, false},
		{"data after the value", `{"sent":1} {}`, selfDecoding{}, true},
		{"not JSON", `{"sent":`, selfDecoding{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got selfDecoding
			err := Unmarshal([]byte(tt.in), &got)
			if (err != nil) != tt.err {
				t.Fatalf("Unmarshal(%s) error %v, want an error: %v", tt.in, err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Errorf("Unmarshal(%s) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}
