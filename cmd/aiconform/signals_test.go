package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aiconform/aiconform/reports"
	"github.com/aiconform/aiconform/spec"
)

// builtBinary is the aiconform binary the signal tests run, built once.
var builtBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// aiconformBinary builds the command with the go tool that runs the tests
// and returns the binary's path; the build is shared by the tests of the
// package.
func aiconformBinary(t *testing.T) string {
	t.Helper()
	b := &builtBinary
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "aiconform-bin-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "aiconform")
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", b.path, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// slowed delays every request by d, so that a run lasts long enough to be
// interrupted in the middle.
func slowed(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// startedRun is a run of the built binary whose progress is read as it
// comes.
type startedRun struct {
	cmd    *exec.Cmd
	stdout serveTestBuffer
	lines  chan string // stderr, line by line
	done   chan error
}

// startRun starts `aiconform run` with args and reads its progress.
func startRun(t *testing.T, args ...string) *startedRun {
	t.Helper()
	r := &startedRun{cmd: exec.Command(aiconformBinary(t), append([]string{"run"}, args...)...), lines: make(chan string, 256), done: make(chan error, 1)}
	r.cmd.Stdout = &r.stdout
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.done
	})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
		r.done <- r.cmd.Wait()
		close(r.done)
	}()
	return r
}

// waitFor reads progress lines until one begins with prefix.
func (r *startedRun) waitFor(t *testing.T, prefix string) {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				t.Fatalf("the run ended before a line beginning %q; stdout:\n%s", prefix, r.stdout.String())
			}
			if strings.HasPrefix(l, prefix) {
				return
			}
		case <-timeout:
			t.Fatalf("no line beginning %q within 2 minutes", prefix)
		}
	}
}

// wait waits for the process to end, draining its progress.
func (r *startedRun) wait(t *testing.T, limit time.Duration) *os.ProcessState {
	t.Helper()
	go func() {
		for range r.lines {
		}
	}()
	select {
	case <-r.done:
	case <-time.After(limit):
		t.Fatalf("the process did not end within %v", limit)
	}
	return r.cmd.ProcessState
}

// TestSIGINTWritesAnInterruptedReport interrupts the built binary in the
// middle of a run and checks that it ends within two seconds, exit status
// 1, with a report whose checks not run say so and whose verdict is
// not-run, every file in place and no temporary left.
func TestSIGINTWritesAnInterruptedReport(t *testing.T) {
	ts := runReferenceServer(t, slowed(20*time.Millisecond))
	profile := runSmallProfile(t, 2)
	out := filepath.Join(t.TempDir(), "out")
	r := startRun(t, "--target", ts.URL, "--profile", profile, "--out", out, "--format", "json,md,html,junit,ndjson")
	r.waitFor(t, "[3/")
	sent := time.Now()
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	st := r.wait(t, time.Minute)
	took := time.Since(sent)
	t.Logf("the run ended %v after SIGINT", took)
	if took > 2*time.Second {
		t.Errorf("the run took %v to end after SIGINT, want within 2 s", took)
	}
	if st.ExitCode() != ExitFail {
		t.Errorf("exit status %v, want %d", st, ExitFail)
	}
	rep := runReadReport(t, out)
	if !strings.Contains(rep.Interrupted, "interrupt") {
		t.Errorf("interrupted = %q, want the signal named", rep.Interrupted)
	}
	if rep.Verdict != spec.VerdictNotRun || rep.Levels[spec.Core] != spec.VerdictNotRun {
		t.Errorf("verdict %s, core %s; want not-run", rep.Verdict, rep.Levels[spec.Core])
	}
	notRun := 0
	for i, c := range rep.Checks {
		isNotRun := c.Status == spec.Skip && strings.HasPrefix(c.Message, spec.NotRunPrefix)
		if i < 3 && isNotRun {
			t.Errorf("check %d %s, which finished before the signal, says %q", i+1, c.ID, c.Message)
		}
		if isNotRun {
			notRun++
		}
	}
	if notRun == 0 {
		t.Error("no check says it did not run")
	}
	if !strings.Contains(r.stdout.String(), "interrupted: ") || !strings.Contains(r.stdout.String(), "report: "+filepath.Join(out, reports.JSONFile)) {
		t.Errorf("stdout does not say the run was interrupted and where its report is:\n%s", r.stdout.String())
	}
	for _, name := range []string{"report.md", "report.html", "junit.xml"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	lines := ndjsonTypes(t, filepath.Join(out, "report.ndjson"))
	if len(lines) == 0 || lines[len(lines)-1] != "end" {
		t.Errorf("report.ndjson line types %v, want an end line last", lines)
	}
	if left := globTemps(out); len(left) > 0 {
		t.Errorf("temporaries left: %v", left)
	}
	if _, err := os.Stat(filepath.Join(out, "report.ndjson.partial")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("report.ndjson.partial is still there: %v", err)
	}
}

// ndjsonTypes returns the type of every line of an NDJSON report.
func ndjsonTypes(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var v struct{ Type string }
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("%s: a line is not JSON (%v): %.80q", path, err, l)
		}
		types = append(types, v.Type)
	}
	return types
}

// TestSIGKILLLeavesThePreviousReport kills the built binary at moments of
// a run, its last moments included, and checks that the report directory
// then holds the previous report.json or a complete new one, never a
// truncated one, and that report.ndjson is the previous one or complete.
func TestSIGKILLLeavesThePreviousReport(t *testing.T) {
	ts := runReferenceServer(t, slowed(5*time.Millisecond))
	profile := runSmallProfile(t, 2)
	previous, err := os.ReadFile(filepath.Join("..", "..", "reports", "testdata", "fixture.report.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		// killAt is what the run prints on stderr or stdout just before
		// the kill.
		killAt func(t *testing.T, r *startedRun, out string)
	}{
		{"mid-run", func(t *testing.T, r *startedRun, _ string) { r.waitFor(t, "[4/") }},
		{"as it writes report.json", func(t *testing.T, r *startedRun, out string) {
			// The moment a temporary of the report appears beside it.
			for {
				if m, _ := filepath.Glob(filepath.Join(out, ".report.json.*")); len(m) > 0 {
					return
				}
				select {
				case <-r.done:
					t.Log("the run ended before the kill")
					return
				default:
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			if err := os.WriteFile(filepath.Join(out, reports.JSONFile), previous, 0o644); err != nil {
				t.Fatal(err)
			}
			oldStream := []byte(`{"type":"end"}` + "\n")
			if err := os.WriteFile(filepath.Join(out, "report.ndjson"), oldStream, 0o644); err != nil {
				t.Fatal(err)
			}
			r := startRun(t, "--target", ts.URL, "--profile", profile, "--out", out, "--format", "json,md,html,junit,ndjson")
			tc.killAt(t, r, out)
			r.cmd.Process.Signal(syscall.SIGKILL)
			r.wait(t, time.Minute)
			b, err := os.ReadFile(filepath.Join(out, reports.JSONFile))
			if err != nil {
				t.Fatalf("report.json is gone: %v", err)
			}
			t.Logf("report.json after SIGKILL: previous %v; temporaries %v", bytes.Equal(b, previous), globTemps(out))
			if !bytes.Equal(b, previous) {
				if _, err := reports.Parse("report.json", b); err != nil {
					t.Errorf("after SIGKILL, report.json is neither the previous one nor a complete report: %v", err)
				}
			}
			s, err := os.ReadFile(filepath.Join(out, "report.ndjson"))
			if err != nil {
				t.Fatalf("report.ndjson is gone: %v", err)
			}
			if !bytes.Equal(s, oldStream) {
				if types := ndjsonTypes(t, filepath.Join(out, "report.ndjson")); types[len(types)-1] != "end" {
					t.Errorf("after SIGKILL, report.ndjson is neither the previous one nor complete: %v", types)
				}
			}
		})
	}
}

// globTemps lists the temporaries in dir.
func globTemps(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, ".*"))
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}
