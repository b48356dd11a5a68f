package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
)

func init() { registerCommand(newServeCmd) }

// serveOptions are the options of `aiconform serve`.
type serveOptions struct {
	Addr         string
	MaxBodyBytes int64
}

func newServeCmd(s Streams) *cobra.Command {
	o := serveOptions{Addr: "127.0.0.1:8000", MaxBodyBytes: serve.DefaultMaxBodyBytes}
	cmd := &cobra.Command{
		Use:   "serve [--addr HOST:PORT] [--max-body-bytes N]",
		Short: "Serve the reference models over the Open Inference Protocol v2 (REST)",
		Long: "serve runs the reference server: every built-in reference model at every version behind the\n" +
			"Open Inference Protocol v2 REST API (health, server and model metadata, model ready, infer with\n" +
			"JSON tensors). A request that names no model version gets fp32. It prints the address it\n" +
			"listens on, logs one line per request to stderr and shuts down gracefully on SIGINT or SIGTERM.\n" +
			"Exit 0 after a shutdown, 2 when the address cannot be bound or a flag is wrong.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), o, s) },
	}
	cmd.Flags().StringVar(&o.Addr, "addr", o.Addr, "TCP address to listen on (port 0 picks a free port)")
	cmd.Flags().Int64Var(&o.MaxBodyBytes, "max-body-bytes", o.MaxBodyBytes, "largest request body accepted; larger ones get 413")
	return cmd
}

func runServe(ctx context.Context, o serveOptions, s Streams) error {
	if o.Addr == "" {
		return usageError(errors.New("serve: --addr must not be empty"))
	}
	if o.MaxBodyBytes <= 0 {
		return usageError(fmt.Errorf("serve: --max-body-bytes is %d, want > 0", o.MaxBodyBytes))
	}
	models, err := reference.Builtin()
	if err != nil {
		return exitCode(ExitFail, fmt.Errorf("serve: %w", err))
	}
	srv, err := serve.New(models,
		serve.WithMaxBodyBytes(o.MaxBodyBytes),
		serve.WithLogger(slog.New(slog.NewTextHandler(s.Err, nil))),
		serve.WithServerVersion(version),
	)
	if err != nil {
		return exitCode(ExitFail, err)
	}
	ready := func(addr net.Addr) {
		for _, line := range modelLines(srv, models) {
			fmt.Fprintf(s.Out, "serving %s\n", line)
		}
		fmt.Fprintf(s.Out, "listening on http://%s (stop with Ctrl-C)\n", addr)
	}
	err = serve.ListenAndServe(ctx, o.Addr, srv.Handler(), ready)
	var le *serve.ListenError
	switch {
	case errors.As(err, &le):
		return usageError(fmt.Errorf("serve: %w", err))
	case err != nil:
		return exitCode(ExitFail, fmt.Errorf("serve: %w", err))
	}
	fmt.Fprintln(s.Out, "server stopped")
	return nil
}

// modelLines describes each served model and its versions, e.g.
// "seed-cnn: versions fp32 (default), fp64".
func modelLines(srv *serve.Server, models []reference.Model) []string {
	var ids []string
	versions := map[string][]string{}
	for _, m := range models {
		if _, seen := versions[m.ID()]; !seen {
			ids = append(ids, m.ID())
		}
		versions[m.ID()] = append(versions[m.ID()], m.Version())
	}
	lines := make([]string, len(ids))
	for i, id := range ids {
		def, _ := srv.DefaultVersionOf(id)
		vs := make([]string, len(versions[id]))
		for j, v := range versions[id] {
			vs[j] = v
			if v == def {
				vs[j] += " (default)"
			}
		}
		lines[i] = fmt.Sprintf("%s: versions %s", id, strings.Join(vs, ", "))
	}
	return lines
}
