package flv

import (
	"bytes"
	"os"
	"testing"
	"time"
)

func TestReadFixture(t *testing.T) {
	rec, err := ReadFile("../../../testdata/fixture.flv")
	if err != nil {
		t.Fatal(err)
	}
	if rec.AAC == nil || rec.AAC.SampleRate != 48000 || rec.AAC.ChannelCount != 2 {
		t.Fatalf("AAC config = %+v, want 48 kHz stereo", rec.AAC)
	}
	var video, audio, keys int
	var lastDTS time.Duration = -1
	for _, f := range rec.Frames {
		if f.Video {
			video++
			if f.Keyframe {
				keys++
			}
			if f.DTS < lastDTS {
				t.Fatalf("video DTS went back from %v to %v", lastDTS, f.DTS)
			}
			lastDTS = f.DTS
			if f.PTS < f.DTS {
				t.Fatalf("PTS %v before DTS %v", f.PTS, f.DTS)
			}
		} else {
			audio++
		}
	}
	// 4 s at 30 fps with a keyframe every 30 frames; AAC at 48 kHz is 1024 samples a frame.
	if video != 120 || keys != 4 {
		t.Fatalf("video frames = %d, keyframes = %d; want 120 and 4", video, keys)
	}
	if audio < 180 || audio > 192 {
		t.Fatalf("audio frames = %d, want about 188", audio)
	}
	if !rec.Frames[0].Keyframe && rec.Frames[0].Video {
		t.Fatal("first video frame is not a keyframe")
	}
}

func TestRejectsBadInput(t *testing.T) {
	good, err := os.ReadFile("../../../testdata/fixture.flv")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":          nil,
		"not flv":        []byte("GIF89a........."),
		"header only":    good[:13],
		"truncated tag":  good[:200],
		"bad avc config": append(append([]byte{}, good[:13]...), 9, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0x17, 0, 0, 0, 0, 1),
	}
	for name, data := range cases {
		if _, err := Read(bytes.NewReader(data)); err == nil {
			t.Errorf("%s: Read succeeded, want an error", name)
		}
	}
}

func FuzzRead(f *testing.F) {
	good, err := os.ReadFile("../../../testdata/fixture.flv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good[:4096])
	f.Add(good[:13])
	f.Add([]byte("FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := Read(bytes.NewReader(data))
		if err == nil && rec.SPS == nil {
			t.Fatal("a recording without SPS was accepted")
		}
	})
}

func FuzzParseAVCConfig(f *testing.F) {
	f.Add([]byte{1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 2, 0x67, 0x64, 1, 0, 1, 0x68})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		sps, pps, err := ParseAVCConfig(data)
		if err == nil && (len(sps) == 0 || len(pps) == 0) {
			t.Fatal("empty parameter set accepted")
		}
	})
}
