package load

import (
	"context"
	"errors"
	"net"
	"strconv"
	"syscall"
)

// Error implements error: the kind, the status for KindStatus, and the
// cause when there is one.
func (e *QueryError) Error() string {
	s := e.Kind
	if e.Kind == KindStatus {
		s = "status " + strconv.Itoa(e.Status)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *QueryError) Unwrap() error { return e.Err }

// ErrorKind is the name a failed query is counted under in
// Result.Errors: "status NNN" for a QueryError of kind KindStatus, the
// kind of any other QueryError, and KindTransport otherwise (KindTimeout
// when the error is a deadline: context.DeadlineExceeded or a net.Error
// that times out).
func ErrorKind(err error) string {
	var qe *QueryError
	if errors.As(err, &qe) && qe.Kind != "" {
		if qe.Kind == KindStatus {
			return "status " + strconv.Itoa(qe.Status)
		}
		return qe.Kind
	}
	if isTimeout(err) {
		return KindTimeout
	}
	return KindTransport
}

// isTimeout reports whether err is a deadline.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// exhaustion names the resource whose lack caused err, if it is one of
// the process's: file descriptors or ephemeral ports.
func exhaustion(err error) string {
	switch {
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "file descriptors"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "ephemeral ports"
	}
	return ""
}
