package webrtc

import (
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/media"
)

// rtpMTU is the largest RTP payload sent: below every path's MTU after
// SRTP, UDP, IP and TURN overheads.
const rtpMTU = 1200

// postWHEP starts a viewer (WHEP): the channel must be live on this node.
// Public channels need no token.
func (s *Server) postWHEP(w http.ResponseWriter, r *http.Request) {
	cors(w)
	slug := r.PathValue("slug")
	body, err := readBody(w, r, "application/sdp")
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	offer, err := inspectOffer(body)
	if err != nil {
		code := "bad_sdp"
		if errors.Is(err, errNoUsableCodec) {
			code = "no_usable_codec"
		}
		httpjson.Fail(w, httpjson.BadRequest(code, "%v", err))
		return
	}
	if !offer.Receiving {
		httpjson.Fail(w, httpjson.BadRequest("not_receiving", "the offer receives no media (want recvonly audio/video)"))
		return
	}
	stream, ok := s.hub.Stream(slug)
	if !ok {
		// Media flows from the node that ingests: send the viewer there
		// (307 keeps the method and the offer; the WHEP draft allows it).
		if st, live := s.hub.Lookup(slug); live && !st.Local && st.Node.URL != "" {
			w.Header().Set("Location", strings.TrimSuffix(st.Node.URL, "/")+"/whep/"+url.PathEscape(slug))
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		httpjson.Fail(w, httpjson.NewProblem(http.StatusNotFound, "not_live", "the channel is not live"))
		return
	}
	ss := newSession(s, kindWHEP, slug, clientHost(r.RemoteAddr))
	ss.remoteUfrag = offer.Ufrag
	if err := s.add(ss); err != nil {
		ss.log.Warn("WHEP viewer refused", "reason", err)
		httpjson.Fail(w, err)
		return
	}
	sub, err := stream.Subscribe(media.SubscribeOptions{AudioCodec: media.Opus})
	if err != nil {
		ss.end("stream ended")
		httpjson.Fail(w, httpjson.NewProblem(http.StatusNotFound, "not_live", "the channel is not live on this server"))
		return
	}
	ss.onEnd = func(string) { sub.Close() }
	if ss.pc, err = s.api.NewPeerConnection(pion.Configuration{}); err != nil {
		ss.end("could not start")
		httpjson.Fail(w, httpjson.Internal(err))
		return
	}
	var outs []*outTrack
	for i, t := range sub.Tracks {
		out, err := newOutTrack(t, slug)
		if err != nil {
			continue // a codec WebRTC cannot carry (AAC): the subscriber gets Opus when there is a transcode
		}
		sender, err := ss.pc.AddTrack(out.track)
		if err != nil {
			ss.end("could not start")
			httpjson.Fail(w, httpjson.Internal(err))
			return
		}
		out.index = i
		outs = append(outs, out)
		// Read the viewer's RTCP: the interceptors answer NACKs from it.
		s.goTracked(func() { drainRTCP(sender) })
	}
	if len(outs) == 0 {
		ss.end("no playable track")
		httpjson.Fail(w, httpjson.NewProblem(http.StatusUnprocessableEntity, "no_playable_track", "the stream has no track WebRTC can carry"))
		return
	}
	ss.watch()
	answer, err := negotiate(r, ss.pc, string(body))
	if err != nil {
		ss.end("bad offer")
		httpjson.Fail(w, err)
		return
	}
	s.goTracked(func() { ss.play(sub, outs) })
	ss.log.Info("WHEP viewer joined", "tracks", len(outs))
	s.answer(w, ss, answer)
}

// drainRTCP reads a sender's RTCP until the peer connection closes. A
// viewer's PLI cannot be answered with a new keyframe (video is passed
// through, not encoded here); the next keyframe from the publisher heals
// the picture, and a viewer that fell behind restarts at one anyway.
func drainRTCP(sender *pion.RTPSender) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := sender.Read(buf); err != nil {
			return
		}
	}
}

// play sends the subscription's frames until it ends (stream over, or the
// viewer is too slow) or the session does.
func (ss *session) play(sub *media.Subscription, outs []*outTrack) {
	// Frames wait in the subscription (from a keyframe on) until the
	// viewer can receive them: a frame written before the connection is up
	// would be lost, and with it the picture until the next keyframe.
	select {
	case <-ss.done:
		return
	case <-ss.connectedCh:
	}
	byIndex := make(map[int]*outTrack, len(outs))
	for _, o := range outs {
		byIndex[o.index] = o
	}
	for {
		select {
		case <-ss.done:
			return
		case f, ok := <-sub.Frames():
			if !ok {
				ss.end("stream ended")
				return
			}
			o := byIndex[f.Track]
			if o == nil {
				continue
			}
			if err := o.write(f); err != nil {
				if !errors.Is(err, io.ErrClosedPipe) && !ss.ended() {
					ss.log.Debug("WHEP write", "err", err)
				}
			}
		}
	}
}

// outTrack packetizes one track of a subscription for one viewer.
type outTrack struct {
	index  int
	codec  media.Codec
	track  *pion.TrackLocalStaticRTP
	w      rtpWriter // the track; tests collect the packets instead
	media  *media.Track
	rate   int64
	seq    uint16
	tsBase uint32
	pkt    rtp.Packet
	fu     []byte // FU-A scratch buffer, reused
}

func newOutTrack(t *media.Track, slug string) (*outTrack, error) {
	var c pion.RTPCodecCapability
	switch t.Codec {
	case media.H264:
		plid := "42e01f"
		if len(t.SPS) >= 4 {
			plid = hex.EncodeToString(t.SPS[1:4])
		}
		c = pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + plid}
	case media.Opus:
		c = pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	default:
		return nil, errors.New("codec not carried over WebRTC")
	}
	kind := "video"
	if !t.Codec.IsVideo() {
		kind = "audio"
	}
	track, err := pion.NewTrackLocalStaticRTP(c, kind, "livehouse-"+slug)
	if err != nil {
		return nil, err
	}
	return &outTrack{codec: t.Codec, track: track, w: track, media: t, rate: int64(c.ClockRate),
		seq: uint16(rand.Uint32()), tsBase: rand.Uint32()}, nil
}

// write sends one frame as RTP packets, timestamped from its PTS.
func (o *outTrack) write(f media.Frame) error {
	ts := o.tsBase + uint32(int64(f.PTS)*o.rate/int64(time.Second))
	if o.codec == media.Opus {
		if len(f.Data) == 0 {
			return nil
		}
		return o.send(f.Data[0], ts, true)
	}
	nalus := f.Data
	if f.Key && !hasParameterSets(nalus) && len(o.media.SPS) > 0 {
		// RTMP and SRT carry SPS/PPS out of band; a WebRTC decoder needs
		// them in band before each keyframe.
		nalus = append([][]byte{o.media.SPS, o.media.PPS}, nalus...)
	}
	for i, n := range nalus {
		last := i == len(nalus)-1
		if len(n) == 0 {
			continue
		}
		if len(n) <= rtpMTU {
			if err := o.send(n, ts, last); err != nil {
				return err
			}
			continue
		}
		// FU-A: the NAL header's type becomes 28, the original type moves
		// to the FU header with start/end flags.
		hdr := n[0]
		body := n[1:]
		for off := 0; off < len(body); off += rtpMTU - 2 {
			end := min(off+rtpMTU-2, len(body))
			fu := hdr&0xe0 | naluFUA
			fh := hdr & 0x1f
			if off == 0 {
				fh |= 0x80
			}
			if end == len(body) {
				fh |= 0x40
			}
			o.fu = append(o.fu[:0], fu, fh)
			o.fu = append(o.fu, body[off:end]...)
			if err := o.send(o.fu, ts, last && end == len(body)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (o *outTrack) send(payload []byte, ts uint32, marker bool) error {
	o.pkt.Header = rtp.Header{Version: 2, Marker: marker, SequenceNumber: o.seq, Timestamp: ts}
	o.pkt.Payload = payload
	o.seq++
	return o.w.WriteRTP(&o.pkt)
}

type rtpWriter interface{ WriteRTP(*rtp.Packet) error }

// hasParameterSets reports whether an access unit carries its SPS and PPS.
func hasParameterSets(nalus [][]byte) bool {
	var sps, pps bool
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case 7:
			sps = true
		case 8:
			pps = true
		}
	}
	return sps && pps
}
