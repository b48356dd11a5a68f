package faults

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/internal/testpki"
	"github.com/aiconform/aiconform/reference/serve"
	"github.com/aiconform/aiconform/spec"
)

// matrixGRPCEnv, set to "full", makes TestFaultMatrixGRPC run every fault
// of the registry, each alone; otherwise it runs the plain server and
// grpcMechanisms composed on one server. CI runs the full matrix in a step
// of its own, without the race detector (see .ci/run), and the short one
// with every other test under it.
const matrixGRPCEnv = "AICONFORM_FAULT_MATRIX_GRPC"

// grpcMechanisms are the faults of the short gRPC matrix: one for each way
// a fault plugs into the server, so that each way is seen to reach the
// calls of the gRPC binding — a handler wrapper (no-id-echo), a model
// wrapper (numeric-drift), a handler wrapper that rewrites requests with
// the catalog of served models (accepts-wrong-shape), the exemption from
// authentication (ignore-auth) and the TLS settings (tls-1.0-allowed). The
// five break five requirements apart from one another, so one server with
// all of them shows each.
var grpcMechanisms = []string{"no-id-echo", "numeric-drift", "accepts-wrong-shape", "ignore-auth", "tls-1.0-allowed"}

// TestFaultMatrixGRPC is TestFaultMatrix over the gRPC binding: the
// server's REST handler, faults and all, served through grpcbind's
// Gateway (over grpcs with the faults' TLS settings when a case needs
// them), and each run held to what the registry says (judgeMatrixRun):
// the plain server passes, a fault fails its requirement and nothing
// outside its Also, and a fault that cannot show over gRPC (NotOver)
// leaves every check passing or not applicable.
func TestFaultMatrixGRPC(t *testing.T) {
	goldens, err := ftGoldens()
	if err != nil {
		t.Fatal(err)
	}
	models := ftModels(t)
	pki, err := testpki.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	levels := []spec.Level{spec.Core, spec.Safety}
	checked := map[string]bool{}
	for _, c := range conformance.Checks() {
		if slices.Contains(levels, c.Level) {
			for _, id := range c.Requirements {
				checked[id] = true
			}
		}
	}
	type matrixCase struct {
		name string
		fs   []Fault // none: the plain server
		tls  bool    // served over grpcs with a certificate of the test CA
		auth bool    // the server requires the bearer token mtToken
	}
	cases := []matrixCase{{name: "plain"}}
	if os.Getenv(matrixGRPCEnv) == "full" {
		cases = append(cases, matrixCase{name: "plain-grpcs", tls: true, auth: true})
		for _, f := range All() {
			cases = append(cases, matrixCase{name: f.Name, fs: []Fault{f}, tls: f.NeedsTLS, auth: f.Name == "ignore-auth"})
		}
	} else {
		fs, err := Lookup(grpcMechanisms...)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, matrixCase{name: strings.Join(grpcMechanisms, "+"), fs: fs, tls: true, auth: true})
	}
	t.Logf("%d runs over gRPC (%s=full runs every fault alone)", len(cases), matrixGRPCEnv)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &conformance.Profile{
				Kind: conformance.ProfileKind, SpecVersion: spec.Version, Name: "fault-matrix-grpc-" + tc.name,
				Levels: levels, Goldens: conformance.BuiltinGoldens,
				Auth: &conformance.Auth{Scheme: conformance.AuthNone},
			}
			for _, id := range spec.ReferenceModels() {
				p.Models = append(p.Models, conformance.ModelRef{Name: id, Version: "fp32", Reference: id, ReferenceVersion: "fp32"})
			}
			opts, err := Options(tc.fs...)
			if err != nil {
				t.Fatal(err)
			}
			if tc.auth {
				opts = append(opts, serve.WithAuthToken(mtToken))
				p.Auth = &conformance.Auth{Scheme: conformance.AuthBearer, TokenEnv: mtTokenEnv}
			}
			srv, err := serve.New(models, opts...)
			if err != nil {
				t.Fatal(err)
			}
			var cfg *tls.Config
			if tc.tls {
				if cfg, err = TLSConfig(serve.TLSConfig(pki.Certificate), tc.fs...); err != nil {
					t.Fatal(err)
				}
			}
			mo := matrixOptions(t, ftServeGRPC(t, srv, cfg), p, goldens, models)
			mo.RootCAs = pki.Pool
			rep, err := conformance.Run(context.Background(), mo)
			if err != nil {
				t.Fatalf("conformance.Run: %v", err)
			}
			judgeMatrixRun(t, tc.fs, rep, checked, spec.GRPC)
		})
	}
}

// ftServeGRPC serves srv over the gRPC binding with its own gRPC frontend
// (serve.GRPCServer) until the test ends; over TLS with cfg when cfg is not
// nil. It returns the grpc:// or grpcs:// target.
func ftServeGRPC(t *testing.T, srv *serve.Server, cfg *tls.Config) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := "grpc://" + lis.Addr().String()
	var opts []grpc.ServerOption
	if cfg != nil {
		opts = append(opts, grpc.Creds(serve.GRPCCredentials(cfg)))
		target = "grpcs://" + lis.Addr().String()
	}
	gs := srv.GRPCServer(opts...)
	go gs.Serve(lis) //nolint:errcheck // ends with Stop
	t.Cleanup(gs.Stop)
	return target
}
