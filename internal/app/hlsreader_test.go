package app

import (
	"sync"
	"testing"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
)

// hlsReader reads an LL-HLS stream with gohlslib's client, as a player
// would, and keeps what it saw for assertions.
type hlsReader struct {
	t      *testing.T
	client *gohlslib.Client

	mu     sync.Mutex
	codecs []codecs.Codec
	video  []int64 // DTS of each video access unit, in arrival order
	audio  []int64 // PTS of each audio callback
	parts  int     // LL-HLS parts downloaded
}

func readHLS(t *testing.T, url string) *hlsReader {
	t.Helper()
	r := &hlsReader{t: t}
	quiet := func(string) {}
	r.client = &gohlslib.Client{
		URI:                       url,
		OnDownloadPrimaryPlaylist: quiet,
		OnDownloadStreamPlaylist:  quiet,
		OnDownloadSegment:         quiet,
		OnDownloadPart:            func(string) { r.mu.Lock(); r.parts++; r.mu.Unlock() },
		OnDecodeError:             func(err error) { t.Logf("HLS client decode error: %v", err) },
	}
	r.client.OnTracks = func(tracks []*gohlslib.Track) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, tr := range tracks {
			r.codecs = append(r.codecs, tr.Codec)
			switch tr.Codec.(type) {
			case *codecs.H264, *codecs.H265:
				r.client.OnDataH26x(tr, func(_, dts int64, _ [][]byte) { r.add(&r.video, dts) })
			case *codecs.MPEG4Audio:
				r.client.OnDataMPEG4Audio(tr, func(pts int64, _ [][]byte) { r.add(&r.audio, pts) })
			case *codecs.Opus:
				r.client.OnDataOpus(tr, func(pts int64, _ [][]byte) { r.add(&r.audio, pts) })
			}
		}
		return nil
	}
	if err := r.client.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.client.Close)
	return r
}

func (r *hlsReader) add(to *[]int64, ts int64) {
	r.mu.Lock()
	*to = append(*to, ts)
	r.mu.Unlock()
}

// has reports whether at least v video and a audio units arrived.
func (r *hlsReader) has(v, a int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.video) >= v && len(r.audio) >= a
}

// codec returns the first announced codec of type T.
func codecOf[T codecs.Codec](r *hlsReader) (T, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.codecs {
		if v, ok := c.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// checkTimestamps fails the test unless both tracks' timestamps only grow.
func (r *hlsReader) checkTimestamps() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, ts := range map[string][]int64{"video DTS": r.video, "audio PTS": r.audio} {
		for i := 1; i < len(ts); i++ {
			if ts[i] <= ts[i-1] {
				r.t.Fatalf("%s not increasing at %d: %d then %d", name, i, ts[i-1], ts[i])
			}
		}
	}
}

func (r *hlsReader) partCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.parts
}
