package httpjson

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Problem is the one error type of the HTTP API: what a client is told when
// a request fails. Domains return Problems (their refusals and sentinel
// errors are Problems, or convert to one through errors.As, as policy
// refusals do) and every handler answers an error with Fail.
//
// On the wire it is {"error": Message, "code": Code} plus "reason" when set
// and any Extra fields, with a Retry-After header when Retry is set.
type Problem struct {
	Status  int    // HTTP status
	Code    string // stable code clients act on; "" is the status's generic code
	Message string // safe to show the client
	// Retry, when positive, tells the client it may try again after this
	// long (Retry-After, whole seconds rounded up).
	Retry time.Duration
	// Reason is a finer kind of a refusal clients explain in their own
	// language (muted, channel_banned, platform_banned); "" for none.
	Reason string
	// Extra are further fields of the answer (a current price, a report).
	Extra map[string]any

	err error // what it stands for (Wrap, Internal); logged for a 5xx, never shown
}

func (p *Problem) Error() string { return p.Message }

// Unwrap is the error the Problem stands for, if any: errors.Is still
// finds a domain's sentinel through it.
func (p *Problem) Unwrap() error { return p.err }

// NewProblem is a Problem with status, code ("" for the status's generic
// one) and a message.
func NewProblem(status int, code, msg string) *Problem {
	return &Problem{Status: status, Code: code, Message: msg}
}

// BadRequest is a 400 refusal of input; code "" means bad_request.
func BadRequest(code, format string, args ...any) *Problem {
	return &Problem{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap is err as a Problem with status and code ("" for the status's
// generic one): its message is err's text, and errors.Is and errors.As
// still see err (a sentinel with detail: "slug is already taken: demo").
func Wrap(err error, status int, code string) *Problem {
	return &Problem{Status: status, Code: code, Message: err.Error(), err: err}
}

// Internal is a 500 for an error the client can do nothing about (a bug, the
// database gone); Fail logs err and shows only "internal error".
func Internal(err error) *Problem {
	return &Problem{Status: http.StatusInternalServerError, Message: "internal error", err: err}
}

// Fail answers err: a Problem (or an error that converts to one) as itself,
// anything else as 500 internal, logged through LogFailures.
func Fail(w http.ResponseWriter, err error) {
	var p *Problem
	if !errors.As(err, &p) {
		p = Internal(err)
	}
	if p.err != nil && p.Status >= 500 {
		logFailure(w, p.err)
	}
	if p.Retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds(p.Retry)))
	}
	code := p.Code
	if code == "" {
		code = StatusCode(p.Status)
	}
	body := map[string]any{"error": p.Message, "code": code}
	if p.Reason != "" {
		body["reason"] = p.Reason
	}
	for k, v := range p.Extra {
		body[k] = v
	}
	Write(w, p.Status, body)
}

// Error answers status with msg and the status's generic code.
func Error(w http.ResponseWriter, status int, msg string) {
	Fail(w, NewProblem(status, "", msg))
}

// BadBody answers a Decode error; any other error is a 400 bad_request.
func BadBody(w http.ResponseWriter, err error) {
	var p *Problem
	if !errors.As(err, &p) {
		p = BadRequest("", "%s", err.Error())
	}
	Fail(w, p)
}

// RetryAfterSeconds rounds a wait up for the Retry-After header.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// StatusCode is the generic error code of an HTTP status.
func StatusCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestTimeout:
		return "timeout"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal"
	}
	return "error"
}

// LogFailures makes Fail log, with log, the errors it answers 500 for,
// with the request's method and path. A request whose client went away
// (context.Canceled) is logged at debug level only.
func LogFailures(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&failureLog{ResponseWriter: w, log: log, r: r}, r)
	})
}

// failureLog carries the logger to Fail. It hides nothing: Unwrap serves
// http.ResponseController and WebSocket upgrades, Flush and ReadFrom pass
// through.
type failureLog struct {
	http.ResponseWriter
	log *slog.Logger
	r   *http.Request
}

func (f *failureLog) Unwrap() http.ResponseWriter { return f.ResponseWriter }

func (f *failureLog) Flush() { _ = http.NewResponseController(f.ResponseWriter).Flush() }

func (f *failureLog) ReadFrom(src io.Reader) (int64, error) { return io.Copy(f.ResponseWriter, src) }

// logFailure logs err with the logger LogFailures put around w, or, for a
// handler served without it (a test), slog's default.
func logFailure(w http.ResponseWriter, err error) {
	log, attrs := slog.Default(), []any{"err", err}
	for w != nil {
		if f, ok := w.(*failureLog); ok {
			log, attrs = f.log, append(attrs, "method", f.r.Method, "path", f.r.URL.Path)
			break
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	if errors.Is(err, context.Canceled) { // the client went away mid-request
		log.Debug("request cancelled", attrs...)
		return
	}
	log.Error("request failed", attrs...)
}

// Read decodes the request body into v (Decode); when it cannot, it has
// answered the refusal and reports false.
func Read(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := Decode(w, r, v); err != nil {
		Fail(w, err)
		return false
	}
	return true
}
