package account

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/secure/precis"

	"github.com/livehouse/livehouse/internal/httpjson"
)

const (
	minUsername = 2 // two-character names are common in Chinese
	maxUsername = 24
	minPassword = 10
	maxPassword = 256
)

// NormalizeUsername returns the name as it will be shown (NFKC, per the
// PRECIS UsernameCasePreserved profile) and the key that decides
// uniqueness: case-folded and reduced to its Unicode confusable skeleton,
// so "Alice", "ALICE" and "Аlice" (Cyrillic А) are one name.
func NormalizeUsername(raw string) (display, key string, err error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", "", invalidCode("username_invalid", "username is empty")
	}
	if !utf8.ValidString(s) {
		return "", "", invalidCode("username_invalid", "username is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return "", "", invalidCode("username_invalid", "username must not contain spaces or control characters")
		}
	}
	display, err = precis.UsernameCasePreserved.String(s)
	if err != nil {
		return "", "", invalidCode("username_invalid", "username %q has characters that are not allowed in names", clip(s, 32))
	}
	if n := utf8.RuneCountInString(display); n < minUsername || n > maxUsername {
		return "", "", invalidCode("username_invalid", "username must be %d to %d characters", minUsername, maxUsername)
	}
	for _, r := range display {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-' || r == '.') {
			return "", "", invalidCode("username_invalid", "username may use letters, digits, '_', '-' and '.' only")
		}
	}
	folded, err := precis.UsernameCaseMapped.String(display)
	if err != nil {
		return "", "", invalidCode("username_invalid", "username %q cannot be case-folded", clip(s, 32))
	}
	return display, confusables.Skeleton(folded), nil
}

// checkPassword applies the only password rules worth having: long enough,
// not absurdly long (argon2 cost), and not the username.
func checkPassword(password, username string) error {
	n := utf8.RuneCountInString(password)
	if n < minPassword {
		return invalidCode("password_too_short", "password must be at least %d characters", minPassword)
	}
	if len(password) > maxPassword {
		return invalidCode("password_too_long", "password must be at most %d bytes", maxPassword)
	}
	if strings.EqualFold(password, username) {
		return invalidCode("password_is_username", "password must not be the username")
	}
	return nil
}

// invalid and invalidCode refuse input with a message safe to show and,
// for the refusals clients translate, a stable code.
func invalid(format string, args ...any) error {
	return httpjson.BadRequest("", format, args...)
}

func invalidCode(code, format string, args ...any) error {
	return httpjson.BadRequest(code, format, args...)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
