package httpjson

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// refusal converts to a Problem through errors.As, as policy refusals do.
type refusal struct{ why string }

func (r *refusal) Error() string { return r.why }
func (r *refusal) As(target any) bool {
	p, ok := target.(**Problem)
	if ok {
		*p = &Problem{Status: 403, Code: "forbidden", Message: r.why, Reason: "muted"}
	}
	return ok
}

// TestFailWritesTheWireShape pins the bytes clients read for each kind of
// Problem: these are the answers every handler gives.
func TestFailWritesTheWireShape(t *testing.T) {
	cases := []struct {
		err    error
		status int
		body   string
		retry  string
	}{
		{NewProblem(404, "", "no such user"), 404, `{"code":"not_found","error":"no such user"}`, ""},
		{BadRequest("username_invalid", "username is %s", "empty"), 400, `{"code":"username_invalid","error":"username is empty"}`, ""},
		{&Problem{Status: 429, Code: "slow_mode", Message: "slow mode: wait 3s", Retry: 2500 * time.Millisecond}, 429,
			`{"code":"slow_mode","error":"slow mode: wait 3s"}`, "3"},
		{&Problem{Status: 409, Code: "price_changed", Message: "the price changed", Extra: map[string]any{"price": 30}}, 409,
			`{"code":"price_changed","error":"the price changed","price":30}`, ""},
		{fmt.Errorf("wrapped: %w", &refusal{"you are muted"}), 403, `{"code":"forbidden","error":"you are muted","reason":"muted"}`, ""},
		{errors.New("database is on fire"), 500, `{"code":"internal","error":"internal error"}`, ""},
		{Internal(errors.New("secret detail")), 500, `{"code":"internal","error":"internal error"}`, ""},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		Fail(rec, c.err)
		if got := strings.TrimSpace(rec.Body.String()); rec.Code != c.status || got != c.body || rec.Header().Get("Retry-After") != c.retry {
			t.Errorf("Fail(%v) = %d %s Retry-After %q; want %d %s %q", c.err, rec.Code, got, rec.Header().Get("Retry-After"), c.status, c.body, c.retry)
		}
	}
}

// TestFailLogsInternalErrorsOnly: a 500 is logged with the request, a
// refusal is not, and a client that went away is not an error.
func TestFailLogsInternalErrorsOnly(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := LogFailures(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/broken":
			Fail(w, errors.New("disk full"))
		case "/refused":
			Fail(w, NewProblem(403, "", "no"))
		case "/gone":
			Fail(w, fmt.Errorf("read: %w", r.Context().Err()))
		}
	}))
	for _, path := range []string{"/broken", "/refused"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "disk full") || !strings.Contains(l, "path=/broken") ||
		strings.Contains(l, "/refused") {
		t.Fatalf("logs:\n%s", l)
	}
	logs.Reset()
	r := httptest.NewRequest("GET", "/gone", nil)
	ctx, cancel := context.WithCancel(r.Context())
	cancel()
	h.ServeHTTP(httptest.NewRecorder(), r.WithContext(ctx))
	if l := logs.String(); strings.Contains(l, "level=ERROR") || !strings.Contains(l, "level=DEBUG") {
		t.Fatalf("a cancelled request logged:\n%s", l)
	}
}
