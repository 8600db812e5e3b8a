package web

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestPanicAnswers: a panic in a page handler answers the styled 500 page
// in the visitor's language; in an API handler, the JSON error it always
// did. The server keeps serving.
func TestPanicAnswers(t *testing.T) {
	s, err := Listen("127.0.0.1:0", Options{
		Log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		Authenticate: func(h http.Handler) http.Handler { return h },
		Gateway:      http.NotFoundHandler(),
		HLS:          http.NotFound,
		Metrics:      prometheus.NewRegistry(),
		Routes: []func(*http.ServeMux){func(mux *http.ServeMux) {
			boom := func(http.ResponseWriter, *http.Request) { panic("test panic") }
			mux.HandleFunc("GET /boom", boom)
			mux.HandleFunc("GET /api/boom", boom)
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
	get := func(path, lang string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+s.Addr().String()+path, nil)
		req.AddCookie(&http.Cookie{Name: LangCookie, Value: lang})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for lang, title := range map[string]string{"en": "Something went wrong", "zh-CN": "出错了"} {
		resp, body := get("/boom", lang)
		if resp.StatusCode != 500 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, "<h1>"+title+"</h1>") || !strings.Contains(body, `class="top"`) {
			t.Errorf("page panic (%s): %d %s\n%.300s", lang, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	resp, body := get("/api/boom", "en")
	var e struct{ Error string }
	if resp.StatusCode != 500 || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
		t.Errorf("API panic: %d %q, want a JSON 500", resp.StatusCode, body)
	}
	if resp, _ := get("/nowhere", "en"); resp.StatusCode != 404 {
		t.Errorf("after the panics, an unknown page: %d, want 404", resp.StatusCode)
	}
}
