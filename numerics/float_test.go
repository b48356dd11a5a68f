package numerics

import (
	"encoding/json"
	"math"
	"testing"
)

func TestFloatJSON(t *testing.T) {
	for _, tt := range []struct {
		f    float64
		json string
	}{{1.5, "1.5"}, {0, "0"}, {math.Inf(1), `"+Inf"`}, {math.Inf(-1), `"-Inf"`}, {math.NaN(), `"NaN"`}, {1e-300, "1e-300"}} {
		b, err := json.Marshal(Float(tt.f))
		if err != nil || string(b) != tt.json {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tt.f, b, err, tt.json)
		}
		var back Float
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !(float64(back) == tt.f || math.IsNaN(tt.f) && math.IsNaN(float64(back))) {
			t.Errorf("round trip of %v gave %v", tt.f, back)
		}
	}
	var f Float
	if err := json.Unmarshal([]byte(`"Infinity"`), &f); err == nil {
		t.Error(`"Infinity" accepted`)
	}
}
