// Package media holds live streams: what a publisher sends (tracks and
// frames), the registry of channels that are live, and the LL-HLS output
// every viewer reads. Ingest protocols (RTMP now; SRT and WHIP later) live in
// subpackages and feed a Stream; they never talk to viewers directly.
package media

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// Codec names a codec Livehouse can carry to viewers.
type Codec string

const (
	H264 Codec = "h264"
	H265 Codec = "h265"
	AAC  Codec = "aac"
	Opus Codec = "opus"
)

// IsVideo reports whether c is a video codec.
func (c Codec) IsVideo() bool { return c == H264 || c == H265 }

// Track is one elementary stream of a live session with the parameters
// players need to decode it.
type Track struct {
	Codec Codec

	// Video parameter sets (H.264: SPS, PPS; H.265: VPS, SPS, PPS).
	VPS, SPS, PPS []byte
	Width, Height int
	// FPS is the frame rate the encoder declared in the SPS, 0 when absent.
	FPS float64

	// Audio.
	AACConfig    *mpeg4audio.AudioSpecificConfig
	SampleRate   int
	ChannelCount int
}

// ClockRate is the track's timestamp resolution in LL-HLS (fMP4 timescale).
func (t *Track) ClockRate() int {
	switch t.Codec {
	case AAC:
		return t.SampleRate
	case Opus:
		return 48000
	default:
		return 90000
	}
}

// NewH264Track parses the parameter sets; a stream whose SPS cannot be read is refused.
func NewH264Track(sps, pps []byte) (*Track, error) {
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return nil, fmt.Errorf("invalid H.264 SPS: %w", err)
	}
	if len(pps) == 0 {
		return nil, fmt.Errorf("H.264 track has no PPS")
	}
	return &Track{Codec: H264, SPS: sps, PPS: pps, Width: s.Width(), Height: s.Height(), FPS: s.FPS()}, nil
}

// NewH265Track parses the parameter sets; a stream whose SPS cannot be read is refused.
func NewH265Track(vps, sps, pps []byte) (*Track, error) {
	var s h265.SPS
	if err := s.Unmarshal(sps); err != nil {
		return nil, fmt.Errorf("invalid H.265 SPS: %w", err)
	}
	if len(vps) == 0 || len(pps) == 0 {
		return nil, fmt.Errorf("H.265 track lacks a VPS or PPS")
	}
	return &Track{Codec: H265, VPS: vps, SPS: sps, PPS: pps, Width: s.Width(), Height: s.Height(), FPS: s.FPS()}, nil
}

// NewAACTrack checks the AudioSpecificConfig.
func NewAACTrack(cfg *mpeg4audio.AudioSpecificConfig) (*Track, error) {
	if cfg == nil || cfg.SampleRate <= 0 || cfg.SampleRate > 192000 {
		return nil, fmt.Errorf("invalid AAC configuration")
	}
	return &Track{Codec: AAC, AACConfig: cfg, SampleRate: cfg.SampleRate, ChannelCount: cfg.ChannelCount}, nil
}

// NewOpusTrack builds an Opus track.
func NewOpusTrack(channels int) (*Track, error) {
	if channels < 1 || channels > 8 {
		return nil, fmt.Errorf("invalid Opus channel count %d", channels)
	}
	return &Track{Codec: Opus, SampleRate: 48000, ChannelCount: channels}, nil
}
