package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
)

func init() { registerCommand(newServeCmd) }

// serveOptions are the options of `aiconform serve`.
type serveOptions struct {
	Addr string
	// GRPCAddr is the address of the gRPC binding's listener
	// (--grpc-addr); "" for none.
	GRPCAddr       string
	MaxBodyBytes   int64
	RequestTimeout time.Duration
	MaxConcurrent  int
	AuthTokenEnv   string // name of the environment variable holding the bearer token; "" for no auth
	// TLSCert and TLSKey are the PEM files of the certificate and key
	// to serve https with (--tls-cert, --tls-key): both or neither.
	TLSCert, TLSKey string

	// Faults are the fault profiles to misbehave as (--fault, repeatable);
	// ListFaults prints them and exits (--list-faults).
	Faults     []string
	ListFaults bool

	// BatchMax and BatchDelay configure dynamic batching (--batch-max,
	// --batch-delay); either 0 turns it off.
	BatchMax   int
	BatchDelay time.Duration

	// DebugAddr is the address of the debug listener (--debug-addr:
	// pprof and expvar, see serve.DebugHandler); "" for none.
	DebugAddr string
	// Grace is how long a shutdown waits for the requests in flight
	// (--grace).
	Grace time.Duration
	// MemoryLimit is the Go runtime's soft memory limit (--memory-limit,
	// as GOMEMLIMIT writes it); "" for the default or GOMEMLIMIT.
	MemoryLimit string

	// LookupEnv reads the environment; nil uses os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

func newServeCmd(s Streams) *cobra.Command {
	o := serveOptions{
		Addr:           "127.0.0.1:8000",
		MaxBodyBytes:   serve.DefaultMaxBodyBytes,
		RequestTimeout: serve.DefaultRequestTimeout,
		MaxConcurrent:  serve.DefaultMaxConcurrent(),
		BatchMax:       serve.DefaultMaxBatch,
		BatchDelay:     serve.DefaultMaxDelay,
		Grace:          serve.ShutdownTimeout,
	}
	cmd := &cobra.Command{
		Use:   "serve [--addr HOST:PORT] [--grpc-addr HOST:PORT] [flags]",
		Short: "Serve the reference models over the Open Inference Protocol v2 (REST, and gRPC with --grpc-addr)",
		Long: "serve runs the reference server: every built-in reference model at every version behind the\n" +
			"Open Inference Protocol v2 REST API (health, server and model metadata, model ready, infer with\n" +
			"JSON tensors flat or nested, and the binary_tensor_data extension). A request that names no model\n" +
			"version gets fp32. Every input is validated (name, datatype, shape, element count, finite values)\n" +
			"and rejected with 400 naming the input. An inference that finds --max-concurrent others running\n" +
			"gets 503 with Retry-After; one whose model does not answer within --request-timeout gets 503.\n" +
			"With --auth-token-env VAR every request needs \"Authorization: Bearer <token>\" with the token read\n" +
			"from $VAR (401 otherwise), except GET /v2/health/live and /v2/health/ready, which stay open for\n" +
			"orchestrator probes. With --tls-cert F --tls-key F it serves https (TLS 1.2 or later) with that\n" +
			"certificate chain and key. It prints the address it listens on, logs one line per request to stderr\n" +
			"(never a header or a token).\n" +
			"On SIGINT or SIGTERM it shuts down gracefully: it stops accepting connections at once, lets the\n" +
			"requests in flight finish for up to --grace, then cuts off any still running.\n" +
			"Exit 0 after a shutdown in which every request finished, 1 when requests were cut off, 2 when the\n" +
			"address cannot be bound, a flag is wrong, the token variable is unset or empty, or a TLS file\n" +
			"cannot be read.\n" +
			"Memory: each model version keeps at most " + fmt.Sprint(reference.MaxIdlePrograms) + " compiled programs idle for reuse (at most " + formatBytes(reference.IdleProgramBytes) + "\n" +
			"of them) and has at most GOMAXPROCS programs (at least 2) at once, further inferences waiting for\n" +
			"one; a forward pass drops the values it computed when it ends. A dynamic batcher holds at most\n" +
			"--max-concurrent requests, and a request body at most --max-body-bytes. The Go\n" +
			"runtime runs under a soft memory limit (--memory-limit), near which it collects more often and\n" +
			"gives freed memory back to the system. --debug-addr serves pprof and expvar on a listener of\n" +
			"its own, for operators; never expose it.\n" +
			"Concurrent inferences of compatible inputs to the same model version are batched dynamically:\n" +
			"merged into one forward pass of at most --batch-max rows, a request waiting at most --batch-delay\n" +
			"for others (0 for either turns batching off); each gets its own rows of the outputs back.\n" +
			"With --fault NAME (repeatable) the server deliberately breaks one requirement of the spec per\n" +
			"fault, for testing the suite and to show what a failure looks like; --list-faults lists them.\n" +
			"With --grpc-addr HOST:PORT it also serves the protocol's gRPC binding (inference.GRPCInferenceService)\n" +
			"there, beside REST, with the same models, token (in the \"authorization\" metadata; ServerLive and\n" +
			"ServerReady stay open), limits (a message up to --max-body-bytes, RESOURCE_EXHAUSTED beyond), batching,\n" +
			"faults and TLS certificate; errors are gRPC status codes (INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED,\n" +
			"UNAVAILABLE, ...). It prints \"listening on grpc://ADDR\" (grpcs:// with TLS) before the REST address, and\n" +
			"both stop together.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), o, s) },
	}
	f := cmd.Flags()
	f.StringVar(&o.Addr, "addr", o.Addr, "TCP address to listen on (port 0 picks a free port)")
	f.StringVar(&o.GRPCAddr, "grpc-addr", "", "also serve the gRPC binding on this TCP `HOST:PORT` (port 0 picks a free port); off by default")
	f.Int64Var(&o.MaxBodyBytes, "max-body-bytes", o.MaxBodyBytes, "largest request body accepted; larger ones get 413")
	f.DurationVar(&o.RequestTimeout, "request-timeout", o.RequestTimeout, "longest an inference waits for its model before it gets 503")
	f.IntVar(&o.MaxConcurrent, "max-concurrent", o.MaxConcurrent, "most inferences running at once; one more gets 503 with Retry-After (default 4 × GOMAXPROCS)")
	f.StringVar(&o.AuthTokenEnv, "auth-token-env", "", "require a bearer token, read from this environment variable (health endpoints stay open)")
	f.StringVar(&o.TLSCert, "tls-cert", "", "serve https with the PEM certificate chain in `FILE` (needs --tls-key)")
	f.StringVar(&o.TLSKey, "tls-key", "", "the PEM private key of --tls-cert, in `FILE`")
	f.StringArrayVar(&o.Faults, "fault", nil, "misbehave as fault profile `NAME`, which breaks one requirement of the spec (repeatable; see --list-faults)")
	f.BoolVar(&o.ListFaults, "list-faults", false, "list the fault profiles with the requirement each breaks, and exit")
	f.IntVar(&o.BatchMax, "batch-max", o.BatchMax, "dynamic batching: most rows merged into one forward pass (0 turns batching off)")
	f.DurationVar(&o.BatchDelay, "batch-delay", o.BatchDelay, "dynamic batching: longest a request waits for others to share its forward pass (0 turns batching off)")
	f.StringVar(&o.DebugAddr, "debug-addr", "", "serve net/http/pprof (/debug/pprof/) and expvar (/debug/vars: memstats, goroutines) on a separate listener at `HOST:PORT`; off by default, never expose it")
	f.DurationVar(&o.Grace, "grace", o.Grace, "on SIGINT or SIGTERM, how long the requests in flight may run before they are cut off")
	f.StringVar(&o.MemoryLimit, "memory-limit", "", "soft memory limit of the Go runtime, as GOMEMLIMIT writes it (512MiB, 2GiB; units B, KiB, MiB, GiB, TiB), or off; near it the garbage collector runs more often and returns freed memory to the system (default "+formatBytes(defaultMemoryLimit)+", or $GOMEMLIMIT when that is set)")
	return cmd
}

// serverOptions checks the options and turns them into the options of
// serve.New.
func serverOptions(o serveOptions, s Streams) ([]serve.Option, error) {
	if o.Addr == "" {
		return nil, errors.New("serve: --addr must not be empty")
	}
	if o.MaxBodyBytes <= 0 {
		return nil, fmt.Errorf("serve: --max-body-bytes is %d, want > 0", o.MaxBodyBytes)
	}
	if o.RequestTimeout <= 0 {
		return nil, fmt.Errorf("serve: --request-timeout is %s, want > 0", o.RequestTimeout)
	}
	if o.MaxConcurrent <= 0 {
		return nil, fmt.Errorf("serve: --max-concurrent is %d, want > 0", o.MaxConcurrent)
	}
	opts := []serve.Option{
		serve.WithMaxBodyBytes(o.MaxBodyBytes),
		serve.WithRequestTimeout(o.RequestTimeout),
		serve.WithMaxConcurrent(o.MaxConcurrent),
		serve.WithLogger(slog.New(slog.NewTextHandler(s.Err, nil))),
		serve.WithServerVersion(version),
	}
	if o.AuthTokenEnv != "" {
		lookup := o.LookupEnv
		if lookup == nil {
			lookup = os.LookupEnv
		}
		token, ok := lookup(o.AuthTokenEnv)
		if !ok || token == "" {
			return nil, fmt.Errorf("serve: --auth-token-env: environment variable %s is unset or empty", o.AuthTokenEnv)
		}
		if err := serve.CheckAuthToken(token); err != nil {
			return nil, fmt.Errorf("serve: --auth-token-env: the value of %s is not a usable bearer token: %w", o.AuthTokenEnv, err)
		}
		opts = append(opts, serve.WithAuthToken(token))
	}
	faultOpts, err := faultOptions(o.Faults, o.AuthTokenEnv)
	if err != nil {
		return nil, err
	}
	if o.BatchMax < 0 || o.BatchDelay < 0 {
		return nil, fmt.Errorf("serve: --batch-max is %d and --batch-delay %s, want ≥ 0 (0 turns batching off)", o.BatchMax, o.BatchDelay)
	}
	if o.BatchMax > 0 && o.BatchDelay > 0 {
		opts = append(opts, serve.WithBatching(serve.BatchConfig{MaxBatch: o.BatchMax, MaxDelay: o.BatchDelay}))
	}
	return append(opts, faultOpts...), nil
}

// serverTLS returns the TLS settings of --tls-cert and --tls-key, with
// those of the faults that change them, or nil to serve plain HTTP.
func serverTLS(o serveOptions) (*tls.Config, error) {
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("serve: --tls-cert and --tls-key go together: give both or neither")
	}
	var base *tls.Config
	if o.TLSCert != "" {
		cert, err := serve.LoadKeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("serve: --tls-cert/--tls-key: %w", err)
		}
		base = serve.TLSConfig(cert)
	}
	return faultTLS(o.Faults, base)
}

func runServe(ctx context.Context, o serveOptions, s Streams) error {
	if o.ListFaults {
		return listFaults(s.Out)
	}
	opts, err := serverOptions(o, s)
	if err != nil {
		return usageError(err)
	}
	tlsCfg, err := serverTLS(o)
	if err != nil {
		return usageError(err)
	}
	if o.Grace <= 0 {
		return usageError(fmt.Errorf("serve: --grace is %s, want > 0", o.Grace))
	}
	lookup := o.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	env, _ := lookup("GOMEMLIMIT")
	memLimit, err := resolveMemoryLimit(o.MemoryLimit, env != "", debug.SetMemoryLimit(-1))
	if err != nil {
		return usageError(err)
	}
	if memLimit.set {
		// Restored on return, for callers that run serve in-process.
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(memLimit.bytes))
	}
	models, err := reference.Builtin()
	if err != nil {
		return exitCode(ExitFail, fmt.Errorf("serve: %w", err))
	}
	srv, err := serve.New(models, opts...)
	if err != nil {
		return exitCode(ExitFail, err)
	}
	// The gRPC listener is bound first, so that a bad --grpc-addr is a
	// usage error before anything is printed; it is served at once, and
	// both servers stop when ctx ends (or when either fails).
	sctx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	grpcURL := ""
	stopGRPC := func() error { return nil }
	if o.GRPCAddr != "" {
		var lc net.ListenConfig
		gln, err := lc.Listen(ctx, "tcp", o.GRPCAddr)
		if err != nil {
			return usageError(fmt.Errorf("serve: --grpc-addr: %w", &serve.ListenError{Addr: o.GRPCAddr, Err: err}))
		}
		var gopts []grpc.ServerOption
		grpcURL = "grpc://" + gln.Addr().String()
		if tlsCfg != nil {
			gopts = append(gopts, grpc.Creds(serve.GRPCCredentials(tlsCfg)))
			grpcURL = "grpcs://" + gln.Addr().String()
		}
		done := make(chan error, 1)
		go func() {
			err := serve.ServeGRPC(sctx, gln, srv.GRPCServer(gopts...), serve.WithShutdownGrace(o.Grace))
			if err != nil {
				stopAll()
			}
			done <- err
		}()
		stopGRPC = sync.OnceValue(func() error { stopAll(); return <-done })
		defer stopGRPC() //nolint:errcheck // an early return has its own error
	}
	ready := func(addr net.Addr) {
		for _, line := range modelLines(srv, models) {
			fmt.Fprintf(s.Out, "serving %s\n", line)
		}
		fmt.Fprintf(s.Out, "limits: request timeout %s, at most %d inferences at once, bodies up to %d bytes\n", o.RequestTimeout, o.MaxConcurrent, o.MaxBodyBytes)
		if o.BatchMax > 0 && o.BatchDelay > 0 {
			fmt.Fprintf(s.Out, "batching: up to %d rows per forward pass, waiting at most %s\n", o.BatchMax, o.BatchDelay)
		} else {
			fmt.Fprintln(s.Out, "batching: off")
		}
		fmt.Fprintf(s.Out, "memory: soft limit %s (%s); per model version at most %d idle compiled programs (%s) and %d at once\n",
			memLimit, memLimit.source, reference.MaxIdlePrograms, formatBytes(reference.IdleProgramBytes), reference.MaxLivePrograms())
		if o.AuthTokenEnv != "" {
			fmt.Fprintf(s.Out, "auth: bearer token from $%s required; /v2/health/live and /v2/health/ready stay open\n", o.AuthTokenEnv)
			if grpcURL != "" {
				fmt.Fprintln(s.Out, "auth over gRPC: the same token in the authorization metadata; ServerLive and ServerReady stay open")
			}
		}
		scheme := "http"
		if tlsCfg != nil {
			scheme = "https"
			fmt.Fprintf(s.Out, "tls: certificate %s, TLS 1.2 or later\n", o.TLSCert)
		}
		if len(o.Faults) > 0 {
			fmt.Fprintln(s.Out, faultBanner(o.Faults))
		}
		if grpcURL != "" {
			fmt.Fprintf(s.Out, "listening on %s (the gRPC binding, messages up to %d bytes)\n", grpcURL, o.MaxBodyBytes)
		}
		fmt.Fprintf(s.Out, "listening on %s://%s (stop with Ctrl-C; requests in flight get %s to finish)\n", scheme, addr, o.Grace)
	}
	if o.DebugAddr != "" {
		var lc net.ListenConfig
		dln, err := lc.Listen(ctx, "tcp", o.DebugAddr)
		if err != nil {
			return usageError(fmt.Errorf("serve: --debug-addr: %w", &serve.ListenError{Addr: o.DebugAddr, Err: err}))
		}
		dctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		// A profile being taken when serve stops is cut off after a
		// second rather than holding the exit.
		go func() { done <- serve.Serve(dctx, dln, serve.DebugHandler(), serve.WithShutdownGrace(time.Second)) }()
		defer func() { stop(); <-done }()
		fmt.Fprintf(s.Out, "debug: pprof and expvar on http://%s/debug/\n", dln.Addr())
	}
	err = serve.ListenAndServeTLS(sctx, o.Addr, srv.Handler(), tlsCfg, ready, serve.WithShutdownGrace(o.Grace))
	grpcErr := stopGRPC()
	var le *serve.ListenError
	switch {
	case errors.As(err, &le):
		return usageError(fmt.Errorf("serve: %w", err))
	case err != nil || grpcErr != nil:
		return exitCode(ExitFail, fmt.Errorf("serve: %w", errors.Join(err, grpcErr)))
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
