package policy

import (
	"errors"
	"net/http"

	"github.com/livehouse/livehouse/internal/httpjson"
)

// Denied explains a refusal. Anonymous is true when logging in could help.
type Denied struct {
	Reason    string
	Anonymous bool
	// Kind names the common refusals for clients to explain in their own
	// language: muted, channel_banned, platform_banned ("" for others).
	Kind string
}

func (d *Denied) Error() string { return d.Reason }

// As answers a refusal over HTTP (httpjson.Fail): 401 when logging in could
// help, else 403 forbidden with its kind as "reason".
func (d *Denied) As(target any) bool {
	p, ok := target.(**httpjson.Problem)
	if !ok {
		return false
	}
	if d.Anonymous {
		*p = httpjson.NewProblem(http.StatusUnauthorized, "", d.Reason)
	} else {
		*p = &httpjson.Problem{Status: http.StatusForbidden, Code: "forbidden", Message: d.Reason, Reason: d.Kind}
	}
	return true
}

func deny(reason string) error { return &Denied{Reason: reason} }

// IsDenied reports whether err is a policy refusal.
func IsDenied(err error) (*Denied, bool) {
	var d *Denied
	ok := errors.As(err, &d)
	return d, ok
}

// DenialKind is the Kind of a refusal, or "".
func DenialKind(err error) string {
	if d, ok := IsDenied(err); ok {
		return d.Kind
	}
	return ""
}

// Channel errors every domain that acts in a channel meets; the channel
// domain returns them.
var (
	// ErrNoChannel is an unknown slug (or id).
	ErrNoChannel = httpjson.NewProblem(http.StatusNotFound, "", "channel not found")
	// ErrChannelDisabled refuses chat and money in a channel a platform
	// admin switched off; earnings already made can still be withdrawn.
	ErrChannelDisabled = httpjson.NewProblem(http.StatusForbidden, "channel_disabled", "this channel has been disabled by the platform")
)

func invalid(msg string) error { return httpjson.BadRequest("", "%s", msg) }
