package sharedtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPath(t *testing.T) {
	dir := t.TempDir()
	rel := "anchors/proto/file.yaml"
	if err := os.MkdirAll(filepath.Join(dir, "anchors", "proto", "dir.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(rel)), []byte("x: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, env, rel string
		wantPath       string
		wantUnset      bool
		wantErr        []string // substrings of the error; nil for success
	}{
		{"unset", "", rel, "", true, []string{EnvVar, rel, "to run this test"}},
		{"present", dir, rel, filepath.Join(dir, "anchors", "proto", "file.yaml"), false, nil},
		{"missing file", dir, "anchors/proto/other.yaml", "", false, []string{EnvVar, dir, "anchors/proto/other.yaml", "does not hold"}},
		{"folder, not a file", dir, "anchors/proto/dir.yaml", "", false, []string{"not a regular file"}},
		{"relative folder", "shared", rel, "", false, []string{"absolute path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvVar, tt.env)
			got, err := Path(tt.rel)
			if errors.Is(err, ErrUnset) != tt.wantUnset {
				t.Errorf("errors.Is(%v, ErrUnset) = %v, want %v", err, !tt.wantUnset, tt.wantUnset)
			}
			if tt.wantErr == nil {
				if err != nil || got != tt.wantPath {
					t.Fatalf("Path(%q) = %q, %v; want %q, nil", tt.rel, got, err, tt.wantPath)
				}
				return
			}
			if err == nil {
				t.Fatalf("Path(%q) = %q, nil; want an error", tt.rel, got)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

// TestFileSkipsOnlyWhenUnset runs File in subtests and checks how each
// ended: skipped when the variable is unset, failed when it names a folder
// without the file, passed with the path when the file is there.
func TestFileSkipsOnlyWhenUnset(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, env, rel          string
		wantSkipped, wantFailed bool
	}{
		{"unset", "", "a.yaml", true, false},
		{"missing", dir, "b.yaml", false, true},
		{"present", dir, "a.yaml", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvVar, tt.env)
			var got string
			ft := &fakeTB{TB: t}
			func() {
				defer func() {
					if r := recover(); r != nil && r != (stop{}) {
						panic(r)
					}
				}()
				got = File(ft, tt.rel)
			}()
			if ft.skipped != tt.wantSkipped || ft.failed != tt.wantFailed {
				t.Fatalf("skipped=%v failed=%v, want skipped=%v failed=%v (%s)", ft.skipped, ft.failed, tt.wantSkipped, tt.wantFailed, ft.msg)
			}
			if tt.wantSkipped && !strings.Contains(ft.msg, "set "+EnvVar+" to the folder holding a.yaml") {
				t.Errorf("skip message %q does not say what to set", ft.msg)
			}
			if !tt.wantSkipped && !tt.wantFailed && got != filepath.Join(dir, "a.yaml") {
				t.Errorf("File = %q, want %q", got, filepath.Join(dir, "a.yaml"))
			}
		})
	}
}

// fakeTB records Skip and Fatal instead of ending the test, and panics to
// stop File as they would.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

// stop is the panic value of fakeTB's Skip and Fatal.
type stop struct{}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.skipped, f.msg = true, strings.TrimSpace(fmt.Sprint(args...))
	panic(stop{})
}
func (f *fakeTB) Fatal(args ...any) {
	f.failed, f.msg = true, strings.TrimSpace(fmt.Sprint(args...))
	panic(stop{})
}
