package money

import (
	"strconv"
	"unicode/utf8"

	"github.com/livehouse/livehouse/internal/textclean"
)

// cleanName tidies a name people other than its author will read (gift
// names, tier names, medal names) the way danmaku is tidied
// (textclean.Clean). The result is 1 to max characters.
func cleanName(field, name string, max int) (string, error) {
	out, problem := textclean.Clean(name)
	switch problem {
	case textclean.BadEncoding:
		return "", &InputError{Msg: field + " is not valid UTF-8", Code: problem}
	case textclean.ControlChars:
		return "", &InputError{Msg: field + " must not contain control characters", Code: problem}
	}
	if n := utf8.RuneCountInString(out); n < 1 || n > max {
		return "", &InputError{Msg: field + " must be 1 to " + strconv.Itoa(max) + " characters"}
	}
	return out, nil
}
