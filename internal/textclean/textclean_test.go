package textclean

import (
	"testing"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	for _, c := range []struct{ in, want, problem string }{
		{"  hello   world ", "hello world", ""},
		{"evil\u202egnp.exe", "evilgnp.exe", ""},
		{"a\u200bb\u2066c\u2069\u061cd", "abcd", ""},
		{"line\nbreak\ttab", "line break tab", ""},
		{"bell\a", "", ControlChars},
		{"nul\x00", "", ControlChars},
		{"bad\xffutf8", "", BadEncoding},
		{"傻\u200b逼", "傻逼", ""},
		{"\u200b\u202e", "", ""},
	} {
		got, problem := Clean(c.in)
		if got != c.want || problem != c.problem {
			t.Errorf("Clean(%q) = %q, %q; want %q, %q", c.in, got, problem, c.want, c.problem)
		}
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"hello", "a\u202eb", " \t x \n", "\xff", "傻 * 逼"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, problem := Clean(s)
		if problem != "" {
			if out != "" {
				t.Fatalf("refused %q but returned %q", s, out)
			}
			return
		}
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out of %q", s)
		}
		for _, r := range out {
			if Invisible(r) || r == '\n' || r == '\t' {
				t.Fatalf("Clean(%q) = %q keeps %U", s, out, r)
			}
		}
		if again, p := Clean(out); again != out || p != "" {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, out, again)
		}
	})
}
