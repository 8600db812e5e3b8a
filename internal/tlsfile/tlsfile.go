// Package tlsfile serves a TLS certificate from PEM files that may be
// renewed while the server runs (certbot, a mounted secret).
package tlsfile

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Reloader hands TLS the certificate from --tls-cert/--tls-key and
// reads the files again when they change (a renewed certificate is used
// without a restart). HTTPS and RTMPS share one.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	mod     time.Time // newer modification time of the two files when loaded
	checked time.Time
}

// certCheckEvery bounds how often the files are looked at.
const certCheckEvery = 10 * time.Second

// New loads certFile and keyFile (PEM); an error when they cannot be read.
func New(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	c := &Reloader{certFile: certFile, keyFile: keyFile, log: log}
	mod, err := c.modTime()
	if err != nil {
		return nil, err
	}
	if err := c.load(mod); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Reloader) modTime() (time.Time, error) {
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

func (c *Reloader) load(mod time.Time) error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s / key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert, c.mod = &cert, mod
	return nil
}

func (c *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
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

// Config is a server TLS configuration (TLS 1.2 or newer) serving the
// current certificate.
func (c *Reloader) Config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}
