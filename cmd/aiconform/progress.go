package main

import (
	"fmt"
	"io"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/aiconform/aiconform/conformance"
)

// progress shows how far a run has got on a stream: a live bar on a
// terminal, one line per finished check otherwise, e.g.
//
//	[3/17] api/model-ready pass 12 ms
//
// A nil *progress shows nothing.
type progress struct {
	w   io.Writer
	tty bool
	bar *progressbar.ProgressBar
}

// newProgress returns the progress of a run shown on w, a bar when w is a
// terminal; nil when quiet.
func newProgress(w io.Writer, quiet bool) *progress {
	if quiet {
		return nil
	}
	return &progress{w: w, tty: isTerminal(w)}
}

// hook returns the function for conformance.Options.Progress: nil when p
// is nil.
func (p *progress) hook() func(conformance.ProgressEvent) {
	if p == nil {
		return nil
	}
	return p.event
}

// event shows one event of the run.
func (p *progress) event(ev conformance.ProgressEvent) {
	if !p.tty {
		if r := ev.Result; r != nil {
			fmt.Fprintf(p.w, "[%d/%d] %s %s %.0f %s\n", ev.Index, ev.Total, r.ID, r.Status, float64(r.Duration.Value), r.Duration.Unit)
		}
		return
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions(ev.Total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionClearOnFinish(),
		)
	}
	if ev.Result == nil {
		p.bar.Describe(ev.ID)
		_ = p.bar.Add(0)
		return
	}
	_ = p.bar.Add(1)
}

// done erases the bar, whether or not the run finished.
func (p *progress) done() {
	if p != nil && p.bar != nil {
		_ = p.bar.Clear()
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminalWidth returns the width of the terminal w is, or 0 when w is not
// a terminal or its width is unknown.
func terminalWidth(w io.Writer) int {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}
