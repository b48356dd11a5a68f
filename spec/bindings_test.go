package spec_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"

	"github.com/aiconform/aiconform/oip/grpcbind"
)

// markdownTable returns the rows of the table of doc whose header row is
// header, each row's cells trimmed.
func markdownTable(t *testing.T, doc, header string) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(docDir, doc))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if l != header {
			continue
		}
		var rows [][]string
		for _, r := range lines[i+2:] {
			if !strings.HasPrefix(r, "|") {
				break
			}
			var cells []string
			for _, c := range strings.Split(strings.Trim(r, "|"), "|") {
				cells = append(cells, strings.TrimSpace(c))
			}
			rows = append(rows, cells)
		}
		return rows
	}
	t.Fatalf("%s has no table with header %q", doc, header)
	return nil
}

// codeByName is every gRPC status code by its canonical name.
func codeByName() map[string]codes.Code {
	out := map[string]codes.Code{}
	for n, name := range rpccode.Code_name {
		out[name] = codes.Code(n)
	}
	return out
}

// TestStatusTablesAreTheBinding holds the status tables of "Protocol
// bindings" in api.md to the one place that implements them,
// grpcbind.CodeForStatus and grpcbind.StatusForCode: every gRPC status code
// has exactly one row of the second table, and every row of either says
// what the functions do.
func TestStatusTablesAreTheBinding(t *testing.T) {
	names := codeByName()
	if len(names) != 17 {
		t.Fatalf("%d canonical code names, want the 17 of gRPC", len(names))
	}
	// What a REST status means: each row's statuses, or a stand-in for
	// "any other".
	examples := map[string][]int{
		"2xx":           {200, 201, 204, 299},
		"any other 4xx": {402, 406, 410, 411, 412, 414, 415, 418, 422, 451},
		"any other":     {100, 301, 302, 500, 502, 505, 599},
	}
	rows := markdownTable(t, "api.md", "| REST status | gRPC status |")
	listed := map[int]bool{}
	for _, row := range rows {
		if n, err := strconv.Atoi(row[0]); err == nil {
			listed[n] = true
		}
	}
	for _, row := range rows {
		if len(row) != 2 {
			t.Fatalf("row %q has %d cells, want 2", row, len(row))
		}
		want, ok := names[row[1]]
		if !ok {
			t.Errorf("row %q: %q is not a gRPC status code", row, row[1])
			continue
		}
		statuses, ranged := examples[row[0]]
		if !ranged {
			n, err := strconv.Atoi(row[0])
			if err != nil {
				t.Errorf("row %q: %q is neither a status nor a range the test knows", row, row[0])
				continue
			}
			statuses = []int{n}
		}
		for _, s := range statuses {
			if ranged && listed[s] {
				t.Fatalf("the test's example %d of %q has a row of its own", s, row[0])
			}
			if got := grpcbind.CodeForStatus(s); got != want {
				t.Errorf("the table says REST %d means %s; CodeForStatus(%d) = %s", s, row[1], s, rpccode.Code_name[int32(got)])
			}
		}
	}
	seen := map[codes.Code]bool{}
	for _, row := range markdownTable(t, "api.md", "| gRPC status | judged as |") {
		c, ok := names[row[0]]
		if !ok || len(row) != 2 {
			t.Errorf("row %q: %q is not a gRPC status code", row, row[0])
			continue
		}
		if seen[c] {
			t.Errorf("%s has two rows", row[0])
		}
		seen[c] = true
		want, err := strconv.Atoi(row[1])
		if err != nil || http.StatusText(want) == "" && want != 499 {
			t.Errorf("row %q: %q is not a status", row, row[1])
			continue
		}
		if got := grpcbind.StatusForCode(c); got != want {
			t.Errorf("the table judges %s as %d; StatusForCode = %d", row[0], want, got)
		}
	}
	for name, c := range names {
		if !seen[c] {
			t.Errorf("gRPC status %s has no row saying what it is judged as", name)
		}
	}
}
