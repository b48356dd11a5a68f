package conformance

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/aiconform/aiconform/internal/fakeoip"
	"github.com/aiconform/aiconform/internal/testnet"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/schemas"
	"github.com/aiconform/aiconform/spec"
)

func TestInitProfile(t *testing.T) {
	cnn := ModelRef{Name: fakeoip.Model, Version: fakeoip.Version, Reference: "seed-cnn", ReferenceVersion: "fp32"}
	var notServed []string
	for _, m := range spec.ReferenceModels() {
		if m != fakeoip.Model {
			notServed = append(notServed, m)
		}
	}
	tests := []struct {
		name string
		f    *fakeoip.Server
		opts InitOptions
		// models is what the profile maps; nil wants ErrNoModelFits.
		models    []ModelRef
		unfit     []UnfitModel
		notServed []string
		auth      *Auth
	}{
		{"reference names tried", &fakeoip.Server{}, InitOptions{}, []ModelRef{cnn}, nil, notServed, &Auth{Scheme: AuthNone}},
		{"named model", &fakeoip.Server{}, InitOptions{Models: []string{fakeoip.Model}}, []ModelRef{cnn}, nil, nil, &Auth{Scheme: AuthNone}},
		{"named model not served", &fakeoip.Server{}, InitOptions{Models: []string{fakeoip.Model, "resnet"}}, []ModelRef{cnn},
			[]UnfitModel{{Label: "resnet", Reason: "GET /v2/models/resnet answered 404, want 200: unknown model resnet"}}, nil, &Auth{Scheme: AuthNone}},
		{"metadata fits no contract", &fakeoip.Server{Fault: fakeoip.FaultMetadataShape}, InitOptions{Models: []string{fakeoip.Model}}, nil,
			[]UnfitModel{{Label: "seed-cnn@fp32", Reason: `fits no reference contract; closest seed-cnn/fp32: input "input": shape [-1 28 28], want [-1 1 28 28] (-1 is a variable dimension)`}}, nil, nil},
		{"bearer", &fakeoip.Server{Token: "s3cret"}, InitOptions{TokenEnv: "FAKE_TOKEN", Getenv: func(string) string { return "s3cret" }}, []ModelRef{cnn}, nil, notServed,
			&Auth{Scheme: AuthBearer, TokenEnv: "FAKE_TOKEN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.f.Handler())
			t.Cleanup(srv.Close)
			opts := tt.opts
			opts.Target = srv.URL + "/"
			opts.RequestTimeout = 5 * time.Second
			d, err := InitProfile(context.Background(), opts)
			if tt.models == nil {
				if !errors.Is(err, ErrNoModelFits) || d == nil || d.Profile != nil {
					t.Fatalf("err = %v, draft %+v; want ErrNoModelFits and a draft without a profile", err, d)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if d.Target != srv.URL || d.Server.Name != "fake" || d.ServerProblem != "" {
				t.Errorf("target %q server %+v problem %q", d.Target, d.Server, d.ServerProblem)
			}
			if d := cmp.Diff(tt.unfit, d.Unfit); d != "" {
				t.Errorf("unfit (-want +got):\n%s", d)
			}
			if !slices.Equal(d.NotServed, tt.notServed) {
				t.Errorf("not served %v, want %v", d.NotServed, tt.notServed)
			}
			if tt.models == nil {
				return
			}
			ten := Duration(5 * time.Second)
			want := &Profile{Kind: ProfileKind, SpecVersion: spec.Version, Name: "fake", Levels: []spec.Level{spec.Core},
				Goldens: BuiltinGoldens, Timeouts: &Timeouts{Request: &ten}, Auth: tt.auth, Models: tt.models}
			if diff := cmp.Diff(want, d.Profile, cmpopts.IgnoreUnexported(Profile{})); diff != "" {
				t.Errorf("profile (-want +got):\n%s", diff)
			}
			// The YAML reads back as the profile and validates.
			y, err := d.YAML()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(y), "s3cret") {
				t.Errorf("the YAML holds the token:\n%s", y)
			}
			doc, err := schemas.DecodeDocument("init.yaml", y)
			if err != nil {
				t.Fatal(err)
			}
			if vs, err := schemas.Validate(ProfileKind, ProfileSchemaVersion, doc); err != nil || len(vs) > 0 {
				t.Fatalf("schema: %v %v\n%s", vs, err, y)
			}
			back, err := ParseProfile("init.yaml", y)
			if err != nil {
				t.Fatalf("%v\n%s", err, y)
			}
			if diff := cmp.Diff(d.Profile, back, cmpopts.IgnoreUnexported(Profile{})); diff != "" {
				t.Errorf("YAML read back (-draft +read):\n%s\n%s", diff, y)
			}
			if len(back.Warnings()) != 0 {
				t.Errorf("warnings %v", back.Warnings())
			}
			for _, u := range tt.unfit {
				if !strings.Contains(string(y), "#   \""+u.Label+"\": "+u.Reason+"\n") {
					t.Errorf("the YAML does not list %s as left out:\n%s", u.Label, y)
				}
			}
		})
	}
}

// TestProfileDraftYAMLQuotes: names that YAML would read as numbers,
// booleans or syntax, and a server name with a newline, round-trip.
func TestProfileDraftYAMLQuotes(t *testing.T) {
	ten := Duration(time.Second)
	for _, name := range []string{"1", "true", "null", "a: b # c", "- x", "it's \"quoted\"", "ünï\tcode"} {
		p := &Profile{Kind: ProfileKind, SpecVersion: spec.Version, Name: name, Levels: []spec.Level{spec.Core}, Goldens: BuiltinGoldens,
			Timeouts: &Timeouts{Request: &ten}, Auth: &Auth{Scheme: AuthNone},
			Models: []ModelRef{{Name: name, Version: name, Reference: "seed-rnn", ReferenceVersion: "fp64"}}}
		d := &ProfileDraft{Target: "http://x", Server: oip.ServerMetadata{Name: "two\nlines", Version: name}, Profile: p,
			Unfit: []UnfitModel{{Label: name, Reason: "multi\nline"}}}
		y, err := d.YAML()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseProfile("q.yaml", y)
		if err != nil {
			t.Fatalf("%q: %v\n%s", name, err, y)
		}
		if diff := cmp.Diff(p, back, cmpopts.IgnoreUnexported(Profile{})); diff != "" {
			t.Errorf("%q (-want +got):\n%s\n%s", name, diff, y)
		}
	}
}

func TestInitProfileErrors(t *testing.T) {
	closed := "http://" + testnet.ClosedAddr(t)
	tests := []struct {
		name string
		opts InitOptions
		want error
		msg  string
	}{
		{"bad target", InitOptions{Target: "ftp://x"}, ErrConfig, "scheme must be http or https"},
		{"bad token env", InitOptions{Target: closed, TokenEnv: "MY-TOKEN"}, ErrConfig, `token environment variable "MY-TOKEN" is not a variable name`},
		{"empty model name", InitOptions{Target: closed, Models: []string{""}}, ErrConfig, "a model name is empty"},
		{"unreachable", InitOptions{Target: closed}, ErrUnreachable, closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := InitProfile(context.Background(), tt.opts)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
}
