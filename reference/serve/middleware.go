package serve

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiconform/aiconform/oip"
)

// InternalErrorMessage is the only message a client sees for a server
// fault (a 500).
const InternalErrorMessage = "internal server error"

// apiError is an error the client is told about: an HTTP status, a
// message that names what was wrong with the request, and any headers the
// answer needs (Retry-After).
type apiError struct {
	status int
	msg    string
	header http.Header
}

func (e *apiError) Error() string { return e.msg }

// badRequest returns a 400 apiError.
func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// handle adapts a handler that returns an error: an *apiError is answered
// with its status and message; any other error is logged and answered 500
// with a generic message.
func (s *Server) handle(f func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := f(w, r)
		if err == nil {
			return
		}
		var ae *apiError
		if errors.As(err, &ae) {
			for k, v := range ae.header {
				w.Header()[k] = v
			}
			WriteError(w, ae.status, ae.msg)
			return
		}
		s.cfg.logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		WriteError(w, http.StatusInternalServerError, InternalErrorMessage)
	})
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every value written here is built from plain wire types.
		status, b = http.StatusInternalServerError, []byte(`{"error":"`+InternalErrorMessage+`"}`)
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers {"error": msg} with status.
func WriteError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, oip.ErrorResponse{Error: msg})
}

// statusWriter records what a handler sent, for the access log and for
// panic recovery.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessNote is what a front end that serves the calls of another binding
// through the handler adds, in the context of the REST request a call
// becomes, to that request's access log line; observe records in it that
// the line was written, so that the front end can log the calls that
// never became a request.
type accessNote struct {
	attrs  []slog.Attr
	logged bool
}

// accessNoteKey is the context key of a request's *accessNote.
type accessNoteKey struct{}

// observe wraps next with panic recovery and an access log line per
// request (method, path, status, duration, bytes written, remote address,
// and the attributes of the request's accessNote). It logs no header and
// no query string, so credentials sent in either never reach the log.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		note, _ := r.Context().Value(accessNoteKey{}).(*accessNote)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.cfg.logger.ErrorContext(r.Context(), "panic while serving a request",
					"method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					WriteError(sw, http.StatusInternalServerError, InternalErrorMessage)
				}
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Duration("duration", time.Since(start)),
				slog.Int64("bytes", sw.bytes),
				slog.String("remote", r.RemoteAddr),
			}
			if note != nil {
				attrs = append(attrs, note.attrs...)
				note.logged = true
			}
			s.cfg.logger.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}

// healthPaths are the server health probes, which stay open when
// authentication is on: orchestrators probe them without credentials, and
// they tell nothing about the models.
var healthPaths = map[string]bool{"/v2/health/live": true, "/v2/health/ready": true}

// authenticate wraps next with bearer-token authentication when a token is
// configured. Tokens are compared as SHA-256 digests with
// crypto/subtle.ConstantTimeCompare, so the comparison takes the same time
// whatever the token sent, its length included. Neither the expected nor
// the sent token is ever written to a response or the log.
func (s *Server) authenticate(next http.Handler) http.Handler {
	if !s.cfg.authSet {
		return next
	}
	want := sha256.Sum256([]byte(s.cfg.authToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if healthPaths[r.URL.Path] || slices.ContainsFunc(s.cfg.authExempt, func(exempt func(*http.Request) bool) bool { return exempt(r) }) {
			next.ServeHTTP(w, r)
			return
		}
		token, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="aiconform"`)
			WriteError(w, http.StatusUnauthorized, "authentication required: send the header Authorization: Bearer <token>")
			return
		}
		got := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="aiconform", error="invalid_token"`)
			WriteError(w, http.StatusUnauthorized, "the bearer token is not valid")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearerToken returns the token of an Authorization header value of the
// Bearer scheme (RFC 6750 §2.1; the scheme name is case-insensitive), and
// false for any other scheme, an empty token or a malformed value.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || CheckAuthToken(token) != nil {
		return "", false
	}
	return token, true
}

// CheckAuthToken reports whether token can be given to WithAuthToken: a
// token that cannot travel in an Authorization header (empty, or holding
// spaces or control characters) is an error, which never quotes the token.
func CheckAuthToken(token string) error {
	if token == "" {
		return errors.New("the token is empty")
	}
	for i, c := range token {
		if c <= ' ' || c == 0x7f {
			return fmt.Errorf("the token holds a space or control character at byte %d", i)
		}
	}
	return nil
}
