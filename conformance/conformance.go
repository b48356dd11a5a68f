// Package conformance is the aiconform engine: it runs a table of small
// checks against an endpoint that serves models over the Open Inference
// Protocol v2, over its REST binding or its gRPC binding, and returns a
// Report. Each check cites the
// requirement IDs of the spec it tests, and its outcome is data — status,
// a one-line message, the evidence — never a panic or a Go error.
//
// Run errors only when a run cannot happen at all: an invalid profile or
// options (errors.Is(err, ErrConfig)), a target that cannot be connected
// to (errors.Is(err, ErrUnreachable)), or a caller's context ended before
// the run began. A run whose context ends while it goes on returns within
// about InterruptGrace with a report whose Interrupted says so and whose
// checks not run are skipped, saying so. A misbehaving target — one that hangs, answers
// garbage or streams an endless body — fails checks: every request is
// bounded by a timeout and every body by a limit. A target that stops
// answering (DefaultMaxStrikes requests in a row without a response) is
// given up on: the check it broke and every later one end with status
// error, and the run ends with its report. Options.Deadline caps a whole
// run the same way.
//
// The engine never imports the reference models; an Oracle hands it
// expected outputs where a check needs them computed during the run.
package conformance

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/schemas"
	"github.com/aiconform/aiconform/spec"
)

// ErrConfig is matched (errors.Is) by every error about a run's
// configuration: the profile, the options, the goldens.
var ErrConfig = errors.New("invalid configuration")

// ErrUnreachable is matched (errors.Is) by the error of a run whose
// target could not be connected to at all.
var ErrUnreachable = errors.New("target unreachable")

// ToolName is the name reports give the tool.
const ToolName = "aiconform"

// Oracle computes the reference outputs of a reference model (by its id
// and reference version) for inputs chosen during a run. The CLI
// implements it over the reference models; NUM-LIVE compares the target
// with it. Without one, NUM-LIVE is skipped as not checked, and no claim
// of the core level can be made.
type Oracle interface {
	Predict(ctx context.Context, model, version string, inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error)
}

// Options configure a run. Only Target is required; the zero values of the
// others select the defaults documented on each field.
type Options struct {
	// Target is the base URL of the endpoint: http or https for the
	// protocol's REST binding (e.g. http://127.0.0.1:8000), grpc://HOST:PORT
	// or grpcs://HOST:PORT for its gRPC binding.
	Target string
	// Profile says what to check; nil selects BuiltinProfile.
	Profile *Profile
	// Goldens is the built-in golden set (manifest.json at its root), used
	// when the profile's goldens are "builtin".
	Goldens fs.FS
	// HTTPClient makes the requests of a REST target; nil uses a client
	// of its own (a gRPC target is always spoken to by one). Its
	// Timeout, if any, applies on top of RequestTimeout. The run uses a
	// copy that does not follow redirects (a 3xx is judged as the
	// target's answer, and the credential never reaches another host);
	// its transport's other limits are its own.
	HTTPClient *http.Client
	// RequestTimeout bounds each exchange, body included; zero uses the
	// profile's timeouts.request, or DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxBodyBytes caps each response body; zero uses DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Clock returns the current time; nil uses time.Now. Report times
	// and every measured duration come from it. It must be safe for
	// concurrent use: some checks send requests at once.
	Clock func() time.Time
	// Getenv looks up the environment variable that holds the token of the
	// profile's auth; nil uses os.Getenv.
	Getenv func(string) string
	// ToolVersion is the version reports give the tool.
	ToolVersion string
	// Oracle computes expected outputs during the run; see Oracle.
	Oracle Oracle
	// Seed seeds every input drawn during the run; nil draws one from a
	// cryptographic source. The report records it.
	Seed *uint64
	// Deadline caps the whole run; zero means no cap. When it passes, the
	// running check and every later one end with status error and the
	// report is returned.
	Deadline time.Duration
	// MaxStrikes is how many requests in a row may go unanswered before
	// the run gives up on the target; zero uses DefaultMaxStrikes.
	MaxStrikes int
	// RootCAs verify the certificate of an https or grpcs target; nil
	// uses the system's trusted roots. The TLS handshakes of SEC-TLS use them, and
	// so does the client of the run unless HTTPClient is given (which
	// then verifies as it is configured to).
	RootCAs *x509.CertPool
	// Progress, when not nil, is told when each check starts and when it
	// finishes; see ProgressEvent. It is called on the goroutine that
	// called Run, one event after another, and the run waits for it.
	Progress func(ProgressEvent)
}

// ProgressEvent tells Options.Progress where a run is: a check starting
// (Result is nil) or finished (Result holds its result).
type ProgressEvent struct {
	// Index is the check's place among the checks of the run, from 1.
	Index int
	// Total is how many checks the run makes.
	Total int
	// ID names the check, e.g. "api/health-live".
	ID string
	// Result is the finished check's result, nil when the check starts.
	// The report can still change it: a run that gives up on its target
	// turns the failures that led up to it into errors.
	Result *Result
}

// Run checks the target against the profile and returns the report; see
// the package documentation for when it errs instead.
func Run(ctx context.Context, opts Options) (*Report, error) {
	now := opts.Clock
	if now == nil {
		now = time.Now
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	p := opts.Profile
	if p == nil {
		var err error
		if p, err = BuiltinProfile(); err != nil {
			return nil, fmt.Errorf("conformance: the built-in profile: %w", err)
		}
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := checkLevels(p, checks); err != nil {
		return nil, err
	}
	base, err := parseTarget(opts.Target)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	token, err := authToken(p, getenv)
	if err != nil {
		return nil, err
	}
	models, goldens, err := loadModels(p, opts.Goldens)
	if err != nil {
		return nil, err
	}
	card, err := loadModelCard(p)
	if err != nil {
		return nil, err
	}
	for _, m := range models {
		m.budgets, m.budgetSource = p.budgetsOf(card, m.ref)
	}
	if opts.Deadline < 0 {
		return nil, fmt.Errorf("%w: the run's deadline is %v, want a positive duration (or none)", ErrConfig, opts.Deadline)
	}
	c := &client{base: base, timeout: opts.RequestTimeout, maxBody: opts.MaxBodyBytes, token: token, now: now, maxStrikes: opts.MaxStrikes,
		secrets: &secretWatch{}}
	c.secrets.add("the profile's credential", token)
	if c.timeout <= 0 {
		c.timeout = p.requestTimeout()
	}
	if c.timeout <= 0 {
		c.timeout = DefaultRequestTimeout
	}
	c.hc = httpClient(opts.HTTPClient, opts.RootCAs, c.timeout)
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if c.maxStrikes <= 0 {
		c.maxStrikes = DefaultMaxStrikes
	}
	seed, err := runSeed(opts.Seed)
	if err != nil {
		return nil, fmt.Errorf("conformance: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("conformance: run interrupted: %w", err)
	}
	start := now()
	runCtx := ctx
	if opts.Deadline > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, opts.Deadline)
		defer cancel()
	}
	rep := &Report{
		Kind:            ReportKind,
		SpecVersion:     spec.Version,
		Tool:            Tool{Name: ToolName, Version: opts.ToolVersion},
		Target:          base,
		Profile:         ProfileRef{Name: p.Name, Source: p.Source(), SHA256: p.Digest()},
		Goldens:         goldens,
		RequestedLevels: slices.Clone(p.Levels),
		StartTime:       start.UTC(),
		Seed:            strconv.FormatUint(seed, 10),
	}
	if card != nil {
		rep.ModelCard = &DocumentRef{Source: card.source, SHA256: card.digest}
	}
	if opts.Deadline > 0 {
		d := Millis(opts.Deadline)
		rep.Deadline = &d
	}
	if rep.Tool.Version == "" {
		rep.Tool.Version = "unknown"
	}
	var selected []check
	for _, ch := range checks {
		if slices.Contains(p.Levels, ch.Level) {
			selected = append(selected, ch)
		}
	}
	// finish completes the report; an interrupted run records every check
	// it did not run.
	midCheck := false
	finish := func() (*Report, error) {
		if ctx.Err() != nil {
			interrupt(rep, selected, context.Cause(ctx), midCheck)
		}
		rep.EndTime = now().UTC()
		rep.Duration = Millis(rep.EndTime.Sub(rep.StartTime))
		rep.Derive()
		return rep, nil
	}
	b, err := newBinding(c, base, opts.RootCAs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	defer b.close()
	rep.Binding = b.kind()
	tlsTarget, err := newTLSTarget(base, opts.RootCAs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var untrusted error
	if tlsTarget != nil {
		hs := tlsTarget.handshake(runCtx, c.timeout, false)
		switch {
		case ctx.Err() != nil:
			return finish()
		case hs.dialErr != nil:
			return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, base, hs.dialErr)
		case hs.err != nil:
			untrusted = fmt.Errorf("not sent: the TLS handshake with the target failed (%v), and the suite sends nothing, credentials included, over a connection it cannot trust", hs.err)
			c.refuse = untrusted
		}
	}
	if probe := b.live(runCtx); untrusted == nil && probe.err != nil {
		if ctx.Err() != nil {
			return finish()
		}
		if isDialError(probe.err) {
			return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, base, probe.err)
		}
	}
	nonce, err := newNonce()
	if err != nil {
		return nil, fmt.Errorf("conformance: %w", err)
	}
	e := &env{b: b, c: c, target: base, models: models, nonce: nonce, oracle: opts.Oracle, seed: seed, results: map[string]Result{}, tls: tlsTarget,
		rootCAs: opts.RootCAs, latency: p.Latency, modelCard: p.ModelCard, runLoad: runLoad}

	progress := opts.Progress
	if progress == nil {
		progress = func(ProgressEvent) {}
	}
	for _, ch := range selected {
		if ctx.Err() != nil {
			break
		}
		ev := ProgressEvent{Index: len(rep.Checks) + 1, Total: len(selected), ID: ch.ID}
		progress(ev)
		c.setStep(len(rep.Checks))
		notOver, unbound := notApplicableOver(ch.Requirements, rep.Binding)
		switch why, declared := p.declaredNotApplicable(ch.Requirements); {
		case unbound:
			// Not applicable over the run's binding, whatever the target.
			ch.Run = func(context.Context, *env) Result { return Result{Status: spec.Skip, Message: notOver} }
		case untrusted != nil && ch.ID != tlsCheckID:
			ch.Run = func(context.Context, *env) Result { return errorResult(untrusted.Error()) }
		case declared:
			ch.Run = func(context.Context, *env) Result { return Result{Status: spec.Skip, Message: why} }
		}
		res, ok := runInterruptible(ctx, runCtx, ch, e, opts.Deadline)
		if !ok {
			// Interrupted while it ran: finish records it as not run.
			midCheck = true
			break
		}
		e.mu.Lock()
		e.results[ch.ID] = res
		e.mu.Unlock()
		rep.Checks = append(rep.Checks, res)
		done := res
		ev.Result = &done
		progress(ev)
	}
	switch {
	case ctx.Err() != nil:
	case untrusted != nil:
		rep.Stopped = fmt.Sprintf("the run sent nothing to the target: %v", untrusted)
	case c.hasStopped():
		rep.Stopped = fmt.Sprintf("the target stopped answering: %d requests in a row got no response within %v", c.maxStrikes, c.timeout)
		// The checks that failed on the unanswered requests that led up
		// to it broke on a target that had stopped: undecided, not failed.
		for i := max(c.stoppedSince(), 0); i < len(rep.Checks); i++ {
			if r := &rep.Checks[i]; r.Status == spec.Fail {
				r.Status = spec.Error
				r.Message = fmt.Sprintf("target stopped answering: %d requests in a row got no response within %v; %s", c.maxStrikes, c.timeout, r.Message)
			}
		}
	case runCtx.Err() != nil:
		rep.Stopped = fmt.Sprintf("the run's deadline of %v passed", opts.Deadline)
	}
	return finish()
}

// notApplicableOver returns the skip message of a check whose every
// requirement is not applicable over binding b (spec/v1/README.md,
// "Requirements and IDs"), and whether they all are not.
func notApplicableOver(reqs []string, b spec.Binding) (string, bool) {
	var whys []string
	for _, id := range reqs {
		req, ok := spec.Lookup(id)
		if !ok {
			return "", false
		}
		why, na := req.NotApplicableOver(b)
		if !na {
			return "", false
		}
		whys = append(whys, fmt.Sprintf("%s has no meaning over %s: %s", id, b.Name(), why))
	}
	if len(whys) == 0 {
		return "", false
	}
	return spec.NotApplicablePrefix + strings.Join(whys, "; "), true
}

// InterruptGrace is how long an interrupted run waits for the check that
// was running to return before it leaves it behind: every request of the
// check is cancelled at once, but a check may be computing.
const InterruptGrace = time.Second

// runInterruptible runs a check with runCheck and returns its result, or
// false when the caller's ctx ended while it ran: the run was
// interrupted, and the check's result, cut short, is not one. A check
// that does not return within InterruptGrace of the interruption is left
// to end on its own.
func runInterruptible(ctx, runCtx context.Context, ch check, e *env, deadline time.Duration) (Result, bool) {
	done := make(chan Result, 1)
	go func() { done <- runCheck(runCtx, ch, e, deadline) }()
	select {
	case res := <-done:
		return res, ctx.Err() == nil
	case <-ctx.Done():
	}
	select {
	case <-done:
	case <-time.After(InterruptGrace):
	}
	return Result{}, false
}

// interrupt records in rep that its run was interrupted by cause, while
// a check ran (midCheck) or between two: every selected check that has no
// result is added, skipped with a message that begins spec.NotRunPrefix.
// A run interrupted after its last check is complete and not marked.
func interrupt(rep *Report, selected []check, cause error, midCheck bool) {
	ran := len(rep.Checks)
	if ran == len(selected) {
		return
	}
	why := "the run was interrupted"
	if cause != nil && cause != context.Canceled {
		why = fmt.Sprintf("the run was interrupted (%v)", cause)
	}
	where := "before " + selected[ran].ID
	if midCheck {
		where = "during " + selected[ran].ID
	}
	rep.Interrupted = fmt.Sprintf("%s %s, after %d of %d checks", why, where, ran, len(selected))
	for i, ch := range selected[ran:] {
		msg := spec.NotRunPrefix + why + " before this check"
		if i == 0 && midCheck {
			msg = spec.NotRunPrefix + why + " while this check ran"
		}
		rep.Checks = append(rep.Checks, Result{ID: ch.ID, Requirements: slices.Clone(ch.Requirements), Level: ch.Level, Status: spec.Skip, Message: msg, Duration: Millis(0)})
	}
}

// runLoad runs the load plans of the performance checks; tests replace
// it to see what a measurement in doubt does.
var runLoad = load.Run

// runSeed returns the given seed, or one from a cryptographic source.
func runSeed(seed *uint64) (uint64, error) {
	if seed != nil {
		return *seed, nil
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("drawing the run's seed: %w", err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// runCheck runs one check, turning a panic into an error result. A check
// that ran while the target stopped answering, or while the run's
// deadline passed, ends with status error: its verdict is undecided, not
// failed. A check that starts after either does not send anything.
func runCheck(ctx context.Context, ch check, e *env, deadline time.Duration) (res Result) {
	start := e.c.now()
	stoppedBefore := e.c.hasStopped()
	defer func() {
		if v := recover(); v != nil {
			res = Result{Status: spec.Error, Message: fmt.Sprintf("the check itself failed: %v", v)}
		}
		if res.Status == spec.Fail || res.Status == spec.Pass || res.Status == spec.Skip {
			switch {
			case e.c.hasStopped():
				res.Status = spec.Error
				res.Message = fmt.Sprintf("target stopped answering: %d requests in a row got no response within %v; %s", e.c.maxStrikes, e.c.timeout, res.Message)
			case ctx.Err() != nil:
				res.Status = spec.Error
				res.Message = fmt.Sprintf("the run's deadline of %v passed; %s", deadline, res.Message)
			}
		}
		res.Message = oneLine(res.Message)
		if res.Message == "" {
			res.Message = fmt.Sprintf("%s: %s", res.Status, ch.Title)
		}
		res.ID = ch.ID
		res.Requirements = slices.Clone(ch.Requirements)
		res.Level = ch.Level
		res.Duration = Millis(e.c.now().Sub(start))
	}()
	switch {
	case stoppedBefore:
		return Result{Status: spec.Error, Message: fmt.Sprintf("target stopped answering (%d requests in a row got no response within %v); not run", e.c.maxStrikes, e.c.timeout)}
	case ctx.Err() != nil:
		return Result{Status: spec.Error, Message: fmt.Sprintf("the run's deadline of %v passed; not run", deadline)}
	}
	return ch.Run(ctx, e)
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// checkLevels refuses levels the table has no checks for: a verdict on
// them would claim what was never tested.
func checkLevels(p *Profile, table []check) error {
	var vs []schemas.Violation
	for i, l := range p.Levels {
		if !slices.ContainsFunc(table, func(c check) bool { return c.Level == l }) {
			vs = append(vs, schemas.Violation{
				Pointer: fmt.Sprintf("/levels/%d", i),
				Message: fmt.Sprintf("level %s has no checks in this build of aiconform; request only levels it can test", l),
			})
		}
	}
	if len(vs) > 0 {
		return &ProfileError{Source: p.Source(), Violations: vs}
	}
	return nil
}

// authToken reads the token the profile's auth names.
func authToken(p *Profile, getenv func(string) string) (string, error) {
	if p.Auth == nil || p.Auth.Scheme == AuthNone {
		return "", nil
	}
	tok := getenv(p.Auth.TokenEnv)
	if tok == "" {
		return "", &ProfileError{Source: p.Source(), Violations: []schemas.Violation{{
			Pointer: "/auth/tokenEnv",
			Message: fmt.Sprintf("environment variable %s is unset or empty; it must hold the %s token", p.Auth.TokenEnv, p.Auth.Scheme),
		}}}
	}
	return tok, nil
}

func newNonce() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
