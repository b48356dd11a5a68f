package conformance

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The scan of SAFE-ERROR-HYGIENE: the body and headers of every error
// response of the run, as it arrives, for the leaks the procedure lists.

// leakPatterns are the patterns of SAFE-ERROR-HYGIENE but the credential
// values, each with what a match reveals and, for a pattern that starts
// with no literal text, the literals one of which any match holds: text
// without them is not matched against the pattern at all (matching a
// pattern that starts with a class of characters is slow).
var leakPatterns = []struct {
	what    string
	re      *regexp.Regexp
	needles []string
}{
	{"a Python traceback", regexp.MustCompile(`Traceback \(most recent call last\)`), nil},
	{"a Go goroutine header", regexp.MustCompile(`goroutine [0-9]+ \[`), nil},
	{"a panic", regexp.MustCompile(`panic: `), nil},
	{"a source file location", regexp.MustCompile(`[A-Za-z0-9_-]+(\.go:|\.py", line |\.java:|\.rs:)[0-9]+`),
		[]string{".go:", `.py", line `, ".java:", ".rs:"}},
	{"a Java exception", regexp.MustCompile(`Exception in thread`), nil},
	{"a stack frame", regexp.MustCompile(`\bat [A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$<][A-Za-z0-9_$<>]*)+\(`), []string{"at "}},
	{"a file-system path", regexp.MustCompile(`(^|[^A-Za-z0-9_.~/-])/(home|root|usr|opt|var|etc|tmp|srv|app)/`),
		[]string{"/home/", "/root/", "/usr/", "/opt/", "/var/", "/etc/", "/tmp/", "/srv/", "/app/"}},
	{"a Windows path", regexp.MustCompile(`\b[A-Za-z]:\\`), []string{`:\`}},
}

// maxLeaks bounds the leaks a run keeps for its message and evidence.
const maxLeaks = 32

// leakQuoteLimit bounds a quoted match.
const leakQuoteLimit = 120

// leakScanBytes is how much of each error body, and of each header value,
// SAFE-ERROR-HYGIENE matches its patterns against: a stack trace shows at
// the start of an error, and matching costs time in proportion to the
// text (a second or more per MiB), which a body as long as the body limit
// must not make unbounded. Credential values are looked for in all of it.
const leakScanBytes = 64 << 10

// hygieneScan is what the scan found so far. The client updates it under
// its lock.
type hygieneScan struct {
	scanned int
	leaks   []leak
	more    int // leaks found beyond maxLeaks
}

// leak is one match in an error response.
type leak struct {
	ex    Exchange
	where string // "body" or "header Name"
	what  string // what the match reveals
	quote string // the match, or a redaction of a credential
}

func (l leak) String() string {
	status := strconv.Itoa(l.ex.StatusCode)
	if l.ex.GRPCStatus != "" {
		status = fmt.Sprintf("%s (judged as %d)", l.ex.GRPCStatus, l.ex.StatusCode)
	}
	return fmt.Sprintf("%s %s answered %s whose %s holds %s: %s", l.ex.Method, l.ex.Path, status, l.where, l.what, l.quote)
}

// scan looks for leaks in one error response: its body (as far as it was
// read) and each header value; for a gRPC call, its status message and
// each metadata value.
func (h *hygieneScan) scan(r *response, credentials []string) {
	h.scanned++
	body, header := r.scanned()
	bodyName, headerName := "body", func(k string) string { return "header " + k }
	if r.isGRPC() {
		bodyName, headerName = "status message", func(k string) string { return "metadata " + strings.ToLower(k) }
	}
	h.scanText(r, bodyName, body, credentials)
	names := make([]string, 0, len(header))
	for k := range header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range header[k] {
			h.scanText(r, headerName(k), []byte(v), credentials)
		}
	}
}

// scanText looks for leaks in one body or header value: the credentials
// in all of it, the patterns in its first leakScanBytes. text is not
// copied (a body may be as long as the body limit).
func (h *hygieneScan) scanText(r *response, where string, text []byte, credentials []string) {
	add := func(what, quote string) {
		if len(h.leaks) >= maxLeaks {
			h.more++
			return
		}
		ex := r.ex
		ex.ResponseExcerpt = ""
		h.leaks = append(h.leaks, leak{ex: ex, where: where, what: what, quote: quote})
	}
	for _, cred := range credentials {
		if cred != "" && bytes.Contains(text, []byte(cred)) {
			add("a credential the suite sent", "[redacted]")
		}
	}
	text = text[:min(len(text), leakScanBytes)]
	for _, p := range leakPatterns {
		if p.needles != nil && !slices.ContainsFunc(p.needles, func(n string) bool { return bytes.Contains(text, []byte(n)) }) {
			continue
		}
		loc := p.re.FindIndex(text)
		if loc == nil {
			continue
		}
		// Quote the match with a little of what follows it.
		end := min(len(text), max(loc[1], loc[0]+40), loc[0]+leakQuoteLimit)
		q := strings.TrimLeft(string(text[loc[0]:end]), "\n\t ")
		for _, cred := range credentials {
			if cred != "" {
				q = strings.ReplaceAll(q, cred, "[redacted]")
			}
		}
		add(p.what, fmt.Sprintf("%q", strings.ToValidUTF8(q, "\uFFFD")))
	}
}

// credentials are the credential values the suite sends, which no response
// may hold.
func (c *client) credentials() []string {
	if c.token == "" {
		return nil
	}
	return []string{c.token}
}

// hygieneFindings returns the number of error responses scanned so far,
// the leaks kept and how many more were found.
func (c *client) hygieneFindings() (scanned int, leaks []leak, more int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hygiene.scanned, slices.Clone(c.hygiene.leaks), c.hygiene.more
}

// headerOf is a header of one field, for the battery's requests.
func headerOf(k, v string) http.Header {
	h := http.Header{}
	h.Set(k, v)
	return h
}
