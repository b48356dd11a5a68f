package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/aiconform/aiconform/conformance"
)

// progress shows how far a run has got on a stream: a live bar on a
// terminal, one line per finished check otherwise, e.g.
//
//	[3/17] api/model-ready pass 12 ms
//
// Runs made at once share one progress, each through a hook with its own
// label: a line then begins with it ("grpc [3/17] …"), and the bar counts
// the checks of every run. A nil *progress shows nothing.
type progress struct {
	w   io.Writer
	tty bool

	mu  sync.Mutex
	bar *progressbar.ProgressBar
	// totals are the checks of each run, by label, for the bar.
	totals map[string]int
}

// newProgress returns the progress of a run shown on w, a bar when w is a
// terminal; nil when quiet.
func newProgress(w io.Writer, quiet bool) *progress {
	if quiet {
		return nil
	}
	return &progress{w: w, tty: isTerminal(w), totals: map[string]int{}}
}

// hook returns the function for conformance.Options.Progress of the run
// labelled label ("" for a run alone): nil when p is nil.
func (p *progress) hook(label string) func(conformance.ProgressEvent) {
	if p == nil {
		return nil
	}
	return func(ev conformance.ProgressEvent) { p.event(label, ev) }
}

// event shows one event of the run labelled label.
func (p *progress) event(label string, ev conformance.ProgressEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prefix := ""
	if label != "" {
		prefix = label + " "
	}
	if !p.tty {
		if r := ev.Result; r != nil {
			fmt.Fprintf(p.w, "%s[%d/%d] %s %s %.0f %s\n", prefix, ev.Index, ev.Total, r.ID, r.Status, float64(r.Duration.Value), r.Duration.Unit)
		}
		return
	}
	if _, seen := p.totals[label]; !seen {
		p.totals[label] = ev.Total
		total := 0
		for _, n := range p.totals {
			total += n
		}
		if p.bar == nil {
			p.bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetWidth(30),
				progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(false),
				progressbar.OptionClearOnFinish(),
			)
		} else {
			p.bar.ChangeMax(total)
		}
	}
	if ev.Result == nil {
		p.bar.Describe(prefix + ev.ID)
		_ = p.bar.Add(0)
		return
	}
	_ = p.bar.Add(1)
}

// done erases the bar, whether or not the runs finished.
func (p *progress) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
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
