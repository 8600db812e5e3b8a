package rtmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/livehouse/livehouse/internal/media"
)

// Standby on another origin. One origin at a time ingests a channel: the
// one holding its live claim. An encoder that reaches another origin
// meanwhile (the backup encoder of a channel whose primary publishes
// elsewhere, or the same key from a second place), over RTMP or SRT, is
// relayed over RTMP to the origin on air, where it is the hot standby
// exactly as a second encoder connected there would be: that origin's
// failover puts it on air without the playlist restarting. If the origin
// on air goes (killed, cut off, draining), the relaying origin claims the
// channel once the node is seen gone and its claim is free, and puts the
// encoder on air itself: the channel is back within seconds, as a new
// session whose playlist starts over.

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

// RelayOptions configure RelayStandby.
type RelayOptions struct {
	Hub       *media.Hub
	Relay     Relay
	Key       string
	Elsewhere *media.LiveElsewhere // the refusal that named the node on air
	// Timeout bounds each write to the node on air.
	Timeout time.Duration
	Log     *slog.Logger
}

// Relayed is an encoder relayed to the node on air (a media.Publication):
// its frames go there until that node goes, then to a claim here. Its
// methods are called by the encoder's connection goroutine.
type Relayed struct {
	o RelayOptions
	// serverCtx is the ingest server's: a takeover (claim, dial, going on
	// air here) ends with the server, like any publish there.
	serverCtx context.Context

	tracks []*media.Track
	out    []*gortmplib.Track // tracks[i] as announced upstream
	ingest media.Ingest

	up       *upstream
	lostAt   time.Time // when the origin on air went
	lostNode int64
	triedAt  time.Time

	mu      sync.Mutex // claim and kick: OnKick and Kicked may come from others
	claim   *media.Claim
	kick    func()
	needKey bool // on air here: nothing until the next keyframe
}

// RelayStandby connects to the node on air (opts.Elsewhere.Node) and
// publishes the key there; ctx is the ingest server's, for as long as the
// encoder is connected. The node takes or refuses the encoder as its
// standby before this returns (it refuses a third encoder, or when it
// drains): on an error, refuse the encoder.
func RelayStandby(ctx context.Context, o RelayOptions) (*Relayed, error) {
	addr, ok := o.Relay(o.Elsewhere.Node)
	if !ok {
		return nil, fmt.Errorf("%v, which takes no standby now (not reporting, or draining)", o.Elsewhere)
	}
	up, err := dialUpstream(ctx, o.Elsewhere.Node, addr, o.Key, o.Timeout)
	if err != nil {
		return nil, err
	}
	return &Relayed{o: o, serverCtx: ctx, up: up}, nil
}

// GoLive announces the encoder's tracks to the node on air; there is no
// stream here (nil) while it is relayed.
func (r *Relayed) GoLive(_ context.Context, tracks []*media.Track, in media.Ingest) (*media.Stream, error) {
	out := make([]*gortmplib.Track, len(tracks))
	for i, t := range tracks {
		var err error
		if out[i], err = rtmpTrack(t); err != nil {
			return nil, err
		}
	}
	r.tracks, r.out, r.ingest = tracks, out, in
	if err := r.up.start(out); err != nil {
		return nil, err
	}
	r.o.Log.Info("encoder relayed as the standby of the node on air", "node", r.up.node, "to", r.up.addr, "protocol", in.Protocol)
	return nil, nil
}

// rtmpTrack is a track as gortmplib announces it.
func rtmpTrack(t *media.Track) (*gortmplib.Track, error) {
	switch t.Codec {
	case media.H264:
		return &gortmplib.Track{Codec: &codecs.H264{SPS: t.SPS, PPS: t.PPS}}, nil
	case media.H265:
		return &gortmplib.Track{Codec: &codecs.H265{VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}}, nil
	case media.AAC:
		if t.AACConfig == nil {
			return nil, errors.New("relay: AAC track without its configuration")
		}
		return &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: t.AACConfig}}, nil
	case media.Opus:
		return &gortmplib.Track{Codec: &codecs.Opus{IDHeader: &opus.IDHeader{Version: 1, ChannelCount: uint8(t.ChannelCount),
			InputSampleRate: 48000}}}, nil
	}
	return nil, fmt.Errorf("relay: codec %s cannot be relayed over RTMP", t.Codec)
}

// WriteFrame forwards a frame to the node on air, or writes it here once
// this node has the channel. An error ends the encoder's publish.
func (r *Relayed) WriteFrame(f media.Frame) error {
	if f.Track < 0 || f.Track >= len(r.out) {
		return fmt.Errorf("frame for unknown track %d", f.Track)
	}
	if r.up != nil {
		if err := r.up.write(r.out[f.Track], f); err != nil {
			r.o.Log.Warn("relay to the node on air lost; taking the channel over here once that node is gone",
				"node", r.up.node, "err", err)
			r.lostAt, r.lostNode = time.Now(), r.up.node
			r.up.close()
			r.up = nil
		}
		return nil
	}
	r.mu.Lock()
	claim := r.claim
	r.mu.Unlock()
	if claim == nil {
		return r.takeOver()
	}
	if r.needKey {
		if !keyframe(r.tracks[f.Track], f.Data) {
			return nil
		}
		r.needKey = false
	}
	return claim.WriteFrame(f)
}

// keyframe: a video track's random access point; audio never waits.
func keyframe(t *media.Track, au [][]byte) bool {
	switch t.Codec {
	case media.H264:
		return h264.IsRandomAccess(au)
	case media.H265:
		return h265.IsRandomAccess(au)
	}
	return false
}

// takeOver tries, at most every relayRetry, to claim the channel here or
// to relay to the node that holds it now, once the lost node is seen gone
// (silent or draining). A lost node that stays healthy ended the relay on
// purpose: a stream ended by the platform must not come back from here.
func (r *Relayed) takeOver() error {
	now := time.Now()
	if now.Sub(r.triedAt) < relayRetry {
		return nil
	}
	r.triedAt = now
	if _, healthy := r.o.Relay(r.lostNode); healthy {
		if now.Sub(r.lostAt) > relayClosedOnPurpose {
			return fmt.Errorf("node %d, on air, closed the relay and is healthy (the stream was ended there, or it refused this encoder)", r.lostNode)
		}
		return nil
	}
	if now.Sub(r.lostAt) > relayTakeover {
		return fmt.Errorf("the node on air went and the channel could not be taken over within %v", relayTakeover)
	}
	ctx := r.serverCtx
	claim, err := r.o.Hub.ClaimInput(ctx, r.o.Key)
	var elsewhere *media.LiveElsewhere
	switch {
	case err == nil:
	case errors.As(err, &elsewhere):
		addr, ok := r.o.Relay(elsewhere.Node)
		if !ok {
			return nil // its claim has not lapsed yet
		}
		up, err := dialUpstream(ctx, elsewhere.Node, addr, r.o.Key, r.o.Timeout)
		if err == nil {
			err = up.start(r.out)
		}
		if err != nil {
			r.o.Log.Warn("relay to the node on air now", "node", elsewhere.Node, "err", err)
			return nil
		}
		r.o.Log.Info("encoder relayed as the standby of the node on air", "node", elsewhere.Node, "to", addr)
		r.up = up
		return nil
	case errors.Is(err, media.ErrAlreadyLive):
		return nil // on this node, by another connection a moment ago: try again
	default:
		return fmt.Errorf("take the channel over: %w", err)
	}
	in := r.ingest
	in.FirstArrival = now
	if _, err := claim.GoLive(ctx, r.tracks, in); err != nil {
		claim.Release("could not start")
		return fmt.Errorf("take the channel over: %w", err)
	}
	r.needKey = r.hasVideo()
	r.mu.Lock()
	r.claim = claim
	kick := r.kick
	r.mu.Unlock()
	if kick != nil {
		claim.OnKick(kick)
	}
	r.o.Log.Warn("the node on air went; this relayed encoder is on air here now",
		"after", now.Sub(r.lostAt).Round(time.Millisecond), "standby", claim.Standby())
	return nil
}

func (r *Relayed) hasVideo() bool {
	for _, t := range r.tracks {
		if t.Codec.IsVideo() {
			return true
		}
	}
	return false
}

// OnKick: the platform ending the stream reaches the encoder once it is on
// air here (while relayed, the node on air ends it by closing the relay).
func (r *Relayed) OnKick(fn func()) {
	r.mu.Lock()
	r.kick = fn
	claim := r.claim
	r.mu.Unlock()
	if claim != nil {
		claim.OnKick(fn)
	}
}

// WantsRegularKeyframes: while relayed, the node on air cannot ask this
// encoder for a keyframe, whether it has it on air or standing by; once
// on air here, as its claim says.
func (r *Relayed) WantsRegularKeyframes() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.claim == nil || r.claim.WantsRegularKeyframes()
}

// Kicked reports whether the platform ended the publish here.
func (r *Relayed) Kicked() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.claim != nil && r.claim.Kicked()
}

// AddIngestBytes counts ingest here once the encoder is on air here (the
// node on air counts it while relayed).
func (r *Relayed) AddIngestBytes(n uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.claim != nil {
		r.claim.AddIngestBytes(n)
	}
}

// Release ends the relay, and the publish here if it went on air here.
func (r *Relayed) Release(reason string) {
	if r.up != nil {
		r.up.close()
		r.up = nil
	}
	r.mu.Lock()
	claim := r.claim
	r.mu.Unlock()
	if claim != nil {
		claim.Release(reason)
	}
}

// upstream is one relay connection to the origin on air.
type upstream struct {
	node    int64
	addr    string
	client  *gortmplib.Client
	w       *gortmplib.Writer
	timeout time.Duration
	gone    chan struct{} // the origin closed the connection or failed
	started bool
}

// dialUpstream publishes key to the origin at addr. The origin takes or
// refuses the encoder before this returns.
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
	return &upstream{node: node, addr: addr, client: c, timeout: timeout, gone: make(chan struct{})}, nil
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
	u.started = true
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
func (u *upstream) write(t *gortmplib.Track, f media.Frame) error {
	select {
	case <-u.gone:
		return errors.New("the origin closed the relay")
	default:
	}
	u.deadline()
	switch t.Codec.(type) {
	case *codecs.H264:
		return u.w.WriteH264(t, f.PTS, f.DTS, f.Data)
	case *codecs.H265:
		return u.w.WriteH265(t, f.PTS, f.DTS, f.Data)
	case *codecs.MPEG4Audio:
		return u.w.WriteMPEG4Audio(t, f.PTS, f.Data[0])
	case *codecs.Opus:
		return u.w.WriteOpus(t, f.PTS, f.Data[0])
	}
	return nil
}

// close ends the relay connection and waits for its reader.
func (u *upstream) close() {
	u.client.Close()
	if u.started {
		<-u.gone
	}
}
