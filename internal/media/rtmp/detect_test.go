package rtmp

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/abema/go-mp4"
	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/livehouse/livehouse/internal/media/flv"
)

// scriptedConn plays messages to a reader, counting how many it gave.
type scriptedConn struct {
	msgs []message.Message
	read int
}

func (c *scriptedConn) Read() (message.Message, error) {
	if c.read >= len(c.msgs) {
		return nil, io.EOF
	}
	m := c.msgs[c.read]
	c.read++
	return m, nil
}
func (c *scriptedConn) Write(message.Message) error { return errors.New("read-only") }
func (c *scriptedConn) BytesReceived() uint64       { return 0 }
func (c *scriptedConn) BytesSent() uint64           { return 0 }

// publisherMessages is what OBS sends: metadata (optional), the H.264 and
// AAC configurations, then 3 s of frames (from the fixture).
func publisherMessages(t *testing.T, metadata bool) []message.Message {
	t.Helper()
	rec, err := flv.ReadFile("../../../testdata/fixture.flv")
	if err != nil {
		t.Fatal(err)
	}
	var out []message.Message
	if metadata {
		out = append(out, &message.DataAMF0{Payload: amf0.Data{"@setDataFrame", "onMetaData", amf0.Object{
			{Key: "videocodecid", Value: float64(flvCodecH264)}, {Key: "audiocodecid", Value: float64(flvCodecAAC)}}}})
	}
	avcc := &mp4.AVCDecoderConfiguration{AnyTypeBox: mp4.AnyTypeBox{Type: mp4.BoxTypeAvcC()}, ConfigurationVersion: 1,
		Profile: rec.SPS[1], ProfileCompatibility: rec.SPS[2], Level: rec.SPS[3], LengthSizeMinusOne: 3,
		NumOfSequenceParameterSets: 1, SequenceParameterSets: []mp4.AVCParameterSet{{Length: uint16(len(rec.SPS)), NALUnit: rec.SPS}},
		NumOfPictureParameterSets: 1, PictureParameterSets: []mp4.AVCParameterSet{{Length: uint16(len(rec.PPS)), NALUnit: rec.PPS}}}
	out = append(out,
		&message.Video{Codec: message.CodecH264, IsKeyFrame: true, Type: message.VideoTypeConfig, AVCConfig: avcc},
		&message.Audio{Codec: message.CodecMPEG4Audio, Rate: message.AudioRate44100, Depth: message.AudioDepth16, IsStereo: true,
			AACType: message.AudioAACTypeConfig, AACConfig: rec.AAC})
	for _, f := range rec.Frames {
		if f.DTS > 3*time.Second {
			break
		}
		if f.Video {
			var au []byte
			for _, n := range f.Data {
				au = append(au, byte(len(n)>>24), byte(len(n)>>16), byte(len(n)>>8), byte(len(n)))
				au = append(au, n...)
			}
			out = append(out, &message.Video{Codec: message.CodecH264, DTS: f.DTS, PTSDelta: f.PTS - f.DTS,
				IsKeyFrame: f.Keyframe, Type: message.VideoTypeAU, AU: au})
		} else {
			out = append(out, &message.Audio{Codec: message.CodecMPEG4Audio, DTS: f.DTS, Rate: message.AudioRate44100,
				Depth: message.AudioDepth16, IsStereo: true, AACType: message.AudioAACTypeAU, AU: f.Data[0]})
		}
	}
	return out
}

// TestFastDetectGoesLiveOnAnnouncedConfigs: with onMetaData announcing
// H.264 + AAC, the reader settles the tracks after the configurations,
// not after 2 s of frames, and every frame still reaches the callbacks
// once, in order (the end-of-window marker is absorbed as a parameter-set
// unit). Without metadata the full window is read, as before.
func TestFastDetectGoesLiveOnAnnouncedConfigs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		metadata  bool
		maxReadAt int // messages read from the publisher when Initialize returns
		minReadAt int
	}{
		{"announced", true, 4, 3},
		{"unannounced", false, 1000, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs := publisherMessages(t, tc.metadata)
			conn := &scriptedConn{msgs: msgs}
			r := &gortmplib.Reader{Conn: &fastDetect{Conn: conn}}
			if err := r.Initialize(); err != nil {
				t.Fatal(err)
			}
			if conn.read > tc.maxReadAt || conn.read < tc.minReadAt {
				t.Fatalf("tracks settled after %d messages, want %d to %d", conn.read, tc.minReadAt, tc.maxReadAt)
			}
			tracks := r.Tracks()
			if len(tracks) != 2 {
				t.Fatalf("tracks: %d", len(tracks))
			}
			var videoDTS []time.Duration
			var paramOnly, audio int
			for _, tr := range tracks {
				switch tr.Codec.(type) {
				case *codecs.H264:
					r.OnDataH264(tr, func(_, dts time.Duration, au [][]byte) {
						if len(au) == 2 && au[0][0]&0x1f == 7 && au[1][0]&0x1f == 8 {
							paramOnly++
							return
						}
						videoDTS = append(videoDTS, dts)
					})
				case *codecs.MPEG4Audio:
					r.OnDataMPEG4Audio(tr, func(time.Duration, []byte) { audio++ })
				}
			}
			for r.Read() == nil {
			}
			var wantVideo, wantAudio int
			for _, m := range msgs {
				if v, ok := m.(*message.Video); ok && v.Type == message.VideoTypeAU {
					wantVideo++
				} else if a, ok := m.(*message.Audio); ok && a.AACType == message.AudioAACTypeAU {
					wantAudio++
				}
			}
			if len(videoDTS) != wantVideo || audio != wantAudio {
				t.Fatalf("delivered %d video, %d audio frames; sent %d, %d", len(videoDTS), audio, wantVideo, wantAudio)
			}
			for i := 1; i < len(videoDTS); i++ {
				if videoDTS[i] < videoDTS[i-1] {
					t.Fatalf("video out of order at %d: %v after %v", i, videoDTS[i], videoDTS[i-1])
				}
			}
			wantParams := 1
			if tc.metadata {
				wantParams = 2 // the configuration and its marker copy
			}
			if paramOnly != wantParams {
				t.Fatalf("%d parameter-set units, want %d", paramOnly, wantParams)
			}
		})
	}
}
