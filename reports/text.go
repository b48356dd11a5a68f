package reports

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/spec"
)

// formatNumber writes v for a reader: integers in full, other values
// with 6 significant digits, and the non-finite values as NaN, +Inf and
// -Inf (as report.json does).
func formatNumber(v float64) string {
	if name, ok := numerics.NonFinite(v); ok {
		return name
	}
	switch {
	case v == 0:
		return "0" // and not -0
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// formatExact writes v with as many digits as tell it apart from every
// other float64: for the values a comparison got and wanted.
func formatExact(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) || v == 0 {
		return formatNumber(v)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// formatMeasure writes a measure with its unit: none for a count, and
// seconds for a thousand milliseconds and more.
func formatMeasure(m conformance.Measure) string {
	v := float64(m.Value)
	switch {
	case m.Unit == conformance.UnitCount || m.Unit == "":
		return formatNumber(v)
	case m.Unit == conformance.UnitMillisecond && math.Abs(v) >= 1000 && !math.IsInf(v, 0):
		return formatNumber(v/1000) + " s"
	}
	return formatNumber(v) + " " + m.Unit
}

// formatIndex writes a multi-index as [0 7].
func formatIndex(ix []int64) string {
	s := make([]string, len(ix))
	for i, v := range ix {
		s[i] = strconv.FormatInt(v, 10)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// levelKeys returns the levels of m in the standard's order, then any
// other key m holds in lexical order, so that renderings of a map are
// deterministic.
func levelKeys[V any](m map[spec.Level]V) []spec.Level {
	out := make([]spec.Level, 0, len(m))
	for _, l := range spec.Levels {
		if _, ok := m[l]; ok {
			out = append(out, l)
		}
	}
	var other []spec.Level
	for l := range m {
		if !slices.Contains(spec.Levels, l) {
			other = append(other, l)
		}
	}
	slices.Sort(other)
	return append(out, other...)
}

// sortedKeys returns the keys of m in lexical order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// plural writes n with the singular or plural noun.
func plural[N int | int64](n N, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// modelLabel names a served model as messages do: name or name@version.
func modelLabel(model, version string) string {
	return conformance.ModelRef{Name: model, Version: version}.Label()
}

// oneLine makes untrusted text printable on one line: invalid UTF-8 and
// control characters become U+FFFD, and every line break (CR, LF, CRLF,
// and the Unicode line and paragraph separators) a space.
func oneLine(s string) string {
	return cleanText(s, false)
}

// cleanText makes untrusted text safe to print: invalid UTF-8 and control
// characters other than tab become U+FFFD. Line breaks become "\n" when
// keepLines is set (CRLF and a lone CR included), a space otherwise.
func cleanText(s string, keepLines bool) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == '\r' || r == '\n' || r == '\u2028' || r == '\u2029' || r == '\u0085':
			if r == '\r' && i < len(s) && s[i] == '\n' {
				i++
			}
			if keepLines {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		case r == '\t':
			b.WriteRune(r)
		case unicode.IsControl(r):
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
