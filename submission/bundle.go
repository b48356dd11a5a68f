package submission

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aiconform/aiconform/attest"
	"github.com/aiconform/aiconform/internal/atomicfile"
)

// Limits on what Open reads, so that a hostile bundle cannot exhaust
// memory.
const (
	// MaxFileSize bounds each file of a bundle.
	MaxFileSize = 64 << 20
	// MaxBundleSize bounds all files of a bundle together.
	MaxBundleSize = 256 << 20
	// MaxFiles bounds how many entries a bundle has.
	MaxFiles = 64
)

// ErrUnsafe marks an archive entry that Open refuses: a path that escapes
// the bundle, a link or other non-regular file, or a file over the limits.
var ErrUnsafe = errors.New("unsafe bundle entry")

// Bundle is the files of a submission by name. It is flat: names have no
// directory part.
type Bundle struct {
	files map[string][]byte
	// modTime stamps the entries of a written archive, so that the same
	// bundle makes the same archive.
	modTime time.Time
}

// newBundle returns a bundle of files.
func newBundle(files []attest.File, modTime time.Time) *Bundle {
	b := &Bundle{files: map[string][]byte{}, modTime: modTime}
	for _, f := range files {
		b.files[f.Name] = f.Data
	}
	return b
}

// Names returns the names of the bundle's files, sorted.
func (b *Bundle) Names() []string { return slices.Sorted(maps.Keys(b.files)) }

// File returns the bytes of the named file.
func (b *Bundle) File(name string) ([]byte, bool) {
	d, ok := b.files[name]
	return d, ok
}

// IsArchive reports whether path names a .tar.gz (or .tgz) bundle rather
// than a directory.
func IsArchive(path string) bool {
	p := strings.ToLower(path)
	return strings.HasSuffix(p, ".tar.gz") || strings.HasSuffix(p, ".tgz")
}

// Write writes the bundle to path: a .tar.gz archive of its files when
// IsArchive(path), else a directory, which must not exist or be empty.
// It refuses to overwrite an archive.
func (b *Bundle) Write(path string) error {
	if IsArchive(path) {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("submission: %s exists; it is not overwritten", path)
		}
		data, err := b.archive()
		if err != nil {
			return err
		}
		if err := atomicfile.WriteNew(path, data, 0o644); err != nil {
			return fmt.Errorf("submission: %w", err)
		}
		return nil
	}
	if entries, err := os.ReadDir(path); err == nil && len(entries) > 0 {
		return fmt.Errorf("submission: %s is not empty; a bundle is written to a new or empty directory", path)
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return fmt.Errorf("submission: %w", err)
	}
	for _, name := range b.Names() {
		if err := atomicfile.WriteFile(filepath.Join(path, name), b.files[name], 0o644); err != nil {
			return fmt.Errorf("submission: %w", err)
		}
	}
	return nil
}

// archive returns the bundle as a gzip-compressed tar of its files, in
// name order, each a regular file of mode 0644.
func (b *Bundle) archive() ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range b.Names() {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b.files[name])), ModTime: b.modTime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("submission: archiving %s: %w", name, err)
		}
		if _, err := tw.Write(b.files[name]); err != nil {
			return nil, fmt.Errorf("submission: archiving %s: %w", name, err)
		}
	}
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		return nil, fmt.Errorf("submission: archiving: %w", err)
	}
	return buf.Bytes(), nil
}

// Open reads the bundle at path: a directory, or a .tar.gz archive when
// IsArchive(path). It refuses (wrapping ErrUnsafe) an entry whose path
// escapes the bundle, a link or other non-regular file, a subdirectory,
// and files over MaxFileSize, MaxBundleSize or MaxFiles. An archive may
// hold its files under one top-level directory.
func Open(path string) (*Bundle, error) {
	if IsArchive(path) {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("submission: %w", err)
		}
		defer f.Close()
		return readArchive(path, f)
	}
	return readDir(path)
}

// readDir reads a bundle directory.
func readDir(dir string) (*Bundle, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("submission: %w", err)
	}
	if len(entries) > MaxFiles {
		return nil, fmt.Errorf("submission: %w: %s has %d entries, more than a bundle's %d", ErrUnsafe, dir, len(entries), MaxFiles)
	}
	b := &Bundle{files: map[string][]byte{}}
	total := 0
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !e.Type().IsRegular() {
			return nil, fmt.Errorf("submission: %w: %s is a %s, not a regular file (a bundle is flat and holds no links)", ErrUnsafe, p, typeName(e.Type()))
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("submission: %w", err)
		}
		if err := checkSize(p, info.Size(), &total); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("submission: %w", err)
		}
		if int64(len(data)) != info.Size() {
			return nil, fmt.Errorf("submission: %s changed while it was read", p)
		}
		b.files[e.Name()] = data
	}
	return b, nil
}

// readArchive reads a gzip-compressed tar bundle; name is the archive in
// errors.
func readArchive(name string, r io.Reader) (*Bundle, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("submission: %s: not gzip-compressed: %w", name, err)
	}
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	total, entries := 0, 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("submission: %s: not a tar archive: %w", name, err)
		}
		if entries++; entries > MaxFiles {
			return nil, fmt.Errorf("submission: %w: %s has more than a bundle's %d entries", ErrUnsafe, name, MaxFiles)
		}
		p, err := entryPath(h.Name)
		if err != nil {
			return nil, fmt.Errorf("submission: %w: %s: entry %q %v", ErrUnsafe, name, h.Name, err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
			if p == "." {
				return nil, fmt.Errorf("submission: %w: %s: a file entry without a name", ErrUnsafe, name)
			}
		default:
			return nil, fmt.Errorf("submission: %w: %s: entry %q is a %s, not a regular file (links and special files are refused)", ErrUnsafe, name, h.Name, tarType(h.Typeflag))
		}
		if err := checkSize(name+": "+h.Name, h.Size, &total); err != nil {
			return nil, err
		}
		data, err := io.ReadAll(io.LimitReader(tr, h.Size))
		if err != nil {
			return nil, fmt.Errorf("submission: %s: entry %q: %w", name, h.Name, err)
		}
		if _, dup := files[p]; dup {
			return nil, fmt.Errorf("submission: %w: %s: entry %q appears twice", ErrUnsafe, name, p)
		}
		files[p] = data
	}
	flat, err := flatten(files)
	if err != nil {
		return nil, fmt.Errorf("submission: %w: %s: %v", ErrUnsafe, name, err)
	}
	return &Bundle{files: flat}, nil
}

// entryPath returns an archive entry's name as a clean relative path, or
// an error when it is absolute, climbs out with "..", or is not clean.
func entryPath(name string) (string, error) {
	p := strings.TrimSuffix(strings.TrimPrefix(name, "./"), "/")
	switch {
	case p == "" || p == ".":
		return ".", nil
	case strings.HasPrefix(name, "/") || strings.Contains(name, `\`) || filepath.VolumeName(name) != "":
		return "", errors.New("is an absolute path: it escapes the bundle")
	case slices.Contains(strings.Split(p, "/"), ".."):
		return "", errors.New(`climbs with "..": it escapes the bundle`)
	case !fs.ValidPath(p):
		return "", errors.New("is not a clean relative path")
	}
	return p, nil
}

// flatten strips the one top-level directory all files of an archive may
// lie in; a bundle is otherwise flat.
func flatten(files map[string][]byte) (map[string][]byte, error) {
	top := ""
	for p := range files {
		dir, _, nested := strings.Cut(p, "/")
		if !nested {
			top = ""
			break
		}
		if top != "" && top != dir {
			return nil, fmt.Errorf("its files lie in more than one directory (%s, %s); a bundle is flat", top, dir)
		}
		top = dir
	}
	out := make(map[string][]byte, len(files))
	for p, data := range files {
		name := strings.TrimPrefix(p, top+"/")
		if top == "" {
			name = p
		}
		if strings.Contains(name, "/") {
			return nil, fmt.Errorf("%s lies in a subdirectory; a bundle is flat", p)
		}
		out[name] = data
	}
	return out, nil
}

// checkSize refuses a file over MaxFileSize, or one that takes the
// bundle's total over MaxBundleSize.
func checkSize(what string, size int64, total *int) error {
	if size > MaxFileSize {
		return fmt.Errorf("submission: %w: %s is %d bytes, more than a bundle file's %d", ErrUnsafe, what, size, MaxFileSize)
	}
	if *total += int(size); *total > MaxBundleSize {
		return fmt.Errorf("submission: %w: the bundle's files come to more than %d bytes at %s", ErrUnsafe, MaxBundleSize, what)
	}
	return nil
}

// typeName names a non-regular file mode for messages.
func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "directory"
	}
	return "special file"
}

// tarType names a tar entry type for messages.
func tarType(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "device"
	case tar.TypeFifo:
		return "FIFO"
	}
	return fmt.Sprintf("entry of type %q", t)
}
