package schemas

import (
	"regexp"
	"strconv"
	"strings"
)

// Redacted stands in a message for a value that looks like a credential.
const Redacted = "[redacted credential]"

// credentialKey matches, in a property name lowercased with "-", "_" and
// "." removed, the names under which documents carry credentials: tokens
// (accessToken, token, tokenEnv) but not counts of tokens (max_tokens).
var credentialKey = regexp.MustCompile(`token$|^token|apikey|password|passwd|secret|authorization|credential|privatekey|accesskey|cookie`)

// credentialText matches text that is a credential whatever its property:
// an HTTP authorization value (Bearer or Basic and a token) or a JSON Web
// Token (base64url of a JSON header, a payload and a signature).
var credentialText = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[a-z0-9._~+/=-]{4,}|eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{2,}\.`)

// minSweep is the shortest credential that is hidden wherever it occurs in
// a message; a shorter one (a password "abc") is hidden only in the
// messages about its own location, where it is quoted, so that ordinary
// words of other messages are left alone.
const minSweep = 8

// IsCredential reports whether s, the value of the property key (""
// for an array element or the document itself), is to be kept out of
// messages: the property is named like a credential or s looks like one.
func IsCredential(key, s string) bool {
	k := strings.NewReplacer("-", "", "_", "", ".", "").Replace(strings.ToLower(key))
	return (k != "" && credentialKey.MatchString(k)) || credentialText.MatchString(s)
}

// QuoteValue quotes s, the value of the property key, for a message, or
// returns Redacted when IsCredential says it must not be shown.
func QuoteValue(key, s string) string {
	if IsCredential(key, s) {
		return Redacted
	}
	return strconv.Quote(s)
}

// credentials returns every string in doc, property names included, that
// IsCredential says must not be shown.
func credentials(doc any) []string {
	var out []string
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if IsCredential("", k) {
					out = append(out, k)
				}
				walk(k, e)
			}
		case []any:
			for _, e := range v {
				walk("", e)
			}
		case string:
			if IsCredential(key, v) {
				out = append(out, v)
			}
		}
	}
	walk("", doc)
	return out
}

// redact returns msg with every credential hidden: value, the failing
// value of property key that msg is about, in any quoted form, and each of
// the document's credentials (long enough to be told from ordinary words)
// wherever it occurs.
func redact(msg, key string, value any, docCredentials []string) string {
	hide := func(s string, raw bool) {
		msg = strings.ReplaceAll(msg, quote(s), Redacted)
		msg = strings.ReplaceAll(msg, strconv.Quote(s), Redacted)
		if raw && s != "" {
			msg = strings.ReplaceAll(msg, s, Redacted)
		}
	}
	if s, ok := value.(string); ok && IsCredential(key, s) {
		hide(s, len(s) >= minSweep)
	}
	for _, s := range docCredentials {
		if len(s) >= minSweep {
			hide(s, true)
		}
	}
	return msg
}
