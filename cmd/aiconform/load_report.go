package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/internal/atomicfile"
	"github.com/aiconform/aiconform/numerics"
)

// describePlan says what a plan sends, for the banner and the summary.
func describePlan(p load.Plan) string {
	var b strings.Builder
	if p.Concurrency > 0 {
		fmt.Fprintf(&b, "closed loop, %d outstanding", p.Concurrency)
	} else {
		arrival := p.Arrival
		if arrival == "" {
			arrival = load.Poisson
		}
		fmt.Fprintf(&b, "%s arrivals at %s/s", arrival, formatRate(p.Rate))
	}
	fmt.Fprintf(&b, " for at least %v", p.Duration)
	if p.MinQueries > 0 {
		fmt.Fprintf(&b, " and %d queries", p.MinQueries)
	}
	if p.Warmup > 0 {
		fmt.Fprintf(&b, ", after %d warm-up queries", p.Warmup)
	}
	if p.Shard.Count > 1 {
		fmt.Fprintf(&b, ", shard %d of %d", p.Shard.Index, p.Shard.Count)
	}
	return b.String()
}

// formatRate writes a rate without a trailing run of zeros: 200, 12.5.
func formatRate(r float64) string { return strconv.FormatFloat(r, 'g', 6, 64) }

// writeLoadSummary writes the vegeta-style summary of a result.
func writeLoadSummary(w io.Writer, r *load.Result) error {
	lat, err := histogramStats(r.Latency)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	unc, err := histogramStats(r.Uncorrected)
	if err != nil {
		return fmt.Errorf("uncorrectedLatency: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	row := func(name, fields string, values ...string) {
		fmt.Fprintf(tw, "%s\t[%s]\t%s\n", name, fields, strings.Join(values, ", "))
	}
	row("Plan", "load, seed", describePlan(r.Plan), "seed "+strconv.FormatUint(r.Plan.Seed, 10))
	row("Requests", "total, rate, throughput", strconv.FormatInt(r.Sent, 10), fmt.Sprintf("%.2f", r.Rate()), fmt.Sprintf("%.2f", r.Throughput()))
	row("Duration", "total, planned", formatMs(numerics.Float(r.Elapsed().Seconds()*1000)), r.Plan.Duration.String())
	row("Latencies", "min, mean, 50, 90, 95, 99, 99.9, max", distributionRow(r.Latency, lat)...)
	row("Uncorrected", "min, mean, 50, 90, 95, 99, 99.9, max", distributionRow(r.Uncorrected, unc)...)
	row("Send lateness", "50, 99, max", formatMs(r.Lateness.P50), formatMs(r.Lateness.P99), formatMs(r.Lateness.Max))
	row("Outstanding", "peak", strconv.Itoa(r.PeakOutstanding))
	ratio := 0.0
	if r.Sent > 0 {
		ratio = float64(r.Succeeded) / float64(r.Sent)
	}
	row("Success", "ratio", fmt.Sprintf("%.2f%%", 100*ratio))
	statuses, others := splitErrors(r)
	row("Status Codes", "code:count", statuses...)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "Error Set:")
	for _, e := range others {
		fmt.Fprintln(w, e)
	}
	if n := r.Latency.Clamped; n > 0 {
		fmt.Fprintf(w, "Clamped: %d latencies above the histograms' range (an hour) were recorded as an hour\n", n)
	}
	if r.EarlyStopped {
		fmt.Fprintln(w, "Early stop: the timed phase ended before --min-queries was met")
	}
	if r.Interrupted {
		fmt.Fprintln(w, "Interrupted: the run was stopped early; the counts are those measured so far")
	}
	if r.Doubt != "" {
		fmt.Fprintf(w, "Doubt: %s\n", r.Doubt)
	}
	return nil
}

// splitErrors returns the statuses of the queries ("200:n", "503:n") and
// the other error kinds ("timeout: n"), each sorted.
func splitErrors(r *load.Result) (statuses, others []string) {
	type count struct {
		name string
		n    int64
	}
	var st, ot []count
	if r.Succeeded > 0 {
		st = append(st, count{"200", r.Succeeded})
	}
	for k, n := range r.Errors {
		if code, ok := strings.CutPrefix(k, load.KindStatus+" "); ok {
			st = append(st, count{code, n})
		} else {
			ot = append(ot, count{k, n})
		}
	}
	sort.Slice(st, func(i, j int) bool { return st[i].name < st[j].name })
	sort.Slice(ot, func(i, j int) bool { return ot[i].name < ot[j].name })
	for _, c := range st {
		statuses = append(statuses, fmt.Sprintf("%s:%d", c.name, c.n))
	}
	for _, c := range ot {
		others = append(others, fmt.Sprintf("%s: %d", c.name, c.n))
	}
	return statuses, others
}

// histStats are the statistics a Distribution leaves to its histogram.
type histStats struct {
	min, mean numerics.Float
	ok        bool // at least one value was recorded
}

// histogramStats decodes a distribution's histogram (microseconds) for
// the minimum and mean of its values.
func histogramStats(d load.Distribution) (histStats, error) {
	if d.Count == 0 || d.Histogram == "" {
		return histStats{}, nil
	}
	h, err := hdrhistogram.Decode([]byte(d.Histogram))
	if err != nil {
		return histStats{}, fmt.Errorf("decoding the histogram: %w", err)
	}
	if h.TotalCount() == 0 {
		return histStats{}, nil
	}
	return histStats{min: numerics.Float(float64(h.Min()) / 1000), mean: numerics.Float(h.Mean() / 1000), ok: true}, nil
}

// distributionRow formats min, mean and the percentiles of a latency.
func distributionRow(d load.Distribution, st histStats) []string {
	minS, meanS := "-", "-"
	if st.ok {
		minS, meanS = formatMs(st.min), formatMs(st.mean)
	}
	return []string{minS, meanS, formatMs(d.P50), formatMs(d.P90), formatMs(d.P95), formatMs(d.P99), formatMs(d.P999), formatMs(d.Max)}
}

// formatMs writes a value in milliseconds as a duration to the
// microsecond ("1.234ms"), a non-finite one by name ("+Inf").
func formatMs(v numerics.Float) string {
	f := float64(v)
	if name, ok := numerics.NonFinite(f); ok {
		return name
	}
	return (time.Duration(math.Round(f*1e3)) * time.Microsecond).String()
}

// loadOutput is one file a run writes its result to, atomically, so that
// a reader never sees half a result.
type loadOutput struct {
	path  string
	tmp   *atomicfile.File
	write func(io.Writer, *load.Result) error
}

// loadOutputs are the files of --out, --json and --hdr-log.
type loadOutputs struct {
	files []*loadOutput
}

// openLoadOutputs creates the output files' temporaries before a run, so
// that an unusable path is reported before any load is sent.
func openLoadOutputs(cmdName, outDir, jsonFile, hdrLog string) (*loadOutputs, error) {
	outs := &loadOutputs{}
	add := func(flag, path string, write func(io.Writer, *load.Result) error) error {
		if path == "" {
			return nil
		}
		tmp, err := atomicfile.Create(path, 0o644)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", cmdName, flag, err)
		}
		outs.files = append(outs.files, &loadOutput{path: path, tmp: tmp, write: write})
		return nil
	}
	if outDir != "" {
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return nil, fmt.Errorf("%s: --out %s: %w", cmdName, outDir, err)
		}
	}
	steps := []struct {
		flag, path string
		write      func(io.Writer, *load.Result) error
	}{
		{"--out", joinIf(outDir, loadResultFile), writeLoadJSON},
		{"--out", joinIf(outDir, loadLogFile), writeLoadLog},
		{"--json", jsonFile, writeLoadJSON},
		{"--hdr-log", hdrLog, writeLoadLog},
	}
	for _, s := range steps {
		if err := add(s.flag, s.path, s.write); err != nil {
			outs.abort()
			return nil, err
		}
	}
	return outs, nil
}

// joinIf is dir/name, or "" when dir is.
func joinIf(dir, name string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, name)
}

// write writes the result to every file and returns their paths.
func (o *loadOutputs) write(r *load.Result) ([]string, error) {
	var paths []string
	for _, f := range o.files {
		err := f.write(f.tmp, r)
		if err != nil {
			err = fmt.Errorf("cannot write %s: %w", f.path, err)
		} else {
			err = f.tmp.Commit()
		}
		if err != nil {
			o.abort()
			return paths, err
		}
		f.tmp = nil
		paths = append(paths, f.path)
	}
	return paths, nil
}

// abort removes the temporaries of the files not written.
func (o *loadOutputs) abort() {
	for _, f := range o.files {
		if f.tmp != nil {
			f.tmp.Abort()
			f.tmp = nil
		}
	}
}

// writeLoadJSON writes the result JSON, indented.
func writeLoadJSON(w io.Writer, r *load.Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeLoadLog writes the HdrHistogram log of the latencies.
func writeLoadLog(w io.Writer, r *load.Result) error { return r.WriteLog(w) }

// decodeLoadResult decodes one result JSON document: load.Result's own
// decoding checks its histograms and counts; here, that nothing follows
// the document, that the plan is valid and that the errors add up to the
// failed queries.
func decodeLoadResult(rd io.Reader) (*load.Result, error) {
	dec := json.NewDecoder(rd)
	var r load.Result
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("not a load result: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not a load result: data after the JSON document")
	}
	if err := r.Plan.Validate(); err != nil {
		return nil, err
	}
	var errs int64
	for _, n := range r.Errors {
		errs += n
	}
	if errs != r.Failed {
		return nil, fmt.Errorf("errors add up to %d, but failed is %d", errs, r.Failed)
	}
	return &r, nil
}
