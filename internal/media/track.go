// Package media holds live streams: what a publisher sends (tracks and
// frames), the registry of channels that are live, the LL-HLS output, the
// subscriptions other outputs read (WHEP viewers), the audio transcoder
// between AAC and Opus, and each stream's health. Ingest protocols (rtmp,
// srt, and WHIP in webrtc) live in subpackages and feed a Stream; webrtc
// also serves WHEP from a Subscription.
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
	// What decoders must support, from the SPS: profile ("High", "Main
	// 10"), level ("4.1"), chroma subsampling ("4:2:0") and bit depth.
	Profile, Level, Chroma string
	BitDepth               int

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
	t := &Track{Codec: H264, SPS: sps, PPS: pps, Width: s.Width(), Height: s.Height(), FPS: s.FPS(),
		Profile: h264Profile(s.ProfileIdc), Level: fmt.Sprintf("%d.%d", s.LevelIdc/10, s.LevelIdc%10),
		Chroma: "4:2:0", BitDepth: 8}
	// chroma_format_idc and bit depths are coded only in the High
	// profiles; the others are 8-bit 4:2:0 by definition.
	switch s.ProfileIdc {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		t.Chroma = chromaName(s.ChromaFormatIdc)
		t.BitDepth = 8 + int(s.BitDepthLumaMinus8)
	}
	return t, nil
}

func h264Profile(idc uint8) string {
	switch idc {
	case 66:
		return "Baseline"
	case 77:
		return "Main"
	case 88:
		return "Extended"
	case 100:
		return "High"
	case 110:
		return "High 10"
	case 122:
		return "High 4:2:2"
	case 244:
		return "High 4:4:4"
	default:
		return fmt.Sprintf("profile %d", idc)
	}
}

func h265Profile(idc uint8) string {
	switch idc {
	case 1:
		return "Main"
	case 2:
		return "Main 10"
	case 3:
		return "Main Still Picture"
	case 4:
		return "Range Extensions"
	default:
		return fmt.Sprintf("profile %d", idc)
	}
}

func chromaName(idc uint32) string {
	switch idc {
	case 0:
		return "4:0:0"
	case 1:
		return "4:2:0"
	case 2:
		return "4:2:2"
	case 3:
		return "4:4:4"
	default:
		return "unknown"
	}
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
	lvl := s.ProfileTierLevel.GeneralLevelIdc
	return &Track{Codec: H265, VPS: vps, SPS: sps, PPS: pps, Width: s.Width(), Height: s.Height(), FPS: s.FPS(),
		Profile: h265Profile(s.ProfileTierLevel.GeneralProfileIdc), Level: fmt.Sprintf("%d.%d", lvl/30, (lvl%30)/3),
		Chroma: chromaName(s.ChromaFormatIdc), BitDepth: 8 + int(s.BitDepthLumaMinus8)}, nil
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
