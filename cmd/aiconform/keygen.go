package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform/attest"
)

func init() { registerCommand(newKeygenCmd) }

// keygenOptions are the options of `aiconform keygen`.
type keygenOptions struct {
	// Prefix names the key files: PREFIX.key and PREFIX.pub.
	Prefix string
}

func newKeygenCmd(s Streams) *cobra.Command {
	o := keygenOptions{Prefix: "aiconform"}
	cmd := &cobra.Command{
		Use:   "keygen [--out PREFIX]",
		Short: "Generate an Ed25519 key pair to sign reports and submissions with",
		Long: "keygen writes a new Ed25519 key pair: PREFIX.key, the private key (PKCS #8 PEM, mode 0600), and\n" +
			"PREFIX.pub, the public key (PKIX PEM) that verifiers need. It prints the key id, the sha256 of the\n" +
			"public key's DER encoding, which attestations carry. It never overwrites an existing file.\n" +
			"Exit 0 written, 2 a file exists or cannot be written.",
		Example: "  aiconform keygen --out acme\n  aiconform report sign --key acme.key aiconform-report/report.json",
		Args:    cobra.NoArgs,
		RunE:    func(*cobra.Command, []string) error { return runKeygen(o, s) },
	}
	cmd.Flags().StringVar(&o.Prefix, "out", o.Prefix, "prefix of the key files: PREFIX.key and PREFIX.pub")
	return cmd
}

func runKeygen(o keygenOptions, s Streams) error {
	if o.Prefix == "" {
		return usageError(errors.New("keygen: --out must not be empty"))
	}
	key, err := attest.GenerateKey(nil)
	if err != nil {
		return exitCode(ExitFail, fmt.Errorf("keygen: %w", err))
	}
	priv, pub, err := attest.WriteKeyFiles(o.Prefix, key)
	if err != nil {
		return usageError(fmt.Errorf("keygen: %w", err))
	}
	fmt.Fprintf(s.Out, "private key: %s (keep it secret)\npublic key: %s\nkey id: %s\n", priv, pub, key.Public().KeyID())
	return nil
}
