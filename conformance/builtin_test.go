package conformance

import (
	"bytes"
	"io/fs"
	"path"
	"testing"

	"github.com/aiconform/aiconform/golden"
)

// TestBuiltinDocument: the sources a report records for the built-in
// profile and its model card give back the bytes the run read (and so
// their digests); anything else names no built-in document.
func TestBuiltinDocument(t *testing.T) {
	p, err := BuiltinProfile()
	if err != nil {
		t.Fatal(err)
	}
	card, err := loadModelCard(p)
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := fs.ReadFile(builtinProfiles, path.Join("profiles", builtinFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(embedded, builtinProfileYAML) {
		t.Errorf("profiles/%s is not the built-in profile", builtinFile)
	}
	tests := []struct {
		source, wantName, wantDigest string
		wantOK                       bool
	}{
		{BuiltinSource, builtinFile, p.Digest(), true},
		{card.source, p.ModelCard, card.digest, true},
		{"builtin:nope.yaml", "", "", false},
		{"builtin:../profile.go", "", "", false},
		{"builtin:", "", "", false},
		{"profiles/reference.yaml", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		name, data, ok := BuiltinDocument(tt.source)
		if ok != tt.wantOK || name != tt.wantName {
			t.Errorf("BuiltinDocument(%q) = %q, ok %v; want %q, ok %v", tt.source, name, ok, tt.wantName, tt.wantOK)
			continue
		}
		if ok && golden.Digest(data) != tt.wantDigest {
			t.Errorf("BuiltinDocument(%q): sha256 %s, the run read %s", tt.source, golden.Digest(data), tt.wantDigest)
		}
	}
}
