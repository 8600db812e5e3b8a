package simulcast

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"

	"github.com/livehouse/livehouse/internal/media"
)

// States of a destination while its channel is live (State.State).
const (
	StateIdle       = "idle" // the channel is not live here, or the destination is off
	StateConnecting = "connecting"
	StateLive       = "live"
	StateRetrying   = "retrying"
	StateFailed     = "failed"
)

// Reasons a destination is retrying or failed (State.Reason); the studio
// translates them (simulcast.reason.*) and shows Detail under them.
const (
	ReasonUnreachable  = "unreachable"  // could not connect
	ReasonRefused      = "refused"      // connected, but the server refused the publish (wrong key, app)
	ReasonDisconnected = "disconnected" // was live, the connection broke
	ReasonNoTracks     = "no_tracks"    // nothing the protocol can carry
	ReasonUnsupported  = "unsupported"  // the protocol is not supported yet
	ReasonKey          = "key"          // the stored key cannot be opened (another key file)
	ReasonCertificate  = "certificate"  // rtmps:// server's certificate is not trusted (or not for its name)
)

// Backoff between attempts: 1 s doubling to 30 s, ±20 % jitter; after
// refusedLimit refusals in a row without going live, the destination fails.
const (
	backoffMin   = time.Second
	backoffMax   = 30 * time.Second
	refusedLimit = 3
	dialTimeout  = 10 * time.Second
	writeTimeout = 10 * time.Second
	// stableAfter is how long a session must stay live for the backoff
	// to start again from backoffMin.
	stableAfter = 10 * time.Second
)

// State is what the studio shows of one destination.
type State struct {
	ID      int64  `json:"id"`
	Channel int64  `json:"channel_id"`
	State   string `json:"state"`
	RetryAt int64  `json:"retry_at,omitempty"` // Unix ms of the next attempt (retrying)
	Reason  string `json:"reason,omitempty"`
	Detail  string `json:"detail,omitempty"`
	Since   int64  `json:"since"` // Unix ms
	Node    int    `json:"node,omitempty"`
	// Slate: live, but sending the fallback image (the source is away).
	Slate bool `json:"slate,omitempty"`
}

// sessionError is why a session ended, and whether trying again can help.
type sessionError struct {
	reason string
	fatal  bool
	err    error
	// spoken: the server answered in proper RTMP (a refusal is its word,
	// not a dialect gortmplib misreads), so ffmpeg would be told the same.
	spoken bool
}

func (e *sessionError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *sessionError) Unwrap() error { return e.err }

var errStreamEnded = errors.New("the stream ended")

// worker sends one live stream to one destination, reconnecting with
// backoff, until its context ends. A worker never touches the stream but
// through its own Subscription, so it cannot slow the stream or the other
// destinations: a stalled destination only drops its own frames.
type worker struct {
	svc    *Service
	dest   Destination
	key    string
	slug   string
	cancel context.CancelFunc
	done   chan struct{}
	// viaFFmpeg is set once the server refused gortmplib's publish: the
	// worker publishes through an ffmpeg child from then on.
	viaFFmpeg bool
	// restream hands the worker the channel's new stream when its
	// publisher comes back within the grace period.
	restream chan *media.Stream
}

func (w *worker) set(st State) {
	st.ID, st.Channel, st.Since = w.dest.ID, w.dest.ChannelID, time.Now().UnixMilli()
	w.svc.setState(st)
}

func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	backoff, refused := backoffMin, 0
	for {
		w.set(State{State: StateConnecting})
		started := time.Now()
		wentLive, err := w.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errStreamEnded) {
			// A new stream may be live already (a publisher back with
			// another codec than the slate could bridge): start over on it.
			if _, ok := w.svc.streams.Stream(w.slug); ok {
				select {
				case <-ctx.Done():
					return
				case <-time.After(500 * time.Millisecond):
				}
				continue
			}
			w.set(State{State: StateIdle})
			return
		}
		var se *sessionError
		if !errors.As(err, &se) {
			se = &sessionError{reason: ReasonDisconnected, err: err}
		}
		if se.reason == ReasonRefused && !wentLive && !w.viaFFmpeg && !se.fatal && !se.spoken &&
			(w.dest.Protocol == ProtoRTMP || w.dest.Protocol == ProtoRTMPS) {
			w.svc.log.Info("simulcast destination: the server refused the built-in RTMP client, trying ffmpeg", "channel", w.slug,
				"destination", w.dest.ID, "err", se.err)
			w.viaFFmpeg = true
			continue
		}
		detail := se.err.Error()
		if len(detail) > 300 {
			detail = detail[:300] + "…"
		}
		if wentLive {
			refused = 0
			if time.Since(started) >= stableAfter {
				backoff = backoffMin
			}
		} else if se.reason == ReasonRefused || se.reason == ReasonCertificate {
			refused++
		}
		if se.fatal || refused >= refusedLimit {
			w.svc.log.Warn("simulcast destination failed", "channel", w.slug, "destination", w.dest.ID, "reason", se.reason, "err", se.err)
			w.set(State{State: StateFailed, Reason: se.reason, Detail: detail})
			return
		}
		delay := min(time.Duration(float64(backoff)*(0.8+0.4*rand.Float64())), backoffMax)
		w.svc.log.Info("simulcast destination retrying", "channel", w.slug, "destination", w.dest.ID, "in", delay.Round(time.Millisecond),
			"reason", se.reason, "err", se.err)
		w.set(State{State: StateRetrying, RetryAt: time.Now().Add(delay).UnixMilli(), Reason: se.reason, Detail: detail})
		backoff = min(backoff*2, backoffMax)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// session connects once and streams until the connection or the stream
// ends; wentLive says whether the destination accepted the stream.
func (w *worker) session(ctx context.Context) (wentLive bool, err error) {
	stream, ok := w.svc.streams.Stream(w.slug)
	if !ok {
		return false, errStreamEnded
	}
	switch w.dest.Protocol {
	case ProtoRTMP, ProtoRTMPS:
		if w.viaFFmpeg {
			return w.sessionFFmpeg(ctx, stream)
		}
		return w.sessionRTMP(ctx, stream)
	case ProtoSRT:
		return w.sessionSRT(ctx, stream)
	}
	return false, &sessionError{reason: ReasonUnsupported, fatal: true, err: fmt.Errorf("protocol %q", w.dest.Protocol)}
}

// rtmpTarget is the URL gortmplib publishes to: the stream name is the
// fragment. Without a key, the URL's last path element is the name
// (rtmp://host/app/name).
func rtmpTarget(raw, key string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if key == "" {
		p := strings.TrimSuffix(u.Path, "/")
		i := strings.LastIndex(p, "/")
		if i <= 0 {
			return nil, errors.New("the URL has no stream name and there is no key")
		}
		u.Path, key = p[:i], p[i+1:]
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	u.Fragment = key
	return u, nil
}

// rtmpTracks maps the subscription's tracks to RTMP ones; route[i] is the
// RTMP track of the subscription's track i, nil when it is not sent.
func rtmpTracks(in []*media.Track) (out []*gortmplib.Track, route []*gortmplib.Track) {
	route = make([]*gortmplib.Track, len(in))
	for i, t := range in {
		var c codecs.Codec
		switch t.Codec {
		case media.H264:
			c = &codecs.H264{SPS: t.SPS, PPS: t.PPS}
		case media.H265:
			c = &codecs.H265{VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}
		case media.AAC:
			if t.AACConfig != nil {
				c = &codecs.MPEG4Audio{Config: t.AACConfig}
			}
		}
		if c == nil {
			continue
		}
		rt := &gortmplib.Track{Codec: c}
		route[i] = rt
		out = append(out, rt)
	}
	return out, route
}

// classifyConnect tells an unreachable destination (retry) from one that
// answered and refused.
func classifyConnect(err error) *sessionError {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" || errors.Is(err, context.DeadlineExceeded) {
		return &sessionError{reason: ReasonUnreachable, err: err}
	}
	// An untrusted certificate will not fix itself by retrying soon, but a
	// renewed one might: retried with backoff like a refusal.
	var unknownCA x509.UnknownAuthorityError
	var badName x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &verify) || errors.As(err, &unknownCA) || errors.As(err, &badName) || errors.As(err, &invalid) {
		return &sessionError{reason: ReasonCertificate, err: err}
	}
	// gortmplib's "bad result" is the server's own onStatus/_error answer.
	return &sessionError{reason: ReasonRefused, err: err, spoken: strings.HasPrefix(err.Error(), "bad result")}
}

func (w *worker) sessionRTMP(ctx context.Context, stream *media.Stream) (bool, error) {
	target, err := rtmpTarget(w.dest.URL, w.key)
	if err != nil {
		return false, &sessionError{reason: ReasonRefused, fatal: true, err: err}
	}
	fd, err := newFeed(w, stream)
	if err != nil {
		return false, err
	}
	ctx, stop := context.WithCancel(ctx)
	defer fd.close()
	defer stop()
	tracks, route := rtmpTracks(fd.tracks)
	if len(tracks) == 0 {
		return false, &sessionError{reason: ReasonNoTracks, fatal: true, err: errors.New("no H.264, H.265 or AAC track")}
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	c := &gortmplib.Client{URL: target, Publish: true, DialContext: (&net.Dialer{}).DialContext,
		TLSConfig: &tls.Config{RootCAs: w.svc.roots, MinVersion: tls.VersionTLS12}}
	err = c.Initialize(dctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, classifyConnect(err)
	}
	defer c.Close()
	_ = c.NetConn().SetWriteDeadline(time.Now().Add(writeTimeout))
	wr := &gortmplib.Writer{Conn: c, Tracks: tracks}
	if err := wr.Initialize(); err != nil {
		return false, &sessionError{reason: ReasonRefused, err: fmt.Errorf("send track headers: %w", err)}
	}
	// Read (and drop) what the server sends: acknowledgements, pings,
	// and above all the end of the connection, seen at once.
	read := func() error { _, err := c.Read(); return err }
	write := func(f media.Frame) error {
		t := route[f.Track]
		if t == nil {
			return nil
		}
		pts, dts := f.PTS, f.DTS
		_ = c.NetConn().SetWriteDeadline(time.Now().Add(writeTimeout))
		var err error
		switch t.Codec.(type) {
		case *codecs.H264:
			err = wr.WriteH264(t, pts, dts, f.Data)
		case *codecs.H265:
			err = wr.WriteH265(t, pts, dts, f.Data)
		case *codecs.MPEG4Audio:
			if len(f.Data) > 0 {
				err = wr.WriteMPEG4Audio(t, pts, f.Data[0])
			}
		}
		return err
	}
	return w.pump(ctx, fd, read, write)
}

// pump marks the destination live and sends the stream's frames with write
// until the context ends, the destination hangs up (read fails: the end of
// the connection is seen at once), the feed fails, or a write fails.
func (w *worker) pump(ctx context.Context, fd *feed, read func() error, write func(media.Frame) error) (bool, error) {
	readErr := make(chan error, 1)
	go func() {
		for {
			if err := read(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	w.set(State{State: StateLive})
	frames, errs := fd.run(ctx)
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case err := <-readErr:
			return true, &sessionError{reason: ReasonDisconnected, err: fmt.Errorf("connection closed: %w", err)}
		case err := <-errs:
			if errors.Is(err, context.Canceled) {
				return true, nil
			}
			return true, err
		case f := <-frames:
			if err := write(f); err != nil {
				return true, &sessionError{reason: ReasonDisconnected, err: fmt.Errorf("write: %w", err)}
			}
		}
	}
}
