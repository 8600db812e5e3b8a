package rtmp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"

	"github.com/livehouse/livehouse/internal/media"
)

// conn is one RTMP connection, owned by the goroutine that runs it.
type conn struct {
	nc  net.Conn
	srv *Server
	log *slog.Logger
}

// errRefused marks a publish refused on purpose (not a network failure).
var errRefused = errors.New("publish refused")

func (c *conn) run() {
	start := time.Now()
	err := c.serve()
	switch {
	case err == nil:
		c.log.Info("RTMP connection closed", "after", time.Since(start).Round(time.Millisecond))
	case errors.Is(err, errRefused):
		c.log.Warn("RTMP publish refused", "reason", err)
	case c.srv.ctx.Err() != nil:
		c.log.Info("RTMP connection closed by shutdown")
	default:
		c.log.Warn("RTMP connection dropped", "reason", err, "after", time.Since(start).Round(time.Millisecond))
	}
}

func (c *conn) deadline() {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.readTimeout))
}

func (c *conn) serve() error {
	c.deadline()
	sc := &gortmplib.ServerConn{RW: c.nc}
	if err := sc.Initialize(); err != nil {
		return fmt.Errorf("handshake and connect: %w", err)
	}
	if err := sc.AcceptConn(); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if !sc.Publish {
		_ = sc.RejectAction()
		return fmt.Errorf("%w: playback over RTMP is not offered; players read LL-HLS at /hls/CHANNEL/index.m3u8", errRefused)
	}
	key, err := PublishKey(sc.URL)
	if err != nil {
		_ = sc.RejectAction()
		return fmt.Errorf("%w: %v", errRefused, err)
	}
	// A second publisher of a live channel becomes its hot standby: here,
	// or relayed to the node on air (relay.go).
	claim, slug, err := c.publication(key)
	if err != nil {
		_ = sc.RejectAction()
		// The key itself is a secret: never log it.
		return fmt.Errorf("%w: %v", errRefused, err)
	}
	c.log = c.log.With("channel", slug)
	reason := "publisher disconnected"
	defer func() { claim.Release(reason) }()
	claim.OnKick(func() { _ = c.nc.Close() })

	if err := sc.AcceptAction(); err != nil {
		return fmt.Errorf("accept publish: %w", err)
	}
	// The publisher sends media right after its publish is accepted; the
	// reader holds the first frames back while it detects the tracks.
	firstArrival := time.Now()
	r := &gortmplib.Reader{Conn: &fastDetect{Conn: sc}}
	if err := r.Initialize(); err != nil {
		reason = "bad stream header"
		return fmt.Errorf("read stream header: %w", err)
	}
	tracks, err := mediaTracks(r.Tracks())
	if err != nil {
		reason = "unsupported stream"
		return fmt.Errorf("%w: %v", errRefused, err)
	}
	if _, err := claim.GoLive(c.srv.ctx, tracks, media.Ingest{Protocol: "rtmp", FirstArrival: firstArrival}); err != nil {
		reason = "could not start"
		if errors.Is(err, media.ErrIncompatibleBackup) {
			return fmt.Errorf("%w: %v", errRefused, err)
		}
		return err
	}

	var frameErr error
	write := func(i int) func(pts, dts time.Duration, data [][]byte) {
		return func(pts, dts time.Duration, data [][]byte) {
			if frameErr == nil {
				frameErr = claim.WriteFrame(media.Frame{Track: i, PTS: pts, DTS: dts, Data: data})
			}
		}
	}
	for i, t := range r.Tracks() {
		w := write(i)
		switch t.Codec.(type) {
		case *codecs.H264:
			r.OnDataH264(t, w)
		case *codecs.H265:
			r.OnDataH265(t, w)
		case *codecs.MPEG4Audio:
			r.OnDataMPEG4Audio(t, func(pts time.Duration, au []byte) { w(pts, pts, [][]byte{au}) })
		case *codecs.Opus:
			r.OnDataOpus(t, func(pts time.Duration, pkt []byte) { w(pts, pts, [][]byte{pkt}) })
		}
	}

	counted := uint64(0)
	lastCount := time.Now()
	defer func() { claim.AddIngestBytes(sc.BytesReceived() - counted) }()
	for {
		c.deadline()
		if err := r.Read(); err != nil {
			if c.srv.ctx.Err() != nil {
				reason = "server shutting down"
				return nil
			}
			if claim.Kicked() {
				reason = "stopped by the platform"
				return nil
			}
			if isClosed(err) {
				return nil
			}
			reason = "read error"
			return err
		}
		if frameErr != nil {
			reason = "bad frame"
			return frameErr
		}
		if now := time.Now(); now.Sub(lastCount) >= time.Second {
			n := sc.BytesReceived()
			claim.AddIngestBytes(n - counted)
			counted, lastCount = n, now
		}
	}
}

// publication claims the channel of key here, or relays the encoder to
// the node that ingests it.
func (c *conn) publication(key string) (media.Publication, string, error) {
	claim, err := c.srv.hub.ClaimInput(c.srv.ctx, key)
	if err == nil {
		return claim, claim.Channel.Slug, nil
	}
	var elsewhere *media.LiveElsewhere
	if !errors.As(err, &elsewhere) || c.srv.relay == nil {
		return nil, "", err
	}
	relayed, err := RelayStandby(c.srv.ctx, RelayOptions{Hub: c.srv.hub, Relay: c.srv.relay, Key: key, Elsewhere: elsewhere,
		Timeout: c.srv.readTimeout, Log: c.log.With("channel", elsewhere.Slug)})
	if err != nil {
		return nil, "", err
	}
	return relayed, elsewhere.Slug, nil
}

// isClosed tells a publisher's clean goodbye (EOF, closed socket) from a failure.
func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "EOF") ||
		strings.Contains(err.Error(), "connection reset")
}

// PublishKey extracts the stream key from a publish URL of the form
// rtmp://HOST[:PORT]/live/STREAM_KEY (OBS: server …/live, key STREAM_KEY).
func PublishKey(u *url.URL) (string, error) {
	if u == nil {
		return "", errors.New("no publish URL")
	}
	app, key, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok || app != "live" {
		return "", fmt.Errorf("publish URL path %q: want /live/STREAM_KEY", truncate(u.Path, 64))
	}
	if !media.ValidStreamKey(key) {
		return "", errors.New("malformed stream key")
	}
	return key, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// mediaTracks converts the publisher's tracks, keeping one video and one
// audio track (what LL-HLS carries today) and refusing codecs we cannot
// deliver to viewers.
func mediaTracks(in []*gortmplib.Track) ([]*media.Track, error) {
	var out []*media.Track
	var haveVideo, haveAudio bool
	for _, t := range in {
		var mt *media.Track
		var err error
		switch c := t.Codec.(type) {
		case *codecs.H264:
			mt, err = media.NewH264Track(c.SPS, c.PPS)
		case *codecs.H265:
			mt, err = media.NewH265Track(c.VPS, c.SPS, c.PPS)
		case *codecs.MPEG4Audio:
			mt, err = media.NewAACTrack(c.Config)
		case *codecs.Opus:
			ch := 2
			if c.IDHeader != nil {
				ch = int(c.IDHeader.ChannelCount)
			}
			mt, err = media.NewOpusTrack(ch)
		default:
			name := strings.TrimPrefix(fmt.Sprintf("%T", t.Codec), "*codecs.")
			return nil, fmt.Errorf("codec %s is not supported (send H.264 or H.265 video with AAC or Opus audio)", name)
		}
		if err != nil {
			return nil, err
		}
		if (mt.Codec.IsVideo() && haveVideo) || (!mt.Codec.IsVideo() && haveAudio) {
			return nil, errors.New("more than one video or audio track is not supported yet")
		}
		haveVideo = haveVideo || mt.Codec.IsVideo()
		haveAudio = haveAudio || !mt.Codec.IsVideo()
		out = append(out, mt)
	}
	if len(out) == 0 {
		return nil, errors.New("stream has no tracks")
	}
	return out, nil
}
