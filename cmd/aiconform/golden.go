package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/schemas"
	"github.com/aiconform/aiconform/spec"
)

func init() { registerCommand(newGoldenCmd) }

func newGoldenCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "golden",
		Short: "Generate and verify golden sets of the reference models",
		Long: "Golden sets hold inputs and expected outputs of the reference models as safetensors files\n" +
			"with a manifest.json recording the producer, the tolerance class and the sha256 of every file.",
	}
	cmd.AddCommand(newGoldenGenerateCmd(s), newGoldenVerifyCmd(s))
	return cmd
}

// goldenGenerateOptions are the options of `aiconform golden generate`.
type goldenGenerateOptions struct {
	Out string
}

func newGoldenGenerateCmd(s Streams) *cobra.Command {
	var o goldenGenerateOptions
	cmd := &cobra.Command{
		Use:   "generate --out DIR",
		Short: "Compute a golden set with the built-in reference models and write it to DIR",
		Long: "generate computes the expected outputs of every reference model at every version on the\n" +
			"published golden inputs and writes DIR/manifest.json and the case files. DIR is replaced\n" +
			"atomically; an existing DIR must be empty or hold an earlier golden set.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runGoldenGenerate(o, s) },
	}
	cmd.Flags().StringVar(&o.Out, "out", "", "directory to write the golden set to (required)")
	return cmd
}

func runGoldenGenerate(o goldenGenerateOptions, s Streams) error {
	if o.Out == "" {
		return usageError(errors.New("golden generate: --out DIR is required"))
	}
	models, err := reference.Builtin()
	if err != nil {
		return exitCode(ExitFail, err)
	}
	refs, err := reference.PublishedWeightsRefs()
	if err != nil {
		return exitCode(ExitFail, err)
	}
	opts := reference.GenerateOptions{Generator: reference.Generator(version), Weights: refs}
	if err := reference.GenerateGoldens(models, o.Out, opts); err != nil {
		return usageError(fmt.Errorf("golden generate: %w", err))
	}
	fmt.Fprintf(s.Out, "wrote a golden set for %d model versions to %s\n", len(models), o.Out)
	return nil
}

// goldenVerifyOptions are the options of `aiconform golden verify`.
type goldenVerifyOptions struct {
	// Dir is the golden directory; "" means the published set embedded in
	// the binary.
	Dir string
	// Models overrides the built-in reference models (tests).
	Models []reference.Model
}

func newGoldenVerifyCmd(s Streams) *cobra.Command {
	var o goldenVerifyOptions
	cmd := &cobra.Command{
		Use:   "verify [DIR]",
		Short: "Recompute a golden set with the reference models and compare within its tolerance class",
		Long: "verify checks the sha256 of every file of the golden set in DIR (default: the published set\n" +
			"embedded in this binary) and of the weights it was computed from, recomputes every case with\n" +
			"the built-in reference models and compares each output under the set's tolerance class.\n" +
			"Exit 0 when everything agrees, 1 on a mismatch or a digest that differs from the manifest,\n" +
			"2 when the set cannot be read.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Dir = args[0]
			}
			return runGoldenVerify(o, s)
		},
	}
	return cmd
}

func runGoldenVerify(o goldenVerifyOptions, s Streams) error {
	fsys, where := aiconform.Goldens(), "the published golden set"
	if o.Dir != "" {
		st, err := os.Stat(o.Dir)
		if err != nil {
			return usageError(fmt.Errorf("golden verify: %w", err))
		}
		if !st.IsDir() {
			return usageError(fmt.Errorf("golden verify: %s is not a directory", o.Dir))
		}
		fsys, where = os.DirFS(o.Dir), o.Dir
	}
	models := o.Models
	if models == nil {
		var err error
		if models, err = reference.Builtin(); err != nil {
			return exitCode(ExitFail, err)
		}
	}
	if err := checkManifestSchema(fsys, where); err != nil {
		return err
	}
	res, err := reference.VerifyGoldens(fsys, ".", models, reference.VerifyOptions{Testdata: aiconform.Testdata()})
	if err != nil {
		var ie *reference.IntegrityError
		if errors.As(err, &ie) {
			return exitCode(ExitFail, fmt.Errorf("golden verify: %s: files differ from the manifest:\n%w", where, err))
		}
		return usageError(fmt.Errorf("golden verify: %s: %w", where, err))
	}
	if err := writeGoldenTable(s, res); err != nil {
		return exitCode(ExitFail, fmt.Errorf("golden verify: writing the table: %w", err))
	}
	failures := res.Failures()
	if len(failures) > 0 {
		for _, f := range failures {
			fmt.Fprintf(s.Err, "FAIL %s: %s\n", f.Label(), f.Diff.Summary(f.Tolerance))
		}
		return exitCode(ExitFail, fmt.Errorf("golden verify: %s: %d of %d tensors outside their tolerance class; first: %s",
			where, len(failures), len(res.Tensors), failures[0].Label()))
	}
	fmt.Fprintf(s.Out, "%s: all %d tensors agree within their tolerance class\n", where, len(res.Tensors))
	return nil
}

// checkManifestSchema validates the set's manifest.json against the
// golden-manifest schema: exit 2 when it cannot be read, 1 when it violates
// the schema.
func checkManifestSchema(fsys fs.FS, where string) error {
	b, err := fs.ReadFile(fsys, golden.ManifestFile)
	if err != nil {
		return usageError(fmt.Errorf("golden verify: %s: %w", where, err))
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return usageError(fmt.Errorf("golden verify: %s: %s is not JSON: %w", where, golden.ManifestFile, err))
	}
	vs, err := schemas.Validate(golden.Kind, spec.Version, doc)
	if err != nil {
		return usageError(fmt.Errorf("golden verify: %w", err))
	}
	if len(vs) > 0 {
		msgs := make([]string, len(vs))
		for i, v := range vs {
			msgs[i] = golden.ManifestFile + ": " + v.String()
		}
		return exitCode(ExitFail, fmt.Errorf("golden verify: %s: the manifest violates the %s schema:\n%s", where, golden.Kind, strings.Join(msgs, "\n")))
	}
	return nil
}

// writeGoldenTable prints one row per compared tensor.
func writeGoldenTable(s Streams, res *reference.VerifyResult) error {
	t := tablewriter.NewTable(s.Out, tablewriter.WithAlignment(tw.Alignment{
		tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft,
	}))
	t.Header("set", "case", "tensor", "max abs error", "max rel error", "max ULP", "status")
	for _, r := range res.Tensors {
		status := "pass"
		if !r.Diff.OK() {
			status = "FAIL"
		}
		if err := t.Append(r.Model+"/"+r.Version, r.Case, r.Tensor,
			formatErr(r.Diff.MaxAbs), formatErr(r.Diff.MaxRel), formatULP(r.Diff.MaxULP), status); err != nil {
			return err
		}
	}
	return t.Render()
}

func formatErr(v float64) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return fmt.Sprint(v)
	}
	return strconv.FormatFloat(v, 'e', 2, 64)
}

func formatULP(u uint64) string {
	if u == math.MaxUint64 {
		return "NaN"
	}
	return strconv.FormatUint(u, 10)
}
