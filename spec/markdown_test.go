package spec_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/aiconform/aiconform/spec"
)

// docDir is the written standard of this version.
var docDir = filepath.Join(spec.Version)

// doc is one parsed Markdown document of the standard.
type doc struct {
	name  string
	lines []string
	// anchors are the GitHub heading anchors of the document.
	anchors map[string]bool
	// sections are the requirement sections, by ID, in document order.
	sections []section
}

// section is a requirement as the Markdown states it:
//
//	### ID
//
//	**Title** · level · STRENGTH
//
//	Statement, one paragraph.
//
//	- **Applies when:** … (optional)
//	- **Not applicable over gRPC:** … (where the catalog says so)
//	- **Procedure:** …
//	- **Rationale:** …
//	- **Anchor:** …
type section struct {
	id, title, level, strength, text string
	line                             int
	fields                           map[string]string
}

var (
	headingRE = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	reqHeadRE = regexp.MustCompile(`^### ([A-Z]+(-[A-Z0-9]+)+)$`)
	metaRE    = regexp.MustCompile(`^\*\*(.+)\*\* · ([a-z]+) · ([A-Z]+)$`)
	bulletRE  = regexp.MustCompile(`^- \*\*([A-Za-z ]+):\*\* (.*)$`)
	linkRE    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
)

// githubSlug is the anchor GitHub gives a heading: lower case, every
// character other than a letter, digit, space, hyphen or underscore
// dropped, spaces turned into hyphens; repeats get -1, -2, ….
func githubSlug(heading string, seen map[string]int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		}
	}
	s := b.String()
	n := seen[s]
	seen[s]++
	if n > 0 {
		s += "-" + strconv.Itoa(n)
	}
	return s
}

func TestGithubSlug(t *testing.T) {
	seen := map[string]int{}
	for _, c := range []struct{ in, want string }{
		{"OIP-HEALTH-LIVE", "oip-health-live"},
		{"Level verdicts", "level-verdicts"},
		{"Safety requirements (SAFE-*, SEC-*)", "safety-requirements-safe--sec-"},
		{"seed-cnn", "seed-cnn"},
		{"Contents of report.json", "contents-of-reportjson"},
		{"JUnit XML (planned)", "junit-xml-planned"},
		{"seed-cnn", "seed-cnn-1"},
	} {
		if got := githubSlug(c.in, seen); got != c.want {
			t.Errorf("githubSlug(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// loadDocs parses every Markdown document of the standard.
func loadDocs(t *testing.T) map[string]*doc {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(docDir, "*.md"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no Markdown documents in %s (%v)", docDir, err)
	}
	docs := map[string]*doc{}
	for _, path := range names {
		d, err := parseDoc(path)
		if err != nil {
			t.Fatal(err)
		}
		docs[d.name] = d
	}
	return docs
}

func parseDoc(path string) (*doc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := &doc{name: filepath.Base(path), anchors: map[string]bool{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		d.lines = append(d.lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]int{}
	fenced := false
	for i, l := range d.lines {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		if m := headingRE.FindStringSubmatch(l); m != nil {
			d.anchors[githubSlug(m[2], seen)] = true
		}
		if m := reqHeadRE.FindStringSubmatch(l); m != nil {
			s, err := parseSection(d.lines, i)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %w", path, i+1, m[1], err)
			}
			d.sections = append(d.sections, s)
		}
	}
	return d, nil
}

// parseSection reads the requirement whose heading is lines[at].
func parseSection(lines []string, at int) (section, error) {
	s := section{id: strings.TrimPrefix(lines[at], "### "), line: at + 1, fields: map[string]string{}}
	i := at + 1
	skipBlank := func() {
		for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
			i++
		}
	}
	skipBlank()
	if i == len(lines) {
		return s, fmt.Errorf("no body")
	}
	m := metaRE.FindStringSubmatch(lines[i])
	if m == nil {
		return s, fmt.Errorf("line %d is %q, want **Title** · level · STRENGTH", i+1, lines[i])
	}
	s.title, s.level, s.strength = m[1], m[2], m[3]
	i++
	skipBlank()
	var para []string
	for i < len(lines) && strings.TrimSpace(lines[i]) != "" {
		if bulletRE.MatchString(lines[i]) || strings.HasPrefix(lines[i], "#") {
			return s, fmt.Errorf("line %d: want a statement paragraph before the bullets", i+1)
		}
		para = append(para, strings.TrimSpace(lines[i]))
		i++
	}
	s.text = strings.Join(para, " ")
	cur := ""
	for ; i < len(lines) && !strings.HasPrefix(lines[i], "#"); i++ {
		l := lines[i]
		switch bm := bulletRE.FindStringSubmatch(l); {
		case bm != nil:
			cur = bm[1]
			if _, dup := s.fields[cur]; dup {
				return s, fmt.Errorf("line %d: %s given twice", i+1, cur)
			}
			s.fields[cur] = bm[2]
		case strings.HasPrefix(l, "  ") && cur != "" && strings.TrimSpace(l) != "":
			s.fields[cur] += " " + strings.TrimSpace(l)
		case strings.TrimSpace(l) == "":
			cur = ""
		default:
			return s, fmt.Errorf("line %d: %q is neither a bullet nor its continuation", i+1, l)
		}
	}
	return s, nil
}

// TestMarkdownMatchesCatalog: every requirement is defined by exactly one
// heading, in the document its doc field names, and the Markdown and the
// catalog say the same thing.
func TestMarkdownMatchesCatalog(t *testing.T) {
	docs := loadDocs(t)
	cat := mustLoad(t)
	defined := map[string]string{} // ID → document
	sections := map[string]section{}
	for _, d := range docs {
		for _, s := range d.sections {
			if other, dup := defined[s.id]; dup {
				t.Errorf("%s:%d: %s is already defined in %s", d.name, s.line, s.id, other)
			}
			defined[s.id] = d.name
			sections[s.id] = s
			if _, ok := spec.Lookup(s.id); !ok {
				t.Errorf("%s:%d: %s has a heading but no catalog entry", d.name, s.line, s.id)
			}
		}
	}
	for _, r := range cat.Requirements {
		s, ok := sections[r.ID]
		if !ok {
			t.Errorf("%s: no Markdown heading defines it", r.ID)
			continue
		}
		file, _, _ := strings.Cut(r.Doc, "#")
		if defined[r.ID] != file {
			t.Errorf("%s: doc names %s, but %s defines it", r.ID, file, defined[r.ID])
		}
		where := defined[r.ID] + ":" + strconv.Itoa(s.line) + ": " + r.ID
		for _, c := range []struct{ field, md, json string }{
			{"title", s.title, r.Title},
			{"level", s.level, string(r.Level)},
			{"strength", s.strength, string(r.Strength)},
			{"text", s.text, r.Text},
			{"appliesWhen", s.fields["Applies when"], r.AppliesWhen},
			{"rationale", s.fields["Rationale"], r.Rationale},
			{"anchor", s.fields["Anchor"], r.Anchor},
		} {
			if c.md != c.json {
				t.Errorf("%s: %s differs\n  Markdown: %q\n  catalog:  %q", where, c.field, c.md, c.json)
			}
		}
		for _, b := range spec.Bindings {
			why, _ := r.NotApplicableOver(b)
			if md := s.fields["Not applicable over "+b.Name()]; md != why {
				t.Errorf("%s: not applicable over %s differs\n  Markdown: %q\n  catalog:  %q", where, b.Name(), md, why)
			}
		}
		if strings.TrimSpace(s.fields["Procedure"]) == "" {
			t.Errorf("%s: no test procedure", where)
		}
		for k := range s.fields {
			if !slices.Contains([]string{"Applies when", "Not applicable over REST", "Not applicable over gRPC", "Procedure", "Rationale", "Anchor"}, k) {
				t.Errorf("%s: unknown field %q", where, k)
			}
		}
	}
}

// TestDocAnchorsResolve: each requirement's doc field names an existing
// document and one of its headings.
func TestDocAnchorsResolve(t *testing.T) {
	docs := loadDocs(t)
	for _, r := range mustLoad(t).Requirements {
		file, anchor, ok := strings.Cut(r.Doc, "#")
		if !ok {
			t.Errorf("%s: doc %q has no #anchor", r.ID, r.Doc)
			continue
		}
		d, ok := docs[file]
		if !ok {
			t.Errorf("%s: doc %q: no document %s in %s", r.ID, r.Doc, file, docDir)
			continue
		}
		if !d.anchors[anchor] {
			t.Errorf("%s: doc %q: %s has no heading with anchor #%s", r.ID, r.Doc, file, anchor)
		}
	}
}

// TestMarkdownLinksResolve: every relative link between the documents of
// the standard reaches a file and, where it has one, a heading.
func TestMarkdownLinksResolve(t *testing.T) {
	docs := loadDocs(t)
	for _, d := range docs {
		for i, l := range d.lines {
			for _, m := range linkRE.FindAllStringSubmatch(l, -1) {
				target := m[1]
				if strings.Contains(target, "://") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				where := fmt.Sprintf("%s:%d: link %s", d.name, i+1, target)
				if file == "" {
					file = d.name
				}
				if _, err := os.Stat(filepath.Join(docDir, file)); err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				if anchor == "" {
					continue
				}
				if td, ok := docs[file]; !ok || !td.anchors[anchor] {
					t.Errorf("%s: no heading with anchor #%s in %s", where, anchor, file)
				}
			}
		}
	}
}

// TestEveryIDIsInTheText: the documents mention every requirement ID, and
// every ID-shaped word of the area prefixes names a requirement.
func TestEveryIDIsInTheText(t *testing.T) {
	docs := loadDocs(t)
	var all strings.Builder
	for _, d := range docs {
		all.WriteString(strings.Join(d.lines, "\n"))
		all.WriteString("\n")
	}
	text := all.String()
	for _, id := range spec.IDs() {
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(id) + `\b`).MatchString(text) {
			t.Errorf("%s does not appear in %s/*.md", id, docDir)
		}
	}
	mention := regexp.MustCompile(`\b(?:OIP|NUM|LAT|SAFE|SEC)(?:-[A-Z0-9]+)+\b`)
	for _, id := range mention.FindAllString(text, -1) {
		if _, ok := spec.Lookup(id); !ok {
			t.Errorf("the documents mention %s, which is not a requirement", id)
		}
	}
}

// TestToleranceTables: tolerances.md states each class's rtol and atol in
// a table under the class's heading, and they equal the catalog's.
func TestToleranceTables(t *testing.T) {
	d := loadDocs(t)["tolerances.md"]
	if d == nil {
		t.Fatal("tolerances.md is missing")
	}
	row := regexp.MustCompile(`^\| ([0-9.e+-]+) \| ([0-9.e+-]+) \|`)
	stated := map[string][2]float64{}
	class := ""
	for _, l := range d.lines {
		if strings.HasPrefix(l, "### ") {
			class = strings.TrimPrefix(l, "### ")
			continue
		}
		if m := row.FindStringSubmatch(l); m != nil && class != "" {
			rtol, err1 := strconv.ParseFloat(m[1], 64)
			atol, err2 := strconv.ParseFloat(m[2], 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("tolerances.md: class %s: bad row %q", class, l)
			}
			stated[class] = [2]float64{rtol, atol}
		}
	}
	cat := mustLoad(t)
	if len(stated) != len(cat.ToleranceClasses) {
		t.Errorf("tolerances.md states classes %v, the catalog has %d", stated, len(cat.ToleranceClasses))
	}
	for _, c := range cat.ToleranceClasses {
		got, ok := stated[c.ID]
		if !ok {
			t.Errorf("tolerances.md has no table for class %s", c.ID)
			continue
		}
		if got != [2]float64{c.RTol, c.ATol} {
			t.Errorf("class %s: tolerances.md says rtol %g atol %g, the catalog rtol %g atol %g", c.ID, got[0], got[1], c.RTol, c.ATol)
		}
	}
}

// TestVocabularyIsDocumented: the result statuses, the verdicts and the
// not-applicable prefix that the code uses are the ones README.md defines.
func TestVocabularyIsDocumented(t *testing.T) {
	readme := strings.Join(loadDocs(t)["README.md"].lines, "\n")
	for _, s := range []spec.Status{spec.Pass, spec.Fail, spec.Skip, spec.Error} {
		if !strings.Contains(readme, "| `"+string(s)+"` |") {
			t.Errorf("README.md's status table lacks %q", s)
		}
	}
	for _, v := range []spec.Verdict{spec.VerdictPass, spec.VerdictFail, spec.VerdictNotRun} {
		if !strings.Contains(readme, "**"+string(v)+"**") {
			t.Errorf("README.md does not define verdict %q", v)
		}
	}
	if p := strings.TrimSpace(spec.NotApplicablePrefix); !strings.Contains(readme, "`"+p+"`") {
		t.Errorf("README.md does not define the skip prefix %q", p)
	}
	for _, l := range spec.Levels {
		if !strings.Contains(readme, "| `"+string(l)+"` |") {
			t.Errorf("README.md's level table lacks %q", l)
		}
	}
}
