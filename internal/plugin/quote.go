package plugin

import (
	"encoding/json"
	"fmt"
	"strings"
)

// String literals of the languages the Sentinel formats are written in.

// pyQuote is a Python string literal.
func pyQuote(s string) string { return doubleQuote(s, `\x%02x`) }

// doubleQuote is a double-quoted literal with backslash escapes, control
// characters written with control (a format of the rune).
func doubleQuote(s, control string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, control, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// rbQuote is a single-quoted Ruby string literal, which interpolates
// nothing.
func rbQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// jsQuote is a JavaScript string literal.
func jsQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// javaQuote is a Java string literal.
func javaQuote(s string) string { return doubleQuote(s, `\u%04x`) }

// propertiesValue escapes a value of a Java .properties file.
func propertiesValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}
