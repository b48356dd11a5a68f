package main

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
	"github.com/aiconform/aiconform/reports"
)

func init() { registerCommand(newDemoCmd) }

// demoOptions are the options of `aiconform demo`.
type demoOptions struct {
	OutDir string
	// Seed seeds the inputs drawn during the run when SeedSet.
	Seed    uint64
	SeedSet bool
	// Quiet silences the progress shown on stderr during the run.
	Quiet bool
	// Formats are the renderings written into OutDir besides report.json.
	Formats []string
}

func newDemoCmd(s Streams) *cobra.Command {
	o := demoOptions{OutDir: "aiconform-demo", Formats: formatNames(reports.DefaultFormats)}
	cmd := &cobra.Command{
		Use:   "demo [--out DIR]",
		Short: "Serve the reference models in-process and run the conformance suite against them",
		Long: "demo starts the reference server on a free loopback port, runs the suite with the built-in\n" +
			"profile against it, writes DIR/report.json with its renderings, prints the summary and where the report is,\n" +
			"and stops the server. Exit 0 when every check passes, 1 otherwise.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.SeedSet = cmd.Flags().Changed("seed")
			return runDemo(cmd.Context(), o, s)
		},
	}
	cmd.Flags().StringVar(&o.OutDir, "out", o.OutDir, "directory the report is written to")
	cmd.Flags().Uint64Var(&o.Seed, "seed", 0, "64-bit seed of the inputs drawn during the run (default: drawn from a cryptographic source)")
	cmd.Flags().StringSliceVar(&o.Formats, "format", o.Formats, formatFlagHelp)
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", false, "show no progress on stderr (a bar on a terminal, else a line per finished check)")
	return cmd
}

func runDemo(ctx context.Context, o demoOptions, s Streams) (err error) {
	if o.OutDir == "" {
		return usageError(errors.New("demo: --out must not be empty"))
	}
	out, err := newReportOutput(o.OutDir, o.Formats)
	if err != nil {
		return usageError(fmt.Errorf("demo: %w", err))
	}
	cleanup, err := prepareOutDir(o.OutDir)
	if err != nil {
		return err
	}
	defer cleanup()
	models, err := reference.Builtin()
	if err != nil {
		return exitCode(ExitFail, fmt.Errorf("demo: %w", err))
	}
	srv, err := serve.New(models, serve.WithServerVersion(version))
	if err != nil {
		return exitCode(ExitFail, fmt.Errorf("demo: %w", err))
	}
	sctx, stop := context.WithCancel(ctx)
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- serve.ListenAndServe(sctx, "127.0.0.1:0", srv.Handler(), func(a net.Addr) { addrc <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-errc:
		stop()
		return exitCode(ExitFail, fmt.Errorf("demo: the reference server: %w", err))
	}
	defer func() {
		stop()
		if serr := <-errc; serr != nil && err == nil {
			err = exitCode(ExitFail, fmt.Errorf("demo: the reference server: %w", serr))
		}
	}()
	target := "http://" + addr.String()
	fmt.Fprintf(s.Out, "reference server listening on %s\n", target)
	oracle, err := reference.NewOracle(models)
	if err != nil {
		return exitCode(ExitFail, fmt.Errorf("demo: %w", err))
	}
	opts := conformance.Options{
		Target:      target,
		Goldens:     aiconform.Goldens(),
		ToolVersion: version,
		Oracle:      oracle,
	}
	if o.SeedSet {
		opts.Seed = &o.Seed
	}
	rep, err := runSuite(ctx, s, opts, o.Quiet, out)
	return finishRun(s, out, rep, err)
}
