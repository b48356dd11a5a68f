package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/spec"
)

// ErrNoModelFits is matched (errors.Is) by the error of InitProfile when
// no model it read fits a reference contract: there is no profile to
// write.
var ErrNoModelFits = errors.New("no served model fits a reference model's contract")

// InitOptions configure InitProfile. Only Target is required.
type InitOptions struct {
	// Target is the base URL of the endpoint, e.g. http://127.0.0.1:8000
	// or grpc://127.0.0.1:8001.
	Target string
	// Models are the served model names to read. The protocol has no
	// model list (in either binding), so with none InitProfile tries every
	// reference model name (spec.ReferenceModels) as a served name, and a
	// name the target does not serve (404) is left out quietly.
	Models []string
	// Name is the profile's name; empty uses the server's name from its
	// metadata, else the target's base URL.
	Name string
	// RequestTimeout bounds each request and becomes the profile's
	// timeouts.request; zero uses DefaultRequestTimeout.
	RequestTimeout time.Duration
	// TokenEnv, when set, makes the profile's auth bearer with this
	// environment variable; its value, when set, authenticates the
	// metadata requests. The token itself is never written.
	TokenEnv string
	// Getenv looks up TokenEnv; nil uses os.Getenv.
	Getenv func(string) string
	// HTTPClient makes the requests; nil uses a client of its own. A
	// copy that does not follow redirects is used, as in Run.
	HTTPClient *http.Client
}

// ProfileDraft is what InitProfile read from a target: a profile mapping
// every served model (and version) that fits a reference contract, and
// what it left out and why.
type ProfileDraft struct {
	// Target is the base URL the metadata was read from.
	Target string
	// Server is the server metadata; ServerProblem says why it could not
	// be read, when it could not.
	Server        oip.ServerMetadata
	ServerProblem string
	// Profile maps the models that fit. It is nil when none did.
	Profile *Profile
	// Unfit are the models read that fit no contract, or whose metadata
	// could not be read.
	Unfit []UnfitModel
	// NotServed are the reference model names tried as served names that
	// the target answered 404 for.
	NotServed []string
	// TokenUnset says TokenEnv was given but is unset or empty, so the
	// metadata was read without a token.
	TokenUnset bool
}

// UnfitModel is a served model (or one version of it) left out of a
// drafted profile.
type UnfitModel struct {
	// Label is "name" or "name@version".
	Label string
	// Reason says why, in one line.
	Reason string
}

// tokenEnvPattern is the profile schema's pattern of auth.tokenEnv.
var tokenEnvPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// InitProfile reads the target's server metadata and the model metadata
// of each model it serves (unversioned and each listed version) and
// drafts a profile at level core that maps every model whose tensors fit
// the contract of a reference model at a reference version (same input
// and output names, datatypes and shapes; outputs beyond the contract are
// allowed) to it. It errs with ErrConfig for bad options, ErrUnreachable
// when the target cannot be connected to, and ErrNoModelFits (with the
// draft, which says why) when no model fits.
func InitProfile(ctx context.Context, opts InitOptions) (*ProfileDraft, error) {
	base, err := parseTarget(opts.Target)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if opts.RequestTimeout < 0 {
		return nil, fmt.Errorf("%w: request timeout %v, want a positive duration", ErrConfig, opts.RequestTimeout)
	}
	if opts.TokenEnv != "" && !tokenEnvPattern.MatchString(opts.TokenEnv) {
		return nil, fmt.Errorf("%w: token environment variable %q is not a variable name (want %s)", ErrConfig, opts.TokenEnv, tokenEnvPattern)
	}
	for _, m := range opts.Models {
		if m == "" {
			return nil, fmt.Errorf("%w: a model name is empty", ErrConfig)
		}
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	d := &ProfileDraft{Target: base}
	var token string
	if opts.TokenEnv != "" {
		token = getenv(opts.TokenEnv)
		d.TokenUnset = token == ""
	}
	timeout := opts.RequestTimeout
	if timeout == 0 {
		timeout = DefaultRequestTimeout
	}
	c := &client{base: base, hc: httpClient(opts.HTTPClient, nil, timeout), timeout: timeout, maxBody: DefaultMaxBodyBytes, token: token, now: time.Now}
	b, err := newBinding(c, base, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	defer b.close()

	resp := b.serverMetadata(ctx)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("conformance: profile init interrupted: %w", err)
	}
	if resp.err != nil && isDialError(resp.err) {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, base, resp.err)
	}
	if err := decodeMetadata(resp, &d.Server); err != nil {
		d.ServerProblem = err.Error()
	}

	names := opts.Models
	guessed := len(names) == 0
	if guessed {
		names = spec.ReferenceModels()
	}
	p := &Profile{
		Kind: ProfileKind, SpecVersion: spec.Version, Name: opts.Name,
		Levels:   []spec.Level{spec.Core},
		Goldens:  BuiltinGoldens,
		Timeouts: &Timeouts{Request: ptr(Duration(timeout))},
		Auth:     &Auth{Scheme: AuthNone},
	}
	if opts.TokenEnv != "" {
		p.Auth = &Auth{Scheme: AuthBearer, TokenEnv: opts.TokenEnv}
	}
	if p.Name == "" {
		p.Name = strings.TrimSpace(oneLine(d.Server.Name))
	}
	if p.Name == "" || len(p.Name) > 200 {
		p.Name = base
	}
	for _, name := range slices.Compact(slices.Clone(names)) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("conformance: profile init interrupted: %w", err)
		}
		resp := b.modelMetadata(ctx, name, "")
		if guessed && resp.err == nil && resp.status == http.StatusNotFound {
			d.NotServed = append(d.NotServed, name)
			continue
		}
		var md oip.ModelMetadata
		if err := decodeMetadata(resp, &md); err != nil {
			d.Unfit = append(d.Unfit, UnfitModel{Label: name, Reason: err.Error()})
			continue
		}
		if len(md.Versions) == 0 {
			d.place(p, ModelRef{Name: name}, md)
			continue
		}
		for _, v := range slices.Compact(slices.Clone(md.Versions)) {
			ref := ModelRef{Name: name, Version: v}
			var vmd oip.ModelMetadata
			if err := decodeMetadata(b.modelMetadata(ctx, name, v), &vmd); err != nil {
				d.Unfit = append(d.Unfit, UnfitModel{Label: ref.Label(), Reason: err.Error()})
				continue
			}
			d.place(p, ref, vmd)
		}
	}
	d.redact(token)
	if len(p.Models) == 0 {
		return d, fmt.Errorf("%w: %s", ErrNoModelFits, d.why())
	}
	if err := p.Validate(); err != nil {
		return d, fmt.Errorf("conformance: the drafted profile: %w", err)
	}
	d.Profile = p
	return d, nil
}

func ptr[T any](v T) *T { return &v }

// place adds the model to the profile when its metadata fits exactly one
// contract (or several, one of them the reference model of the same
// name), and to Unfit otherwise.
func (d *ProfileDraft) place(p *Profile, ref ModelRef, md oip.ModelMetadata) {
	type candidate struct {
		c     spec.Contract
		fails []string
	}
	var fit, unfit []candidate
	for _, m := range spec.ReferenceModels() {
		for _, v := range spec.ReferenceVersions() {
			c, err := spec.ModelContract(m, v)
			if err != nil {
				d.Unfit = append(d.Unfit, UnfitModel{Label: ref.Label(), Reason: err.Error()})
				return
			}
			fails, _ := contractDiff(c, md)
			if len(fails) == 0 {
				fit = append(fit, candidate{c: c})
			} else {
				unfit = append(unfit, candidate{c: c, fails: fails})
			}
		}
	}
	if len(fit) > 1 {
		if i := slices.IndexFunc(fit, func(x candidate) bool { return x.c.Model == ref.Name }); i >= 0 {
			fit = fit[i : i+1]
		}
	}
	switch len(fit) {
	case 1:
		ref.Reference, ref.ReferenceVersion = fit[0].c.Model, fit[0].c.Version
		p.Models = append(p.Models, ref)
	case 0:
		best := slices.MinFunc(unfit, func(a, b candidate) int { return len(a.fails) - len(b.fails) })
		why := fmt.Sprintf("fits no reference contract; closest %s/%s: %s", best.c.Model, best.c.Version, best.fails[0])
		if n := len(best.fails) - 1; n > 0 {
			why += fmt.Sprintf(" (and %d more)", n)
		}
		d.Unfit = append(d.Unfit, UnfitModel{Label: ref.Label(), Reason: why})
	default:
		var ids []string
		for _, x := range fit {
			ids = append(ids, x.c.Model+"/"+x.c.Version)
		}
		d.Unfit = append(d.Unfit, UnfitModel{Label: ref.Label(), Reason: "fits several reference contracts (" + strings.Join(ids, ", ") + "); write its models entry by hand"})
	}
}

// redact removes the token from what the target said (a server that
// echoes it in an error message), before anything is printed or written.
func (d *ProfileDraft) redact(token string) {
	if token == "" {
		return
	}
	r := strings.NewReplacer(token, "[redacted]")
	d.ServerProblem = r.Replace(d.ServerProblem)
	d.Server.Name, d.Server.Version = r.Replace(d.Server.Name), r.Replace(d.Server.Version)
	for i := range d.Server.Extensions {
		d.Server.Extensions[i] = r.Replace(d.Server.Extensions[i])
	}
	for i := range d.Unfit {
		d.Unfit[i].Reason = r.Replace(d.Unfit[i].Reason)
	}
}

// why says why no model fits, for ErrNoModelFits.
func (d *ProfileDraft) why() string {
	var parts []string
	for _, u := range d.Unfit {
		parts = append(parts, u.Label+": "+u.Reason)
	}
	if len(d.NotServed) > 0 {
		parts = append(parts, "not served (404): "+strings.Join(d.NotServed, ", "))
	}
	if len(parts) == 0 {
		return "no model was read"
	}
	return strings.Join(parts, "; ")
}

// decodeMetadata decodes a 200 JSON metadata response into v, or says in
// one line why it cannot.
func decodeMetadata(r *response, v any) error {
	switch {
	case r.err != nil || r.overLimit:
		return fmt.Errorf("%s: %s", r.what(), r.outcome())
	case r.status != http.StatusOK:
		msg := fmt.Sprintf("%s answered %s, want 200", r.what(), r.statusText())
		var e oip.ErrorResponse
		if json.Unmarshal(r.body, &e) == nil && e.Error != "" {
			msg += ": " + oneLine(e.Error)
		}
		return errors.New(msg)
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: the body is not metadata: %w", r.what(), err)
	}
	return nil
}
