package serve

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDebugHandler(t *testing.T) {
	// Two handlers in one process share expvar's variables.
	_ = DebugHandler()
	h := DebugHandler()
	tests := []struct {
		path     string
		status   int
		contains string
	}{
		{"/debug/vars", http.StatusOK, `"goroutines"`},
		{"/debug/pprof/", http.StatusOK, "goroutine"},
		{"/debug/pprof/goroutine?debug=1", http.StatusOK, "goroutine profile:"},
		{"/debug/pprof/heap?debug=1", http.StatusOK, "heap profile:"},
		{"/debug/pprof/cmdline", http.StatusOK, ""},
		{"/v2/health/live", http.StatusNotFound, ""},
		{"/", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			b, _ := io.ReadAll(rec.Result().Body)
			if rec.Code != tt.status || !strings.Contains(string(b), tt.contains) {
				t.Errorf("GET %s = %d, want %d containing %q; body starts %q", tt.path, rec.Code, tt.status, tt.contains, string(b[:min(len(b), 200)]))
			}
		})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/vars", nil))
	var vars struct {
		Goroutines int `json:"goroutines"`
		Memstats   struct {
			HeapAlloc uint64
		} `json:"memstats"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &vars); err != nil || vars.Goroutines < 1 || vars.Memstats.HeapAlloc == 0 {
		t.Errorf("/debug/vars = %+v (%v), want a goroutine count and memstats", vars, err)
	}
}
