package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
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

// certReloader hands TLS the certificate from --tls-cert/--tls-key and
// reads the files again when they change (a renewed certificate is used
// without a restart).
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	mod     time.Time // newer modification time of the two files when loaded
	checked time.Time
}

// certCheckEvery bounds how often the files are looked at.
const certCheckEvery = 10 * time.Second

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	mod, err := c.modTime()
	if err != nil {
		return nil, err
	}
	if err := c.load(mod); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certReloader) modTime() (time.Time, error) {
	var newest time.Time
	for _, f := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return time.Time{}, err
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	return newest, nil
}

func (c *certReloader) load(mod time.Time) error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s / key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert, c.mod = &cert, mod
	return nil
}

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= certCheckEvery {
		c.checked = now
		if mod, err := c.modTime(); err == nil && !mod.Equal(c.mod) {
			if err := c.load(mod); err != nil {
				// A half-written renewal: keep serving the old one.
				c.log.Warn("TLS certificate changed but cannot be loaded; still serving the previous one", "err", err)
			} else {
				c.log.Info("TLS certificate reloaded", "cert", c.certFile)
			}
		}
	}
	return c.cert, nil
}
