package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/attest"
	"github.com/aiconform/aiconform/conformance"
)

func init() { registerReportCommand(newReportVerifyCmd) }

// reportVerifyOptions are the options of `aiconform report verify`.
type reportVerifyOptions struct {
	PubFile     string
	Attestation string
	// Files are the subjects' files, matched to subjects by base name.
	Files []string
}

func newReportVerifyCmd(s Streams) *cobra.Command {
	var o reportVerifyOptions
	cmd := &cobra.Command{
		Use:   "verify --pub KEY.pub ATTESTATION [FILE...]",
		Short: "Verify a signed attestation and the files it names",
		Long: "verify checks the attestation's signature over the DSSE pre-authentication encoding with the public\n" +
			"key --pub, that it is an aiconform report statement, then the sha256 of every subject: a subject is\n" +
			"the FILE of the same base name, else the file of that name beside the attestation, else, for the\n" +
			"golden manifest and the built-in profile and model card alone, the one built into the tool.\n" +
			"One line per subject: ok, MISMATCH with both digests, or not found.\n" +
			"Exit 0 the signature is valid and every subject matched, 1 otherwise, 2 unreadable input or a bad key.",
		Example: "  aiconform report verify --pub acme.pub aiconform-report/attestation.json\n" +
			"  aiconform report verify --pub acme.pub attestation.json report.json goldens/manifest.json acme.yaml",
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Attestation, o.Files = args[0], args[1:]
			return runReportVerify(o, s)
		},
	}
	cmd.Flags().StringVar(&o.PubFile, "pub", "", "Ed25519 public key, PKIX PEM (required)")
	return cmd
}

func runReportVerify(o reportVerifyOptions, s Streams) error {
	if o.PubFile == "" {
		return usageError(errors.New("report verify: --pub is required"))
	}
	pub, err := attest.ReadPublicKey(o.PubFile)
	if err != nil {
		return usageError(fmt.Errorf("report verify: %w", err))
	}
	env, err := os.ReadFile(o.Attestation)
	if err != nil {
		return usageError(fmt.Errorf("report verify: %w", err))
	}
	given := map[string]string{} // base name -> path
	for _, f := range o.Files {
		base := filepath.Base(f)
		if prev, dup := given[base]; dup {
			return usageError(fmt.Errorf("report verify: %s and %s have the same base name; subjects are matched by it", prev, f))
		}
		if _, err := os.Stat(f); err != nil {
			return usageError(fmt.Errorf("report verify: %w", err))
		}
		given[base] = f
	}
	st, err := attest.Open(o.Attestation, env, pub)
	switch {
	case errors.Is(err, attest.ErrMalformed):
		return usageError(fmt.Errorf("report verify: %w", err))
	case err != nil:
		fmt.Fprintf(s.Out, "signature: INVALID: %v\n", err)
		return exitCode(ExitFail, nil)
	}
	fmt.Fprintf(s.Out, "signature: ok (key %s)\n", pub.KeyID())
	files, from := map[string][]byte{}, map[string]string{}
	for _, sub := range st.Subject {
		data, where, err := findSubject(sub.Name, given, filepath.Dir(o.Attestation))
		if err != nil {
			return usageError(fmt.Errorf("report verify: %w", err))
		}
		if data != nil {
			files[sub.Name], from[sub.Name] = data, where
		}
	}
	failed := 0
	for _, c := range st.Check(files) {
		line := c.String()
		if c.Found() {
			line += " — " + from[c.Name]
		}
		if !c.OK() {
			failed++
		}
		fmt.Fprintln(s.Out, line)
	}
	for _, f := range o.Files {
		if _, ok := files[filepath.Base(f)]; !ok {
			fmt.Fprintf(s.Out, "note: %s is not a subject of the attestation\n", f)
		}
	}
	if failed > 0 {
		fmt.Fprintf(s.Out, "NOT verified: %d of %d subjects did not match or were not found\n", failed, len(st.Subject))
		return exitCode(ExitFail, nil)
	}
	fmt.Fprintf(s.Out, "verified: the signature and all %d subjects\n", len(st.Subject))
	return nil
}

// findSubject finds the file of a subject: the given file of that base
// name, else the file of that name in dir, else, for the golden manifest
// and the built-in profile and its model card, the one built into the
// tool. It returns nil data when there is none, and says where the bytes
// came from.
func findSubject(name string, given map[string]string, dir string) ([]byte, string, error) {
	if p, ok := given[name]; ok {
		b, err := os.ReadFile(p)
		return b, p, err
	}
	p := filepath.Join(dir, name)
	b, err := os.ReadFile(p)
	switch {
	case err == nil:
		return b, p, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, "", err
	case name == attest.GoldenManifestName:
		b, err := fs.ReadFile(aiconform.Goldens(), name)
		return b, "the golden manifest built into aiconform", err
	}
	for _, src := range []string{conformance.BuiltinSource, conformance.BuiltinSource + ":" + name} {
		if doc, b, ok := conformance.BuiltinDocument(src); ok && doc == name {
			return b, "the " + name + " built into aiconform", nil
		}
	}
	return nil, "", nil
}
