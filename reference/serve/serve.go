// Package serve is the reference server of aiconform: it serves reference
// models over the Open Inference Protocol v2, REST and (GRPCServer) gRPC,
// so that the suite has a conforming "vendor" to run against and vendors
// have a server to compare with.
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
// Every answer is JSON with Content-Type application/json, except an
// inference answer that carries binary tensor data (below). Every error is
// {"error": "<message>"}:
//
//   - 400 for a bad request, with a message that names the input, output
//     or parameter and what was wrong with it;
//   - 401 (with WWW-Authenticate: Bearer) for a missing or wrong bearer
//     token, when WithAuthToken is given;
//   - 404 for an unknown route, model or version, and for a path with an
//     empty, . or .. segment (the server never redirects);
//   - 405 (with an Allow header) for a wrong method;
//   - 413 for a body over the limit (WithMaxBodyBytes);
//   - 503 with Retry-After when WithMaxConcurrent inferences are already
//     running, and 503 (without Retry-After) when the model did not answer
//     within WithRequestTimeout. 503, not 504: this server is the origin
//     that gave up, not a gateway waiting on an upstream (RFC 9110 §15.6.4
//     and §15.6.5), which is also what net/http's TimeoutHandler answers;
//   - 500, with the generic message "internal server error", for anything
//     that is the server's fault (the details go to the log, never to the
//     client).
//
// Binary tensor data: the server advertises the binary_tensor_data
// extension (KServe/Triton). An inference request may follow its JSON
// object with the raw little-endian row-major bytes of inputs whose
// parameters hold binary_data_size, in the order of the inputs, with the
// JSON length in the Inference-Header-Content-Length header. Outputs
// requested with the parameter binary_data: true, or all outputs when the
// request parameter binary_data_output is true (an output's own
// binary_data overrides it), come back the same way: Content-Type
// application/octet-stream, Inference-Header-Content-Length, and
// binary_data_size in place of data on each such output. Other request
// parameters are accepted and ignored, except classification on an
// output, which asks for an extension this server does not have (400).
//
// Every input is checked against the model before the model sees it:
// name, datatype, shape, element count (or byte count for binary data) and,
// for floating inputs, that every value is finite.
//
// Authentication: with WithAuthToken, every request needs the header
// "Authorization: Bearer <token>", compared in constant time, except the
// server health probes GET /v2/health/live and /v2/health/ready, which stay
// open because orchestrators (Kubernetes liveness and readiness probes)
// call them without credentials and they reveal nothing about the models,
// and the requests WithAuthExempt exempts. Model readiness, metadata and
// inference all need the token. The token is never logged and never
// appears in a response.
//
// Version policy: a request that names no version is served by the model's
// default version, which is "fp32" when the model has one and otherwise the
// lexically first of its versions.
//
// Bounds: what the server holds at once is bounded by its options and by
// its models, so that its memory stays flat however long it runs:
//
//   - a request body is read whole, up to WithMaxBodyBytes (413 beyond);
//   - at most WithMaxConcurrent inferences run at once (503 beyond). An
//     inference takes its slot before it reaches its model, so a dynamic
//     batcher (WithBatching) never holds more requests than that, under
//     its own bound MaxQueue; a merged batch holds at most MaxBatch rows
//     (a single larger request runs alone), its inputs copied once into
//     merged tensors that are dropped when it ends;
//   - the reference models (package reference) keep at most
//     reference.MaxIdlePrograms compiled programs idle for reuse, of at
//     most reference.IdleProgramBytes in all, and have at most
//     reference.MaxLivePrograms() programs at once (further forward passes
//     wait for one), per model version; a forward pass drops the values it
//     computed when it ends, and an evicted program is dropped whole.
//
// The process's soft memory limit (runtime/debug.SetMemoryLimit) is the
// command's: `aiconform serve --memory-limit`.
//
// Debugging: DebugHandler serves net/http/pprof and expvar (memstats,
// goroutines), for a listener of its own (`aiconform serve --debug-addr`),
// never the protocol's.
//
// Shutdown: Serve and ListenAndServe stop accepting connections as soon as
// their context ends, let the requests in flight finish within a grace
// (WithShutdownGrace, default ShutdownTimeout), then cut off the rest and
// report a *ShutdownError. ServeGRPC does the same for the gRPC binding.
//
// gRPC binding: GRPCServer serves the service inference.GRPCInferenceService
// of the protocol's open_inference_grpc.proto (package oip/inferencepb)
// through the handler above: each call becomes the REST request it means
// (package oip/grpcbind), so the models, authentication, validation,
// limits, batching and hooks are the same, and the REST answer becomes the
// gRPC answer. The RPCs, the requests they become and the codes they
// answer besides OK:
//
//	ServerLive      GET  /v2/health/live      live: true
//	ServerReady     GET  /v2/health/ready     ready: true
//	ModelReady      GET  .../ready            ready: true; NOT_FOUND, UNAUTHENTICATED
//	ServerMetadata  GET  /v2                  UNAUTHENTICATED
//	ModelMetadata   GET  /v2/models/{m}[...]  NOT_FOUND, UNAUTHENTICATED
//	ModelInfer      POST .../infer            INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED,
//	                                          RESOURCE_EXHAUSTED, UNAVAILABLE
//
// where the name and version of a request are the {m} and /versions/{v}
// of the path (an empty version: the model's default). An error answer
// becomes the status grpcbind.CodeForStatus gives its HTTP status, with
// the same message: 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 404
// NOT_FOUND, 413 RESOURCE_EXHAUSTED, 503 UNAVAILABLE, 500 INTERNAL
// ("internal server error", as over REST, for anything that is the
// server's fault, a panic in the translation included). The headers of an
// answer become header metadata: retry-after on the UNAVAILABLE of the
// concurrency limit, www-authenticate on UNAUTHENTICATED. A call whose
// client deadline passes gets DEADLINE_EXCEEDED from grpc-go itself, and
// the server stops waiting for its model, as for a REST client that went
// away.
//
// Tensor data in gRPC: an input carries typed contents, in the field of
// its datatype (fp32_contents for FP32, fp64_contents for FP64,
// int64_contents for INT64; another field is INVALID_ARGUMENT), flat and
// row-major, as JSON data over REST; or every input of the request
// carries raw contents instead, raw_input_contents holding one entry per
// input in order (its little-endian row-major bytes, as binary data over
// REST; a count other than one per input, or typed contents beside raw
// ones, is INVALID_ARGUMENT). Inputs are validated as over REST. Raw
// inputs get raw outputs (raw_output_contents, one entry per output in
// the order of outputs), unless the request's parameter
// binary_data_output is false; typed inputs get typed outputs, unless the
// request asks for binary data (binary_data_output, or binary_data on an
// output), which makes every output raw.
//
// Authentication over gRPC: with WithAuthToken, every call needs the
// metadata entry "authorization: Bearer <token>" (UNAUTHENTICATED
// otherwise), except ServerLive and ServerReady, which stay open as the
// REST health probes do.
//
// Limits over gRPC: a message received may be as large as a REST body
// (WithMaxBodyBytes); a larger one is RESOURCE_EXHAUSTED. Typed contents
// are held to the same limit in their REST form too (RESOURCE_EXHAUSTED
// with the REST message), where a float may take up to about four times
// the bytes it takes in the message: large tensors should travel raw,
// whose REST form is about as large as the message. The concurrency
// limit, the request timeout and batching are those of REST; GRPCServer
// lists the settings of the connection (streams, metadata, keepalive).
package serve

import (
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/spec"
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
	// DefaultRequestTimeout is how long an inference waits for its model
	// before it is answered 503.
	DefaultRequestTimeout = 30 * time.Second
	// RetryAfterSeconds is the Retry-After value of a 503 answered because
	// the concurrency limit is reached.
	RetryAfterSeconds = 1
)

// DefaultMaxConcurrent returns the default limit of inferences running at
// once: four per GOMAXPROCS.
func DefaultMaxConcurrent() int { return 4 * runtime.GOMAXPROCS(0) }

// Option configures a Server.
type Option func(*config)

type config struct {
	maxBodyBytes  int64
	logger        *slog.Logger
	serverName    string
	serverVersion string
	batching      *BatchConfig // nil: no dynamic batching (see batch.go)

	requestTimeout time.Duration
	maxConcurrent  int
	authToken      string
	authSet        bool // WithAuthToken was given

	// modelWrappers, handlerWrappers and authExempt are the hooks of
	// WithModelWrapper, WithHandlerWrapper and WithAuthExempt (hooks.go).
	modelWrappers   []func(reference.Model) reference.Model
	handlerWrappers []func(http.Handler) http.Handler
	authExempt      []func(*http.Request) bool
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

// WithRequestTimeout sets how long an inference waits for its model (any
// queue in front of it and the forward pass) before it is answered 503
// (default DefaultRequestTimeout). It must be positive. A forward pass that
// runs past it keeps its concurrency slot until it ends, so a hung model
// fills the limit and further inferences are refused at once rather than
// piling up.
func WithRequestTimeout(d time.Duration) Option { return func(c *config) { c.requestTimeout = d } }

// WithMaxConcurrent sets how many inferences may run at once (default
// DefaultMaxConcurrent()); one more is answered 503 with a Retry-After
// header. It must be positive. Only requests that passed validation
// count: health, metadata and rejected requests never wait for a slot.
func WithMaxConcurrent(n int) Option { return func(c *config) { c.maxConcurrent = n } }

// WithAuthToken requires "Authorization: Bearer <token>" on every request
// except the server health probes. The token must be non-empty and free of
// spaces and control characters; New rejects it otherwise, without
// quoting it.
func WithAuthToken(token string) Option {
	return func(c *config) { c.authToken, c.authSet = token, true }
}

// Server serves a fixed set of reference models. Its handler is safe for
// concurrent use.
type Server struct {
	cfg     config
	models  map[string]*entry
	ids     []string // sorted model ids
	handler http.Handler
	slots   chan struct{} // one token per running inference
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
		maxBodyBytes:   DefaultMaxBodyBytes,
		serverName:     DefaultServerName,
		serverVersion:  DefaultServerVersion,
		requestTimeout: DefaultRequestTimeout,
		maxConcurrent:  DefaultMaxConcurrent(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxBodyBytes <= 0 {
		return nil, fmt.Errorf("serve: max body bytes is %d, want > 0", cfg.maxBodyBytes)
	}
	if cfg.requestTimeout <= 0 {
		return nil, fmt.Errorf("serve: request timeout is %s, want > 0", cfg.requestTimeout)
	}
	if cfg.maxConcurrent <= 0 {
		return nil, fmt.Errorf("serve: max concurrent inferences is %d, want > 0", cfg.maxConcurrent)
	}
	if cfg.authSet {
		if err := CheckAuthToken(cfg.authToken); err != nil {
			return nil, fmt.Errorf("serve: auth token: %w", err)
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.resolveBatching(); err != nil {
		return nil, err
	}
	if len(cfg.authExempt) > 0 && !cfg.authSet {
		return nil, fmt.Errorf("serve: WithAuthExempt needs an auth token (WithAuthToken): without one there is no authentication to be exempt from")
	}
	if len(models) == 0 {
		return nil, fmt.Errorf("serve: no models to serve")
	}
	s := &Server{cfg: cfg, models: map[string]*entry{}, slots: make(chan struct{}, cfg.maxConcurrent)}
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
		served, err := cfg.wrap(m)
		if err != nil {
			return nil, fmt.Errorf("serve: model %d: %w", i, err)
		}
		e.versions[m.Version()] = served
		e.names = append(e.names, m.Version())
	}
	slices.Sort(s.ids)
	for _, e := range s.models {
		slices.Sort(e.names)
		e.def = PickDefaultVersion(e.names)
	}
	var h http.Handler = s.authenticate(s.routes())
	for i := len(cfg.handlerWrappers) - 1; i >= 0; i-- {
		h = cfg.handlerWrappers[i](h)
	}
	s.handler = s.observe(h)
	return s, nil
}

// wrap returns the model that serves m: m batched (when batching is on),
// then wrapped by every model wrapper. A wrapped model must still be the
// same model id and version with valid tensor specs.
func (c *config) wrap(m reference.Model) (reference.Model, error) {
	served := c.batched(m)
	for _, w := range c.modelWrappers {
		if served = w(served); served == nil {
			return nil, fmt.Errorf("model %q version %q: a model wrapper returned nil", m.ID(), m.Version())
		}
	}
	if served.ID() != m.ID() || served.Version() != m.Version() {
		return nil, fmt.Errorf("model %q version %q: a model wrapper changed it to %q version %q", m.ID(), m.Version(), served.ID(), served.Version())
	}
	if err := checkModel(served); err != nil {
		return nil, fmt.Errorf("wrapped: %w", err)
	}
	return served, nil
}

// checkModel rejects models the server could not describe or route to.
func checkModel(m reference.Model) error {
	for what, v := range map[string]string{"id": m.ID(), "version": m.Version()} {
		if v == "" || strings.ContainsAny(v, "/?#%") || v == "." || v == ".." {
			return fmt.Errorf("%s %q is not a usable URL path segment", what, v)
		}
	}
	for kind, specs := range map[string][]spec.Tensor{"input": m.Inputs(), "output": m.Outputs()} {
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
			switch t.Datatype {
			case numerics.FP32, numerics.FP64, numerics.INT64:
			default:
				return fmt.Errorf("model %q version %q: %s %q has datatype %q, want FP32, FP64 or INT64", m.ID(), m.Version(), kind, t.Name, t.Datatype)
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

// Handler returns the HTTP handler of the protocol, wrapped in
// authentication (when configured), the handler wrappers
// (WithHandlerWrapper), access logging and panic recovery.
func (s *Server) Handler() http.Handler { return s.handler }

// PickDefaultVersion returns the version, among the versions of one model,
// that serves the requests naming none: DefaultVersion when it is among
// them, else the lexically first ("" for none).
func PickDefaultVersion(versions []string) string {
	if slices.Contains(versions, DefaultVersion) {
		return DefaultVersion
	}
	if len(versions) == 0 {
		return ""
	}
	return slices.Min(versions)
}

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
		// The mux would answer a path with an empty, "." or ".." segment
		// with a redirect to its cleaned form, in HTML: no protocol
		// endpoint has such a path.
		if p := r.URL.EscapedPath(); r.Method != http.MethodConnect && p != canonicalPath(p) {
			WriteError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s in the Open Inference Protocol v2: the path has an empty, . or .. segment", r.Method, r.URL.Path))
			return
		}
		if h, pattern := mux.Handler(r); pattern == "" {
			// The mux has no route for this request: it would answer
			// 404 or 405 in plain text. Learn which, answer in JSON.
			rec := &discardWriter{header: http.Header{}}
			h.ServeHTTP(rec, r)
			if rec.status == http.StatusMethodNotAllowed {
				allow := rec.header.Get("Allow")
				w.Header().Set("Allow", allow)
				WriteError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
				return
			}
			WriteError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s in the Open Inference Protocol v2", r.Method, r.URL.Path))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// canonicalPath returns p as http.ServeMux cleans it before routing: with
// a leading slash, and without empty, "." and ".." segments, a trailing
// slash kept.
func canonicalPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
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
		return nil, nil, &apiError{status: http.StatusNotFound, msg: fmt.Sprintf("model %q is not served here (models: %s)", id, strings.Join(s.ids, ", "))}
	}
	v := r.PathValue("version")
	if v == "" {
		return e.versions[e.def], e, nil
	}
	m, ok := e.versions[v]
	if !ok {
		return nil, nil, &apiError{status: http.StatusNotFound, msg: fmt.Sprintf("model %q has no version %q (versions: %s)", id, v, strings.Join(e.names, ", "))}
	}
	return m, e, nil
}

func (s *Server) serverMetadata(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, oip.ServerMetadata{
		Name:       s.cfg.serverName,
		Version:    s.cfg.serverVersion,
		Extensions: []string{oip.ExtensionBinaryData},
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

func tensorMetadata(specs []spec.Tensor) []oip.TensorMetadata {
	out := make([]oip.TensorMetadata, len(specs))
	for i, t := range specs {
		out[i] = oip.TensorMetadata{Name: t.Name, Datatype: string(t.Datatype), Shape: slices.Clone(t.Shape)}
	}
	return out
}
