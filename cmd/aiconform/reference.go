package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/internal/atomicfile"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/onnxexport"
)

func init() { registerCommand(newReferenceCmd) }

func newReferenceCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reference",
		Short: "Work with the reference models: export their weights and ONNX graphs",
	}
	cmd.AddCommand(newReferenceExportCmd(s))
	return cmd
}

// The formats of `aiconform reference export`.
const (
	exportSafetensors = "safetensors"
	exportONNX        = "onnx"
)

// referenceExportOptions are the options of `aiconform reference export`.
type referenceExportOptions struct {
	Format string
	Out    string
	// Weights is a directory of <model-id>.safetensors files to export
	// from; "" means the published weights embedded in the binary.
	Weights string
}

func newReferenceExportCmd(s Streams) *cobra.Command {
	var o referenceExportOptions
	cmd := &cobra.Command{
		Use:   "export --format safetensors|onnx --out DIR",
		Short: "Write every reference model's weights (safetensors) or FP32 ONNX model to DIR",
		Long: "export writes DIR/<model-id>.safetensors (the published weights, byte for byte: F32 tensors under\n" +
			"their PyTorch state_dict names and layouts) or DIR/<model-id>.onnx (the model in FP32 as an ONNX\n" +
			"graph, IR version 7, opset 13, weights as initializers under their PyTorch names) for every\n" +
			"reference model. Files are written atomically; DIR is created if needed.\n\n" +
			"In the ONNX graph of seed-transformer, attention_mask is a required input: pass all ones when\n" +
			"there is no padding.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReferenceExport(o, s) },
	}
	cmd.Flags().StringVar(&o.Format, "format", "", "what to write: safetensors or onnx (required)")
	cmd.Flags().StringVar(&o.Out, "out", "", "directory to write to (required)")
	cmd.Flags().StringVar(&o.Weights, "weights", "", "directory of <model-id>.safetensors weights to export from (default: the published weights)")
	return cmd
}

func runReferenceExport(o referenceExportOptions, s Streams) error {
	switch o.Format {
	case exportSafetensors, exportONNX:
	case "":
		return usageError(errors.New("reference export: --format safetensors|onnx is required"))
	default:
		return usageError(fmt.Errorf("reference export: --format is %q, want %q or %q", o.Format, exportSafetensors, exportONNX))
	}
	if o.Out == "" {
		return usageError(errors.New("reference export: --out DIR is required"))
	}
	weightsDir, where := aiconform.Weights(), "the published weights"
	if o.Weights != "" {
		st, err := os.Stat(o.Weights)
		if err != nil {
			return usageError(fmt.Errorf("reference export: --weights: %w", err))
		}
		if !st.IsDir() {
			return usageError(fmt.Errorf("reference export: --weights: %s is not a directory", o.Weights))
		}
		weightsDir, where = os.DirFS(o.Weights), o.Weights
	}
	// Build every file before writing any, so that a bad model leaves DIR
	// untouched.
	type file struct {
		name string
		b    []byte
	}
	var files []file
	for _, id := range reference.ModelIDs() {
		b, err := exportModel(weightsDir, id, o.Format)
		if err != nil {
			return usageError(fmt.Errorf("reference export: %s: %w", where, err))
		}
		ext := ".safetensors"
		if o.Format == exportONNX {
			ext = onnxexport.FileExt
		}
		files = append(files, file{id + ext, b})
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return usageError(fmt.Errorf("reference export: %w", err))
	}
	for _, f := range files {
		p := filepath.Join(o.Out, f.name)
		if err := atomicfile.WriteFile(p, f.b, 0o644); err != nil {
			return usageError(fmt.Errorf("reference export: %w", err))
		}
		fmt.Fprintf(s.Out, "wrote %s (%d bytes, sha256 %s)\n", p, len(f.b), golden.Digest(f.b))
	}
	return nil
}

// exportModel returns the bytes of model id's file in format, from the
// weights in weightsDir (checked against the model's tensor list).
func exportModel(weightsDir fs.FS, id, format string) ([]byte, error) {
	w, raw, err := reference.LoadWeights(weightsDir, id)
	if err != nil {
		return nil, err
	}
	if format == exportSafetensors {
		return raw, nil
	}
	return onnxexport.Export(id, w, onnxexport.Options{
		ProducerVersion: version,
		Metadata: []onnxexport.KeyValue{
			{Key: "aiconform.weights", Value: reference.WeightsPath(id)},
			{Key: "aiconform.weights_sha256", Value: golden.Digest(raw)},
		},
	})
}
