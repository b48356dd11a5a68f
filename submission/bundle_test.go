package submission

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// entry is one entry of a test archive.
type entry struct {
	name     string
	typeflag byte
	data     string
	size     int64 // the header's size when not len(data)
	linkname string
}

// writeArchive writes a .tar.gz of entries; an entry whose size is over
// its data ends the archive there, as a truncated one would.
func writeArchive(t *testing.T, entries []entry) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	truncated := false
	for _, e := range entries {
		size := int64(len(e.data))
		if e.size != 0 {
			size = e.size
		}
		if e.typeflag != tar.TypeReg {
			size = 0
		}
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: e.typeflag, Size: size, Mode: 0o644, Linkname: e.linkname}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
		if size > int64(len(e.data)) {
			truncated = true
			break
		}
	}
	if !truncated {
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
	} else if err := tw.Flush(); err == nil {
		t.Fatal("a truncated entry flushed")
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "bundle.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenArchive(t *testing.T) {
	reg := func(name, data string) entry { return entry{name: name, typeflag: tar.TypeReg, data: data} }
	dir := func(name string) entry { return entry{name: name, typeflag: tar.TypeDir} }
	tests := []struct {
		name    string
		entries []entry
		want    []string // the bundle's names; nil when refused
		says    string
	}{
		{"flat", []entry{reg("report.json", "{}"), reg("README.md", "x")}, []string{"README.md", "report.json"}, ""},
		{"dot slash", []entry{dir("./"), reg("./report.json", "{}")}, []string{"report.json"}, ""},
		{"one top directory", []entry{dir("bundle/"), reg("bundle/report.json", "{}"), reg("bundle/README.md", "x")}, []string{"README.md", "report.json"}, ""},
		{"parent traversal", []entry{reg("../evil.sh", "x")}, nil, `entry "../evil.sh" climbs with ".."`},
		{"inner traversal", []entry{reg("bundle/../../evil.sh", "x")}, nil, `climbs with ".."`},
		{"absolute", []entry{reg("/etc/passwd", "x")}, nil, `entry "/etc/passwd" is an absolute path`},
		{"backslash", []entry{reg(`..\evil`, "x")}, nil, "is an absolute path"},
		{"symlink", []entry{{name: "report.json", typeflag: tar.TypeSymlink, linkname: "/etc/passwd"}}, nil, `entry "report.json" is a symbolic link`},
		{"hard link", []entry{reg("a", "x"), {name: "report.json", typeflag: tar.TypeLink, linkname: "a"}}, nil, "is a hard link"},
		{"device", []entry{{name: "null", typeflag: tar.TypeChar}}, nil, "is a device"},
		{"too big", []entry{{name: "report.json", typeflag: tar.TypeReg, size: MaxFileSize + 1}}, nil, "more than a bundle file's"},
		{"two directories", []entry{reg("a/report.json", "{}"), reg("b/README.md", "x")}, nil, "more than one directory"},
		{"nested", []entry{reg("report.json", "{}"), reg("sub/README.md", "x")}, nil, "lies in a subdirectory"},
		{"twice", []entry{reg("report.json", "{}"), reg("./report.json", "{}")}, nil, "appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Open(writeArchive(t, tt.entries))
			if tt.want == nil {
				if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), tt.says) {
					t.Fatalf("error %v, want ErrUnsafe saying %q", err, tt.says)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(b.Names(), tt.want) {
				t.Errorf("names %v, want %v", b.Names(), tt.want)
			}
		})
	}
	many := make([]entry, MaxFiles+1)
	for i := range many {
		many[i] = reg(strings.Repeat("f", i+1), "x")
	}
	if _, err := Open(writeArchive(t, many)); !errors.Is(err, ErrUnsafe) {
		t.Errorf("%d entries: %v", len(many), err)
	}
	notGzip := filepath.Join(t.TempDir(), "x.tgz")
	os.WriteFile(notGzip, []byte("plain"), 0o644)
	if _, err := Open(notGzip); err == nil || !strings.Contains(err.Error(), "not gzip-compressed") {
		t.Errorf("plain file: %v", err)
	}
}

func TestOpenDirRefusesLinksAndSubdirectories(t *testing.T) {
	tests := []struct {
		name string
		make func(dir string) error
		says string
	}{
		{"symlink", func(dir string) error { return os.Symlink("/etc/passwd", filepath.Join(dir, "report.json")) }, "is a symbolic link"},
		{"subdirectory", func(dir string) error { return os.Mkdir(filepath.Join(dir, "sub"), 0o755) }, "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tt.make(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(dir); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("error %v, want ErrUnsafe saying %q", err, tt.says)
			}
		})
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing directory opened")
	}
}

func TestWriteRefusesAFullDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b := &Bundle{files: map[string][]byte{"README.md": []byte("x")}}
	if err := b.Write(dir); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Errorf("error %v", err)
	}
	if err := b.Write(filepath.Join(dir, "new")); err != nil {
		t.Fatal(err)
	}
}
