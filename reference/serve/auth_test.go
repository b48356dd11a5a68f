package serve

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// slogJSON returns a JSON logger writing to w at debug level, so that
// nothing a server logs escapes a test's scan.
func slogJSON(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestAuth(t *testing.T) {
	const token = "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
	const wrong = "tok-00000000000000000000000000000000"
	logs := &syncBuffer{}
	s, err := New(testModels(), WithAuthToken(token), WithLogger(slogJSON(logs)))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	infer := `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`
	type req struct{ method, path, body string }
	protected := []req{
		{"GET", "/v2", ""},
		{"GET", "/v2/", ""},
		{"GET", "/v2/models/echo-sum", ""},
		{"GET", "/v2/models/echo-sum/versions/fp64", ""},
		{"GET", "/v2/models/echo-sum/ready", ""},
		{"GET", "/v2/models/echo-sum/versions/fp32/ready", ""},
		{"POST", "/v2/models/echo-sum/infer", infer},
		{"POST", "/v2/models/echo-sum/versions/fp32/infer", infer},
	}
	denied := []struct {
		name, authorization, challenge string
	}{
		{"no credential", "", `Bearer realm="aiconform"`},
		{"wrong token", "Bearer " + wrong, `Bearer realm="aiconform", error="invalid_token"`},
		{"right token with a suffix", "Bearer " + token + "x", `Bearer realm="aiconform", error="invalid_token"`},
		{"token prefix", "Bearer " + token[:10], `Bearer realm="aiconform", error="invalid_token"`},
		{"bearer without a token", "Bearer ", `Bearer realm="aiconform"`},
		{"bearer alone", "Bearer", `Bearer realm="aiconform"`},
		{"basic credential", "Basic dXNlcjpwYXNz", `Bearer realm="aiconform"`},
		{"token without a scheme", token, `Bearer realm="aiconform"`},
		{"token in another scheme", "Token " + token, `Bearer realm="aiconform"`},
		{"two tokens", "Bearer " + token + " " + token, `Bearer realm="aiconform"`},
	}
	for _, d := range denied {
		for _, rq := range protected {
			t.Run(d.name+"/"+rq.method+" "+rq.path, func(t *testing.T) {
				hdr := map[string]string{}
				if d.authorization != "" {
					hdr["Authorization"] = d.authorization
				}
				r := do(t, h, rq.method, rq.path, rq.body, hdr)
				msg := checkError(t, r, http.StatusUnauthorized)
				if got := r.header.Get("WWW-Authenticate"); got != d.challenge {
					t.Errorf("WWW-Authenticate = %q, want %q", got, d.challenge)
				}
				for _, leak := range []string{token, wrong, "echo-sum", "FP32", "outputs"} {
					if strings.Contains(msg, leak) || strings.Contains(string(r.body), leak) {
						t.Errorf("401 body %s reveals %q", r.body, leak)
					}
				}
			})
		}
	}
	granted := []string{"Bearer " + token, "bearer " + token, "BEARER  " + token}
	for _, auth := range granted {
		for _, rq := range protected {
			r := do(t, h, rq.method, rq.path, rq.body, map[string]string{"Authorization": auth})
			if r.status != http.StatusOK {
				t.Errorf("%s %s with %q = %d %s", rq.method, rq.path, auth[:7], r.status, r.body)
			}
			if strings.Contains(string(r.body), token) {
				t.Errorf("%s %s echoes the token", rq.method, rq.path)
			}
		}
	}
	// Server health stays open, with or without a credential: Kubernetes
	// probes send none.
	for _, path := range []string{"/v2/health/live", "/v2/health/ready"} {
		for _, auth := range []string{"", "Bearer " + wrong} {
			r := do(t, h, "GET", path, "", map[string]string{"Authorization": auth})
			if r.status != http.StatusOK {
				t.Errorf("GET %s with %q = %d %s, want 200", path, auth, r.status, r.body)
			}
		}
	}
	// Unknown routes do not tell an anonymous caller what exists.
	checkError(t, do(t, h, "GET", "/v2/models/nope", "", nil), http.StatusUnauthorized)
	checkError(t, do(t, h, "GET", "/v2/health/live/", "", nil), http.StatusUnauthorized)
	checkError(t, do(t, h, "GET", "/v2/models/nope", "", map[string]string{"Authorization": "Bearer " + token}), http.StatusNotFound, `"nope"`)
	// Errors after authentication do not echo the credential either.
	r := do(t, h, "POST", "/v2/models/echo-sum/infer", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3]}]}`, map[string]string{"Authorization": "Bearer " + token, "X-API-Key": wrong})
	checkError(t, r, http.StatusBadRequest, `input "x"`)
	for k, vs := range r.header {
		for _, v := range vs {
			if strings.Contains(v, token) || strings.Contains(v, wrong) {
				t.Errorf("header %s: %q echoes a credential", k, v)
			}
		}
	}

	// Every request was logged, and no credential reached the log.
	if n := strings.Count(logs.String(), `"msg":"request"`); n < len(denied)*len(protected) {
		t.Errorf("only %d access log lines", n)
	}
	if !strings.Contains(logs.String(), `"status":401`) {
		t.Errorf("the 401 answers are not in the access log")
	}
	for _, secret := range []string{token, wrong, token[:10], "dXNlcjpwYXNz", "Authorization", "authorization"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}

func TestNoAuthByDefault(t *testing.T) {
	h, _ := newTestServer(t)
	r := do(t, h, "GET", "/v2/models/echo-sum", "", map[string]string{"Authorization": "Bearer anything"})
	if r.status != http.StatusOK || r.header.Get("WWW-Authenticate") != "" {
		t.Errorf("without WithAuthToken: %d, WWW-Authenticate %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"Bearer   abc", "abc", true},
		{"Bearer abc ", "", false},
		{"Bearer a b", "", false},
		{"Bearer a\tb", "", false},
		{"Bearer ", "", false},
		{"Bearer", "", false},
		{"Bearerabc", "", false},
		{"Basic abc", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		token, ok := bearerToken(tt.header)
		if token != tt.token || ok != tt.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", tt.header, token, ok, tt.token, tt.ok)
		}
	}
}
