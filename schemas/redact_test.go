package schemas_test

import (
	"strings"
	"testing"

	"github.com/aiconform/aiconform/schemas"
)

func TestIsCredential(t *testing.T) {
	tests := []struct {
		key, value string
		want       bool
	}{
		{"tokenEnv", "AICONFORM_TOKEN", true},
		{"token", "x", true},
		{"accessToken", "x", true},
		{"api_key", "x", true},
		{"apiKey", "x", true},
		{"X-Api-Key", "x", true},
		{"password", "x", true},
		{"client_secret", "x", true},
		{"Authorization", "x", true},
		{"note", "Bearer abc123def", true},
		{"note", "authorization: basic dXNlcjpwYXNz", true},
		{"", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", true},
		{"max_tokens", "many", false},
		{"model", "seed-lstm", false},
		{"note", "a bearer of news", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := schemas.IsCredential(tt.key, tt.value); got != tt.want {
			t.Errorf("IsCredential(%q, %q) = %v, want %v", tt.key, tt.value, got, tt.want)
		}
	}
}

// TestValidateRedacts: Validate's messages never carry a credential of the
// document, at its own location or elsewhere.
func TestValidateRedacts(t *testing.T) {
	const secret = "Bearer sk-0123456789abcdef"
	// The value of specVersion is quoted at its own location; the property
	// named by the credential is quoted in the message about the root.
	doc := map[string]any{"kind": "profile", "specVersion": secret, secret: true, "apiKey": secret}
	vs, err := schemas.Validate("profile", "v1", doc)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, v.String())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		`/specVersion: expected "v1", got ` + schemas.Redacted,
		`/: additional property ` + schemas.Redacted + ` is not allowed`,
		`/: additional property "apiKey" is not allowed`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("violations do not include %q:\n%s", want, all)
		}
	}
	for _, v := range vs {
		if strings.Contains(v.Message, secret) || strings.Contains(v.Message, "sk-0123456789abcdef") {
			t.Errorf("%s shows the credential", v)
		}
	}
	vs, err = schemas.Validate("oip-error", "v1", map[string]any{"error": secret})
	if err != nil || len(vs) != 0 {
		t.Errorf("a credential in a valid place: violations %v, error %v; want none", vs, err)
	}
}
