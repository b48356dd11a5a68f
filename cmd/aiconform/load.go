package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/spec"
)

func init() { registerCommand(newLoadCmd) }

// Files a load run writes into --out, and `load merge` reads from each of
// its directories.
const (
	loadResultFile = "result.json"
	loadLogFile    = "latency.hlog"
)

// shardIndexEnv is the environment variable --shard auto/N reads the shard
// index from: the completion index a Kubernetes Indexed Job gives each pod.
const shardIndexEnv = "JOB_COMPLETION_INDEX"

// loadOptions are the options of `aiconform load`.
type loadOptions struct {
	Target string
	// Model, Version, Reference and ReferenceVersion name the served model
	// and the reference model whose samples it is sent.
	Model, Version, Reference, ReferenceVersion string

	// Rate and Arrival make an open-loop plan, Concurrency a closed-loop
	// one; the *Set fields say which flags were given.
	Rate                                float64
	Arrival                             string
	Concurrency                         int
	RateSet, ArrivalSet, ConcurrencySet bool
	// Duration, MinQueries and Warmup are the plan's; DurationSet says
	// --duration was given.
	Duration    time.Duration
	DurationSet bool
	MinQueries  int64
	Warmup      int
	// Seed seeds the plan; SeedSet says --seed was given (otherwise one
	// is drawn).
	Seed    uint64
	SeedSet bool
	// Samples is the batch size of each query.
	Samples int
	// Data is how the tensors travel: "json" (JSON data over REST, typed
	// contents over gRPC) or "binary" (binary tensor data over REST, raw
	// contents over gRPC).
	Data string
	// Timeout, MaxLateness and MaxConnections tune the generator.
	Timeout, MaxLateness time.Duration
	MaxConnections       int

	// TokenEnv names the environment variable holding a bearer token;
	// CAFile holds the PEM CA certificates of an https target.
	TokenEnv, CAFile string
	// Shard is "I/N" or "auto/N" (the index from $JOB_COMPLETION_INDEX).
	Shard string
	// StartAt is the RFC 3339 time to start at (--start-at), so that the
	// shards of a plan run over the same interval; empty starts at once.
	StartAt string

	// OutDir receives result.json and latency.hlog; JSONFile and
	// HdrLogFile name those files one by one.
	OutDir, JSONFile, HdrLogFile string

	// LookupEnv reads the environment; nil uses os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// The values of --data.
const (
	loadDataJSON   = "json"
	loadDataBinary = "binary"
)

// loadMergeOptions are the options of `aiconform load merge`.
type loadMergeOptions struct {
	Dirs                         []string
	OutDir, JSONFile, HdrLogFile string
}

// newLoadOptions returns the options of `aiconform load` before its
// flags are parsed: the defaults.
func newLoadOptions() loadOptions {
	return loadOptions{Arrival: string(load.Poisson), Samples: 1, Data: loadDataJSON}
}

func newLoadCmd(s Streams) *cobra.Command {
	o := newLoadOptions()
	cmd := &cobra.Command{
		Use:   "load --target URL --model M (--rate R [--arrival poisson|constant] | --concurrency C) --duration D [--data json|binary] [flags]",
		Short: "Send inference load to an Open Inference Protocol v2 endpoint and report its latencies",
		Long: "load sends inference queries for one served model and reports what it measured, like vegeta's attack\n" +
			"and report in one. Each query carries --samples samples drawn from the reference model's input domain\n" +
			"with --seed, no two queries the same.\n" +
			"\n" +
			"Bindings: an http:// or https:// --target is the base URL of the REST binding, where a query is one POST\n" +
			"to /v2/models/{m}/infer; a grpc://HOST:PORT or grpcs://HOST:PORT --target is the gRPC binding, where a\n" +
			"query is one ModelInfer call (over a few HTTP/2 connections: one per processor, at most --max-connections).\n" +
			"--data json sends JSON data over REST and typed contents (fp32_contents, ...) over gRPC; --data binary sends\n" +
			"the binary tensor data extension over REST, asking for binary outputs, and raw_input_contents over gRPC.\n" +
			"Requests are encoded ahead of their send time, and responses are checked for the model's outputs (datatype,\n" +
			"shape, element count) without decoding their values. Over gRPC, a status the server sends counts as the\n" +
			"REST status it means (UNAVAILABLE as 503, INVALID_ARGUMENT as 400, ...) and DEADLINE_EXCEEDED as a timeout.\n" +
			"\n" +
			"Open loop (--rate R): queries arrive at R per second, as a Poisson process (the default) or at constant\n" +
			"intervals (--arrival constant), whether or not earlier ones have been answered; each query's latency\n" +
			"runs from its scheduled send time, so a slow server cannot hide its queueing delay (no coordinated\n" +
			"omission). Closed loop (--concurrency C): C queries are outstanding at a time, each sent when the\n" +
			"previous one of its lane completed. The timed phase lasts at least --duration and at least\n" +
			"--min-queries queries, after --warmup untimed queries sent one after another.\n" +
			"\n" +
			"The summary gives the latencies from the scheduled send time and, beside them, from the actual send\n" +
			"(uncorrected), with min and mean over the successful queries; a percentile that falls on a failed\n" +
			"query is +Inf. Send lateness is how late the generator sent against its schedule: when its 99th\n" +
			"percentile passes --max-lateness, or the generator ran short of file descriptors or ports, the\n" +
			"measurement itself is in doubt and the summary says why.\n" +
			"\n" +
			"Sharding: --shard I/N runs the I-th (from 0) of N independent Poisson streams at R/N per second, each\n" +
			"with a seed derived from --seed (which every shard must be given); their sum is a Poisson stream at R.\n" +
			"--shard auto/N takes I from $" + shardIndexEnv + ", which a Kubernetes Indexed Job sets in each\n" +
			"pod. Run each shard with --out DIR and combine them with `aiconform load merge DIR...`; give the shards\n" +
			"one --start-at, so that their streams run over the same interval.\n" +
			"\n" +
			"--out DIR writes DIR/" + loadResultFile + " (the lossless result: plan, counts and histograms) and\n" +
			"DIR/" + loadLogFile + " (the HdrHistogram log of the latencies); --json and --hdr-log write either file alone.\n" +
			"Ctrl-C ends the run early and prints the summary of what was measured so far.\n" +
			"Exit 0 measured, 1 the measurement is in doubt or was interrupted, 2 usage or configuration error,\n" +
			"3 the target could not be reached at all (no query succeeded, every failure a transport error).\n" +
			"Failed queries are part of the measurement, not an error of the command.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.noteChanged(cmd.Flags())
			return runLoad(cmd.Context(), o, s)
		},
	}
	bindLoadFlags(cmd.Flags(), &o)
	cmd.AddCommand(newLoadMergeCmd(s))
	return cmd
}

// bindLoadFlags defines the flags of `aiconform load` on f, bound to o.
func bindLoadFlags(f *pflag.FlagSet, o *loadOptions) {
	f.StringVar(&o.Target, "target", "", "the endpoint: the base `URL` of its REST binding, e.g. http://127.0.0.1:8000, or grpc://HOST:PORT (grpcs:// with TLS) for its gRPC binding (required)")
	f.StringVar(&o.Model, "model", "", "served model name, the {m} of /v2/models/{m}/infer or the model_name of ModelInfer (required)")
	f.StringVar(&o.Version, "version", "", "served model version (default: the target's default version)")
	f.StringVar(&o.Reference, "reference", "", "reference model whose samples are sent: "+strings.Join(spec.ReferenceModels(), ", ")+" (default: --model, when it is one)")
	f.StringVar(&o.ReferenceVersion, "reference-version", "", "reference version: "+strings.Join(spec.ReferenceVersions(), ", ")+" (default: --version when it is one, else "+spec.ReferenceVersions()[0]+")")
	f.Float64Var(&o.Rate, "rate", 0, "open loop: queries per second")
	f.StringVar(&o.Arrival, "arrival", o.Arrival, "open loop: arrival process, poisson or constant")
	f.IntVar(&o.Concurrency, "concurrency", 0, "closed loop: queries outstanding at a time")
	f.DurationVar(&o.Duration, "duration", 0, "minimum length of the timed phase, e.g. 60s (required)")
	f.Uint64Var(&o.Seed, "seed", 0, "64-bit seed of the arrival times and samples, decimal or 0x hex (default: drawn from a cryptographic source and printed)")
	f.IntVar(&o.Warmup, "warmup", 0, "untimed queries sent one after another before the timed phase")
	f.Int64Var(&o.MinQueries, "min-queries", 0, "minimum number of timed queries; the timed phase ends when this and --duration are both met")
	f.IntVar(&o.Samples, "samples", o.Samples, "samples per query (the batch size)")
	f.StringVar(&o.Data, "data", o.Data, "how the tensors travel: json (JSON data over REST, typed contents over gRPC) or binary (binary tensor data over REST, raw contents over gRPC)")
	f.DurationVar(&o.Timeout, "timeout", load.DefaultTimeout, "limit of each query; a query that passes it fails as a timeout")
	f.DurationVar(&o.MaxLateness, "max-lateness", load.DefaultMaxLateness, "bound on the 99th percentile of send lateness beyond which the measurement is in doubt")
	f.IntVar(&o.MaxConnections, "max-connections", 0, "most queries outstanding (and connections open) at once (default: derived from the file-descriptor limit, at most "+strconv.Itoa(load.DefaultMaxConnections)+")")
	f.StringVar(&o.TokenEnv, "token-env", "", "send a bearer token read from the environment variable `VAR`")
	f.StringVar(&o.CAFile, "ca-file", "", "PEM CA certificates in `FILE` that verify an https or grpcs target (default: the system's trusted roots)")
	f.StringVar(&o.StartAt, "start-at", "", "start at this RFC 3339 `TIME`, e.g. 2026-12-02T08:00:00Z: give every shard of a plan the same (a time already passed is an error)")
	f.StringVar(&o.Shard, "shard", "", "run shard I of N of a Poisson plan, as `I/N` with I from 0, or auto/N to read I from $"+shardIndexEnv)
	f.StringVar(&o.OutDir, "out", "", "write "+loadResultFile+" and "+loadLogFile+" into directory `DIR` (a shard's directory for load merge)")
	f.StringVar(&o.JSONFile, "json", "", "write the result JSON to `FILE`")
	f.StringVar(&o.HdrLogFile, "hdr-log", "", "write the HdrHistogram log of the latencies to `FILE`")
}

// noteChanged records which flags were given, where their defaults do not
// tell.
func (o *loadOptions) noteChanged(f *pflag.FlagSet) {
	o.RateSet, o.ArrivalSet, o.ConcurrencySet = f.Changed("rate"), f.Changed("arrival"), f.Changed("concurrency")
	o.SeedSet, o.DurationSet = f.Changed("seed"), f.Changed("duration")
}

func newLoadMergeCmd(s Streams) *cobra.Command {
	var o loadMergeOptions
	cmd := &cobra.Command{
		Use:   "merge DIR... [--out DIR] [--json FILE] [--hdr-log FILE]",
		Short: "Merge the results of the shards of one load plan",
		Long: "merge reads DIR/" + loadResultFile + " of each shard (the --out of `aiconform load --shard I/N`), checks that\n" +
			"they are the N shards of one plan, each once, merges their counts and histograms exactly and prints the\n" +
			"same summary as load. --out, --json and --hdr-log write the merged result as load writes its own.\n" +
			"Exit 0 merged, 1 the merged measurement is in doubt or a shard was interrupted, 2 a directory is\n" +
			"unreadable, a result invalid, the shards disagree on the plan, or a shard is missing or given twice.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(errors.New("load merge: give the directories of the shards, e.g. aiconform load merge shard-0 shard-1"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dirs = args
			return runLoadMerge(o, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.OutDir, "out", "", "write the merged "+loadResultFile+" and "+loadLogFile+" into directory `DIR`")
	f.StringVar(&o.JSONFile, "json", "", "write the merged result JSON to `FILE`")
	f.StringVar(&o.HdrLogFile, "hdr-log", "", "write the HdrHistogram log of the merged latencies to `FILE`")
	return cmd
}

// loadRun is a load run the options describe, checked and ready to send.
type loadRun struct {
	startAt  time.Time // zero: at once
	plan     load.Plan
	inf      conformance.InferenceLoad
	opts     load.Options
	seedNote string // how the seed was chosen, for the banner
}

// prepareLoad checks the options and turns them into a plan, the
// description of the inference target and the generator's options.
func prepareLoad(o loadOptions) (*loadRun, error) {
	lookup := o.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if err := checkTargetURL(o.Target); err != nil {
		return nil, err
	}
	ref, err := loadModelRef(o)
	if err != nil {
		return nil, err
	}
	run := &loadRun{}
	if run.plan, run.seedNote, err = loadPlan(o, lookup); err != nil {
		return nil, err
	}
	switch {
	case o.Samples < 1:
		return nil, fmt.Errorf("load: --samples is %d, want at least 1 sample per query", o.Samples)
	case o.Timeout <= 0:
		return nil, fmt.Errorf("load: --timeout is %v, want a positive duration such as 10s", o.Timeout)
	case o.MaxLateness <= 0:
		return nil, fmt.Errorf("load: --max-lateness is %v, want a positive duration such as 1ms", o.MaxLateness)
	case o.MaxConnections < 0:
		return nil, fmt.Errorf("load: --max-connections is %d, want a positive bound (or 0 for the default)", o.MaxConnections)
	case o.Data != loadDataJSON && o.Data != loadDataBinary:
		return nil, fmt.Errorf("load: --data %q: want %s or %s", o.Data, loadDataJSON, loadDataBinary)
	}
	var token string
	if o.TokenEnv != "" {
		v, ok := lookup(o.TokenEnv)
		if !ok || v == "" {
			return nil, fmt.Errorf("load: --token-env: environment variable %s is unset or empty", o.TokenEnv)
		}
		token = v
	}
	roots, err := loadCAFile(o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if o.StartAt != "" {
		if run.startAt, err = time.Parse(time.RFC3339Nano, o.StartAt); err != nil {
			return nil, fmt.Errorf("load: --start-at %q: want an RFC 3339 time such as 2026-12-02T08:00:00Z", o.StartAt)
		}
	}
	run.inf = conformance.InferenceLoad{
		Target: o.Target,
		Model:  ref,
		// Each shard draws its samples from its own stream, so that no
		// two shards send the same sample.
		Seed:           run.plan.StreamSeed(),
		Samples:        o.Samples,
		BinaryData:     o.Data == loadDataBinary,
		Token:          token,
		RootCAs:        roots,
		Timeout:        o.Timeout,
		MaxConnections: o.MaxConnections,
	}
	run.opts = load.Options{Timeout: o.Timeout, MaxConnections: o.MaxConnections, MaxLateness: o.MaxLateness}
	return run, nil
}

// checkTargetURL checks that --target is an absolute http, https, grpc or
// grpcs URL.
func checkTargetURL(target string) error {
	if target == "" {
		return errors.New("load: --target is required: the base URL of the endpoint, e.g. http://127.0.0.1:8000, or grpc://HOST:PORT")
	}
	u, err := url.Parse(target)
	if err != nil || !slices.Contains([]string{"http", "https", "grpc", "grpcs"}, u.Scheme) || u.Host == "" {
		return fmt.Errorf("load: --target %q: want an absolute http or https URL, e.g. http://127.0.0.1:8000, or grpc://HOST:PORT or grpcs://HOST:PORT", target)
	}
	return nil
}

// isGRPCTarget reports whether --target names the gRPC binding.
func isGRPCTarget(target string) bool {
	return strings.HasPrefix(target, "grpc://") || strings.HasPrefix(target, "grpcs://")
}

// describeWire says how a load's queries travel, for the banner.
func describeWire(o loadOptions) string {
	switch {
	case isGRPCTarget(o.Target) && o.Data == loadDataBinary:
		return "gRPC, raw contents"
	case isGRPCTarget(o.Target):
		return "gRPC, typed contents"
	case o.Data == loadDataBinary:
		return "REST, binary data"
	}
	return "REST, JSON data"
}

// loadModelRef maps --model and --version to the reference model whose
// samples are sent.
func loadModelRef(o loadOptions) (conformance.ModelRef, error) {
	refs, versions := spec.ReferenceModels(), spec.ReferenceVersions()
	ref := conformance.ModelRef{Name: o.Model, Version: o.Version, Reference: o.Reference, ReferenceVersion: o.ReferenceVersion}
	if o.Model == "" {
		return ref, errors.New("load: --model is required: the served model name, e.g. seed-cnn")
	}
	switch {
	case ref.Reference == "" && slices.Contains(refs, o.Model):
		ref.Reference = o.Model
	case ref.Reference == "":
		return ref, fmt.Errorf("load: --reference is required: the served model %q is not a reference model id, so name the one it stands for (%s)", o.Model, strings.Join(refs, ", "))
	case !slices.Contains(refs, ref.Reference):
		return ref, fmt.Errorf("load: --reference %q is not a reference model; want one of %s", ref.Reference, strings.Join(refs, ", "))
	}
	switch {
	case ref.ReferenceVersion == "" && slices.Contains(versions, o.Version):
		ref.ReferenceVersion = o.Version
	case ref.ReferenceVersion == "":
		ref.ReferenceVersion = versions[0]
	case !slices.Contains(versions, ref.ReferenceVersion):
		return ref, fmt.Errorf("load: --reference-version %q is not a reference version; want one of %s", ref.ReferenceVersion, strings.Join(versions, ", "))
	}
	return ref, nil
}

// loadPlan builds the plan of the options, the shard's when --shard is
// given, and says how its seed was chosen.
func loadPlan(o loadOptions, lookup func(string) (string, bool)) (load.Plan, string, error) {
	var p load.Plan
	switch {
	case o.RateSet && o.ConcurrencySet:
		return p, "", errors.New("load: give --rate (open loop) or --concurrency (closed loop), not both")
	case !o.RateSet && !o.ConcurrencySet:
		return p, "", errors.New("load: give --rate R (queries per second, open loop) or --concurrency C (queries outstanding, closed loop)")
	case o.ConcurrencySet && o.ArrivalSet:
		return p, "", errors.New("load: --arrival sets the arrival process of an open-loop --rate run; a --concurrency run has none")
	case o.RateSet && !(o.Rate > 0 && !math.IsInf(o.Rate, 1)):
		return p, "", fmt.Errorf("load: --rate is %v, want a positive, finite number of queries per second", o.Rate)
	case o.ConcurrencySet && o.Concurrency <= 0:
		return p, "", fmt.Errorf("load: --concurrency is %d, want at least 1 query outstanding", o.Concurrency)
	case !o.DurationSet:
		return p, "", errors.New("load: --duration is required: the minimum length of the timed phase, e.g. 60s")
	case o.Duration <= 0:
		return p, "", fmt.Errorf("load: --duration is %v, want a positive duration such as 60s", o.Duration)
	case o.Warmup < 0:
		return p, "", fmt.Errorf("load: --warmup is %d, want 0 or more untimed queries", o.Warmup)
	case o.MinQueries < 0:
		return p, "", fmt.Errorf("load: --min-queries is %d, want 0 or more timed queries", o.MinQueries)
	}
	if o.RateSet {
		p.Rate = o.Rate
		switch a := load.Arrival(o.Arrival); a {
		case load.Poisson, load.Constant:
			p.Arrival = a
		default:
			return p, "", fmt.Errorf("load: --arrival %q: want %s or %s", o.Arrival, load.Poisson, load.Constant)
		}
	} else {
		p.Concurrency = o.Concurrency
	}
	p.Duration, p.Warmup, p.MinQueries = o.Duration, o.Warmup, o.MinQueries
	note := "given"
	if o.SeedSet {
		p.Seed = o.Seed
	} else {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return p, "", fmt.Errorf("load: drawing a seed: %w", err)
		}
		p.Seed = binary.LittleEndian.Uint64(b[:])
		note = fmt.Sprintf("drawn; repeat the plan with --seed %d", p.Seed)
	}
	if err := p.Validate(); err != nil {
		return p, "", fmt.Errorf("load: the plan: %w", err)
	}
	if o.Shard == "" {
		return p, note, nil
	}
	index, count, err := parseShard(o.Shard, lookup)
	if err != nil {
		return p, "", err
	}
	switch {
	case p.Concurrency > 0:
		return p, "", fmt.Errorf("load: --shard %s: only a Poisson open-loop plan shards (independent Poisson streams add up to one at the summed rate); a --concurrency plan does not", o.Shard)
	case p.Arrival != load.Poisson:
		return p, "", fmt.Errorf("load: --shard %s: only a Poisson open-loop plan shards (independent Poisson streams add up to one at the summed rate); --arrival %s does not", o.Shard, p.Arrival)
	case !o.SeedSet:
		return p, "", fmt.Errorf("load: --shard %s needs --seed: the shards of one plan share its seed, and each derives its own stream from it", o.Shard)
	}
	if p, err = p.ForShard(index, count); err != nil {
		return p, "", fmt.Errorf("load: --shard %s: %w", o.Shard, err)
	}
	return p, note, nil
}

// parseShard reads --shard: "I/N" with 0 ≤ I < N, or "auto/N" with I
// from $JOB_COMPLETION_INDEX.
func parseShard(v string, lookup func(string) (string, bool)) (index, count int, err error) {
	is, ns, ok := strings.Cut(v, "/")
	if !ok {
		return 0, 0, fmt.Errorf("load: --shard %q: want I/N (shard I, from 0, of N) or auto/N", v)
	}
	count, err = strconv.Atoi(ns)
	if err != nil || count < 1 {
		return 0, 0, fmt.Errorf("load: --shard %q: the count %q is not a positive integer", v, ns)
	}
	from := ""
	if is == "auto" {
		s, ok := lookup(shardIndexEnv)
		if !ok || s == "" {
			return 0, 0, fmt.Errorf("load: --shard %s: $%s is unset (a Kubernetes Indexed Job sets it in each pod; elsewhere give the index, e.g. --shard 0/%d)", v, shardIndexEnv, count)
		}
		is, from = s, fmt.Sprintf(" ($%s)", shardIndexEnv)
	}
	index, err = strconv.Atoi(is)
	switch {
	case err != nil || index < 0:
		return 0, 0, fmt.Errorf("load: --shard %s: the index %q%s is not an integer ≥ 0", v, is, from)
	case index >= count:
		return 0, 0, fmt.Errorf("load: --shard %s: the index %d%s is not below the count; want 0 to %d", v, index, from, count-1)
	}
	return index, count, nil
}

func runLoad(ctx context.Context, o loadOptions, s Streams) error {
	run, err := prepareLoad(o)
	if err != nil {
		return usageError(err)
	}
	outs, err := openLoadOutputs("load", o.OutDir, o.JSONFile, o.HdrLogFile)
	if err != nil {
		return usageError(err)
	}
	defer outs.abort()
	tgt, err := conformance.NewInferenceTarget(run.inf)
	if err != nil {
		return usageError(fmt.Errorf("load: %w", err))
	}
	defer tgt.Close()
	fmt.Fprintf(s.Err, "load: %s at %s (%s): %s, seed %d (%s)\n", run.inf.Model.Label(), o.Target, describeWire(o), describePlan(run.plan), run.plan.Seed, run.seedNote)
	if run.plan.Shard.Count > 1 && o.OutDir == "" && o.JSONFile == "" {
		fmt.Fprintln(s.Err, "load: warning: a shard without --out or --json: its result is not kept for load merge")
	}
	if err := waitForStart(ctx, s, run.startAt); err != nil {
		return err
	}
	r, err := load.Run(ctx, run.plan, tgt, run.opts)
	if err != nil {
		return usageError(fmt.Errorf("load: %w", err))
	}
	var notes []string
	if n := tgt.LateBodies(); n > 0 {
		notes = append(notes, fmt.Sprintf("Late bodies: %d (request bodies encoded when their query was due, so inside its latency)", n))
	}
	if isGRPCTarget(o.Target) {
		notes = append(notes, "gRPC: status codes are the REST statuses the gRPC codes mean (OK 200, INVALID_ARGUMENT 400, UNAUTHENTICATED 401, NOT_FOUND 404, RESOURCE_EXHAUSTED 413, UNAVAILABLE 503, ...); DEADLINE_EXCEEDED counts as a timeout")
	}
	return finishLoad(s, "load", r, outs, notes, func() error {
		if unreachable(r) {
			return exitCode(ExitUnreachable, fmt.Errorf("load: no query reached %s: all %d failed with transport errors", o.Target, r.Failed))
		}
		return nil
	})
}

// waitForStart waits until --start-at. A time already passed is refused:
// a shard that starts late runs its stream over another interval than
// the others, and their sum is no longer the plan's stream.
func waitForStart(ctx context.Context, s Streams, at time.Time) error {
	if at.IsZero() {
		return nil
	}
	wait := time.Until(at)
	if wait < 0 {
		return usageError(fmt.Errorf("load: --start-at %s passed %v ago; give a time ahead, the same for every shard of the plan", at.Format(time.RFC3339Nano), (-wait).Round(time.Millisecond)))
	}
	fmt.Fprintf(s.Err, "load: waiting %v for --start-at %s\n", wait.Round(time.Millisecond), at.Format(time.RFC3339Nano))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return exitCode(ExitFail, errors.New("load: interrupted while waiting for --start-at; nothing was sent"))
	case <-t.C:
		return nil
	}
}

// unreachable says whether no timed query got through: none succeeded and
// every one failed with a transport error.
func unreachable(r *load.Result) bool {
	return r.Sent > 0 && r.Succeeded == 0 && r.Errors[load.KindTransport] == r.Failed
}

// finishLoad prints the summary of r and the notes after it, writes its
// outputs and decides the exit code: verdict first, then interrupted and
// in-doubt measurements exit 1.
func finishLoad(s Streams, cmdName string, r *load.Result, outs *loadOutputs, notes []string, verdict func() error) error {
	if err := writeLoadSummary(s.Out, r); err != nil {
		return exitCode(ExitFail, fmt.Errorf("%s: the summary: %w", cmdName, err))
	}
	for _, n := range notes {
		fmt.Fprintln(s.Out, n)
	}
	written, err := outs.write(r)
	if err != nil {
		return usageError(err)
	}
	for _, p := range written {
		fmt.Fprintf(s.Out, "wrote %s\n", p)
	}
	if err := verdict(); err != nil {
		return err
	}
	switch {
	case r.Interrupted:
		fmt.Fprintln(s.Out, "interrupted: the result is partial")
		return exitCode(ExitFail, nil)
	case r.Doubt != "":
		fmt.Fprintln(s.Out, "the measurement is in doubt (exit 1)")
		return exitCode(ExitFail, nil)
	}
	return nil
}

func runLoadMerge(o loadMergeOptions, s Streams) error {
	shards, err := readShards(o.Dirs)
	if err != nil {
		return usageError(err)
	}
	results := make([]*load.Result, len(shards))
	for i, sh := range shards {
		results[i] = sh.result
	}
	merged, err := load.Merge(results...)
	if err != nil {
		return usageError(fmt.Errorf("load merge: %w", err))
	}
	outs, err := openLoadOutputs("load merge", o.OutDir, o.JSONFile, o.HdrLogFile)
	if err != nil {
		return usageError(err)
	}
	defer outs.abort()
	return finishLoad(s, "load merge", merged, outs, nil, func() error { return nil })
}

// shardResult is the result of one shard and the file it was read from.
type shardResult struct {
	path   string
	result *load.Result
}

// readShards reads DIR/result.json of every directory and checks that
// they are shards of one plan, each given once, so that an error names
// the directories at fault (load.Merge names a missing shard).
func readShards(dirs []string) ([]shardResult, error) {
	shards := make([]shardResult, 0, len(dirs))
	for _, d := range dirs {
		p := filepath.Join(d, loadResultFile)
		r, err := readLoadResult(p)
		if err != nil {
			return nil, fmt.Errorf("load merge: %w", err)
		}
		shards = append(shards, shardResult{path: p, result: r})
	}
	first := shards[0]
	count := shardCount(first.result.Plan)
	seen := make(map[int]string, count)
	for _, sh := range shards {
		if err := load.SamePlan(first.result.Plan, sh.result.Plan); err != nil {
			return nil, fmt.Errorf("load merge: %s and %s are not shards of one plan: %w", sh.path, first.path, err)
		}
		i := sh.result.Plan.Shard.Index
		if prev, dup := seen[i]; dup {
			return nil, fmt.Errorf("load merge: %s and %s both hold shard %d of %d", prev, sh.path, i, count)
		}
		seen[i] = sh.path
	}
	return shards, nil
}

// shardCount is the number of shards of the plan: 1 for an unsharded one.
func shardCount(p load.Plan) int { return max(p.Shard.Count, 1) }

// readLoadResult reads and decodes a result file (decodeLoadResult); its
// errors begin with the file's path.
func readLoadResult(path string) (*load.Result, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist: each directory given is the --out of one shard, which holds its %s", path, loadResultFile)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := decodeLoadResult(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}
