package conformance

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// The scan of SAFE-ERROR-HYGIENE: the body and headers of every error
// response of the run, as it arrives, for the leaks the procedure lists.

// leakPatterns are the patterns of SAFE-ERROR-HYGIENE but the credential
// values, each with what a match reveals.
var leakPatterns = []struct {
	what string
	re   *regexp.Regexp
}{
	{"a Python traceback", regexp.MustCompile(`Traceback \(most recent call last\)`)},
	{"a Go goroutine header", regexp.MustCompile(`goroutine [0-9]+ \[`)},
	{"a panic", regexp.MustCompile(`panic: `)},
	{"a source file location", regexp.MustCompile(`[A-Za-z0-9_-]+(\.go:|\.py", line |\.java:|\.rs:)[0-9]+`)},
	{"a Java exception", regexp.MustCompile(`Exception in thread`)},
	{"a stack frame", regexp.MustCompile(`\bat [A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$<][A-Za-z0-9_$<>]*)+\(`)},
	{"a file-system path", regexp.MustCompile(`(^|[^A-Za-z0-9_.~/-])/(home|root|usr|opt|var|etc|tmp|srv|app)/`)},
	{"a Windows path", regexp.MustCompile(`\b[A-Za-z]:\\`)},
}

// maxLeaks bounds the leaks a run keeps for its message and evidence.
const maxLeaks = 32

// leakQuoteLimit bounds a quoted match.
const leakQuoteLimit = 120

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
	return fmt.Sprintf("%s %s answered %d whose %s holds %s: %s", l.ex.Method, l.ex.Path, l.ex.StatusCode, l.where, l.what, l.quote)
}

// scan looks for leaks in one error response: its body (as far as it was
// read) and each header value.
func (h *hygieneScan) scan(r *response, credentials []string) {
	h.scanned++
	h.scanText(r, "body", string(r.body), credentials)
	names := make([]string, 0, len(r.header))
	for k := range r.header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range r.header[k] {
			h.scanText(r, "header "+k, v, credentials)
		}
	}
}

func (h *hygieneScan) scanText(r *response, where, text string, credentials []string) {
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
		if cred != "" && strings.Contains(text, cred) {
			add("a credential the suite sent", "[redacted]")
		}
	}
	for _, p := range leakPatterns {
		loc := p.re.FindStringIndex(text)
		if loc == nil {
			continue
		}
		// Quote the match with a little of what follows it.
		end := min(len(text), max(loc[1], loc[0]+40), loc[0]+leakQuoteLimit)
		q := strings.TrimLeft(text[loc[0]:end], "\n\t ")
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
