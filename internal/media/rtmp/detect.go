package rtmp

import (
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"
)

// detectWindow is how much of the stream gortmplib's reader reads before
// it settles the tracks (its analyzePeriod): about 2 s of wall-clock time
// from a live encoder, all of it before the stream can go live.
const detectWindow = 2 * time.Second

// fastDetect lets a publisher that announces its tracks go live as soon
// as it has sent their configurations, instead of after gortmplib's 2 s
// detection window. OBS and ffmpeg announce the codecs in onMetaData; once
// the H.264 configuration and (if announced) the AAC configuration have
// arrived, fastDetect hands the reader one more copy of the H.264
// configuration stamped at the end of the window, which ends detection.
// The copy is replayed to the data callbacks with the rest and absorbed
// there: a parameter-set-only unit is never passed on (media.videoParams).
//
// Streams it cannot vouch for (no metadata, enhanced RTMP codecs, a second
// track) keep the full window: they still go live, only 2 s later.
type fastDetect struct {
	gortmplib.Conn

	done        bool
	injected    bool
	metadata    bool
	wantVideo   bool
	wantAudio   bool
	firstDTS    time.Duration
	sawMedia    bool
	videoConfig *message.Video
	audioConfig bool
	pending     message.Message // the real message read while injecting
}

// FLV codec ids in onMetaData.
const (
	flvCodecH264 = 7
	flvCodecAAC  = 10
)

func (d *fastDetect) Read() (message.Message, error) {
	if d.pending != nil {
		m := d.pending
		d.pending = nil
		return m, nil
	}
	m, err := d.Conn.Read()
	if err != nil || d.done {
		return m, err
	}
	switch msg := m.(type) {
	case *message.DataAMF0:
		d.readMetadata(msg.Payload)
	case *message.Video:
		d.media(msg.DTS)
		if msg.Codec != message.CodecH264 {
			d.done = true
		} else if msg.Type == message.VideoTypeConfig && d.videoConfig == nil {
			d.videoConfig = msg
		}
	case *message.Audio:
		d.media(msg.DTS)
		if msg.Codec != message.CodecMPEG4Audio {
			d.done = true
		} else if msg.AACType == message.AudioAACTypeConfig {
			d.audioConfig = true
		}
	case *message.VideoExSequenceStart, *message.VideoExCodedFrames, *message.VideoExFramesX, *message.VideoExMultitrack,
		*message.AudioExSequenceStart, *message.AudioExCodedFrames, *message.AudioExMultitrack:
		d.done = true // enhanced RTMP: let gortmplib take its time
	}
	if d.done || !d.ready() {
		return m, nil
	}
	// Hand over this message first, then the end-of-window marker.
	d.done, d.injected = true, true
	marker := *d.videoConfig
	marker.DTS = d.firstDTS + detectWindow
	d.pending = &marker
	return m, nil
}

func (d *fastDetect) media(dts time.Duration) {
	if !d.sawMedia {
		d.sawMedia, d.firstDTS = true, dts
		if !d.metadata {
			d.done = true // no announcement: nothing to vouch for
		}
	}
}

// ready: every announced track's configuration has arrived.
func (d *fastDetect) ready() bool {
	return d.metadata && d.wantVideo && d.videoConfig != nil && (!d.wantAudio || d.audioConfig)
}

// readMetadata reads onMetaData's codec ids; a codec fastDetect does not
// know leaves detection to gortmplib.
func (d *fastDetect) readMetadata(payload amf0.Data) {
	for _, v := range payload {
		var entries []amf0.ObjectEntry
		switch o := v.(type) {
		case amf0.Object:
			entries = o
		case amf0.ECMAArray:
			entries = o
		default:
			continue
		}
		for _, e := range entries {
			id, isNum := e.Value.(float64)
			switch e.Key {
			case "videocodecid":
				d.metadata = true
				if !isNum || id != flvCodecH264 {
					d.done = true
				}
				d.wantVideo = true
			case "audiocodecid":
				d.metadata = true
				if !isNum || id != flvCodecAAC {
					d.done = true
				}
				d.wantAudio = true
			}
		}
	}
}
