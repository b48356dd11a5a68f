package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/oip/grpcbind"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
	"github.com/aiconform/aiconform/reports"
	"github.com/aiconform/aiconform/spec"
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
	var outs []*reportOutput
	for _, b := range demoBindings {
		out, err := newReportOutput(filepath.Join(o.OutDir, string(b)), o.Formats)
		if err != nil {
			return usageError(fmt.Errorf("demo: %w", err))
		}
		outs = append(outs, out)
	}
	cleanup, err := prepareOutDir(o.OutDir)
	if err != nil {
		return err
	}
	defer cleanup()
	for _, out := range outs {
		sub, err := prepareOutDir(out.Dir)
		if err != nil {
			return err
		}
		defer sub()
	}
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
	glis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return exitCode(ExitFail, fmt.Errorf("demo: the reference server's gRPC listener: %w", err))
	}
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(int(serve.DefaultMaxBodyBytes)))
	pb.RegisterGRPCInferenceServiceServer(gs, grpcbind.NewGateway(srv.Handler()))
	gerrc := make(chan error, 1)
	go func() { gerrc <- gs.Serve(glis) }()
	defer func() {
		gs.Stop()
		if serr := <-gerrc; serr != nil && err == nil {
			err = exitCode(ExitFail, fmt.Errorf("demo: the reference server over gRPC: %w", serr))
		}
	}()
	targets := map[spec.Binding]string{spec.REST: "http://" + addr.String(), spec.GRPC: "grpc://" + glis.Addr().String()}
	for _, b := range demoBindings {
		fmt.Fprintf(s.Out, "reference server listening on %s (%s)\n", targets[b], b.Name())
	}
	oracle, err := reference.NewOracle(models)
	if err != nil {
		return exitCode(ExitFail, fmt.Errorf("demo: %w", err))
	}
	var errs []error
	for i, b := range demoBindings {
		opts := conformance.Options{
			Target:      targets[b],
			Goldens:     aiconform.Goldens(),
			ToolVersion: version,
			Oracle:      oracle,
		}
		if o.SeedSet {
			opts.Seed = &o.Seed
		}
		fmt.Fprintf(s.Out, "\n== %s: %s\n", b.Name(), targets[b])
		rep, err := runSuite(ctx, s, opts, o.Quiet, outs[i])
		errs = append(errs, finishRun(s, outs[i], rep, err))
		if ctx.Err() != nil {
			break
		}
	}
	return worstExit(errs...)
}

// demoBindings are the bindings the demo runs the suite over, in order;
// each report goes to DIR/rest or DIR/grpc.
var demoBindings = []spec.Binding{spec.REST, spec.GRPC}

// worstExit returns the error of the highest exit code among errs, nil
// when every one is nil.
func worstExit(errs ...error) error {
	var worst error
	code := ExitOK
	for _, err := range errs {
		if err == nil {
			continue
		}
		c := ExitFail
		var ee *exitError
		if errors.As(err, &ee) {
			c = ee.Code
		}
		if worst == nil || c > code {
			worst, code = err, c
		}
	}
	return worst
}
