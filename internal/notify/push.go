package notify

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"
)

// Codes of the push subscription refusals (docs/protocol.md).
const (
	CodePushEndpointInsecure  = "push_endpoint_insecure"
	CodePushSubscriptionBad   = "push_subscription_invalid"
	CodePushSubscriptionLimit = "push_subscriptions_limit"
)

// subscriptionInput is what POST /api/me/push-subscriptions takes: the
// browser's PushSubscription.toJSON().
type subscriptionInput struct {
	Endpoint       string  `json:"endpoint"`
	ExpirationTime *int64  `json:"expirationTime"`
	Keys           keysArg `json:"keys"`
}

type keysArg struct {
	P256dh string `json:"p256dh"`
	Auth   string `json:"auth"`
}

// badSubscription is why a subscription is refused: code and words.
type badSubscription struct{ code, msg string }

func (e *badSubscription) Error() string { return e.msg }

// decodeKey reads a browser's key: base64url, padded or not (some send
// standard base64).
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// checkSubscription validates a subscription: an absolute http(s) URL
// (https only unless allowHTTP) with a host and no user info, at most 2 KiB;
// p256dh a point on P-256 (65 bytes, uncompressed); auth 16 bytes.
func checkSubscription(in subscriptionInput, allowHTTP bool) error {
	if in.Endpoint == "" || len(in.Endpoint) > 2048 {
		return &badSubscription{CodePushSubscriptionBad, "endpoint must be a URL of at most 2048 bytes"}
	}
	u, err := url.Parse(in.Endpoint)
	if err != nil || u.Host == "" || u.User != nil || u.Opaque != "" || u.Fragment != "" {
		return &badSubscription{CodePushSubscriptionBad, "endpoint must be an absolute URL with a host and no user info"}
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	case u.Scheme == "http":
		return &badSubscription{CodePushEndpointInsecure, "push endpoints must be https:// URLs"}
	default:
		return &badSubscription{CodePushSubscriptionBad, "endpoint must be an https:// URL"}
	}
	p, err := decodeKey(in.Keys.P256dh)
	if err != nil || len(p) != 65 || p[0] != 4 {
		return &badSubscription{CodePushSubscriptionBad, "keys.p256dh must be an uncompressed P-256 point, base64url"}
	}
	if _, err := ecdh.P256().NewPublicKey(p); err != nil {
		return &badSubscription{CodePushSubscriptionBad, "keys.p256dh is not a point on P-256"}
	}
	if a, err := decodeKey(in.Keys.Auth); err != nil || len(a) != 16 {
		return &badSubscription{CodePushSubscriptionBad, "keys.auth must be 16 bytes, base64url"}
	}
	return nil
}

// VAPID is the key pair and contact that sign every push.
type VAPID struct {
	Public, Private string // base64url
	Subject         string // mailto: or https:
}

// pushJob is one push to one subscription.
type pushJob struct {
	sub     Subscription
	payload []byte
	topic   string
}

// Pusher sends Web Push messages from a bounded pool of workers; a full
// queue drops (and counts) rather than blocks whoever went live.
type Pusher struct {
	keys    VAPID
	store   *Store
	client  *http.Client
	log     *slog.Logger
	timeout time.Duration
	jobs    chan pushJob
	wg      sync.WaitGroup
	stop    chan struct{}
	once    sync.Once

	Sent, Failed, Dropped, Gone atomic.Int64
}

// NewPusher starts workers senders.
func NewPusher(keys VAPID, st *Store, client *http.Client, workers int, log *slog.Logger) *Pusher {
	if client == nil {
		client = pushClient(false)
	}
	p := &Pusher{keys: keys, store: st, client: client, log: log, timeout: 10 * time.Second,
		jobs: make(chan pushJob, 4096), stop: make(chan struct{})}
	for range workers {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

// Enqueue queues a push; false when the queue is full or the pusher closed.
func (p *Pusher) Enqueue(sub Subscription, payload []byte, topic string) bool {
	select {
	case <-p.stop:
		return false
	default:
	}
	select {
	case p.jobs <- pushJob{sub: sub, payload: payload, topic: topic}:
		return true
	default:
		p.Dropped.Add(1)
		return false
	}
}

// Close stops the workers after the push in flight (queued ones are dropped).
func (p *Pusher) Close() {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
}

func (p *Pusher) work() {
	defer p.wg.Done()
	for {
		select {
		case <-p.stop:
			return
		case j := <-p.jobs:
			p.send(j)
		}
	}
}

// subscriber is the JWT's sub: the library adds "mailto:" itself unless
// the subject is an https: URL.
func (p *Pusher) subscriber() string {
	return strings.TrimPrefix(p.keys.Subject, "mailto:")
}

func (p *Pusher) send(j pushJob) {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	go func() { // the pusher closing abandons the request in flight
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	// The library pads the message in place (bytes.NewBuffer(message) then
	// writes): each send gets its own copy, never the shared payload.
	msg := append([]byte(nil), j.payload...)
	resp, err := webpush.SendNotificationWithContext(ctx, msg, &webpush.Subscription{
		Endpoint: j.sub.Endpoint, Keys: webpush.Keys{P256dh: j.sub.P256dh, Auth: j.sub.Auth},
	}, &webpush.Options{
		HTTPClient: p.client, Subscriber: p.subscriber(), VAPIDPublicKey: p.keys.Public, VAPIDPrivateKey: p.keys.Private,
		TTL: 3600, Urgency: webpush.UrgencyHigh, Topic: j.topic,
	})
	if err != nil {
		p.Failed.Add(1)
		p.log.Warn("web push failed", "endpoint", origin(j.sub.Endpoint), "err", err)
		p.record(j.sub.Endpoint, err.Error())
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		p.Gone.Add(1)
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer dcancel()
		if err := p.store.Forget(dctx, j.sub.Endpoint); err != nil {
			p.log.Warn("forget push subscription", "err", err)
		}
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		p.Sent.Add(1)
	default:
		p.Failed.Add(1)
		p.record(j.sub.Endpoint, fmt.Sprintf("HTTP %d", resp.StatusCode))
	}
}

func (p *Pusher) record(endpoint, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.store.Failed(ctx, endpoint, why); err != nil && !errors.Is(err, context.Canceled) {
		p.log.Warn("record push failure", "err", err)
	}
}

// origin is an endpoint's scheme and host, for logs (the path identifies a browser).
func origin(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "?"
	}
	return u.Scheme + "://" + u.Host
}

// pushClient is the client pushes go out with: no redirects (a push
// service answers, it does not send elsewhere) and, unless lan is set,
// no connections to loopback, private or link-local addresses — an
// endpoint is a URL a browser handed us, and must not reach the
// server's own network.
func pushClient(lan bool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !lan {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return err
			}
			ip = ip.Unmap()
			if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsMulticast() {
				return fmt.Errorf("push endpoint address %s is not public", ip)
			}
			return nil
		}
	}
	return &http.Client{
		Timeout:       15 * time.Second,
		Transport:     &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: 5 * time.Second, MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// GenerateVAPID makes a new VAPID key pair (base64url public, private).
func GenerateVAPID() (public, private string, err error) {
	priv, pub, err := webpush.GenerateVAPIDKeys()
	return pub, priv, err
}
