package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"

	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/conformance"
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
		Long: "demo starts the reference server on free loopback ports, one for the protocol's REST binding and\n" +
			"one for its gRPC binding, runs the suite with the built-in profile over both at once (each\n" +
			"performance check alone, so that it measures the server and not the other run), writes\n" +
			"DIR/rest/report.json and DIR/grpc/report.json with their renderings, prints each summary and where\n" +
			"each report is, and stops the server. Exit 0 when both runs are conformant, 1 otherwise.",
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
	gerrc := make(chan error, 1)
	go func() { gerrc <- serve.ServeGRPC(sctx, glis, srv.GRPCServer()) }()
	defer func() {
		stop()
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
	// The runs go at once, but for their performance checks, each of
	// which runs alone (see demoGate): the scenarios measure time.
	prog := newProgress(s.Err, o.Quiet)
	gate := newDemoGate()
	reps := make([]*conformance.Report, len(demoBindings))
	errs := make([]error, len(demoBindings))
	var wg sync.WaitGroup
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
		wg.Go(func() {
			hold := gate.hold()
			defer hold.release()
			reps[i], errs[i] = runSuiteWith(ctx, opts, outs[i], hold.event, prog.hook(string(b)))
		})
	}
	wg.Wait()
	prog.done()
	for i, b := range demoBindings {
		fmt.Fprintf(s.Out, "\n== %s: %s\n", b.Name(), targets[b])
		errs[i] = finishRun(s, outs[i], reps[i], errs[i])
	}
	return worstExit(errs...)
}

// demoGate lets the demo's runs go at once but for their performance
// checks: a performance check starts when no check of another run is
// running, and none starts while it runs, so that what it measures is the
// server's, not the other run's. It works through the runs' progress
// events, which come on each run's goroutine before and after each check.
type demoGate struct {
	mu          sync.RWMutex
	performance map[string]bool // check IDs of level performance
}

func newDemoGate() *demoGate {
	g := &demoGate{performance: map[string]bool{}}
	for _, c := range conformance.Checks() {
		g.performance[c.ID] = c.Level == spec.Performance
	}
	return g
}

// gateHold is one run's hold on the gate: none, shared (a check of
// another level) or exclusive (a performance check).
type gateHold struct {
	g                 *demoGate
	shared, exclusive bool
}

func (g *demoGate) hold() *gateHold { return &gateHold{g: g} }

// event takes the gate before a check starts and releases it when the
// check is done.
func (h *gateHold) event(ev conformance.ProgressEvent) {
	h.release()
	if ev.Result != nil {
		return
	}
	if h.g.performance[ev.ID] {
		h.g.mu.Lock()
		h.exclusive = true
		return
	}
	h.g.mu.RLock()
	h.shared = true
}

// release lets go of the gate; a run that ends while a check holds it
// (it was interrupted) releases it so.
func (h *gateHold) release() {
	switch {
	case h.exclusive:
		h.g.mu.Unlock()
	case h.shared:
		h.g.mu.RUnlock()
	}
	h.shared, h.exclusive = false, false
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
