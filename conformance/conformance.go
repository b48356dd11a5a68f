// Package conformance is the aiconform engine: it runs a table of small
// checks against an endpoint that serves models over the Open Inference
// Protocol v2 (REST) and returns a Report. Each check cites the
// requirement IDs of the spec it tests, and its outcome is data — status,
// a one-line message, the evidence — never a panic or a Go error.
//
// Run errors only when a run cannot happen at all: an invalid profile or
// options (errors.Is(err, ErrConfig)), or a target that cannot be
// connected to (errors.Is(err, ErrUnreachable)). A misbehaving target —
// one that hangs, answers garbage or streams an endless body — fails
// checks: every request is bounded by a timeout and every body by a limit.
//
// The engine never imports the reference models; an Oracle hands it
// expected outputs where a check needs them computed during the run.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

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

// Oracle computes the reference outputs of a reference model for inputs
// chosen during a run. The CLI implements it over the reference models;
// checks that compare against fresh inputs (NUM-LIVE) use it. No check of
// this build needs one, so Options.Oracle may be nil.
type Oracle interface {
	Predict(ctx context.Context, model, version string, inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error)
}

// Options configure a run. Only Target is required; the zero values of the
// others select the defaults documented on each field.
type Options struct {
	// Target is the base URL of the endpoint, e.g. http://127.0.0.1:8000.
	Target string
	// Profile says what to check; nil selects BuiltinProfile.
	Profile *Profile
	// Goldens is the built-in golden set (manifest.json at its root), used
	// when the profile's goldens are "builtin".
	Goldens fs.FS
	// HTTPClient makes the requests; nil uses a client of its own. Its
	// Timeout, if any, applies on top of RequestTimeout.
	HTTPClient *http.Client
	// RequestTimeout bounds each exchange, body included; zero uses the
	// profile's timeouts.request, or DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxBodyBytes caps each response body; zero uses DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Clock returns the current time; nil uses time.Now. Report times
	// and every measured duration come from it.
	Clock func() time.Time
	// Getenv looks up the environment variable that holds the token of the
	// profile's auth; nil uses os.Getenv.
	Getenv func(string) string
	// ToolVersion is the version reports give the tool.
	ToolVersion string
	// Oracle computes expected outputs during the run; see Oracle.
	Oracle Oracle
}

// Run checks the target against the profile and returns the report.
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
	if err := checkLevels(p); err != nil {
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
	models, err := loadModels(p, opts.Goldens)
	if err != nil {
		return nil, err
	}
	c := &client{base: base, hc: opts.HTTPClient, timeout: opts.RequestTimeout, maxBody: opts.MaxBodyBytes, token: token, now: now}
	if c.hc == nil {
		c.hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if c.timeout <= 0 {
		c.timeout = p.requestTimeout()
	}
	if c.timeout <= 0 {
		c.timeout = DefaultRequestTimeout
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("conformance: run interrupted: %w", err)
	}
	if probe := c.get(ctx, "/v2/health/live"); probe.err != nil {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("conformance: run interrupted: %w", err)
		}
		if isDialError(probe.err) {
			return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, base, probe.err)
		}
	}
	nonce, err := newNonce()
	if err != nil {
		return nil, fmt.Errorf("conformance: %w", err)
	}
	e := &env{c: c, models: models, nonce: nonce, oracle: opts.Oracle}

	rep := &Report{
		Kind:            ReportKind,
		SpecVersion:     spec.Version,
		Tool:            Tool{Name: ToolName, Version: opts.ToolVersion},
		Target:          base,
		Profile:         ProfileRef{Name: p.Name, Source: p.Source(), SHA256: p.Digest()},
		RequestedLevels: slices.Clone(p.Levels),
		StartTime:       now().UTC(),
	}
	if rep.Tool.Version == "" {
		rep.Tool.Version = "unknown"
	}
	for _, ch := range checks {
		if !slices.Contains(p.Levels, ch.Level) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("conformance: run interrupted before %s: %w", ch.ID, err)
		}
		rep.Checks = append(rep.Checks, runCheck(ctx, ch, e))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("conformance: run interrupted: %w", err)
	}
	rep.EndTime = now().UTC()
	rep.Duration = Millis(rep.EndTime.Sub(rep.StartTime))
	rep.Levels = levelVerdicts(rep.Checks)
	rep.Verdict = verdict(rep.RequestedLevels, rep.Levels)
	rep.Summary = summarize(rep.Checks)
	return rep, nil
}

// runCheck runs one check, turning a panic into an error result.
func runCheck(ctx context.Context, ch check, e *env) (res Result) {
	start := e.c.now()
	defer func() {
		if v := recover(); v != nil {
			res = Result{Status: spec.Error, Message: fmt.Sprintf("the check itself failed: %v", v)}
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
	return ch.Run(ctx, e)
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// checkLevels refuses levels this build has no checks for: a verdict on
// them would claim what was never tested.
func checkLevels(p *Profile) error {
	var vs []schemas.Violation
	for i, l := range p.Levels {
		if !slices.ContainsFunc(checks, func(c check) bool { return c.Level == l }) {
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
