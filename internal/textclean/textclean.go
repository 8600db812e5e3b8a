// Package textclean tidies text that people other than its author will
// read (danmaku, channel titles and tags, gift and tier names) in one way:
// invisible formatting characters that could hide text or reverse the text
// around it on a page are removed, whitespace runs become one space, the
// ends are trimmed, and invalid UTF-8 and other control characters are
// refused. Each domain adds its own length rules and error type.
package textclean

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Problem codes, also the API's error codes.
const (
	BadEncoding  = "bad_encoding"
	ControlChars = "control_chars"
)

// Clean returns the tidied text, or "" and the code of what is wrong.
func Clean(s string) (string, string) {
	if !utf8.ValidString(s) {
		return "", BadEncoding
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case Invisible(r):
			continue
		case unicode.IsSpace(r):
			space = true
			continue
		case unicode.IsControl(r):
			return "", ControlChars
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String(), ""
}

// Invisible reports the formatting characters Clean removes: zero-width
// space and joiners, word joiner, BOM, the direction marks (LRM, RLM, ALM),
// bidi embeddings and overrides (U+202A–U+202E) and isolates
// (U+2066–U+2069).
func Invisible(r rune) bool {
	switch {
	case r == '\u200b', r == '\u200c', r == '\u200d', r == '\u2060', r == '\ufeff',
		r == '\u200e', r == '\u200f', r == '\u061c':
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}
