package simulcast

import (
	"errors"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/livehouse/livehouse/internal/media"
	"io"
)

// tsFeed writes a subscription's frames as MPEG-TS (for SRT, and for the
// ffmpeg child that publishes to RTMP servers gortmplib cannot talk to),
// timestamps kept from the source, rebased to start near zero.
type tsFeed struct {
	mw    *mpegts.Writer
	route []*mpegts.Track
	src   []*media.Track
	flush func() error
	base  time.Duration
}

func newTSFeed(w io.Writer, flush func() error, src []*media.Track) (*tsFeed, error) {
	f := &tsFeed{route: make([]*mpegts.Track, len(src)), src: src, flush: flush, base: -1}
	var tracks []*mpegts.Track
	for i, t := range src {
		var c tscodecs.Codec
		switch t.Codec {
		case media.H264:
			c = &tscodecs.H264{}
		case media.H265:
			c = &tscodecs.H265{}
		case media.AAC:
			if t.AACConfig != nil {
				c = &tscodecs.MPEG4Audio{Config: *t.AACConfig}
			}
		}
		if c != nil {
			f.route[i] = &mpegts.Track{Codec: c}
			tracks = append(tracks, f.route[i])
		}
	}
	if len(tracks) == 0 {
		return nil, &sessionError{reason: ReasonNoTracks, fatal: true, err: errors.New("no H.264, H.265 or AAC track")}
	}
	f.mw = &mpegts.Writer{W: w, Tracks: tracks}
	if err := f.mw.Initialize(); err != nil {
		return nil, &sessionError{reason: ReasonNoTracks, fatal: true, err: err}
	}
	return f, nil
}

// write muxes one frame and flushes it; video keyframes carry their
// parameter sets in band (MPEG-TS has no other place for them).
func (f *tsFeed) write(fr media.Frame) error {
	t := f.route[fr.Track]
	if t == nil || len(fr.Data) == 0 {
		return nil
	}
	if f.base < 0 {
		f.base = fr.DTS
	}
	if fr.DTS < f.base {
		return nil
	}
	// 90 kHz, one second above zero (room for B-frames' earlier PTS).
	dts := int64(fr.DTS-f.base)*90000/int64(time.Second) + 90000
	pts := int64(fr.PTS-f.base)*90000/int64(time.Second) + 90000
	src := f.src[fr.Track]
	var err error
	switch t.Codec.(type) {
	case *tscodecs.H264:
		au := fr.Data
		if fr.Key && !hasNALU(au, 7, false) {
			au = append([][]byte{src.SPS, src.PPS}, au...)
		}
		err = f.mw.WriteH264(t, pts, dts, au)
	case *tscodecs.H265:
		au := fr.Data
		if fr.Key && !hasNALU(au, 33, true) {
			au = append([][]byte{src.VPS, src.SPS, src.PPS}, au...)
		}
		err = f.mw.WriteH265(t, pts, dts, au)
	case *tscodecs.MPEG4Audio:
		err = f.mw.WriteMPEG4Audio(t, pts, fr.Data[:1])
	}
	if err == nil {
		err = f.flush()
	}
	return err
}

// hasNALU reports whether an access unit holds a NAL unit of type typ
// (H.264: SPS 7; H.265: SPS 33).
func hasNALU(au [][]byte, typ byte, h265 bool) bool {
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if h265 && (n[0]>>1)&0x3f == typ || !h265 && n[0]&0x1f == typ {
			return true
		}
	}
	return false
}
