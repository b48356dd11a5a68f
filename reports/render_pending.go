package reports

import (
	"errors"
	"io"

	"github.com/aiconform/aiconform/conformance"
)

// errPending marks a renderer another branch is writing.
var errPending = errors.New("reports: renderer not written yet")

// Markdown writes rep as Markdown.
func Markdown(w io.Writer, rep *conformance.Report) error { return errPending }

// JUnit writes rep as JUnit XML.
func JUnit(w io.Writer, rep *conformance.Report) error { return errPending }

// NDJSON writes rep as newline-delimited JSON.
func NDJSON(w io.Writer, rep *conformance.Report) error { return errPending }
