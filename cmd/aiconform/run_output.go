package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/internal/atomicfile"
	"github.com/aiconform/aiconform/reports"
)

// reportOutput is where a run leaves its report: a directory and the
// renderings written into it. report.json is always among them: every
// other file, the attestation and `aiconform report` start from it.
type reportOutput struct {
	Dir     string
	Formats []reports.Format
	// ndjson streams a line per finished check into DIR/report.ndjson
	// while the run goes on, when that format was asked for.
	ndjson *reports.NDJSONStream
	file   *atomicfile.File
	// written are the files write wrote, in order.
	written []string
}

// formatFlagHelp is the help of the --format flag of run and demo.
var formatFlagHelp = fmt.Sprintf("files written into --out, comma-separated, of %s; report.json is always written, and ndjson is streamed a line per check as the run goes (default %s)",
	strings.Join(fileFormats(), ", "), strings.Join(formatNames(reports.DefaultFormats), ","))

// newReportOutput checks the formats a run was asked for.
func newReportOutput(dir string, names []string) (*reportOutput, error) {
	o := &reportOutput{Dir: dir, Formats: []reports.Format{reports.FormatJSON}}
	for _, n := range names {
		f, err := reports.ParseFormat(strings.TrimSpace(n))
		if err != nil {
			return nil, fmt.Errorf("--format: %w", err)
		}
		if f.FileName() == "" {
			return nil, fmt.Errorf("--format %s: the %s is printed on standard output, not written as a file; want any of %s", f, f, strings.Join(fileFormats(), ", "))
		}
		if !slices.Contains(o.Formats, f) {
			o.Formats = append(o.Formats, f)
		}
	}
	return o, nil
}

// fileFormats names the formats that are written as files.
func fileFormats() []string {
	var out []string
	for _, f := range reports.Formats {
		if f.FileName() != "" {
			out = append(out, string(f))
		}
	}
	return out
}

func formatNames(fs []reports.Format) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}

// open starts the NDJSON stream when it was asked for. A log pipeline
// follows it while it grows under its pending name, report.ndjson.partial
// (see ndjsonPending); it takes the name report.ndjson, atomically like
// every file of a run, once its last line, of type "end", is written.
func (o *reportOutput) open() error {
	if !slices.Contains(o.Formats, reports.FormatNDJSON) {
		return nil
	}
	p := filepath.Join(o.Dir, reports.FormatNDJSON.FileName())
	f, err := atomicfile.CreatePending(p, ndjsonPending(p), 0o644)
	if err != nil {
		return usageError(fmt.Errorf("cannot write the report: %w", err))
	}
	o.file, o.ndjson = f, reports.NewNDJSONStream(f)
	return nil
}

// hook is the part of conformance.Options.Progress that streams NDJSON;
// nil when none is streamed.
func (o *reportOutput) hook() func(conformance.ProgressEvent) {
	if o.ndjson == nil {
		return nil
	}
	return func(ev conformance.ProgressEvent) {
		// A line the stream cannot write is reported when the run ends:
		// a full disk must not stop the checks.
		_ = o.ndjson.Check(ev)
	}
}

// ndjsonPending is the name of the NDJSON stream while the run goes on.
func ndjsonPending(path string) string { return path + ".partial" }

// abandon removes the NDJSON stream of a run that ended without a report.
func (o *reportOutput) abandon() {
	if o.file != nil {
		o.file.Abort()
		o.file, o.ndjson = nil, nil
	}
}

// write writes report.json and the other renderings, each atomically,
// ends the NDJSON stream, and returns the paths written in order.
func (o *reportOutput) write(rep *conformance.Report) ([]string, error) {
	var paths []string
	var errs []error
	for _, f := range o.Formats {
		p := filepath.Join(o.Dir, f.FileName())
		if f == reports.FormatNDJSON {
			if o.ndjson == nil {
				continue
			}
			err := o.ndjson.End(rep)
			if err == nil {
				err = o.file.Commit()
			}
			o.file.Abort()
			o.file, o.ndjson = nil, nil
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p, err))
				continue
			}
			paths = append(paths, p)
			continue
		}
		var b bytes.Buffer
		if err := reports.Render(&b, rep, f, reports.Options{}); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		if err := atomicfile.WriteFile(p, b.Bytes(), 0o644); err != nil {
			errs = append(errs, err)
			continue
		}
		paths = append(paths, p)
	}
	o.written = paths
	return paths, errors.Join(errs...)
}

// printPaths says where the report is: report.json first, then the other
// files by name.
func printPaths(w io.Writer, paths []string) {
	if len(paths) == 0 {
		return
	}
	fmt.Fprintf(w, "report: %s\n", paths[0])
	if len(paths) > 1 {
		names := make([]string, len(paths)-1)
		for i, p := range paths[1:] {
			names[i] = filepath.Base(p)
		}
		fmt.Fprintf(w, "also written: %s\n", strings.Join(names, ", "))
	}
}
