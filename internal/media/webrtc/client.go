package webrtc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"

	"github.com/livehouse/livehouse/internal/media"
)

// A Client is a minimal WHIP publisher or WHEP viewer, for tests and
// `livehouse bench whep`: a pion peer connection on its own UDP port,
// with host candidates only (it talks to a server it can reach).
type Client struct {
	pc       *pion.PeerConnection
	location string
	http     *http.Client
	outs     []*outTrack
}

// ClientOptions configures a Client.
type ClientOptions struct {
	HTTP *http.Client // nil: http.DefaultClient
	// OnPacket is called (on the track's goroutine) for every RTP packet a
	// viewer receives, with the codec's MIME type.
	OnPacket func(mime string, p *rtp.Packet)
}

func clientAPI() (*pion.API, error) {
	var se pion.SettingEngine
	// Hundreds of bench viewers closing at once would print pion's
	// warnings by the thousand; errors still show.
	logs := logging.NewDefaultLoggerFactory()
	logs.DefaultLogLevel = logging.LogLevelError
	se.LoggerFactory = logs
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	me := &pion.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	// NACK and RTCP reports as a browser sends them, without pion's stats
	// and TWCC interceptors: hundreds of bench viewers share the machine
	// with the server they measure, and a starved viewer loses packets
	// whose NACKs then cost the server retransmissions.
	reg := &interceptor.Registry{}
	if err := pion.ConfigureNack(me, reg); err != nil {
		return nil, err
	}
	if err := pion.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	return pion.NewAPI(pion.WithSettingEngine(se), pion.WithMediaEngine(me), pion.WithInterceptorRegistry(reg)), nil
}

// Play opens a WHEP session at endpoint (http://HOST/whep/SLUG).
func Play(ctx context.Context, endpoint string, o ClientOptions) (*Client, error) {
	api, err := clientAPI()
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return nil, err
	}
	c := &Client{pc: pc, http: o.HTTP}
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			pc.Close()
			return nil, err
		}
	}
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		mime := tr.Codec().MimeType
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if o.OnPacket != nil {
				o.OnPacket(mime, p)
			}
		}
	})
	if err := c.connect(ctx, endpoint, ""); err != nil {
		pc.Close()
		return nil, err
	}
	return c, nil
}

// Publish opens a WHIP session at endpoint (http://HOST/whip/SLUG) with
// the stream key and the given tracks (H.264 and/or Opus); Write sends
// frames to them.
func Publish(ctx context.Context, endpoint, key string, tracks []*media.Track, o ClientOptions) (*Client, error) {
	api, err := clientAPI()
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return nil, err
	}
	c := &Client{pc: pc, http: o.HTTP}
	for _, t := range tracks {
		out, err := newOutTrack(t, "publisher")
		if err != nil {
			pc.Close()
			return nil, err
		}
		tr, err := pc.AddTransceiverFromTrack(out.track, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly})
		if err != nil {
			pc.Close()
			return nil, err
		}
		go drainRTCP(tr.Sender())
		c.outs = append(c.outs, out)
	}
	if err := c.connect(ctx, endpoint, key); err != nil {
		pc.Close()
		return nil, err
	}
	return c, nil
}

// Write sends a frame of tracks[f.Track] (PTS is its timestamp; video
// keyframes get their SPS/PPS in band).
func (c *Client) Write(f media.Frame) error {
	if f.Track < 0 || f.Track >= len(c.outs) {
		return fmt.Errorf("no track %d", f.Track)
	}
	return c.outs[f.Track].write(f)
}

// Connected waits until the peer connection is up.
func (c *Client) Connected(ctx context.Context) error {
	for {
		switch c.pc.ConnectionState() {
		case pion.PeerConnectionStateConnected:
			return nil
		case pion.PeerConnectionStateFailed, pion.PeerConnectionStateClosed:
			return errors.New("peer connection failed")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// StatusError is a server's refusal of a WHIP/WHEP request.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Code, strings.TrimSpace(e.Body))
}

func (c *Client) connect(ctx context.Context, endpoint, key string) error {
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := pion.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(offer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(c.pc.LocalDescription().SDP))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/sdp")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := c.client().Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxSDP))
	if res.StatusCode != http.StatusCreated {
		return &StatusError{Code: res.StatusCode, Body: string(body)}
	}
	// The session lives where the answer came from, after any redirect
	// to the node that ingests.
	loc := res.Request.URL
	rel, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		return err
	}
	c.location = loc.ResolveReference(rel).String()
	return c.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: string(body)})
}

func (c *Client) client() *http.Client {
	if c.http != nil {
		return c.http
	}
	return http.DefaultClient
}

// Location is the session URL the server gave.
func (c *Client) Location() string { return c.location }

// Close ends the session (DELETE) and the peer connection.
func (c *Client) Close() error {
	if c.location != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.location, bytes.NewReader(nil)); err == nil {
			if res, err := c.client().Do(req); err == nil {
				res.Body.Close()
			}
		}
	}
	return c.pc.Close()
}
