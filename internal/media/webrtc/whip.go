package webrtc

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pion/sdp/v3"
	pion "github.com/pion/webrtc/v4"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/media/rtmp"
)

// postWHIP starts a publish (RFC 9725 4.2): the bearer token is the stream
// key, the body the SDP offer; the answer comes back with 201 and the
// session's Location.
func (s *Server) postWHIP(w http.ResponseWriter, r *http.Request) {
	cors(w)
	slug := r.PathValue("slug")
	log := s.log.With("protocol", "whip", "channel", slug, "remote", clientHost(r.RemoteAddr))
	refuse := func(err error, why string) {
		// The key is a secret: never logged.
		log.Warn("WHIP publish refused", "reason", why)
		httpjson.Fail(w, err)
	}
	key := bearer(r)
	if key == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="whip"`)
		refuse(httpjson.NewProblem(http.StatusUnauthorized, "no_stream_key", "send the stream key as Authorization: Bearer STREAM_KEY"), "no stream key")
		return
	}
	if !media.ValidStreamKey(key) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="whip", error="invalid_token"`)
		refuse(httpjson.NewProblem(http.StatusUnauthorized, "unknown_stream_key", "unknown stream key"), "malformed stream key")
		return
	}
	body, err := readBody(w, r, "application/sdp")
	if err != nil {
		refuse(err, err.Error())
		return
	}
	offer, err := inspectOffer(body)
	if err != nil {
		code := "bad_sdp"
		if errors.Is(err, errNoUsableCodec) {
			code = "no_usable_codec"
		}
		refuse(httpjson.BadRequest(code, "%v", err), err.Error())
		return
	}
	if !offer.Sending {
		refuse(httpjson.BadRequest("not_sending", "the offer sends no media (want sendonly audio/video)"), "offer sends no media")
		return
	}

	claim, claimed, err := s.publication(key)
	if err != nil {
		refuse(claimProblem(err), err.Error())
		return
	}
	if claimed != slug {
		claim.Release("wrong channel")
		refuse(httpjson.NewProblem(http.StatusForbidden, "wrong_channel", "this stream key belongs to another channel"),
			"stream key of channel "+claimed)
		return
	}
	ss := newSession(s, kindWHIP, slug, clientHost(r.RemoteAddr))
	ss.remoteUfrag = offer.Ufrag
	if err := s.add(ss); err != nil {
		claim.Release("refused: " + err.Error())
		refuse(err, err.Error())
		return
	}
	// What the publisher sends is set before pion can call back with its
	// tracks (OnTrack's registration orders it before every callback).
	pub := &publisher{ss: ss, claim: claim, log: ss.log, expectVideo: offer.Video, expectAudio: offer.Audio}
	ss.onEnd = pub.release
	claim.OnKick(func() { ss.end("stopped by the platform") })

	if ss.pc, err = s.api.NewPeerConnection(pion.Configuration{}); err != nil {
		ss.end("could not start")
		refuse(httpjson.Internal(err), "new peer connection: "+err.Error())
		return
	}
	ss.watch()
	ss.pc.OnTrack(pub.onTrack)
	answer, err := negotiate(r, ss.pc, string(body))
	if err != nil {
		ss.end("bad offer")
		refuse(err, "negotiate: "+err.Error())
		return
	}
	ans, err := inspectOffer([]byte(answer))
	if err != nil || !ans.Receiving || ans.Video != offer.Video || ans.Audio != offer.Audio {
		ss.end("no usable media")
		refuse(httpjson.BadRequest("no_usable_codec", "%v", errNoUsableCodec), "answer does not accept the offered media")
		return
	}
	ss.log.Info("WHIP session started", "video", pub.expectVideo, "audio", pub.expectAudio)
	s.answer(w, ss, answer)
}

// publication claims the channel of key here (as its hot standby when it
// is live here already) or relays the publisher to the node that ingests
// it; it returns the channel's slug too.
func (s *Server) publication(key string) (media.Publication, string, error) {
	claim, err := s.hub.ClaimInput(s.ctx, key)
	if err == nil {
		return claim, claim.Channel.Slug, nil
	}
	var elsewhere *media.LiveElsewhere
	if !errors.As(err, &elsewhere) || s.relay == nil {
		return nil, "", err
	}
	relayed, err := rtmp.RelayStandby(s.ctx, rtmp.RelayOptions{Hub: s.hub, Relay: s.relay, Key: key, Elsewhere: elsewhere,
		Timeout: relayWriteTimeout, Log: s.log.With("protocol", "whip", "channel", elsewhere.Slug)})
	if err != nil {
		// The node on air did not take it (it has a standby already, or
		// drains): the channel is live, as for any other refusal.
		return nil, "", fmt.Errorf("%w: %v", media.ErrAlreadyLive, err)
	}
	return relayed, elsewhere.Slug, nil
}

// relayWriteTimeout bounds each write of a relayed WHIP publisher's media
// to the node on air (RTMP ingest uses its read timeout, 10 s by default).
const relayWriteTimeout = 10 * time.Second

// claimProblem turns hub.Claim's refusals into HTTP answers.
func claimProblem(err error) error {
	switch {
	case errors.Is(err, media.ErrUnknownKey):
		return httpjson.NewProblem(http.StatusUnauthorized, "unknown_stream_key", "unknown stream key")
	case errors.Is(err, media.ErrChannelDisabled):
		return httpjson.NewProblem(http.StatusForbidden, "channel_disabled", "the platform switched this channel off")
	case errors.Is(err, media.ErrAlreadyLive):
		return httpjson.NewProblem(http.StatusConflict, "already_live", "the channel is already live")
	case errors.Is(err, media.ErrDraining):
		return httpjson.NewProblem(http.StatusServiceUnavailable, "node_draining", "this node is shutting down: publish to another origin")
	case errors.Is(err, media.ErrShutdown):
		return errShuttingDown
	default:
		return fmt.Errorf("claim channel: %w", err) // a store failure: 500, logged
	}
}

// sdpDirection returns a media section's direction attribute.
func sdpDirection(md *sdp.MediaDescription) string {
	for _, d := range []string{"sendonly", "recvonly", "inactive", "sendrecv"} {
		if _, ok := md.Attribute(d); ok {
			return d
		}
	}
	return "sendrecv"
}
