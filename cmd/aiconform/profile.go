package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/internal/atomicfile"
)

func init() { registerCommand(newProfileCmd) }

// profileInitOptions are the options of `aiconform profile init`.
type profileInitOptions struct {
	Target string
	// Models are the served model names to read (--model, repeatable);
	// none tries the reference model names.
	Models []string
	// Out is the profile file; "" or "-" writes to standard output.
	Out   string
	Force bool
	Name  string
	// Timeout bounds each request and becomes timeouts.request;
	// TimeoutSet says --timeout was given (zero is then an error).
	Timeout    time.Duration
	TimeoutSet bool
	// AuthTokenEnv makes the profile's auth bearer with this variable.
	AuthTokenEnv string
}

func newProfileCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Work with conformance profiles",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newProfileInitCmd(s))
	return cmd
}

func newProfileInitCmd(s Streams) *cobra.Command {
	var o profileInitOptions
	cmd := &cobra.Command{
		Use:   "init --target URL [--model NAME]... [--out FILE] [--force] [--timeout D] [--name NAME] [--auth-token-env VAR]",
		Short: "Draft a profile from the metadata of a target's served models",
		Long: `init reads the server metadata (GET /v2) of the endpoint at --target and the model metadata
of each served model, unversioned and at each version it lists, and writes a commented profile at
level core that maps every model (and version) whose inputs and outputs have the names,
datatypes and shapes of a reference model's contract at a reference version to it. Models that
fit no contract are listed in a comment with why.

The target may speak the protocol's REST binding (http://, https://) or its gRPC binding
(grpc://HOST:PORT, grpcs://HOST:PORT), whose ServerMetadata and ModelMetadata calls are read
instead. The protocol has no list of models, so name the served models with --model
(repeatable, or comma-separated); without it, init tries the reference model names (seed-cnn,
seed-rnn, seed-transformer) as served names, and leaves out quietly those the target answers
404 for.

Without --out the profile goes to standard output. A file is written atomically, and an
existing file is kept unless --force. With --auth-token-env VAR the profile's auth is bearer,
naming VAR; the token VAR holds (if set) authenticates the metadata requests and is never
written. Review the draft, then: aiconform run --target URL --profile FILE.

Exit 0 written, 1 no served model fits a reference contract (nothing is written), 2 usage
error (an existing --out without --force), 3 the target could not be reached.`,
		Example: `  aiconform profile init --target http://127.0.0.1:8000 --out acme.yaml
  aiconform profile init --target https://infer.example.com --model mnist --model classifier \
      --auth-token-env ACME_TOKEN --out acme.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.TimeoutSet = cmd.Flags().Changed("timeout")
			return runProfileInit(cmd.Context(), o, s)
		},
	}
	cmd.Flags().StringVar(&o.Target, "target", "", "base URL of the endpoint, e.g. http://127.0.0.1:8000 or grpc://127.0.0.1:8001 (required)")
	cmd.Flags().StringSliceVar(&o.Models, "model", nil, "a served model name to read, repeatable (default: the reference model names)")
	cmd.Flags().StringVar(&o.Out, "out", "", "profile file to write (default: standard output)")
	cmd.Flags().BoolVar(&o.Force, "force", false, "overwrite an existing --out file")
	cmd.Flags().StringVar(&o.Name, "name", "", "the profile's name (default: the server's name from its metadata)")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 0, "limit of each request, written as timeouts.request (default 30s)")
	cmd.Flags().StringVar(&o.AuthTokenEnv, "auth-token-env", "", "environment variable holding a bearer token: the profile names it, init uses its value")
	return cmd
}

func runProfileInit(ctx context.Context, o profileInitOptions, s Streams) error {
	if o.Target == "" {
		return usageError(errors.New("profile init: --target is required"))
	}
	if o.Timeout < 0 || o.TimeoutSet && o.Timeout == 0 {
		return usageError(fmt.Errorf("profile init: --timeout is %v, want a positive duration (as a profile's timeouts.request must be)", o.Timeout))
	}
	toFile := o.Out != "" && o.Out != "-"
	if toFile && !o.Force {
		if _, err := os.Lstat(o.Out); err == nil {
			return usageError(fmt.Errorf("profile init: %s exists; pass --force to overwrite it", o.Out))
		}
	}
	d, err := conformance.InitProfile(ctx, conformance.InitOptions{
		Target: o.Target, Models: o.Models, Name: o.Name, RequestTimeout: o.Timeout, TokenEnv: o.AuthTokenEnv,
	})
	if d != nil && d.TokenUnset {
		fmt.Fprintf(s.Err, "aiconform: warning: %s is unset or empty: the metadata was read without a token; set it before the run\n", o.AuthTokenEnv)
	}
	switch {
	case errors.Is(err, conformance.ErrUnreachable):
		return exitCode(ExitUnreachable, fmt.Errorf("profile init: %w", err))
	case errors.Is(err, conformance.ErrConfig):
		return usageError(fmt.Errorf("profile init: %w", err))
	case errors.Is(err, conformance.ErrNoModelFits):
		return exitCode(ExitFail, fmt.Errorf("profile init: %s: %w; name the served models with --model", d.Target, err))
	case err != nil:
		return exitCode(ExitFail, fmt.Errorf("profile init: %w", err))
	}
	y, err := d.YAML()
	if err != nil {
		return exitCode(ExitFail, fmt.Errorf("profile init: %w", err))
	}
	// What was found goes to stderr when the profile itself goes to stdout.
	info := s.Out
	if !toFile {
		if _, err := s.Out.Write(y); err != nil {
			return exitCode(ExitFail, fmt.Errorf("profile init: writing the profile: %w", err))
		}
		info = s.Err
	} else if err := writeNewFile(o.Out, y, o.Force); err != nil {
		return usageError(fmt.Errorf("profile init: %w", err))
	}
	var mapped []string
	for _, m := range d.Profile.Models {
		mapped = append(mapped, fmt.Sprintf("%s → %s/%s", m.Label(), m.Reference, m.ReferenceVersion))
	}
	fmt.Fprintf(info, "models mapped (%d): %s\n", len(mapped), strings.Join(mapped, ", "))
	for _, u := range d.Unfit {
		fmt.Fprintf(info, "left out %s: %s\n", u.Label, u.Reason)
	}
	if len(d.NotServed) > 0 {
		fmt.Fprintf(info, "not served (404): %s\n", strings.Join(d.NotServed, ", "))
	}
	if toFile {
		fmt.Fprintf(info, "profile: %s\n", o.Out)
	}
	return nil
}

// writeNewFile writes data to path atomically, so that path never holds
// a partial document; without force, an existing file is never replaced.
func writeNewFile(path string, data []byte, force bool) error {
	if force {
		return atomicfile.WriteFile(path, data, 0o644)
	}
	err := atomicfile.WriteNew(path, data, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists; pass --force to overwrite it", path)
	}
	return err
}
