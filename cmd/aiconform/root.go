package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes shared by every command (see spec/v1 and the README).
const (
	ExitOK          = 0 // conformant / valid / done
	ExitFail        = 1 // not conformant / invalid / mismatch
	ExitUsage       = 2 // usage or configuration error, unreadable input
	ExitUnreachable = 3 // the target could not be reached at all
)

// Streams are the IO streams a command reads and writes; tests inject buffers.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// exitError carries an exit code out of a command's run function. A nil
// Err means the command already printed what it had to say.
type exitError struct {
	Code int
	Err  error
}

func (e *exitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *exitError) Unwrap() error { return e.Err }

// exitCode wraps err (which may be nil) so that Main exits with code.
func exitCode(code int, err error) error { return &exitError{Code: code, Err: err} }

// usageError marks err as a usage or configuration problem (exit 2).
func usageError(err error) error { return exitCode(ExitUsage, err) }

// commandConstructors is filled by each command's file in an init function,
// so that each command lives in one file with its options and run function.
var commandConstructors []func(Streams) *cobra.Command

func registerCommand(f func(Streams) *cobra.Command) {
	commandConstructors = append(commandConstructors, f)
}

// version is the tool version, overridable at link time with
// -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// newRootCmd builds the command tree.
func newRootCmd(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:           "aiconform",
		Short:         "Conformance suite for AI models served over the Open Inference Protocol v2",
		Long:          "aiconform checks that an inference endpoint serves the standard reference models correctly,\nfast enough and safely, by the published aiconform standard, and writes reports a third party can verify.",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	for _, f := range commandConstructors {
		root.AddCommand(f(s))
	}
	return root
}

// Main runs the CLI with args and returns the process exit code.
func Main(ctx context.Context, args []string, s Streams) int {
	root := newRootCmd(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(s.Err, "aiconform: %v\n", ee.Err)
		}
		return ee.Code
	}
	// Cobra's own errors (unknown command, bad args) are usage errors.
	fmt.Fprintf(s.Err, "aiconform: %v\n", err)
	return ExitUsage
}
