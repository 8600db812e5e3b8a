package webrtc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
)

// offerInfo is what Livehouse needs to know about a client's SDP offer
// before it spends a peer connection on it.
type offerInfo struct {
	Video, Audio bool // a usable codec is offered in a video / audio section
	Ufrag        string
	// Sending is set when the client sends media (WHIP), Receiving when it
	// accepts media (WHEP).
	Sending, Receiving bool
}

// maxMediaSections bounds an offer's m= lines (one video and one audio is
// what either side uses; a browser may add a data channel).
const maxMediaSections = 8

// errNoUsableCodec is answered 400 with code "no_usable_codec".
var errNoUsableCodec = errors.New("the offer has no H.264 (packetization-mode 1) video and no Opus audio")

// inspectOffer parses an offer and finds its usable codecs: H.264 with
// packetization mode 1, Opus.
func inspectOffer(body []byte) (offerInfo, error) {
	var info offerInfo
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return info, fmt.Errorf("invalid SDP: %w", err)
	}
	if len(sd.MediaDescriptions) == 0 {
		return info, errors.New("the offer has no media sections")
	}
	if len(sd.MediaDescriptions) > maxMediaSections {
		return info, fmt.Errorf("the offer has more than %d media sections", maxMediaSections)
	}
	info.Ufrag, _ = sd.Attribute("ice-ufrag")
	for _, md := range sd.MediaDescriptions {
		if info.Ufrag == "" {
			info.Ufrag, _ = md.Attribute("ice-ufrag")
		}
		kind := md.MediaName.Media
		if kind != "video" && kind != "audio" {
			continue
		}
		if md.MediaName.Port.Value == 0 {
			continue // rejected/disabled section
		}
		dir := sdpDirection(md)
		if dir == "inactive" {
			continue
		}
		if !usableCodec(md) {
			continue
		}
		if kind == "video" {
			info.Video = true
		} else {
			info.Audio = true
		}
		info.Sending = info.Sending || dir == "sendonly" || dir == "sendrecv"
		info.Receiving = info.Receiving || dir == "recvonly" || dir == "sendrecv"
	}
	if !info.Video && !info.Audio {
		return info, errNoUsableCodec
	}
	return info, nil
}

// usableCodec reports whether a media section offers a codec Livehouse
// carries: H.264 in packetization mode 1, Opus (H.265 over WebRTC
// is not taken yet).
func usableCodec(md *sdp.MediaDescription) bool {
	names := map[string]string{} // payload type → codec name
	fmtps := map[string]string{}
	for _, a := range md.Attributes {
		pt, rest, ok := strings.Cut(a.Value, " ")
		if !ok {
			continue
		}
		switch a.Key {
		case "rtpmap":
			name, _, _ := strings.Cut(rest, "/")
			names[pt] = strings.ToLower(name)
		case "fmtp":
			fmtps[pt] = strings.ToLower(rest)
		}
	}
	for _, pt := range md.MediaName.Formats {
		switch names[pt] {
		case "h264":
			if strings.Contains(fmtps[pt], "packetization-mode=1") {
				return true
			}
		case "opus":
			return true
		}
	}
	return false
}
