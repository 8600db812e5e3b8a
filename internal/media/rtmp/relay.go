package rtmp

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/livehouse/livehouse/internal/media"
)

// Standby on another origin. One origin at a time ingests a channel: the
// one holding its live claim. An encoder that reaches another origin
// meanwhile (the backup encoder of a channel whose primary publishes
// elsewhere, or the same key from a second place) is relayed over RTMP to
// the origin on air, where it is the hot standby exactly as a second
// encoder connected there would be: that origin's failover puts it on air
// without the playlist restarting. If the origin on air goes (killed, cut
// off), the relaying origin claims the channel once the dead node's claim
// lapses and puts the encoder on air itself: the channel is back within
// the claim TTL, as a new session whose playlist starts over.

// Relay says where a node takes relayed encoders: its RTMP "host:port";
// ok is false while the node is not healthy (silent or draining).
type Relay func(node int64) (addr string, ok bool)

const (
	// relayDial bounds connecting to the origin on air.
	relayDial = 5 * time.Second
	// relayTakeover is how long an encoder whose origin on air went waits
	// to claim the channel here: the dead node's claim lapses within the
	// hub's claim TTL (4 s by default).
	relayTakeover = 15 * time.Second
	relayRetry    = 250 * time.Millisecond
	// relayClosedOnPurpose: a node on air that still reports healthy this
	// long after the relay ended closed it on purpose (the stream was
	// ended there, or the encoder refused): nothing is taken over.
	relayClosedOnPurpose = 5 * time.Second
)

// upstream is one relay connection to the origin on air.
type upstream struct {
	node    int64
	client  *gortmplib.Client
	w       *gortmplib.Writer
	timeout time.Duration
	gone    chan struct{} // the origin closed the connection or failed
}

// dialUpstream publishes key to the origin at addr. The origin takes or
// refuses the encoder before this returns (it refuses a third encoder,
// or when it drains).
func dialUpstream(ctx context.Context, node int64, addr, key string, timeout time.Duration) (*upstream, error) {
	u := &url.URL{Scheme: "rtmp", Host: addr, Path: "/live", Fragment: key}
	dctx, cancel := context.WithTimeout(ctx, relayDial)
	defer cancel()
	c := &gortmplib.Client{URL: u, Publish: true}
	if err := c.Initialize(dctx); err != nil {
		if strings.Contains(err.Error(), "bad result") {
			// gortmplib prints the whole AMF answer; the node's log says why.
			err = errors.New("it refused the publish (it has a standby already, or it drains)")
		}
		return nil, fmt.Errorf("node %d (%s) did not take this encoder as its standby: %w", node, addr, err)
	}
	return &upstream{node: node, client: c, timeout: timeout, gone: make(chan struct{})}, nil
}

// start announces the encoder's tracks and watches the connection: the
// origin sends nothing the relay needs, but its closing is read here, and
// its acknowledgements must be read or they would fill the socket in a
// long stream. gortmplib's reader writes on its own only to answer a ping
// (Livehouse's server sends none) or to acknowledge what it received
// (the relay receives a few control messages): reading beside the frame
// writes is safe with our origins.
func (u *upstream) start(tracks []*gortmplib.Track) error {
	u.w = &gortmplib.Writer{Conn: u.client, Tracks: tracks}
	u.deadline()
	if err := u.w.Initialize(); err != nil {
		return fmt.Errorf("announce tracks to node %d: %w", u.node, err)
	}
	go func() {
		defer close(u.gone)
		for {
			if _, err := u.client.Read(); err != nil {
				return
			}
		}
	}()
	return nil
}

func (u *upstream) deadline() {
	_ = u.client.NetConn().SetWriteDeadline(time.Now().Add(u.timeout))
}

// write forwards one frame as the encoder sent it.
func (u *upstream) write(t *gortmplib.Track, pts, dts time.Duration, data [][]byte) error {
	select {
	case <-u.gone:
		return errors.New("the origin closed the relay")
	default:
	}
	u.deadline()
	switch t.Codec.(type) {
	case *codecs.H264:
		return u.w.WriteH264(t, pts, dts, data)
	case *codecs.H265:
		return u.w.WriteH265(t, pts, dts, data)
	case *codecs.MPEG4Audio:
		return u.w.WriteMPEG4Audio(t, pts, data[0])
	case *codecs.Opus:
		return u.w.WriteOpus(t, pts, data[0])
	}
	return nil
}

// close ends the relay connection and waits for its reader.
func (u *upstream) close() {
	u.client.Close()
	<-u.gone
}

// relay serves an encoder whose channel another node ingests: as that
// node's standby, and on air here if that node goes.
func (c *conn) relay(sc *gortmplib.ServerConn, key string, elsewhere *media.LiveElsewhere) error {
	addr, ok := c.srv.relay(elsewhere.Node)
	if !ok {
		_ = sc.RejectAction()
		return fmt.Errorf("%w: %v, which takes no standby now (not reporting, or draining)", errRefused, elsewhere)
	}
	up, err := dialUpstream(c.srv.ctx, elsewhere.Node, addr, key, c.srv.readTimeout)
	if err != nil {
		_ = sc.RejectAction()
		return fmt.Errorf("%w: %v", errRefused, err)
	}
	c.log = c.log.With("channel", elsewhere.Slug)
	r := &relaying{conn: c, key: key, up: up}
	defer r.close()
	if err := sc.AcceptAction(); err != nil {
		return fmt.Errorf("accept publish: %w", err)
	}
	rd := &gortmplib.Reader{Conn: &fastDetect{Conn: sc}}
	if err := rd.Initialize(); err != nil {
		return fmt.Errorf("read stream header: %w", err)
	}
	if r.tracks, err = mediaTracks(rd.Tracks()); err != nil {
		return fmt.Errorf("%w: %v", errRefused, err)
	}
	r.in = rd.Tracks()
	if err := up.start(r.in); err != nil {
		return err
	}
	c.log.Info("RTMP encoder relayed as the standby of the node on air", "node", elsewhere.Node, "to", addr)
	for i, t := range r.in {
		w := r.forward(i)
		switch t.Codec.(type) {
		case *codecs.H264, *codecs.H265:
			setVideo(rd, t, w)
		case *codecs.MPEG4Audio:
			rd.OnDataMPEG4Audio(t, func(pts time.Duration, au []byte) { w(pts, pts, [][]byte{au}) })
		case *codecs.Opus:
			rd.OnDataOpus(t, func(pts time.Duration, pkt []byte) { w(pts, pts, [][]byte{pkt}) })
		}
	}
	for {
		c.deadline()
		if err := rd.Read(); err != nil {
			if c.srv.ctx.Err() != nil || isClosed(err) {
				return nil
			}
			return fmt.Errorf("read from the encoder: %w", err)
		}
		if r.err != nil {
			return r.err
		}
		if r.up == nil && r.claim == nil {
			r.takeOver()
			if r.err != nil {
				return r.err
			}
		}
	}
}

func setVideo(rd *gortmplib.Reader, t *gortmplib.Track, w func(pts, dts time.Duration, data [][]byte)) {
	if _, ok := t.Codec.(*codecs.H265); ok {
		rd.OnDataH265(t, w)
		return
	}
	rd.OnDataH264(t, w)
}

// relaying is a relayed encoder's state, owned by its connection's
// goroutine: relayed (up), waiting to take over (neither), or on air
// here (claim).
type relaying struct {
	conn   *conn
	key    string
	in     []*gortmplib.Track
	tracks []*media.Track

	up        *upstream
	claim     *media.Claim
	needKey   bool      // on air here: nothing until the next keyframe
	lostAt    time.Time // when the origin on air went
	lostNode  int64
	triedAt   time.Time
	err       error // ends the connection
	releaseOn string
}

// forward returns track i's frame callback.
func (r *relaying) forward(i int) func(pts, dts time.Duration, data [][]byte) {
	t := r.in[i]
	return func(pts, dts time.Duration, data [][]byte) {
		switch {
		case r.err != nil:
		case r.up != nil:
			if err := r.up.write(t, pts, dts, data); err != nil {
				r.conn.log.Warn("relay to the node on air lost; taking the channel over here once its claim lapses",
					"node", r.up.node, "err", err)
				r.up.close()
				r.up, r.lostAt, r.lostNode = nil, time.Now(), r.up.node
			}
		case r.claim != nil:
			if r.needKey {
				if !keyframe(t, data) {
					return
				}
				r.needKey = false
			}
			if err := r.claim.WriteFrame(media.Frame{Track: i, PTS: pts, DTS: dts, Data: data}); err != nil {
				r.err = err
			}
		}
	}
}

// keyframe: a video track's random access point; audio never waits.
func keyframe(t *gortmplib.Track, au [][]byte) bool {
	switch t.Codec.(type) {
	case *codecs.H264:
		return h264.IsRandomAccess(au)
	case *codecs.H265:
		return h265.IsRandomAccess(au)
	}
	return false
}

// takeOver tries, at most every relayRetry, to claim the channel here or
// to relay to the node that holds it now, once the lost node is seen gone
// (silent or draining). A lost node that stays healthy ended the relay on
// purpose: a stream ended by the platform must not come back from here.
func (r *relaying) takeOver() {
	now := time.Now()
	if now.Sub(r.triedAt) < relayRetry {
		return
	}
	r.triedAt = now
	c := r.conn
	if _, healthy := c.srv.relay(r.lostNode); healthy {
		if now.Sub(r.lostAt) > relayClosedOnPurpose {
			r.err = fmt.Errorf("%w: node %d, on air, closed the relay and is healthy (the stream was ended there, or it refused this encoder)", errRefused, r.lostNode)
		}
		return
	}
	if now.Sub(r.lostAt) > relayTakeover {
		r.err = fmt.Errorf("%w: the node on air went and the channel could not be taken over within %v", errRefused, relayTakeover)
		return
	}
	claim, err := c.srv.hub.ClaimInput(c.srv.ctx, r.key)
	var elsewhere *media.LiveElsewhere
	switch {
	case err == nil:
	case errors.As(err, &elsewhere):
		addr, ok := c.srv.relay(elsewhere.Node)
		if !ok {
			return // its claim has not lapsed yet
		}
		up, err := dialUpstream(c.srv.ctx, elsewhere.Node, addr, r.key, c.srv.readTimeout)
		if err == nil {
			err = up.start(r.in)
		}
		if err != nil {
			c.log.Warn("relay to the node on air now", "node", elsewhere.Node, "err", err)
			return
		}
		c.log.Info("RTMP encoder relayed as the standby of the node on air", "node", elsewhere.Node, "to", addr)
		r.up = up
		return
	case errors.Is(err, media.ErrAlreadyLive):
		return // on this node, by another connection a moment ago: try again
	default:
		r.err = fmt.Errorf("%w: take the channel over: %v", errRefused, err)
		return
	}
	r.releaseOn = "publisher disconnected"
	claim.OnKick(func() { _ = c.nc.Close() })
	if _, err := claim.GoLive(c.srv.ctx, r.tracks, media.Ingest{Protocol: "rtmp", FirstArrival: now}); err != nil {
		claim.Release("could not start")
		r.err = fmt.Errorf("%w: take the channel over: %v", errRefused, err)
		return
	}
	r.claim, r.needKey = claim, r.hasVideo()
	c.log.Warn("the node on air went; this relayed encoder is on air here now", "after", now.Sub(r.lostAt).Round(time.Millisecond),
		"standby", claim.Standby())
}

func (r *relaying) hasVideo() bool {
	for _, t := range r.tracks {
		if t.Codec.IsVideo() {
			return true
		}
	}
	return false
}

func (r *relaying) close() {
	if r.up != nil {
		r.up.close()
	}
	if r.claim != nil {
		r.claim.Release(r.releaseOn)
	}
}
