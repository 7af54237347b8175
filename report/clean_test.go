package report

import (
	"strings"
	"testing"
	"unicode/utf8"
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
