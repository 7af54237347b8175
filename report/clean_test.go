package report

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

func TestClean(t *testing.T) {
	cases := []struct{ in, want string }{
		{"laptop-42", "laptop-42"},
		{"Zoë's Mac — 東京", "Zoë's Mac — 東京"},
		{"\x1b[2K\rclean-host", `\x1b[2K\x0dclean-host`},
		{"a\nb\tc", `a\x0ab\x09c`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"\u009b31m", `\x9b31m`},
		{"gpj.\u202eexe", `gpj.\u202eexe`},
		{"line\u2028sep", `line\u2028sep`},
		{"del\x7f", `del\x7f`},
	}
	for _, c := range cases {
		if got := Clean(c.in); got != c.want {
			t.Errorf("Clean(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzClean: the result is valid UTF-8 without a control character, and
// cleaning it again changes nothing.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "x", "\x1b]0;title\x07", "\xc3", "\u202e", "\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Clean(s)
		if !utf8.ValidString(c) {
			t.Fatalf("Clean(%q) = %q is not UTF-8", s, c)
		}
		for _, r := range c {
			if unsafeRune(r) {
				t.Fatalf("Clean(%q) = %q keeps %U", s, c, r)
			}
		}
		if Clean(c) != c {
			t.Fatalf("Clean is not idempotent on %q", s)
		}
		if isClean(s) && c != s {
			t.Fatalf("a clean string changed: %q -> %q", s, c)
		}
		if !strings.Contains(s, "\\") && !strings.Contains(c, "\\") && c != s {
			t.Fatalf("changed without an escape: %q -> %q", s, c)
		}
	})
}

// TestLogWriterValues: every kind of field value reads as itself in the
// log lines, not as Go's print of the bytes of its JSON.
func TestLogWriterValues(t *testing.T) {
	var buf bytes.Buffer
	log := zerolog.New(LogWriter(&buf, false))
	log.Info().Bool("salt", true).Int("n", 42).Strs("names", []string{"a", "b"}).Str("s", "x\x1b[31my").Msg("m")
	got := buf.String()
	for _, want := range []string{"salt=true", "n=42", `names=["a","b"]`, `s="x`} {
		if !strings.Contains(got, want) {
			t.Errorf("log line %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "\x1b") {
		t.Errorf("log line %q holds an escape sequence", got)
	}
}
