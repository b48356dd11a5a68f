package atomicfile

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tempFiles lists the temporaries left in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		old  *string
		perm os.FileMode
	}{
		{"new file", nil, 0o644},
		{"replaces", ptr("old contents, longer than the new"), 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "report.json")
			if tc.old != nil {
				if err := os.WriteFile(p, []byte(*tc.old), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFile(p, []byte("new"), tc.perm); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, p); got != "new" {
				t.Errorf("contents = %q, want %q", got, "new")
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.perm {
				t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tc.perm)
			}
			if left := tempFiles(t, dir); len(left) > 0 {
				t.Errorf("temporaries left: %v", left)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestWriteFileMissingDir(t *testing.T) {
	p := filepath.Join(t.TempDir(), "no", "such", "report.json")
	err := WriteFile(p, []byte("x"), 0o644)
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want an error naming %s", err, p)
	}
}

// TestAbortKeepsOld checks that a file abandoned half written leaves the
// final name as it was, and no temporary.
func TestAbortKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "report.json")
	if err := WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(p, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("half of the n"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, p); got != "old" {
		t.Errorf("while writing, contents = %q, want the old", got)
	}
	f.Abort()
	f.Abort() // a second Abort does nothing
	if got := readFile(t, p); got != "old" {
		t.Errorf("after Abort, contents = %q, want the old", got)
	}
	if left := tempFiles(t, dir); len(left) > 0 {
		t.Errorf("temporaries left: %v", left)
	}
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
}

func TestCommitNew(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k.key")
	if err := WriteNew(p, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteNew(p, []byte("second"), 0o600)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second WriteNew: err = %v, want fs.ErrExist", err)
	}
	if !strings.Contains(err.Error(), p) {
		t.Errorf("error %q does not name %s", err, p)
	}
	if got := readFile(t, p); got != "first" {
		t.Errorf("contents = %q, want the first", got)
	}
	if left := tempFiles(t, dir); len(left) > 0 {
		t.Errorf("temporaries left: %v", left)
	}
}

// TestCreatePending checks that a pending file is visible under its
// pending name while written, replaces a leftover of that name, and takes
// its final name on Commit.
func TestCreatePending(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "report.ndjson")
	pending := p + ".partial"
	for _, f := range []struct{ name, data string }{{p, "previous run\n"}, {pending, "leftover of a killed run, longer\n"}} {
		if err := os.WriteFile(f.name, []byte(f.data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := CreatePending(p, pending, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	if _, err := f.WriteString("line 1\n"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, pending); got != "line 1\n" {
		t.Errorf("pending = %q, want the line written so far", got)
	}
	if got := readFile(t, p); got != "previous run\n" {
		t.Errorf("final name = %q while pending, want the previous run's", got)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, p); got != "line 1\n" {
		t.Errorf("after Commit = %q", got)
	}
	if _, err := os.Stat(pending); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pending name still there after Commit: %v", err)
	}
	if _, err := CreatePending(p, filepath.Join(t.TempDir(), "x"), 0o644); err == nil {
		t.Error("a pending name in another directory was accepted")
	}
}

// childEnv makes the test binary, run again, the writer that
// TestSIGKILLLeavesOldOrNew kills.
const childEnv = "AICONFORM_ATOMICFILE_WRITER"

// TestMain runs the writer of TestSIGKILLLeavesOldOrNew when asked to.
func TestMain(m *testing.M) {
	if p := os.Getenv(childEnv); p != "" {
		slowWriter(p)
		return
	}
	os.Exit(m.Run())
}

// slowWriter writes 1 MiB chunks to path without end, saying "writing"
// once the first chunk is in the temporary: it is killed mid-file.
func slowWriter(path string) {
	f, err := Create(path, 0o644)
	if err != nil {
		os.Stderr.WriteString(err.Error())
		os.Exit(2)
	}
	chunk := bytes.Repeat([]byte("n"), 1<<20)
	for i := 0; ; i++ {
		if _, err := f.Write(chunk); err != nil {
			os.Exit(2)
		}
		if i == 0 {
			os.Stdout.WriteString("writing\n")
		}
		time.Sleep(5 * time.Millisecond)
		if i > 4096 {
			f.Commit()
			os.Exit(0)
		}
	}
}

// TestSIGKILLLeavesOldOrNew kills a process in the middle of writing a
// file and checks that the file still holds what it held before.
func TestSIGKILLLeavesOldOrNew(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "report.json")
	if err := WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+p)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "writing\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("writer said %q, %v", line, err)
	}
	time.Sleep(20 * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if got := readFile(t, p); got != "old" {
		t.Errorf("after SIGKILL mid-write, %s holds %d bytes, want the old 3", p, len(got))
	}
	left := tempFiles(t, dir)
	if len(left) != 1 {
		t.Fatalf("temporaries = %v, want the killed writer's one", left)
	}
	fi, err := os.Stat(left[0])
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() < 1<<20 {
		t.Errorf("the temporary %s holds %d bytes, want at least the first chunk", left[0], fi.Size())
	}
}
