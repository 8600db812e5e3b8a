// Package bus is how Livehouse nodes tell each other what happened: NATS,
// embedded in the process by default (no port opened), or an external
// cluster by URL when several nodes form one platform.
package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bus is a connection to NATS, and the embedded server when there is one.
type Bus struct {
	Conn *nats.Conn
	// Location describes where messages travel, for logs.
	Location string

	embedded *server.Server
	scratch  string // the embedded server's private JetStream dir when it has no store dir (removed on Close)

	node     string // stamps the events this node publishes
	mu       sync.RWMutex
	handlers map[string][]func(Event) // this node's, by event type

	js         jetstream.JetStream
	stream     jetstream.Stream
	memoryOnly bool // the embedded server without a store directory
}

// Option adjusts Open.
type Option func(*options)

type options struct{ storeDir string }

// WithStoreDir keeps the embedded server's durable events (JetStream) in
// dir, so they survive a restart; without it they live in memory.
func WithStoreDir(dir string) Option { return func(o *options) { o.storeDir = dir } }

// Open connects to natsURL, or with an empty URL starts an embedded NATS
// server that accepts only in-process connections. Either way it makes
// sure the durable event stream exists (JetStream must be enabled on an
// external server: nats-server -js).
func Open(natsURL string, log *slog.Logger, opts ...Option) (b *Bus, err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	defer func() {
		if err == nil {
			if err = b.openStream(); err != nil {
				b.Close()
				b = nil
			}
		}
	}()
	if natsURL == "" {
		// Without a store dir the events live in memory, but the server
		// still keeps its JetStream state in a directory (by default one
		// shared under /tmp, where another process's leftovers make it
		// fail): give it a private one, removed on Close.
		storeDir, scratch := o.storeDir, ""
		if storeDir == "" {
			if scratch, err = os.MkdirTemp("", "livehouse-nats-"); err != nil {
				return nil, fmt.Errorf("embedded NATS scratch dir: %w", err)
			}
			storeDir = scratch
		}
		srv, err := server.NewServer(&server.Options{
			ServerName: "livehouse-embedded",
			DontListen: true, // in-process only: no port, no outside clients
			NoSigs:     true, // signals belong to Livehouse
			NoLog:      true,
			MaxPayload: 1 << 20,
			JetStream:  true,
			StoreDir:   storeDir,
		})
		if err != nil {
			os.RemoveAll(scratch)
			return nil, fmt.Errorf("embedded NATS: %w", err)
		}
		srv.Start()
		if !srv.ReadyForConnections(10 * time.Second) {
			srv.Shutdown()
			os.RemoveAll(scratch)
			return nil, errors.New("embedded NATS did not start within 10 s")
		}
		nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name("livehouse"), errorHandler(log))
		if err != nil {
			srv.Shutdown()
			os.RemoveAll(scratch)
			return nil, fmt.Errorf("connect to embedded NATS: %w", err)
		}
		return &Bus{Conn: nc, Location: "embedded", embedded: srv, scratch: scratch, node: randomID(), memoryOnly: o.storeDir == ""}, nil
	}
	u, err := url.Parse(natsURL)
	if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") {
		return nil, fmt.Errorf("--nats %q: want nats://HOST:PORT", natsURL)
	}
	nc, err := nats.Connect(natsURL, nats.Name("livehouse"), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("NATS reconnected") }), errorHandler(log))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", u.Redacted(), err)
	}
	return &Bus{Conn: nc, Location: u.Redacted(), node: randomID()}, nil
}

// errorHandler logs asynchronous errors, above all a subscriber that fell
// behind and lost messages (NATS "slow consumer"): never silent.
func errorHandler(log *slog.Logger) nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
		subject := ""
		if sub != nil {
			subject = sub.Subject
		}
		log.Error("NATS asynchronous error", "subject", subject, "err", err)
	})
}

// Close drains the connection (pending messages go out) and stops the
// embedded server.
func (b *Bus) Close() {
	if b.Conn != nil {
		_ = b.Conn.Drain()
		deadline := time.Now().Add(5 * time.Second)
		for !b.Conn.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		b.Conn.Close()
	}
	if b.embedded != nil {
		b.embedded.Shutdown()
		b.embedded.WaitForShutdown()
	}
	if b.scratch != "" {
		os.RemoveAll(b.scratch)
	}
}
