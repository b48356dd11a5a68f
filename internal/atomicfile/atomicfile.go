// Package atomicfile writes files so that no reader, and no crash, ever
// sees one half written: a file is written under a temporary name in its
// own directory, flushed to stable storage, and renamed over its final
// name, and the directory is flushed so that the rename survives a power
// loss. A process killed at any moment (SIGKILL included) leaves at the
// final name either the file that was there before or the complete new
// one, never a truncated one; what it may leave besides is a temporary,
// named ".NAME.*.tmp" beside it (or the pending name given to CreatePending),
// which no reader of NAME opens.
//
// It is the one way aiconform writes a file.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// File is a file being written: its bytes go to a temporary, and Commit
// puts them at the final name in one step. Until Commit, the final name
// keeps what it held. Abort discards the temporary; after Commit it does
// nothing, so that `defer f.Abort()` cleans up on every early return.
type File struct {
	*os.File
	path string
	perm os.FileMode
	done bool
}

// Create starts writing path with permissions perm. The temporary is
// created in path's directory, which must exist.
func Create(path string, perm os.FileMode) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("cannot write %s: %w", path, err)
	}
	return &File{File: f, path: path, perm: perm}, nil
}

// CreatePending is Create with a temporary of a known name, pending,
// for a file that others follow while it is written (a stream of lines
// that a log shipper tails) before it takes its final name. An existing
// file named pending, a leftover of a writer that was killed, is
// replaced.
func CreatePending(path, pending string, perm os.FileMode) (*File, error) {
	if filepath.Dir(pending) != filepath.Dir(path) {
		return nil, fmt.Errorf("cannot write %s: its pending name %s is not in the same directory", path, pending)
	}
	f, err := os.OpenFile(pending, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return nil, fmt.Errorf("cannot write %s: %w", path, err)
	}
	return &File{File: f, path: path, perm: perm}, nil
}

// Path returns the final name.
func (f *File) Path() string { return f.path }

// Commit flushes the file to stable storage and renames it to its final
// name, replacing what was there. On error the temporary is removed and
// the final name keeps what it held.
func (f *File) Commit() error {
	return f.commit(func(tmp string) error { return os.Rename(tmp, f.path) })
}

// CommitNew is Commit that refuses to replace an existing file: it fails
// with an error that wraps fs.ErrExist when the final name exists, and the
// temporary is removed.
func (f *File) CommitNew() error {
	return f.commit(func(tmp string) error {
		err := os.Link(tmp, f.path)
		if err == nil || errors.Is(err, fs.ErrExist) {
			if rerr := os.Remove(tmp); err == nil && rerr != nil {
				return rerr
			}
			if err != nil {
				return fmt.Errorf("%s exists: %w", f.path, fs.ErrExist)
			}
			return nil
		}
		// A file system without hard links: check, then rename.
		if _, serr := os.Lstat(f.path); serr == nil {
			return fmt.Errorf("%s exists: %w", f.path, fs.ErrExist)
		}
		return os.Rename(tmp, f.path)
	})
}

func (f *File) commit(place func(tmp string) error) error {
	if f.done {
		return fmt.Errorf("cannot write %s: already committed or aborted", f.path)
	}
	tmp := f.Name()
	err := f.Chmod(f.perm)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = place(tmp)
	}
	f.done = true
	if err != nil {
		os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("cannot write %s: %w", f.path, err)
	}
	return syncDir(filepath.Dir(f.path))
}

// Abort closes and removes the temporary; the final name keeps what it
// held. It does nothing after Commit or a previous Abort.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// WriteFile writes data to path atomically with permissions perm,
// replacing what was there.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, (*File).Commit)
}

// WriteNew writes data to path atomically with permissions perm, failing
// with an error that wraps fs.ErrExist when path exists: an existing file
// is never replaced.
func WriteNew(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, (*File).CommitNew)
}

// write writes data to a new File for path and ends it with commit.
func write(path string, data []byte, perm os.FileMode, commit func(*File) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return commit(f)
}

// syncDir flushes a directory's entries, so that a rename into it is on
// stable storage. File systems that cannot sync a directory are not an
// error: the rename itself was atomic.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("flushing the directory %s: %w", dir, err)
	}
	return nil
}
