// Package serve is the reference server of aiconform: it serves reference
// models over the Open Inference Protocol v2 (REST), so that the suite has a
// conforming "vendor" to run against and vendors have a server to compare
// with.
//
// Routes (each with and without a /versions/{v} segment where the protocol
// has one):
//
//	GET  /v2/health/live                         {"live":true}
//	GET  /v2/health/ready                        {"ready":true}
//	GET  /v2/models/{m}[/versions/{v}]/ready     {"name":m,"ready":true}, or 404
//	GET  /v2  (and /v2/)                         server metadata
//	GET  /v2/models/{m}[/versions/{v}]           model metadata
//	POST /v2/models/{m}[/versions/{v}]/infer     inference
//
// Every answer is JSON with Content-Type application/json; every error is
// {"error": "<message>"}: 400 for a bad request, 404 for an unknown route,
// model or version, 405 (with an Allow header) for a wrong method, 413 for a
// body over the limit and 500, with the generic message "internal server
// error", for anything that is the server's fault (the details go to the
// log, never to the client).
//
// Version policy: a request that names no version is served by the model's
// default version, which is "fp32" when the model has one and otherwise the
// lexically first of its versions.
package serve

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/reference"
)

// Defaults of the options of New.
const (
	// DefaultMaxBodyBytes is the largest request body accepted (8 MiB).
	DefaultMaxBodyBytes int64 = 8 << 20
	// DefaultServerName is the name GET /v2 reports.
	DefaultServerName = "aiconform-reference"
	// DefaultServerVersion is the version GET /v2 reports.
	DefaultServerVersion = "dev"
	// DefaultVersion is the model version used when a request names none
	// and the model has it.
	DefaultVersion = "fp32"
	// Platform is the platform model metadata reports.
	Platform = "aiconform-gorgonia"
)

// Option configures a Server.
type Option func(*config)

type config struct {
	maxBodyBytes  int64
	logger        *slog.Logger
	serverName    string
	serverVersion string
}

// WithMaxBodyBytes sets the largest request body accepted; larger bodies are
// answered 413. It must be positive (default DefaultMaxBodyBytes).
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBodyBytes = n } }

// WithLogger sets the logger for access logs and internal errors (default:
// discard everything). A nil logger discards.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithServerName sets the name GET /v2 reports (default DefaultServerName).
func WithServerName(name string) Option { return func(c *config) { c.serverName = name } }

// WithServerVersion sets the version GET /v2 reports (default
// DefaultServerVersion).
func WithServerVersion(v string) Option { return func(c *config) { c.serverVersion = v } }

// Server serves a fixed set of reference models. Its handler is safe for
// concurrent use.
type Server struct {
	cfg     config
	models  map[string]*entry
	ids     []string // sorted model ids
	handler http.Handler
}

// entry is one model id with all its versions.
type entry struct {
	id       string
	versions map[string]reference.Model
	names    []string // sorted versions
	def      string
}

// New returns a server for models, each a (model id, version) pair that must
// be unique. Model ids and versions must be non-empty path segments, and
// each model's tensors must have unique non-empty names, a datatype of
// FP32, FP64 or INT64 and dimensions that are -1 (variable) or positive.
func New(models []reference.Model, opts ...Option) (*Server, error) {
	cfg := config{
		maxBodyBytes:  DefaultMaxBodyBytes,
		serverName:    DefaultServerName,
		serverVersion: DefaultServerVersion,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxBodyBytes <= 0 {
		return nil, fmt.Errorf("serve: max body bytes is %d, want > 0", cfg.maxBodyBytes)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if len(models) == 0 {
		return nil, fmt.Errorf("serve: no models to serve")
	}
	s := &Server{cfg: cfg, models: map[string]*entry{}}
	for i, m := range models {
		if m == nil {
			return nil, fmt.Errorf("serve: model %d is nil", i)
		}
		if err := checkModel(m); err != nil {
			return nil, fmt.Errorf("serve: model %d: %w", i, err)
		}
		e := s.models[m.ID()]
		if e == nil {
			e = &entry{id: m.ID(), versions: map[string]reference.Model{}}
			s.models[m.ID()] = e
			s.ids = append(s.ids, m.ID())
		}
		if _, dup := e.versions[m.Version()]; dup {
			return nil, fmt.Errorf("serve: model %q version %q is given twice", m.ID(), m.Version())
		}
		e.versions[m.Version()] = m
		e.names = append(e.names, m.Version())
	}
	slices.Sort(s.ids)
	for _, e := range s.models {
		slices.Sort(e.names)
		e.def = e.names[0]
		if _, ok := e.versions[DefaultVersion]; ok {
			e.def = DefaultVersion
		}
	}
	s.handler = s.observe(s.routes())
	return s, nil
}

// checkModel rejects models the server could not describe or route to.
func checkModel(m reference.Model) error {
	for what, v := range map[string]string{"id": m.ID(), "version": m.Version()} {
		if v == "" || strings.ContainsAny(v, "/?#%") || v == "." || v == ".." {
			return fmt.Errorf("%s %q is not a usable URL path segment", what, v)
		}
	}
	for kind, specs := range map[string][]reference.TensorSpec{"input": m.Inputs(), "output": m.Outputs()} {
		if len(specs) == 0 {
			return fmt.Errorf("model %q version %q has no %ss", m.ID(), m.Version(), kind)
		}
		seen := map[string]bool{}
		for i, t := range specs {
			if t.Name == "" {
				return fmt.Errorf("model %q version %q: %s %d has no name", m.ID(), m.Version(), kind, i)
			}
			if seen[t.Name] {
				return fmt.Errorf("model %q version %q: %s %q is declared twice", m.ID(), m.Version(), kind, t.Name)
			}
			seen[t.Name] = true
			switch t.DType {
			case numerics.FP32, numerics.FP64, numerics.INT64:
			default:
				return fmt.Errorf("model %q version %q: %s %q has datatype %q, want FP32, FP64 or INT64", m.ID(), m.Version(), kind, t.Name, t.DType)
			}
			for j, d := range t.Shape {
				if d == 0 || d < -1 {
					return fmt.Errorf("model %q version %q: %s %q dimension %d is %d, want -1 or > 0", m.ID(), m.Version(), kind, t.Name, j, d)
				}
			}
		}
	}
	return nil
}

// Handler returns the HTTP handler of the protocol, wrapped in access
// logging and panic recovery.
func (s *Server) Handler() http.Handler { return s.handler }

// DefaultVersionOf returns the version that serves requests for model id
// naming no version, and whether the model is served.
func (s *Server) DefaultVersionOf(id string) (string, bool) {
	e, ok := s.models[id]
	if !ok {
		return "", false
	}
	return e.def, true
}

// routes builds the protocol's mux, with JSON answers for the mux's own 404
// and 405.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"live": true})
	})
	mux.HandleFunc("GET /v2/health/ready", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
	})
	mux.Handle("GET /v2", s.handle(s.serverMetadata))
	mux.Handle("GET /v2/{$}", s.handle(s.serverMetadata))
	mux.Handle("GET /v2/models/{model}/ready", s.handle(s.modelReady))
	mux.Handle("GET /v2/models/{model}/versions/{version}/ready", s.handle(s.modelReady))
	mux.Handle("GET /v2/models/{model}", s.handle(s.modelMetadata))
	mux.Handle("GET /v2/models/{model}/versions/{version}", s.handle(s.modelMetadata))
	mux.Handle("POST /v2/models/{model}/infer", s.handle(s.infer))
	mux.Handle("POST /v2/models/{model}/versions/{version}/infer", s.handle(s.infer))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, pattern := mux.Handler(r); pattern == "" {
			// The mux has no route for this request: it would answer
			// 404 or 405 in plain text. Learn which, answer in JSON.
			rec := &discardWriter{header: http.Header{}}
			h.ServeHTTP(rec, r)
			if rec.status == http.StatusMethodNotAllowed {
				allow := rec.header.Get("Allow")
				w.Header().Set("Allow", allow)
				writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
				return
			}
			writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s in the Open Inference Protocol v2", r.Method, r.URL.Path))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// discardWriter records the status and headers a handler would send.
type discardWriter struct {
	header http.Header
	status int
}

func (d *discardWriter) Header() http.Header { return d.header }
func (d *discardWriter) WriteHeader(code int) {
	if d.status == 0 {
		d.status = code
	}
}
func (d *discardWriter) Write(b []byte) (int, error) {
	d.WriteHeader(http.StatusOK)
	return len(b), nil
}

// lookup resolves the model of a request's path; a request without a
// version segment gets the model's default version.
func (s *Server) lookup(r *http.Request) (reference.Model, *entry, error) {
	id := r.PathValue("model")
	e, ok := s.models[id]
	if !ok {
		return nil, nil, &apiError{http.StatusNotFound, fmt.Sprintf("model %q is not served here (models: %s)", id, strings.Join(s.ids, ", "))}
	}
	v := r.PathValue("version")
	if v == "" {
		return e.versions[e.def], e, nil
	}
	m, ok := e.versions[v]
	if !ok {
		return nil, nil, &apiError{http.StatusNotFound, fmt.Sprintf("model %q has no version %q (versions: %s)", id, v, strings.Join(e.names, ", "))}
	}
	return m, e, nil
}

func (s *Server) serverMetadata(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, oip.ServerMetadata{
		Name:       s.cfg.serverName,
		Version:    s.cfg.serverVersion,
		Extensions: []string{},
	})
	return nil
}

func (s *Server) modelReady(w http.ResponseWriter, r *http.Request) error {
	m, _, err := s.lookup(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Name  string `json:"name"`
		Ready bool   `json:"ready"`
	}{m.ID(), true})
	return nil
}

func (s *Server) modelMetadata(w http.ResponseWriter, r *http.Request) error {
	m, e, err := s.lookup(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, oip.ModelMetadata{
		Name:     m.ID(),
		Versions: slices.Clone(e.names),
		Platform: Platform,
		Inputs:   tensorMetadata(m.Inputs()),
		Outputs:  tensorMetadata(m.Outputs()),
	})
	return nil
}

func tensorMetadata(specs []reference.TensorSpec) []oip.TensorMetadata {
	out := make([]oip.TensorMetadata, len(specs))
	for i, t := range specs {
		out[i] = oip.TensorMetadata{Name: t.Name, Datatype: string(t.DType), Shape: slices.Clone(t.Shape)}
	}
	return out
}
