package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform/attest"
	"github.com/aiconform/aiconform/submission"
)

func init() { registerCommand(newVerifySubmissionCmd) }

// verifySubmissionOptions are the options of `aiconform verify-submission`.
type verifySubmissionOptions struct {
	// Bundle is a directory or a .tar.gz.
	Bundle  string
	PubFile string
}

func newVerifySubmissionCmd(s Streams) *cobra.Command {
	var o verifySubmissionOptions
	cmd := &cobra.Command{
		Use:   "verify-submission DIR|FILE.tar.gz --pub KEY.pub",
		Short: "Re-check a submission bundle as a reviewer would",
		Long: "verify-submission checks a bundle that `aiconform submit` made, with the submitter's public key:\n" +
			"the attestation's signature; every file's sha256, and that every file is attested; the schema of\n" +
			"submission.json, the report, the profile, the model card and the golden manifest; that submission.json\n" +
			"lists every file with its sha256; that junit.xml is well-formed with one testcase per check with its\n" +
			"status; that the report's levels, verdict, summary, uncovered requirements, warnings and claims follow\n" +
			"from its checks (recomputed, not trusted); that the claim rules hold at every claimed level; that the\n" +
			"golden manifest is the one this standard publishes; that the profile and model card are those the\n" +
			"report records; and that the attestation's predicate agrees with the report. One line per check, and\n" +
			"one per problem. An archive whose paths escape it, that holds links, or whose files are too large is\n" +
			"refused.\n" +
			"Exit 0 every check holds, 1 any fails, 2 an unreadable or refused bundle, or a bad key.",
		Example: "  aiconform verify-submission acme-submission.tar.gz --pub acme.pub",
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Bundle = args[0]
			return runVerifySubmission(o, s)
		},
	}
	cmd.Flags().StringVar(&o.PubFile, "pub", "", "the submitter's Ed25519 public key, PKIX PEM (required)")
	return cmd
}

func runVerifySubmission(o verifySubmissionOptions, s Streams) error {
	if o.PubFile == "" {
		return usageError(errors.New("verify-submission: --pub is required"))
	}
	pub, err := attest.ReadPublicKey(o.PubFile)
	if err != nil {
		return usageError(fmt.Errorf("verify-submission: %w", err))
	}
	b, err := submission.Open(o.Bundle)
	if err != nil {
		return usageError(fmt.Errorf("verify-submission: %w", err))
	}
	v := submission.Verify(b, pub)
	for _, c := range v.Checks {
		if c.OK() {
			fmt.Fprintf(s.Out, "ok   %s: %s\n", c.Name, c.Held)
			continue
		}
		for _, p := range c.Problems {
			// A schema problem is one line per violation.
			for _, line := range strings.Split(p, "\n") {
				fmt.Fprintf(s.Out, "FAIL %s: %s\n", c.Name, line)
			}
		}
	}
	if !v.OK() {
		fmt.Fprintf(s.Out, "submission NOT verified: %d problems\n", len(v.Problems()))
		return exitCode(ExitFail, nil)
	}
	fmt.Fprintf(s.Out, "submission verified: every check holds\n")
	return nil
}
