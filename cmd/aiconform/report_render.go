package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/internal/atomicfile"
	"github.com/aiconform/aiconform/reports"
)

func init() { registerReportCommand(newReportRenderCmd) }

// reportRenderOptions are the inputs of `aiconform report render`.
type reportRenderOptions struct {
	// File is the report.json to render; "-" reads standard input.
	File string
	// Format is the rendering, one of reports.Formats.
	Format string
	// Width is the width the table fits; zero uses the terminal's width
	// when writing to a terminal, else reports.DefaultWidth.
	Width int
	// Output is the file to write; empty writes standard output.
	Output string
}

func newReportRenderCmd(s Streams) *cobra.Command {
	var o reportRenderOptions
	cmd := &cobra.Command{
		Use:   "render REPORT.json",
		Short: "Render a report.json as Markdown, HTML, JUnit XML, a table, NDJSON or JSON",
		Long: `Render a report.json in another format: md (GitHub-flavoured Markdown for a pull request
or a published compliance page), html (one self-contained page), junit (JUnit XML for CI),
table (the terminal summary), ndjson (one JSON object per check, then one for the run) or
json (the report itself, re-encoded). The report must validate against the report schema.
"-" reads the report from standard input.

--width fits the table to that many columns (default: the terminal's width, else ` + fmt.Sprint(reports.DefaultWidth) + `).
-o writes the rendering to FILE atomically instead of standard output.

Exit status: 0 rendered (whatever the report's verdict), 1 the rendering failed,
2 a bad flag, or a report that cannot be read, does not parse or breaks its schema,
or an output file that cannot be written.`,
		Example: `  aiconform report render --format md out/report.json > report.md
  aiconform report render --format junit -o junit.xml out/report.json
  aiconform report render --format table --width 160 out/report.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.File = args[0]
			return runReportRender(o, s)
		},
	}
	cmd.Flags().StringVar(&o.Format, "format", string(reports.FormatTable), "rendering: "+renderFormatNames())
	cmd.Flags().IntVar(&o.Width, "width", 0, "columns the table fits (default: the terminal's width, else "+fmt.Sprint(reports.DefaultWidth)+")")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "write to `FILE` (atomically) instead of standard output")
	return cmd
}

// renderFormatNames lists the formats for help texts.
func renderFormatNames() string { return strings.Join(formatNames(reports.Formats), ", ") }

// runReportRender reads the report, renders it and writes the rendering.
func runReportRender(o reportRenderOptions, s Streams) error {
	format, err := reports.ParseFormat(o.Format)
	if err != nil {
		return usageError(fmt.Errorf("--format: %w", err))
	}
	if o.Width < 0 {
		return usageError(fmt.Errorf("--width %d: want a positive number of columns", o.Width))
	}
	rep, err := readRenderInput(o.File, s.In)
	if err != nil {
		return usageError(err)
	}
	width := o.Width
	if width == 0 && o.Output == "" {
		width = terminalWidth(s.Out)
	}
	var b bytes.Buffer
	if err := reports.Render(&b, rep, format, reports.Options{Width: width}); err != nil {
		return exitCode(ExitFail, fmt.Errorf("rendering %s as %s: %w", o.File, format, err))
	}
	if o.Output == "" {
		if _, err := s.Out.Write(b.Bytes()); err != nil {
			return exitCode(ExitFail, fmt.Errorf("writing the rendering: %w", err))
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(o.Output), 0o755); err != nil {
		return usageError(fmt.Errorf("cannot write %s: %w", o.Output, err))
	}
	if err := atomicfile.WriteFile(o.Output, b.Bytes(), 0o644); err != nil {
		return usageError(err)
	}
	return nil
}

// readRenderInput reads and validates the report at name, or standard input
// for "-". Errors name the file.
func readRenderInput(name string, stdin io.Reader) (*conformance.Report, error) {
	if name == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("<stdin>: cannot read: %w", err)
		}
		return reports.Parse("<stdin>", b)
	}
	rep, err := reports.Read(name)
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == name {
		return nil, fmt.Errorf("%s: cannot read: %w", name, pe.Err)
	}
	return rep, err
}
