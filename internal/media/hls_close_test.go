package media

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
)

// A baseline H.264 SPS (1920x1080) that gohlslib can parse for its init file.
var testSPS = []byte{
	0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02,
	0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04,
	0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9,
	0x20,
}

var preloadHint = regexp.MustCompile(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"`)

// TestGohlslibPreloadHintAtCloseDoesNotHang pins the upstream behaviour
// Livehouse relies on when it lets the muxer hold part requests itself: a
// request for the preload-hinted part, waiting when the muxer closes, is
// answered, and the mutex it waited under is released, so later requests of
// the stream and the server's shutdown do not hang. gohlslib v2.2.5
// returned from that wait with the mutex held (every later request hung);
// v2.4.3 unlocks it (muxer_stream.go, rotateParts' preload-hint handler).
func TestGohlslibPreloadHintAtCloseDoesNotHang(t *testing.T) {
	track := &gohlslib.Track{Codec: &codecs.H264{SPS: testSPS, PPS: []byte{0x08}}, ClockRate: 90000}
	m := &gohlslib.Muxer{
		Tracks:             []*gohlslib.Track{track},
		Variant:            gohlslib.MuxerVariantLowLatency,
		SegmentCount:       7,
		SegmentMinDuration: time.Second,
		PartMinDuration:    200 * time.Millisecond,
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			m.Close()
		}
	}()

	// 3 s of 30 fps video with a keyframe each second, written at once (the
	// muxer cuts on timestamps, not on the wall clock): two complete
	// segments, parts, and a preload hint for the part being made.
	start := time.Now()
	for i := 0; i < 90; i++ {
		au := [][]byte{{0x41, 0x9a, byte(i)}}
		if i%30 == 0 {
			au = [][]byte{testSPS, {0x08}, {0x65, 0x88, byte(i)}}
		}
		pts := int64(i) * 3000
		if err := m.WriteH264(track, start.Add(time.Duration(i)*time.Second/30), pts, au); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}

	// within runs one request (or Close) and fails the test if it does not
	// return in time: the v2.2.5 behaviour is a request that never returns.
	within := func(what string, d time.Duration, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { defer close(done); f() }()
		select {
		case <-done:
		case <-time.After(d):
			t.Fatalf("%s did not return within %v: the muxer's lock is held", what, d)
		}
	}
	get := func(file string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		m.Handle(rec, httptest.NewRequest(http.MethodGet, "/"+file, nil))
		return rec
	}

	var pl *httptest.ResponseRecorder
	within("the media playlist", 5*time.Second, func() { pl = get("video1_stream.m3u8") })
	hint := preloadHint.FindStringSubmatch(pl.Body.String())
	if pl.Code != http.StatusOK || hint == nil {
		t.Fatalf("no preload hint: %d\n%s", pl.Code, pl.Body)
	}

	// A player asks for the hinted part: no frame comes, so it waits.
	waiting := make(chan *httptest.ResponseRecorder, 1)
	go func() { waiting <- get(hint[1]) }()
	time.Sleep(100 * time.Millisecond)
	select {
	case rec := <-waiting:
		t.Fatalf("the hinted part was answered before it was made: %d", rec.Code)
	default:
	}

	within("Close", 5*time.Second, func() { m.Close() })
	closed = true
	select {
	case rec := <-waiting:
		if rec.Code == http.StatusOK {
			t.Fatalf("the hinted part was served although it was never made")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request waiting for the hinted part was not answered when the muxer closed")
	}
	// The next requests of the stream must not find the lock held.
	within("a playlist request after Close", 5*time.Second, func() { get("video1_stream.m3u8") })
	within("a part request after Close", 5*time.Second, func() { get(hint[1]) })
}
