package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/attest"
	"github.com/aiconform/aiconform/spec"
	"github.com/aiconform/aiconform/submission"
)

func init() { registerCommand(newSubmitCmd) }

// submitOptions are the options of `aiconform submit`.
type submitOptions struct {
	Report  string
	KeyFile string
	// Out is the bundle: a directory, or FILE.tar.gz.
	Out string
	// Claim are the claimed levels; none claims every level the report
	// supports a claim at.
	Claim []string
	// Profile, ModelCard and GoldensDir say where the documents the report
	// names are, when not where the report says.
	Profile    string
	ModelCard  string
	GoldensDir string
}

func newSubmitCmd(s Streams) *cobra.Command {
	var o submitOptions
	cmd := &cobra.Command{
		Use:   "submit --report DIR/report.json --key KEY --out DIR|FILE.tar.gz [--claim core,safety] [--profile FILE] [--model-card FILE] [--goldens DIR]",
		Short: "Bundle a report into a signed submission of a conformance claim",
		Long: "submit gathers what backs a claim of conformance, as a Kubernetes conformance submission does:\n" +
			"report.json, junit.xml and report.html (rendered from report.json), the profile, the model card, the\n" +
			"golden manifest, submission.json (the claimed levels and the files), a README.md stating the claim,\n" +
			"and attestation.json, signed with --key over every other file. The documents are read as\n" +
			"`aiconform report sign` reads them and must have the sha256 the report records.\n" +
			"--claim defaults to every level the report supports a claim at; a level it does not support is\n" +
			"refused with the reasons. Before anything is written the bundle is verified as verify-submission\n" +
			"would verify it, and refused with every problem found. --out is a new or empty directory, or a\n" +
			"FILE.tar.gz, which is never overwritten.\n" +
			"Exit 0 written, 1 the claim or the bundle does not hold, 2 usage error, unreadable input or bad key.",
		Example: "  aiconform submit --report aiconform-report/report.json --key acme.key --out acme-submission.tar.gz\n" +
			"  aiconform verify-submission acme-submission.tar.gz --pub acme.pub",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return runSubmit(o, s) },
	}
	cmd.Flags().StringVar(&o.Report, "report", "", "the report.json of the run (required)")
	cmd.Flags().StringVar(&o.KeyFile, "key", "", "Ed25519 private key, PKCS #8 PEM, that signs the bundle (required)")
	cmd.Flags().StringVar(&o.Out, "out", "", "the bundle: a new or empty directory, or FILE.tar.gz (required)")
	cmd.Flags().StringSliceVar(&o.Claim, "claim", nil, "claimed levels, comma-separated (default: every level the report supports a claim at)")
	cmd.Flags().StringVar(&o.Profile, "profile", "", "the profile of the run (default: the report's profile.source)")
	cmd.Flags().StringVar(&o.ModelCard, "model-card", "", "the model card of the run (default: the report's modelCard.source)")
	cmd.Flags().StringVar(&o.GoldensDir, "goldens", "", "the golden directory of the run (default: the report's goldens.source)")
	return cmd
}

func runSubmit(o submitOptions, s Streams) error {
	for _, f := range []struct{ flag, value string }{{"--report", o.Report}, {"--key", o.KeyFile}, {"--out", o.Out}} {
		if f.value == "" {
			return usageError(fmt.Errorf("submit: %s is required", f.flag))
		}
	}
	var claim []spec.Level
	for _, n := range o.Claim {
		l := spec.Level(strings.TrimSpace(n))
		if !slices.Contains(spec.Levels, l) {
			return usageError(fmt.Errorf("submit: --claim: %q is not a level; want one or more of %s", n, joinLevels(spec.Levels)))
		}
		claim = append(claim, l)
	}
	key, err := attest.ReadPrivateKey(o.KeyFile)
	if err != nil {
		return usageError(fmt.Errorf("submit: %w", err))
	}
	rf, err := attest.ReadReportFiles(o.Report, attest.Sources{Profile: o.Profile, ModelCard: o.ModelCard, GoldensDir: o.GoldensDir, BuiltinGoldens: aiconform.Goldens()})
	if err != nil {
		return signError("submit", err)
	}
	b, err := submission.Build(submission.Input{Files: rf, Claim: claim, Key: key})
	var ce *submission.ClaimError
	switch {
	case errors.As(err, &ce):
		return exitCode(ExitFail, err)
	case err != nil:
		return exitCode(ExitFail, fmt.Errorf("submit: %w", err))
	}
	if v := submission.Verify(b, key.Public()); !v.OK() {
		for _, p := range v.Problems() {
			for _, line := range strings.Split(p, "\n") {
				fmt.Fprintf(s.Err, "FAIL %s\n", line)
			}
		}
		return exitCode(ExitFail, fmt.Errorf("submit: the bundle would not verify (%d problems above); nothing was written", len(v.Problems())))
	}
	if err := b.Write(o.Out); err != nil {
		return usageError(fmt.Errorf("submit: %w", err))
	}
	docJSON, _ := b.File(submission.DocumentFile)
	doc, err := submission.ParseDocument(submission.DocumentFile, docJSON)
	if err != nil {
		return exitCode(ExitFail, fmt.Errorf("submit: %w", err))
	}
	fmt.Fprintf(s.Out, "submission: %s\nclaim: conformance of %s at %s\nsigned by key %s\nfiles: %s\nverify with: aiconform verify-submission %s --pub PUBLIC-KEY\n",
		o.Out, rf.Report.Target, joinLevels(doc.ClaimedLevels), key.Public().KeyID(), strings.Join(b.Names(), ", "), o.Out)
	return nil
}
