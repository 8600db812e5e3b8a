package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
)

// bodyDeadline gives a request body timeout to arrive. The server has no
// ReadTimeout, because LL-HLS blocking playlist requests and WebSockets
// stay open for long; this deadline is set only for requests that carry a
// body, and lifted once the body has been read, so a handler may still
// take its time answering. A body that trickles in fails its read, and the
// JSON decoder answers 408 body_timeout.
func bodyDeadline(timeout time.Duration, next http.Handler) http.Handler {
	if timeout <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || (r.ContentLength == 0 && len(r.TransferEncoding) == 0) {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(timeout)); err == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline when the body has been read to its
// end, so the server's own read of the next request (or of a client gone
// away) is not cut short.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// metricsHandler guards /metrics with a bearer token when one is set.
func metricsHandler(h http.Handler, token string) http.Handler {
	if token == "" {
		return h
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			httpjson.Error(w, http.StatusUnauthorized, "metrics need Authorization: Bearer METRICS_TOKEN")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// staticFiles serves the embedded static files and never lists a
// directory: a directory (or a name that is not a file) is a 404.
func staticFiles(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.Trim(r.URL.Path, "/")
		if fi, err := fs.Stat(fsys, name); name == "" || err != nil || fi.IsDir() || !fs.ValidPath(name) {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}
