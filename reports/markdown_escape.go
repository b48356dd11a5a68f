package reports

import (
	"html"
	"strings"
)

// The Markdown rendering prints text a target controls (its error bodies,
// echoed in messages and excerpts) on pages that are published. Every
// string from the report goes through one of the functions below, so that
// it shows as the text it is and never becomes Markdown or HTML.

// mdText escapes s for inline GitHub-flavoured Markdown: a paragraph, a
// list item, a heading or a table cell. Line breaks become spaces; &, <
// and > become character references, so no HTML tag (</details> or
// <script>) and no autolink in angle brackets survives; the characters of
// emphasis, code, links and images, strikethrough, math, headings and
// table cells (\ ` * _ [ ] ~ $ # |) are escaped with a backslash; a
// leading - + = or list number that could open a list, a thematic break
// or a setext heading is escaped. Leading and trailing spaces are dropped:
// they could open an indented code block.
func mdText(s string) string {
	s = strings.TrimSpace(oneLine(s))
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	for i, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\\', '`', '*', '_', '[', ']', '~', '$', '#', '|':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '-', '+', '=':
			if i == 0 && opensBlock(s[1:], r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		case '.', ')':
			if isDigits(s[:i]) && opensBlock(s[i+1:], 0) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// opensBlock reports whether rest, what follows a marker at the start of
// a line, lets the marker open a block: a list item (a space, a tab or
// nothing follows), or a thematic break or setext underline (the marker
// is repeated; c is the marker, 0 for a list number).
func opensBlock(rest string, c rune) bool {
	return rest == "" || rest[0] == ' ' || rest[0] == '\t' || (c != 0 && rune(rest[0]) == c)
}

// isDigits reports whether s is made of ASCII digits only (an ordered
// list marker is 1 to 9 digits and a . or ) at the start of a line).
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// mdCodeBlock writes s as a fenced code block: its lines show as they are,
// whatever they hold. The fence is longer than any run of backticks in s,
// so no line of s can close it. info, the language hint, must be a
// constant of the renderer.
func mdCodeBlock(b *strings.Builder, s, info string) {
	s = cleanText(s, true)
	fence := strings.Repeat("`", max(3, longestRun(s, '`')+1))
	b.WriteString(fence + info + "\n")
	b.WriteString(s)
	if !strings.HasSuffix(s, "\n") {
		b.WriteByte('\n')
	}
	b.WriteString(fence + "\n")
}

// mdHTML escapes s for the HTML of the rendering (a <summary>): it
// stays on one line, since a blank line would end the HTML block.
func mdHTML(s string) string {
	return html.EscapeString(strings.TrimSpace(oneLine(s)))
}

// longestRun is the length of the longest run of c in s.
func longestRun(s string, c byte) int {
	longest, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
			longest = max(longest, n)
		} else {
			n = 0
		}
	}
	return longest
}
