package money

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// cleanName tidies a name people other than its author will read (gift
// names, tier names, medal names) the way danmaku is tidied: invisible
// format characters (zero-width, bidi embeddings, overrides and isolates,
// direction marks) are removed, so a name cannot reverse or hide the text
// around it; whitespace runs become one space; control characters are
// refused. The result is 1 to max characters.
func cleanName(field, name string, max int) (string, error) {
	if !utf8.ValidString(name) {
		return "", &InputError{Msg: field + " is not valid UTF-8", Code: "bad_encoding"}
	}
	var b strings.Builder
	space := false
	for _, r := range name {
		switch {
		case invisible(r):
			continue
		case unicode.IsSpace(r):
			space = true
			continue
		case unicode.IsControl(r):
			return "", &InputError{Msg: field + " must not contain control characters", Code: "control_chars"}
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	out := b.String()
	if n := utf8.RuneCountInString(out); n < 1 || n > max {
		return "", &InputError{Msg: field + " must be 1 to " + strconv.Itoa(max) + " characters"}
	}
	return out, nil
}

// invisible reports the format characters danmaku strips too: zero-width
// space and joiners, word joiner, BOM, LRM/RLM, bidi embeddings and
// overrides (U+202A–U+202E) and isolates (U+2066–U+2069).
func invisible(r rune) bool {
	return r == '\u200b' || r == '\u200c' || r == '\u200d' || r == '\u2060' || r == '\ufeff' ||
		r == '\u200e' || r == '\u200f' || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}
