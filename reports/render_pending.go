package reports

import (
	"errors"
	"io"

	"github.com/aiconform/aiconform/conformance"
)

// errPending marks a renderer another branch is writing.
var errPending = errors.New("reports: renderer not written yet")

// HTML writes rep as one self-contained HTML page.
func HTML(w io.Writer, rep *conformance.Report) error { return errPending }
