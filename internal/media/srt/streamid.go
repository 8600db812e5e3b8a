package srt

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/livehouse/livehouse/internal/media"
)

// Mode is what a caller asks to do with a stream.
type Mode int

const (
	// ModePublish sends a stream to Livehouse.
	ModePublish Mode = iota + 1
	// ModeRead asks for a stream (Livehouse serves viewers over LL-HLS and
	// WebRTC, not SRT).
	ModeRead
)

// StreamID is a caller's parsed SRT stream id.
type StreamID struct {
	Mode Mode
	Key  string
}

// maxStreamIDLen is SRT's own limit on SRTO_STREAMID.
const maxStreamIDLen = 512

// Errors ParseStreamID returns. None of them quotes the stream id: it holds
// the stream key, a secret that must not reach a log.
var (
	errNoStreamID  = errors.New("no stream id: publish to srt://HOST:PORT?streamid=publish:STREAM_KEY")
	errBadStreamID = errors.New("stream id is not publish:STREAM_KEY or #!::r=STREAM_KEY,m=publish")
	errBadKey      = errors.New("malformed stream key")
)

// ParseStreamID reads the two stream id forms publishers use:
//
//	publish:STREAM_KEY             (MediaMTX style; read:STREAM_KEY asks to read)
//	#!::r=STREAM_KEY,m=publish     (Haivision's access control syntax, keys in any order)
//
// In the Haivision form, r is the resource (the stream key) and m the mode
// (publish, request or bidirectional; absent means request, as the
// specification says). Other keys (u user, s session, h host, t type) are
// allowed and ignored, except a t other than "stream".
func ParseStreamID(id string) (StreamID, error) {
	if id == "" {
		return StreamID{}, errNoStreamID
	}
	if len(id) > maxStreamIDLen {
		return StreamID{}, fmt.Errorf("stream id is %d bytes, over SRT's %d", len(id), maxStreamIDLen)
	}
	// Some callers send the stream id still URL-encoded, as it was typed
	// in the srt:// URL (ffmpeg before 6.1 passes %23!::… on as is). A
	// stream key has no '%', so decoding never changes a valid one.
	if strings.Contains(id, "%") {
		if dec, err := url.PathUnescape(id); err == nil {
			id = dec
		}
	}
	var sid StreamID
	if body, ok := strings.CutPrefix(id, "#!::"); ok {
		var err error
		if sid, err = parseHaivision(body); err != nil {
			return StreamID{}, err
		}
	} else {
		mode, key, ok := strings.Cut(id, ":")
		if !ok {
			return StreamID{}, errBadStreamID
		}
		switch mode {
		case "publish":
			sid.Mode = ModePublish
		case "read":
			sid.Mode = ModeRead
		default:
			return StreamID{}, errBadStreamID
		}
		sid.Key = key
	}
	// A stream id that cannot hold a key is refused before the store is asked.
	if !media.ValidStreamKey(sid.Key) {
		return StreamID{}, errBadKey
	}
	if sid.Mode == ModeRead {
		// Refused whatever it names; the key is not needed for that.
		return StreamID{Mode: ModeRead}, nil
	}
	return sid, nil
}

func parseHaivision(body string) (StreamID, error) {
	sid := StreamID{Mode: ModeRead}
	seen := map[string]bool{}
	for _, kv := range strings.Split(body, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return StreamID{}, errors.New("stream id: #!:: entries must be key=value, separated by commas")
		}
		if seen[k] {
			return StreamID{}, errors.New("stream id: a #!:: key is repeated")
		}
		seen[k] = true
		switch k {
		case "r":
			sid.Key = v
		case "m":
			switch v {
			case "publish":
				sid.Mode = ModePublish
			case "request":
				sid.Mode = ModeRead
			case "bidirectional":
				return StreamID{}, errors.New("stream id: m=bidirectional is not supported; use m=publish")
			default:
				return StreamID{}, errors.New("stream id: m must be publish or request")
			}
		case "t":
			if v != "stream" {
				return StreamID{}, errors.New("stream id: only t=stream is supported")
			}
		}
	}
	if !seen["r"] {
		return StreamID{}, errors.New("stream id: #!:: needs r=STREAM_KEY")
	}
	return sid, nil
}
