package recording

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/livehouse/livehouse/internal/media"
)

var testSPS = []byte{0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0f, 0x23, 0xc6, 0x0c, 0x92}

func testTracks(t *testing.T) []*media.Track {
	t.Helper()
	v, err := media.NewH264Track(testSPS, []byte{0x68, 0xce, 0x3c, 0x80})
	if err != nil {
		t.Fatal(err)
	}
	a := &media.Track{Codec: media.AAC, SampleRate: 48000, ChannelCount: 2,
		AACConfig: &mpeg4audio.AudioSpecificConfig{Type: 2, SampleRate: 48000, ChannelCount: 2}}
	return []*media.Track{v, a}
}

// feed writes `dur` of 30 fps video (a keyframe every 2 s) with AAC audio
// (1024 samples at 48 kHz), starting at a publisher clock of 5 s, preceded
// by audio and a non-key frame the recording must skip.
func feed(t *testing.T, w *Writer, dur time.Duration) {
	t.Helper()
	base := 5 * time.Second
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.WriteFrame(media.Frame{Track: 1, DTS: base - 50*time.Millisecond, PTS: base - 50*time.Millisecond, Data: [][]byte{{1, 2, 3}}}))
	must(w.WriteFrame(media.Frame{Track: 0, DTS: base - 33*time.Millisecond, PTS: base, Data: [][]byte{{0x41, 1}}}))
	frame := time.Second / 30
	aframe := time.Duration(1024) * time.Second / 48000
	var at time.Duration
	next := time.Duration(0)
	for i := 0; time.Duration(i)*frame < dur; i++ {
		v := time.Duration(i) * frame
		for ; at <= v; at += aframe {
			must(w.WriteFrame(media.Frame{Track: 1, DTS: base + at, PTS: base + at, Data: [][]byte{make([]byte, 200)}}))
		}
		key := v >= next
		if key {
			next += 2 * time.Second
		}
		nal := []byte{0x41, byte(i)}
		if key {
			nal = []byte{0x65, byte(i)}
		}
		must(w.WriteFrame(media.Frame{Track: 0, DTS: base + v, PTS: base + v + frame, Key: key, NTP: time.Unix(1000, 0).Add(v),
			Data: [][]byte{nal, make([]byte, 2000)}}))
	}
}

func TestWriterPlaylist(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, testTracks(t))
	if err != nil {
		t.Fatal(err)
	}
	feed(t, w, 20*time.Second)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !w.First.Equal(time.Unix(1000, 0)) {
		t.Errorf("first frame at %v, want the first keyframe's time", w.First)
	}
	segs, err := Scan(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	total, size := Total(segs)
	if d := total - 20*time.Second; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("total %v, want 20 s", total)
	}
	if len(segs) != 10 {
		t.Errorf("%d segments, want 10 (one per 2 s keyframe interval)", len(segs))
	}
	for i, s := range segs {
		if want := time.Duration(i) * 2 * time.Second; s.Start < want-time.Millisecond || s.Start > want+time.Millisecond {
			t.Errorf("segment %d starts at %v, want %v", i, s.Start, want)
		}
	}
	fi, _ := os.Stat(filepath.Join(dir, initName))
	if size+fi.Size() != w.Bytes {
		t.Errorf("scanned %d bytes + init %d, writer says %d", size, fi.Size(), w.Bytes)
	}
	if live := Playlist(segs, false); !strings.Contains(live, "#EXT-X-PLAYLIST-TYPE:EVENT") || strings.Contains(live, "ENDLIST") {
		t.Errorf("a recording in progress has an EVENT playlist without ENDLIST:\n%s", live)
	}
	pl := Playlist(segs, true)
	for _, want := range []string{"#EXT-X-PLAYLIST-TYPE:VOD", `#EXT-X-MAP:URI="init.mp4"`, "#EXT-X-TARGETDURATION:2", "#EXTINF:2.000,\nseg00000.m4s", "#EXT-X-ENDLIST"} {
		if !strings.Contains(pl, want) {
			t.Errorf("playlist lacks %q:\n%s", want, pl)
		}
	}
}

// A writer that dies mid-fragment (no Close, half a fragment on disk)
// leaves a recording that Scan repairs, losing at most a fragment.
func TestWriterCrash(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, testTracks(t))
	if err != nil {
		t.Fatal(err)
	}
	feed(t, w, 7500*time.Millisecond)
	// No Close: what the fragments synced so far hold is what survives;
	// then a torn write of the next fragment.
	last := filepath.Join(dir, segName(w.segIndex))
	f, err := os.OpenFile(last, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := f.Seek(0, 2)
	if _, err := f.Write([]byte{0, 0, 0x10, 0, 'm', 'o', 'o', 'f', 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	segs, err := Scan(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	total, _ := Total(segs)
	if total < 7500*time.Millisecond-FragmentDuration-100*time.Millisecond || total > 7500*time.Millisecond {
		t.Errorf("recovered %v of 7.5 s, want at most a fragment (%v) lost", total, FragmentDuration)
	}
	if fi, _ := os.Stat(last); fi.Size() != before {
		t.Errorf("last segment is %d bytes after repair, want the %d of its whole fragments", fi.Size(), before)
	}
}

func TestCompleteFragments(t *testing.T) {
	box := func(typ string, n int) []byte {
		b := make([]byte, n)
		b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		copy(b[4:], typ)
		return b
	}
	frag := append(box("moof", 20), box("mdat", 30)...)
	two := append(append([]byte{}, frag...), frag...)
	for _, c := range []struct {
		b    []byte
		want int
	}{{nil, 0}, {frag, 50}, {two, 100}, {two[:90], 50}, {append(append([]byte{}, frag...), box("moof", 20)...), 50}, {[]byte{0, 0, 0, 1, 'm', 'd', 'a', 't'}, 0}} {
		if got := completeFragments(c.b); got != c.want {
			t.Errorf("completeFragments(%d bytes) = %d, want %d", len(c.b), got, c.want)
		}
	}
}

func FuzzCompleteFragments(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 'm', 'd', 'a', 't'})
	f.Add([]byte{0, 0, 0, 1, 'm', 'd', 'a', 't', 0, 0, 0, 0, 0, 0, 0, 16})
	f.Fuzz(func(t *testing.T, b []byte) {
		if n := completeFragments(b); n < 0 || n > len(b) {
			t.Fatalf("completeFragments = %d of %d", n, len(b))
		}
	})
}

// The cache gives what a fresh scan gives, and notices a segment that grew.
func TestScanCache(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, testTracks(t))
	if err != nil {
		t.Fatal(err)
	}
	feed(t, w, 6*time.Second) // not closed: the last segment is still growing
	var c ScanCache
	first, err := scan(dir, false, &c)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	cached, err := scan(dir, false, &c)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := Scan(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(cached) != len(fresh) || len(fresh) == 0 {
		t.Fatalf("cached %d segments, fresh %d", len(cached), len(fresh))
	}
	for i := range fresh {
		if cached[i] != fresh[i] {
			t.Errorf("segment %d: cached %+v, fresh %+v", i, cached[i], fresh[i])
		}
	}
	a, _ := Total(first)
	b, _ := Total(cached)
	if b <= a {
		t.Errorf("the growing segment was not read again: %v then %v", a, b)
	}
}

// BenchmarkWriterSecond writes one second of a 3 Mbit/s 30 fps stream with
// AAC audio (fragments synced to disk as in production) per iteration.
func BenchmarkWriterSecond(b *testing.B) {
	dir := b.TempDir()
	tr := testTracks(&testing.T{})
	w, err := NewWriter(dir, tr)
	if err != nil {
		b.Fatal(err)
	}
	frame := time.Second / 30
	aframe := time.Duration(1024) * time.Second / 48000
	payload := make([]byte, 3_000_000/8/30)
	var at, v time.Duration
	b.SetBytes(3_000_000 / 8)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := 0; k < 30; k++ {
			for ; at <= v; at += aframe {
				_ = w.WriteFrame(media.Frame{Track: 1, DTS: at, PTS: at, Data: [][]byte{payload[:300]}})
			}
			key := k == 0
			nal := []byte{0x41}
			if key {
				nal = []byte{0x65}
			}
			if err := w.WriteFrame(media.Frame{Track: 0, DTS: v, PTS: v, Key: key, Data: [][]byte{nal, payload}}); err != nil {
				b.Fatal(err)
			}
			v += frame
		}
	}
	b.StopTimer()
	_ = w.Close()
}

// An audio-only stream is cut into ~1 s segments too.
func TestWriterAudioOnly(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, testTracks(t)[1:])
	if err != nil {
		t.Fatal(err)
	}
	aframe := time.Duration(1024) * time.Second / 48000
	for at := time.Duration(0); at < 5*time.Second; at += aframe {
		if err := w.WriteFrame(media.Frame{Track: 0, DTS: at, PTS: at, Data: [][]byte{make([]byte, 100)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := Scan(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	total, _ := Total(segs)
	if len(segs) < 4 || total < 4900*time.Millisecond || total > 5100*time.Millisecond {
		t.Fatalf("%d segments, %v; want ~1 s segments over 5 s", len(segs), total)
	}
}
