package report

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

// Clean makes an agent-supplied string safe to print on a terminal: control
// characters (C0, DEL, C1: escape sequences, carriage returns, new lines,
// tabs), Unicode's bidirectional and line-separator controls, and bytes
// that are not UTF-8 are written as \xNN or \uNNNN escapes. A hostname or
// a process name can then neither move the cursor, recolour the screen,
// draw a forged line over a real one, nor break a table's columns. Every
// table printer of both binaries passes what it did not write itself
// through Clean; JSON output is escaped by its encoder.
func Clean(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafeRune(r) && r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func isClean(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n <= 1) || unsafeRune(r) {
			return false
		}
		i += n
	}
	return true
}

func unsafeRune(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r < 0xa0) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r)
}

// CleanLines is Clean on each line of s: its new lines stay, nothing else
// reaches the terminal raw.
func CleanLines(s string) string {
	if isClean(strings.ReplaceAll(s, "\n", "")) {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Clean(l)
	}
	return strings.Join(lines, "\n")
}

// LogWriter is a zerolog console writer whose field values pass through
// Clean: a log line quotes hostnames, peers and errors that agents chose.
func LogWriter(out io.Writer, color bool) zerolog.ConsoleWriter {
	clean := func(i any) string {
		if b, ok := i.([]byte); ok { // a bool, a number in an array, an object: zerolog gives its JSON
			return Clean(string(b))
		}
		return Clean(fmt.Sprint(i))
	}
	return zerolog.ConsoleWriter{Out: out, NoColor: !color, TimeFormat: time.TimeOnly,
		FormatFieldValue: clean, FormatErrFieldValue: clean,
		FormatMessage: func(i any) string {
			if i == nil {
				return ""
			}
			return Clean(fmt.Sprint(i))
		}}
}
