package conformance

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aiconform/aiconform/internal/fakeoip"
	"github.com/aiconform/aiconform/spec"
)

// safetyProfile is fakeProfile at level safety.
func safetyProfile(t *testing.T) *Profile {
	t.Helper()
	p, err := ParseProfile("fake-safety.yaml", []byte(strings.Replace(fakeProfileYAML, "levels: [core]", "levels: [safety]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSafetyChecks runs the safety level against the fake, conforming and
// with each of its safety faults: every check passes but those the fault
// breaks, whose failure names the case, quotes what was sent and what came
// back.
func TestSafetyChecks(t *testing.T) {
	tests := []struct {
		fault string
		want  map[string]wantResult
	}{
		{fault: fakeoip.FaultNone, want: wantN(
			"safety/nonfinite", spec.Pass, []string{"binary NaN and ±Inf cases not sent: OIP-BINARY-DATA does not apply"},
			"safety/missing-input", spec.Pass, []string{"and 0 without an optional input were served"},
		)},
		{fault: fakeoip.FaultTrailingGarbage, want: want1("safety/malformed-json", spec.Fail,
			`seed-cnn@fp32 case "a valid request followed by trailing garbage"`, `sent "{\"inputs\":`, "answered 200, want 400", `it answered "{\"model_name\"`)},
		{fault: fakeoip.Fault500BadRequest, want: wantN(
			"safety/malformed-json", spec.Fail, []string{`case "empty body"`, "answered 500, want 400", `it answered "{\"error\":`},
			"safety/wrong-shape", spec.Fail, []string{`case "rank one lower [1 1 784]"`, "answered 500, want 400"},
			"safety/wrong-dtype", spec.Fail, []string{`case "FP64 for FP32 input input"`, "answered 500"},
			"safety/shape-data-mismatch", spec.Fail, []string{`case "data one element short (1567 for shape [2 1 28 28])"`, "answered 500"},
			"safety/missing-input", spec.Fail, []string{`case "without required input input"`, "answered 500"},
			"safety/nonfinite", spec.Fail, []string{`case "1e39 in the FP32 data of input"`, "1e39", "answered 500"},
			"safety/oversize", spec.Fail, []string{`case "shape [2147483648 1 28 28] with one data element"`, "answered 500"},
		)},
		{fault: fakeoip.FaultOversize500, want: want1("safety/oversize", spec.Fail,
			`case "a 256 MiB request whose data does not match shape [1 1 28 28]"`, "[268435456 bytes in all]", "answered 500, want 400 or 413", `"out of memory`)},
		{fault: fakeoip.FaultLeakyErrors, want: want1("safety/error-hygiene", spec.Fail,
			"whose body holds a Go goroutine header", `"goroutine 7 [`)},
		{fault: fakeoip.FaultDiesAfterBattery, want: want1("safety/survives-abuse", spec.Fail,
			"GET /v2/health/ready answered 503, want 200", "seed-cnn@fp32 case case-000", "answered 503")},
	}
	for _, tt := range tests {
		name := tt.fault
		if name == "" {
			name = "conforming"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rep := runFake(t, &fakeoip.Server{Fault: tt.fault}, Options{Profile: safetyProfile(t), RequestTimeout: 2 * time.Second})
			if n := checksAt(spec.Safety); len(rep.Checks) != n {
				t.Errorf("%d results, want one per safety check (%d)", len(rep.Checks), n)
			}
			// Without auth and over http the security checks of
			// authentication and TLS do not apply.
			notApplicable := wantN(
				"security/auth-required", spec.Skip, []string{spec.NotApplicablePrefix},
				"security/tls", spec.Skip, []string{spec.NotApplicablePrefix})
			expectResults(t, rep, tt.want, notApplicable)
		})
	}
}

// TestOversizeMemory sends SAFE-OVERSIZE's 256 MiB body to a server that
// answers 413 at once and to one that reads the whole body before it
// answers 400, and holds the suite's allocations during the check well
// under the body's size: the body is streamed, never held.
func TestOversizeMemory(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"413 before reading", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			io.WriteString(w, `{"error":"too large"}`)
		}},
		{"400 after reading", func(w http.ResponseWriter, r *http.Request) {
			n, _ := io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"data does not match the shape after `+strings.Repeat("x", int(n%2))+`"}`)
		}},
	}
	models, _, err := loadModels(fakeProfile(t), fakeoip.Goldens(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/v2/health/live":
					w.WriteHeader(http.StatusOK)
				case r.ContentLength == oversizeBytes:
					got = r.ContentLength
					tt.handler(w, r)
				default:
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusBadRequest)
					io.WriteString(w, `{"error":"bad"}`)
				}
			}))
			defer srv.Close()
			c := &client{base: srv.URL, hc: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}, timeout: 30 * time.Second,
				maxBody: DefaultMaxBodyBytes, now: time.Now, maxStrikes: DefaultMaxStrikes}
			e := &env{b: restBinding{c: c}, c: c, models: models, seed: 1, results: map[string]Result{}}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			res := checkOversize(context.Background(), e)
			runtime.ReadMemStats(&after)
			if res.Status != spec.Pass {
				t.Errorf("oversize %s: %s", res.Status, res.Message)
			}
			if got != oversizeBytes {
				t.Errorf("the server saw Content-Length %d, want %d", got, oversizeBytes)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %d KiB during the check; heap in use %d KiB after", alloc>>10, after.HeapInuse>>10)
			if alloc > 32<<20 {
				t.Errorf("the check allocated %d MiB, want well under the %d MiB body", alloc>>20, oversizeBytes>>20)
			}
		})
	}
}
