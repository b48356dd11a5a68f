package conformance

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aiconform/aiconform/internal/fakeoip"
	"github.com/aiconform/aiconform/spec"
)

// withNotApplicable appends a notApplicable member to fakeProfileYAML.
func withNotApplicable(entries string) string {
	return fakeProfileYAML + "notApplicable:\n" + entries
}

func TestProfileNotApplicable(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		// want is "" for a valid profile, else a line of the error.
		want string
	}{
		{"conditional MUST", withNotApplicable("  - requirement: OIP-BINARY-DATA\n    justification: the server is reached through a gateway that strips binary data\n"), ""},
		{"conditional SHOULD", withNotApplicable("  - requirement: LAT-CACHE-AUDIT\n    justification: no result cache exists\n"), ""},
		{"unknown requirement", withNotApplicable("  - requirement: OIP-TELEPATHY\n    justification: x\n"),
			"p.yaml: /notApplicable/0/requirement: requirement OIP-TELEPATHY is not in the catalog of the standard v1"},
		{"MUST without Applies-when", withNotApplicable("  - requirement: NUM-GOLDEN\n    justification: we trust our numbers\n"),
			"p.yaml: /notApplicable/0/requirement: MUST requirement NUM-GOLDEN always applies (its catalog entry has no Applies-when condition), so it cannot be declared not applicable"},
		{"empty justification", withNotApplicable("  - requirement: SEC-TLS\n    justification: \"\"\n"),
			"p.yaml: /notApplicable/0/justification: "},
		{"blank justification", withNotApplicable("  - requirement: SEC-TLS\n    justification: \"   \"\n"),
			"p.yaml: /notApplicable/0/justification: expected a string matching"},
		{"no justification", withNotApplicable("  - requirement: SEC-TLS\n"),
			`p.yaml: /notApplicable/0: missing property "justification"`},
		{"lowercase ID", withNotApplicable("  - requirement: sec-tls\n    justification: x\n"),
			"p.yaml: /notApplicable/0/requirement: expected a string matching"},
		{"declared twice", withNotApplicable("  - requirement: SEC-TLS\n    justification: a\n  - requirement: SEC-TLS\n    justification: b\n"),
			"p.yaml: /notApplicable/1/requirement: requirement SEC-TLS is declared not applicable twice (also at /notApplicable/0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseProfile("p.yaml", []byte(tt.doc))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(p.NotApplicable) != 1 || p.Validate() != nil {
					t.Errorf("notApplicable %+v, Validate %v", p.NotApplicable, p.Validate())
				}
				return
			}
			var pe *ProfileError
			if !errors.As(err, &pe) || !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want a *ProfileError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err\n%s\nlacks %q", err, tt.want)
			}
		})
	}
}

func TestDeclaredNotApplicable(t *testing.T) {
	p := &Profile{NotApplicable: []NotApplicable{
		{Requirement: "SEC-TLS", Justification: " TLS ends at the load balancer "},
		{Requirement: "SEC-AUTH-REQUIRED", Justification: "the network is closed"},
	}}
	tests := []struct {
		reqs []string
		want string
		ok   bool
	}{
		{[]string{"SEC-TLS"}, "not applicable: TLS ends at the load balancer (declared by the profile)", true},
		{[]string{"SEC-TLS", "SEC-AUTH-REQUIRED"}, "not applicable: SEC-TLS: TLS ends at the load balancer; SEC-AUTH-REQUIRED: the network is closed (declared by the profile)", true},
		{[]string{"SEC-TLS", "SEC-NO-SECRET-ECHO"}, "", false}, // one cited requirement still applies
		{nil, "", false},
	}
	for _, tt := range tests {
		got, ok := p.declaredNotApplicable(tt.reqs)
		if got != tt.want || ok != tt.ok {
			t.Errorf("declaredNotApplicable(%v) = %q, %v; want %q, %v", tt.reqs, got, ok, tt.want, tt.ok)
		}
	}
}

// TestRunDeclaredNotApplicable: a check citing only a requirement the
// profile declares not applicable is skipped with the justification, sends
// nothing, and still supports a claim (rule 2 accepts it: the requirement
// has an Applies-when condition).
func TestRunDeclaredNotApplicable(t *testing.T) {
	const why = "the gateway in front of the server does not pass binary tensor data"
	doc := withNotApplicable("  - requirement: OIP-BINARY-DATA\n    justification: " + why + "\n")
	p, err := ParseProfile("fake.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	rep := runFake(t, &fakeoip.Server{}, Options{Profile: p, Clock: fixedClock(time.Millisecond)})
	r := result(t, rep, "api/binary-data")
	if want := "not applicable: " + why + " (declared by the profile)"; r.Status != spec.Skip || r.Message != want {
		t.Errorf("api/binary-data: %s: %q, want skip: %q", r.Status, r.Message, want)
	}
	if len(r.Evidence.Exchanges) != 0 {
		t.Errorf("api/binary-data sent %d requests, want none", len(r.Evidence.Exchanges))
	}
	if !rep.Conformant() || len(rep.Claim) != 1 || !rep.Claim[0].Claimable {
		t.Errorf("verdict %s, claim %+v; want pass and claimable", rep.Verdict, rep.Claim)
	}
}

func TestProfileWarnings(t *testing.T) {
	latency := "latency:\n  singleStreamP90: 100ms\n"
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"no latency", fakeProfileYAML, nil},
		{"latency without performance", fakeProfileYAML + latency,
			[]string{"p.yaml: /latency: latency budgets are declared but the levels [core] do not include performance, so no budget is checked; add performance to levels or remove the budgets"}},
		{"latency with performance", strings.Replace(fakeProfileYAML, "levels: [core]", "levels: [core, performance]", 1) + latency, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseProfile("p.yaml", []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			got := p.Warnings()
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Warnings() = %q, want %q", got, tt.want)
			}
		})
	}
}
