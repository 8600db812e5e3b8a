package httpjson

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type sample struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// decode runs Decode on body the way a handler does and returns what the
// client would read.
func decode(body string) (sample, int, map[string]string) {
	var got sample
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/api/x", strings.NewReader(body))
	if err := Decode(rec, r, &got); err != nil {
		BadBody(rec, err)
		var out map[string]string
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return got, rec.Code, out
	}
	return got, 0, nil
}

// TestHardening20DecodeRefusesWithCodes: every refusal has a status and a
// stable code, and invalid UTF-8 is refused rather than turned into U+FFFD.
func TestHardening20DecodeRefusesWithCodes(t *testing.T) {
	cases := []struct {
		body   string
		status int
		code   string
	}{
		{"{\"name\":\"a\xffb\"}", 400, CodeBadEncoding},
		{"{\"name\":\"\xed\xa0\x80\"}", 400, CodeBadEncoding}, // a UTF-16 surrogate encoded as UTF-8
		{"{\"name\":\"ok\"}\xc0", 400, CodeBadEncoding},
		{"", 400, CodeEmptyBody},
		{"   \n", 400, CodeEmptyBody},
		{`{"name":`, 400, CodeBadJSON},
		{`{"name" "x"}`, 400, CodeBadJSON},
		{`{"count":"three"}`, 400, CodeWrongType},
		{`{"nmae":"x"}`, 400, CodeUnknownField},
		{`{"name":"x"} {"name":"y"}`, 400, CodeTrailingData},
		{`{"name":"` + strings.Repeat("x", MaxBody) + `"}`, 400, CodeBodyTooLarge},
	}
	for _, c := range cases {
		_, status, out := decode(c.body)
		if status != c.status || out["code"] != c.code || out["error"] == "" {
			t.Errorf("body %.40q: %d %v; want %d code %s", c.body, status, out, c.status, c.code)
		}
	}
	got, status, _ := decode(`{"name":"小明 🎉","count":2}`)
	if status != 0 || got.Name != "小明 🎉" || got.Count != 2 {
		t.Errorf("valid body: %+v %d", got, status)
	}
	// JSON escapes are text, not bytes: an escaped U+FFFD is a real character.
	if got, status, _ := decode(`{"name":"\ufffd"}`); status != 0 || got.Name != "\ufffd" {
		t.Errorf("escaped U+FFFD: %+v %d", got, status)
	}
}

// TestErrorCarriesACode: every error answer has {"error", "code"}.
func TestErrorCarriesACode(t *testing.T) {
	for status, code := range map[int]string{400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
		409: "conflict", 413: "too_large", 429: "rate_limited", 500: "internal", 503: "unavailable", 402: "error"} {
		rec := httptest.NewRecorder()
		Error(rec, status, "why")
		var out map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != status || out["error"] != "why" || out["code"] != code {
			t.Errorf("Error(%d): %d %s", status, rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	BadBody(rec, http.ErrBodyNotAllowed)
	if !strings.Contains(rec.Body.String(), `"code":"bad_request"`) || rec.Code != 400 {
		t.Errorf("BadBody of a plain error: %d %s", rec.Code, rec.Body)
	}
}
