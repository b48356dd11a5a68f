package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/attest"
	"github.com/aiconform/aiconform/internal/atomicfile"
)

func init() { registerReportCommand(newReportSignCmd) }

// reportSignOptions are the options of `aiconform report sign`.
type reportSignOptions struct {
	Report  string
	KeyFile string
	// Out is the attestation file; "" writes attestation.json beside the
	// report.
	Out string
	// Profile, ModelCard and GoldensDir say where the documents the report
	// names are, when not where the report says.
	Profile    string
	ModelCard  string
	GoldensDir string
}

func newReportSignCmd(s Streams) *cobra.Command {
	var o reportSignOptions
	cmd := &cobra.Command{
		Use:   "sign --key KEY [--out FILE] REPORT.json [--profile FILE] [--model-card FILE] [--goldens DIR]",
		Short: "Sign a report as an in-toto attestation",
		Long: "sign writes a DSSE envelope signed with the Ed25519 key --key (see keygen) over an in-toto Statement\n" +
			"whose subjects are, by sha256, the report, the golden manifest of its run (the one built into the tool\n" +
			"when the report's goldens are builtin, else DIR/manifest.json), the profile and the model card the\n" +
			"report names, and whose predicate holds its spec and tool versions, target, profile and golden digests\n" +
			"and verdicts. The documents are read where the report says (the built-in ones from the tool), or from\n" +
			"--profile, --model-card and --goldens; each must have the sha256 the report records, else nothing is\n" +
			"signed. The attestation goes to attestation.json beside the report unless --out says otherwise.\n" +
			"Exit 0 signed, 1 a document is not the one the report records, 2 usage error, unreadable input or bad key.",
		Example: "  aiconform report sign --key acme.key aiconform-report/report.json\n" +
			"  aiconform report verify --pub acme.pub aiconform-report/attestation.json acme.yaml",
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Report = args[0]
			return runReportSign(o, s)
		},
	}
	cmd.Flags().StringVar(&o.KeyFile, "key", "", "Ed25519 private key, PKCS #8 PEM (required)")
	cmd.Flags().StringVar(&o.Out, "out", "", "attestation file (default: attestation.json beside the report)")
	cmd.Flags().StringVar(&o.Profile, "profile", "", "the profile of the run (default: the report's profile.source)")
	cmd.Flags().StringVar(&o.ModelCard, "model-card", "", "the model card of the run (default: the report's modelCard.source)")
	cmd.Flags().StringVar(&o.GoldensDir, "goldens", "", "the golden directory of the run (default: the report's goldens.source)")
	return cmd
}

func runReportSign(o reportSignOptions, s Streams) error {
	if o.KeyFile == "" {
		return usageError(errors.New("report sign: --key is required"))
	}
	key, err := attest.ReadPrivateKey(o.KeyFile)
	if err != nil {
		return usageError(fmt.Errorf("report sign: %w", err))
	}
	src := attest.Sources{Profile: o.Profile, ModelCard: o.ModelCard, GoldensDir: o.GoldensDir}
	if _, err := signReport(s.Out, o.Report, o.Out, key, src); err != nil {
		return signError("report sign", err)
	}
	return nil
}

// signError gives a signing failure its exit code: 1 for a document that
// is not the one the report records, 2 for anything unreadable.
func signError(cmd string, err error) error {
	if errors.Is(err, attest.ErrMismatch) {
		return exitCode(ExitFail, fmt.Errorf("%s: %w", cmd, err))
	}
	return usageError(fmt.Errorf("%s: %w", cmd, err))
}

// signReport is the sign step of `report sign` and `run --sign-key`: it
// reads the report at reportPath and the documents it names (src, with
// the tool's own goldens), checks their digests against the report,
// writes the signed attestation of them all to out (attestation.json
// beside the report when out is "") atomically, and prints where it is
// and what it covers on w. It returns the attestation's path.
func signReport(w io.Writer, reportPath, out string, key *attest.PrivateKey, src attest.Sources) (string, error) {
	src.BuiltinGoldens = aiconform.Goldens()
	rf, err := attest.ReadReportFiles(reportPath, src)
	if err != nil {
		return "", err
	}
	st, err := attest.NewStatement(rf.Report, rf.Subjects())
	if err != nil {
		return "", err
	}
	env, err := attest.Sign(st, key)
	if err != nil {
		return "", err
	}
	if out == "" {
		out = filepath.Join(filepath.Dir(reportPath), attest.FileName)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("cannot write %s: %w", out, err)
	}
	if err := atomicfile.WriteFile(out, env, 0o644); err != nil {
		return "", err
	}
	fmt.Fprintf(w, "attestation: %s (signed by key %s)\n", out, key.Public().KeyID())
	for _, sub := range st.Subject {
		fmt.Fprintf(w, "  subject %s sha256 %s\n", sub.Name, sub.SHA256())
	}
	return out, nil
}
