package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/attest"
	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reports"
	"github.com/aiconform/aiconform/spec"
)

func init() { registerCommand(newRunCmd) }

// runOptions are the options of `aiconform run`.
type runOptions struct {
	Target      string
	ProfileFile string
	OutDir      string
	Timeout     time.Duration
	// TimeoutSet says --timeout was given: zero is then an error, as it
	// is in a profile's timeouts.request.
	TimeoutSet bool
	Deadline   time.Duration
	// MaxBody caps each response body read (--max-body).
	MaxBody int64
	// Seed seeds the inputs drawn during the run; SeedSet says --seed was
	// given (otherwise the run draws one).
	Seed    uint64
	SeedSet bool
	// Quiet silences the progress shown on stderr during the run.
	Quiet bool
	// FailOn names the requested levels whose verdicts decide the exit
	// code; empty means every requested level.
	FailOn []string
	// CAFile holds the PEM CA certificates that verify an https target
	// (--ca-file); empty uses the system's trusted roots.
	CAFile string
	// SignKey is the private key that signs the report's attestation
	// (--sign-key); empty signs nothing.
	SignKey string
	// Formats are the renderings written into OutDir besides report.json.
	Formats []string
}

func newRunCmd(s Streams) *cobra.Command {
	o := runOptions{OutDir: "aiconform-report", Formats: formatNames(reports.DefaultFormats), MaxBody: conformance.DefaultMaxBodyBytes}
	cmd := &cobra.Command{
		Use:   "run --target URL [--profile FILE] [--out DIR] [--timeout D] [--deadline D] [--seed N] [--ca-file FILE] [--sign-key KEY]",
		Short: "Run the conformance suite against an Open Inference Protocol v2 endpoint",
		Long: "run checks the endpoint at --target against a profile (without --profile, the built-in profile of\n" +
			"the reference models), writes DIR/report.json, report.md, report.html and junit.xml\n" +
			"(--format chooses; ndjson streams DIR/report.ndjson a line per check) and prints a summary table.\n" +
			"Exit 0 conformant at the requested levels, 1 not conformant, 2 usage or configuration error\n" +
			"(a bad profile is reported as FILE: /json/pointer: message), 3 the target could not be reached.\n" +
			"--fail-on core,safety lets only those requested levels decide between 0 and 1; the report still\n" +
			"gives every requested level its verdict.\n" +
			"A target that stops answering (3 requests in a row without a response) ends the run: the remaining\n" +
			"checks end with status error and the report is written; --deadline caps the whole run the same way.\n" +
			"The target speaks the protocol's REST binding (http://, https://) or its gRPC binding (grpc://HOST:PORT,\n" +
			"or grpcs://HOST:PORT over TLS), and the report says which; over gRPC the token travels in the\n" +
			"authorization metadata, and requirements that have no meaning there are skipped as not applicable.\n" +
			"An https or grpcs target is verified against the system's trusted roots, or against --ca-file for a private CA;\n" +
			"when its TLS handshake fails, only the TLS check runs and the others end with status error.\n" +
			"--sign-key KEY signs the report once it is written, as `aiconform report sign` does, into\n" +
			"DIR/attestation.json; a signing failure is reported, keeps the report and exits non-zero.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.SeedSet = cmd.Flags().Changed("seed")
			o.TimeoutSet = cmd.Flags().Changed("timeout")
			return runRun(cmd.Context(), o, s)
		},
	}
	cmd.Flags().StringVar(&o.Target, "target", "", "base URL of the endpoint, e.g. http://127.0.0.1:8000 or grpc://127.0.0.1:8001 (required)")
	cmd.Flags().StringVar(&o.ProfileFile, "profile", "", "profile file, YAML or JSON (default: the built-in profile of the reference models)")
	cmd.Flags().StringVar(&o.OutDir, "out", o.OutDir, "directory the report is written to")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 0, "limit of each request, a positive duration such as 10s (default: the profile's timeouts.request, else 30s)")
	cmd.Flags().DurationVar(&o.Deadline, "deadline", 0, "limit of the whole run, e.g. 10m; 0 sets none")
	cmd.Flags().Int64Var(&o.MaxBody, "max-body", o.MaxBody, "most bytes of a response body the suite reads; a longer body fails its check")
	cmd.Flags().StringVar(&o.CAFile, "ca-file", "", "PEM CA certificates that verify an https or grpcs target (default: the system's trusted roots)")
	cmd.Flags().Uint64Var(&o.Seed, "seed", 0, "64-bit seed of the inputs drawn during the run, decimal or 0x hex (default: drawn from a cryptographic source; the report records it)")
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", false, "show no progress on stderr (a bar on a terminal, else a line per finished check)")
	cmd.Flags().StringSliceVar(&o.Formats, "format", o.Formats, formatFlagHelp)
	cmd.Flags().StringVar(&o.SignKey, "sign-key", "", "Ed25519 private key (PKCS #8 PEM, see keygen) that signs the report into DIR/attestation.json")
	cmd.Flags().StringSliceVar(&o.FailOn, "fail-on", nil, "requested levels whose verdicts decide the exit code, comma-separated, e.g. core (default: every requested level)")
	return cmd
}

func runRun(ctx context.Context, o runOptions, s Streams) error {
	if o.Target == "" {
		return usageError(errors.New("run: --target is required"))
	}
	if o.Timeout < 0 || o.TimeoutSet && o.Timeout == 0 {
		return usageError(fmt.Errorf("run: --timeout is %v, want a positive duration (as a profile's timeouts.request must be)", o.Timeout))
	}
	if o.Deadline < 0 {
		return usageError(fmt.Errorf("run: --deadline is %v, want a positive duration (or 0 for none)", o.Deadline))
	}
	if o.MaxBody <= 0 {
		return usageError(fmt.Errorf("run: --max-body is %d, want a positive number of bytes", o.MaxBody))
	}
	if o.OutDir == "" {
		return usageError(errors.New("run: --out must not be empty"))
	}
	roots, err := loadCAFile(o.CAFile)
	if err != nil {
		return usageError(fmt.Errorf("run: %w", err))
	}
	out, err := newReportOutput(o.OutDir, o.Formats)
	if err != nil {
		return usageError(fmt.Errorf("run: %w", err))
	}
	var signKey *attest.PrivateKey
	if o.SignKey != "" {
		if signKey, err = attest.ReadPrivateKey(o.SignKey); err != nil {
			return usageError(fmt.Errorf("run: --sign-key: %w", err))
		}
	}
	cleanup, err := prepareOutDir(o.OutDir)
	if err != nil {
		return err
	}
	defer cleanup()
	var p *conformance.Profile
	if o.ProfileFile != "" {
		if p, err = conformance.LoadProfile(o.ProfileFile); err != nil {
			return usageError(err)
		}
		for _, w := range p.Warnings() {
			fmt.Fprintf(s.Err, "aiconform: warning: %s\n", w)
		}
	}
	failOn, err := failOnLevels(o.FailOn, p)
	if err != nil {
		return usageError(fmt.Errorf("run: %w", err))
	}
	opts := conformance.Options{
		Target:         o.Target,
		Profile:        p,
		Goldens:        aiconform.Goldens(),
		RequestTimeout: o.Timeout,
		Deadline:       o.Deadline,
		MaxBodyBytes:   o.MaxBody,
		ToolVersion:    version,
		Oracle:         reference.BuiltinOracle(),
		RootCAs:        roots,
	}
	if o.SeedSet {
		opts.Seed = &o.Seed
	}
	rep, err := runSuite(ctx, s, opts, o.Quiet, out)
	finished := finishRun(s, out, rep, err, failOn...)
	if signKey == nil || err != nil {
		return finished
	}
	return signRun(s, out, signKey, finished)
}

// signRun signs the report of a run once finishRun has written it, and
// returns the run's outcome; when signing fails, it says why and the exit
// status is not zero (the report stays).
func signRun(s Streams, out *reportOutput, key *attest.PrivateKey, finished error) error {
	path := filepath.Join(out.Dir, reports.JSONFile)
	if !slices.Contains(out.written, path) {
		// finishRun did not write the report, and says why.
		return finished
	}
	_, serr := signReport(s.Out, path, "", key, attest.Sources{})
	if serr == nil {
		return finished
	}
	serr = fmt.Errorf("run: the report %s was not signed: %w", path, serr)
	var ee *exitError
	if errors.As(finished, &ee) && ee.Code != ExitOK {
		fmt.Fprintf(s.Err, "aiconform: %v\n", serr)
		return finished
	}
	return exitCode(ExitFail, serr)
}

// runSuite runs the suite with progress on s.Err unless quiet, streaming
// the checks into out's NDJSON file when it has one.
func runSuite(ctx context.Context, s Streams, opts conformance.Options, quiet bool, out *reportOutput) (*conformance.Report, error) {
	prog := newProgress(s.Err, quiet)
	defer prog.done()
	return runSuiteWith(ctx, opts, out, prog.hook(""))
}

// runSuiteWith runs the suite telling hooks of its progress, streaming
// the checks into out's NDJSON file when it has one.
func runSuiteWith(ctx context.Context, opts conformance.Options, out *reportOutput, hooks ...func(conformance.ProgressEvent)) (*conformance.Report, error) {
	if err := out.open(); err != nil {
		return nil, err
	}
	opts.Progress = chainProgress(append(hooks, out.hook())...)
	return conformance.Run(ctx, opts)
}

// chainProgress calls every non-nil hook in turn; nil when there is none.
func chainProgress(hooks ...func(conformance.ProgressEvent)) func(conformance.ProgressEvent) {
	var live []func(conformance.ProgressEvent)
	for _, h := range hooks {
		if h != nil {
			live = append(live, h)
		}
	}
	if len(live) == 0 {
		return nil
	}
	return func(ev conformance.ProgressEvent) {
		for _, h := range live {
			h(ev)
		}
	}
}

// loadCAFile reads the CA certificates of --ca-file; "" returns nil, the
// system's trusted roots.
func loadCAFile(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// prepareOutDir creates the report directory before a run, so that an
// unusable --out is reported before the checks spend any time. The
// returned function removes the directory again if it was created here and
// is still empty (the run ended without a report).
func prepareOutDir(dir string) (cleanup func(), err error) {
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, usageError(fmt.Errorf("cannot write the report: %w", err))
	}
	if statErr == nil {
		return func() {}, nil
	}
	return func() { _ = os.Remove(dir) }, nil
}

// finishRun turns the outcome of conformance.Run into output and an exit
// code: it prints the summary, writes the report's files and says where
// they are. failOn are the levels whose verdicts decide the exit code;
// none means every requested level.
func finishRun(s Streams, out *reportOutput, rep *conformance.Report, err error, failOn ...spec.Level) error {
	if err != nil {
		out.abandon()
	}
	switch {
	case errors.Is(err, conformance.ErrUnreachable):
		return exitCode(ExitUnreachable, err)
	case errors.Is(err, conformance.ErrConfig):
		return usageError(err)
	case err != nil:
		return exitCode(ExitFail, err)
	}
	if err := reports.SummaryWidth(s.Out, rep, terminalWidth(s.Out)); err != nil {
		return exitCode(ExitFail, err)
	}
	printLatency(s.Out, rep)
	paths, err := out.write(rep)
	printPaths(s.Out, paths)
	if err != nil {
		return usageError(fmt.Errorf("cannot write the report: %w", err))
	}
	if rep.Interrupted != "" {
		return exitCode(ExitFail, nil)
	}
	if len(failOn) > 0 {
		fmt.Fprintf(s.Out, "exit status decided by --fail-on %s: %s\n", joinLevels(failOn), failOnVerdict(rep, failOn))
	}
	if !rep.ConformantAt(failOn) {
		return exitCode(ExitFail, nil)
	}
	return nil
}

// printLatency prints, after the summary, one line per performance
// scenario and served model of the report: the figure judged against its
// budget, the load achieved, and the minimums used.
func printLatency(w io.Writer, rep *conformance.Report) {
	for _, c := range rep.Checks {
		for _, ev := range c.Evidence.Performance {
			label := conformance.ModelRef{Name: ev.Model, Version: ev.Version}.Label()
			line := fmt.Sprintf("latency: %s %s: %s %s, budget %s", ev.Scenario, label, ev.Basis, measureText(ev.Measured), measureText(ev.Budget))
			if ev.Result != nil {
				line += fmt.Sprintf(" · %d queries at %s", ev.Result.Sent, measureText(ev.AchievedRate))
				if ev.Result.Failed > 0 {
					line += fmt.Sprintf(", %d failed", ev.Result.Failed)
				}
			}
			minimums := "conformance minimums"
			if !ev.Minimums.Conformance {
				minimums = "development minimums"
			}
			fmt.Fprintf(w, "%s · %s · %s\n", line, minimums, ev.Status)
		}
	}
}

// measureText renders a measure with 3 significant digits.
func measureText(m conformance.Measure) string {
	v := float64(m.Value)
	switch {
	case math.IsNaN(v):
		return "not measured"
	case math.IsInf(v, 1):
		return "+Inf " + m.Unit
	case m.Unit == conformance.UnitCount:
		return sig3(v)
	case m.Unit == conformance.UnitMillisecond && v >= 1000:
		return sig3(v/1000) + " s"
	}
	return sig3(v) + " " + m.Unit
}

// sig3 writes v with 3 significant digits and no exponent.
func sig3(v float64) string {
	decimals := 0
	if a := math.Abs(v); a > 0 && a < 100 {
		decimals = 2 - int(math.Floor(math.Log10(a)))
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}
