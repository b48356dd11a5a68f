package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/reference"
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

// Devices that `aiconform golden generate --device` computes on.
const (
	// deviceCPU computes with the built-in gorgonia reference models.
	deviceCPU = "cpu"
	// deviceCUDA computes with PyTorch on a CUDA GPU through the script
	// crosscheck/torch/generate_goldens.py.
	deviceCUDA = "cuda"
)

// Defaults of the PyTorch route of `golden generate --device cuda`.
const (
	// defaultPython is Debian's interpreter, which has python3-torch; the
	// python3 first on PATH may be another one without it.
	defaultPython = "/usr/bin/python3"
	// torchScript is the generator's path relative to the module root.
	torchScript = "crosscheck/torch/generate_goldens.py"
	// modulePath identifies the module root's go.mod.
	modulePath = "github.com/aiconform/aiconform"
)

// goldenGenerateOptions are the options of `aiconform golden generate`.
type goldenGenerateOptions struct {
	Out string
	// Device is "cpu" (the gorgonia reference models) or "cuda" (PyTorch).
	Device string
	// Python is the interpreter that runs the PyTorch script (--device cuda).
	Python string
	// Script is the PyTorch generator; "" locates torchScript under the
	// module root above the working directory.
	Script string
	// Only restricts the set to these model ids (--model); empty means all.
	Only []string
}

func newGoldenGenerateCmd(s Streams) *cobra.Command {
	var o goldenGenerateOptions
	cmd := &cobra.Command{
		Use:   "generate --out DIR [--device cpu|cuda]",
		Short: "Compute a golden set with the reference models and write it to DIR",
		Long: "generate computes the expected outputs of every reference model at every version on the\n" +
			"published golden inputs and writes DIR/manifest.json and the case files. DIR is replaced\n" +
			"atomically; an existing DIR must be empty or hold an earlier golden set.\n\n" +
			"--device cpu (the default) computes with the built-in gorgonia reference models.\n" +
			"--device cuda computes with PyTorch on a CUDA GPU: it runs " + torchScript + "\n" +
			"from this module's source tree with --python (torch.nn modules loading the published weights,\n" +
			"TF32 off, deterministic algorithms) and records device cuda, the torch, CUDA and cuDNN\n" +
			"versions and tolerance class fp32-gpu for the FP32 sets. Exit 2 when Python, PyTorch or CUDA\n" +
			"is not available.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runGoldenGenerate(cmd.Context(), o, s) },
	}
	cmd.Flags().StringVar(&o.Out, "out", "", "directory to write the golden set to (required)")
	cmd.Flags().StringVar(&o.Device, "device", deviceCPU, "device to compute on: cpu (gorgonia) or cuda (PyTorch)")
	cmd.Flags().StringVar(&o.Python, "python", defaultPython, "Python interpreter with PyTorch, for --device cuda")
	cmd.Flags().StringSliceVar(&o.Only, "model", nil, "compute only this reference model id (repeatable; default: every model)")
	cmd.Flags().StringVar(&o.Script, "torch-script", "", "PyTorch golden generator (default: "+torchScript+" in the module root above the working directory)")
	return cmd
}

func runGoldenGenerate(ctx context.Context, o goldenGenerateOptions, s Streams) error {
	if o.Out == "" {
		return usageError(errors.New("golden generate: --out DIR is required"))
	}
	switch o.Device {
	case deviceCPU, "":
	case deviceCUDA:
		return runTorchGenerate(ctx, o, s)
	default:
		return usageError(fmt.Errorf("golden generate: --device is %q, want %s or %s", o.Device, deviceCPU, deviceCUDA))
	}
	if err := checkModelIDs(o.Only); err != nil {
		return usageError(fmt.Errorf("golden generate: %w", err))
	}
	models, err := reference.Builtin()
	if err != nil {
		return exitCode(ExitFail, err)
	}
	if len(o.Only) > 0 {
		models = slices.DeleteFunc(models, func(m reference.Model) bool { return !slices.Contains(o.Only, m.ID()) })
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

// runTorchGenerate writes a CUDA golden set with the PyTorch script, then
// opens the set it wrote with openGoldens (its schema, the digests of its
// files, every case against its model's contract). The
// script exits 2 when Python, PyTorch or CUDA is missing or its inputs are
// unreadable; that and a missing interpreter or script are exit 2 here.
func runTorchGenerate(ctx context.Context, o goldenGenerateOptions, s Streams) error {
	if ctx == nil {
		ctx = context.Background()
	}
	script := o.Script
	if script == "" {
		wd, err := os.Getwd()
		if err != nil {
			return usageError(fmt.Errorf("golden generate --device cuda: %w", err))
		}
		if script, err = locateTorchScript(wd); err != nil {
			return usageError(fmt.Errorf("golden generate --device cuda: %w", err))
		}
	} else if _, err := os.Stat(script); err != nil {
		return usageError(fmt.Errorf("golden generate --device cuda: --torch-script: %w", err))
	}
	python := o.Python
	if python == "" {
		python = defaultPython
	}
	exe, err := exec.LookPath(python)
	if err != nil {
		return usageError(fmt.Errorf("golden generate --device cuda: CUDA goldens are computed by PyTorch, and the Python interpreter %s is not available: %w", python, err))
	}
	var stderr bytes.Buffer
	if err := checkModelIDs(o.Only); err != nil {
		return usageError(fmt.Errorf("golden generate --device cuda: %w", err))
	}
	args := []string{script, "--device", deviceCUDA, "--out", o.Out, "--generator-version", version}
	if len(o.Only) > 0 {
		args = append(args, "--models", strings.Join(o.Only, ","))
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stdout = s.Out
	cmd.Stderr = io.MultiWriter(s.Err, &stderr)
	if err := cmd.Run(); err != nil {
		msg := lastLine(stderr.String())
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == ExitUsage {
			return usageError(fmt.Errorf("golden generate --device cuda: %s", msg))
		}
		return exitCode(ExitFail, fmt.Errorf("golden generate --device cuda: %s %s failed (%v): %s", python, script, err, msg))
	}
	if _, err := os.Stat(filepath.Join(o.Out, golden.ManifestFile)); err != nil {
		return exitCode(ExitFail, fmt.Errorf("golden generate --device cuda: %s succeeded but wrote no manifest: %w", script, err))
	}
	_, err = openGoldens("golden generate --device cuda", os.DirFS(o.Out), o.Out)
	return err
}

// checkModelIDs rejects a --model value that names no reference model.
func checkModelIDs(ids []string) error {
	for _, id := range ids {
		if !slices.Contains(reference.ModelIDs(), id) {
			return fmt.Errorf("--model %q is not a reference model (want one of %s)", id, strings.Join(reference.ModelIDs(), ", "))
		}
	}
	return nil
}

// locateTorchScript finds torchScript in the root of this module (the
// directory whose go.mod declares modulePath) at or above dir.
func locateTorchScript(dir string) (string, error) {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && goModPath(b) == modulePath {
			p := filepath.Join(d, filepath.FromSlash(torchScript))
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("the module root %s has no %s: %w", d, torchScript, err)
			}
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s is not inside a checkout of %s, which holds %s; run from the checkout or pass --torch-script", dir, modulePath, torchScript)
		}
	}
}

// goModPath returns the module path a go.mod declares ("" if none).
func goModPath(gomod []byte) string {
	for _, l := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// goldenVerifyOptions are the options of `aiconform golden verify`.
type goldenVerifyOptions struct {
	// Dir is the golden directory; "" means the published set embedded in
	// the binary.
	Dir string
	// Models overrides the built-in reference models (tests).
	Models []reference.Model
	// Only restricts the recomputation to these model ids (--model).
	Only []string
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
			if err := checkModelIDs(o.Only); err != nil {
				return usageError(fmt.Errorf("golden verify: %w", err))
			}
			return runGoldenVerify(o, s)
		},
	}
	cmd.Flags().StringSliceVar(&o.Only, "model", nil, "recompute only the sets of this reference model id (repeatable); every file's digest is still checked")
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
	d, err := openGoldens("golden verify", fsys, where)
	if err != nil {
		return err
	}
	res, err := reference.VerifyGoldens(d, models, o.Only)
	if err != nil {
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

// openGoldens opens the golden set of fsys with golden.Open, checking the
// weights it names against the published ones: exit 1 when its manifest
// breaks the schema or a file differs from the manifest, 2 when it cannot
// be read or checked otherwise.
func openGoldens(command string, fsys fs.FS, where string) (*golden.Directory, error) {
	d, err := golden.Open(fsys, aiconform.Testdata())
	if err == nil {
		return d, nil
	}
	var ie *golden.IntegrityError
	if errors.As(err, &ie) {
		return nil, exitCode(ExitFail, fmt.Errorf("%s: %s: files differ from the manifest:\n%w", command, where, err))
	}
	var se *golden.SchemaError
	if errors.As(err, &se) {
		return nil, exitCode(ExitFail, fmt.Errorf("%s: %s: %w", command, where, err))
	}
	return nil, usageError(fmt.Errorf("%s: %s: %w", command, where, err))
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
