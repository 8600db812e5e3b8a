package media

import (
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
)

// HLSConfig tunes the LL-HLS muxer of every stream.
type HLSConfig struct {
	PartDuration    time.Duration
	SegmentDuration time.Duration
	SegmentCount    int
	// PlayersPerAddress caps the playback sessions one client address adds
	// to a stream's viewers (0: DefaultPlayersPerAddress).
	PlayersPerAddress int
}

// durationSlack absorbs millisecond rounding of publisher timestamps.
const durationSlack = 5 * time.Millisecond

// hlsOutput is one stream's LL-HLS muxer (fMP4 parts, blocking playlist
// reload, EXT-X-PROGRAM-DATE-TIME), held in memory.
type hlsOutput struct {
	muxer  *gohlslib.Muxer
	closed chan struct{}

	tracks  map[*Track]*gohlslib.Track
	players *PlayerSet // external players (not Livehouse's pages)
	log     *slog.Logger

	// A track whose first sample comes late (audio transcoded by an ffmpeg
	// that takes a moment to start) holds the others back until it has
	// one, for at most maxLateStart of their media: a first segment with
	// no sample of a track is an empty fragment, which strict clients
	// (gohlslib, so MediaMTX pulling from us) refuse outright. Touched
	// only by write, which the stream serialises.
	lateTrack *Track
	heldFrom  time.Duration // DTS of the first frame held back; -1 none yet
}

// maxLateStart bounds how long a late track may hold the others back: an
// audio transcoder that never answers must not keep the picture off air.
const maxLateStart = 3 * time.Second

func newHLSOutput(tracks []*Track, cfg HLSConfig, log *slog.Logger) (*hlsOutput, error) {
	o := &hlsOutput{
		tracks:  map[*Track]*gohlslib.Track{},
		players: NewPlayerSet(cfg.PlayersPerAddress),
		closed:  make(chan struct{}),
		log:     log,
	}
	var hlsTracks []*gohlslib.Track
	for _, t := range tracks {
		ht := &gohlslib.Track{ClockRate: t.ClockRate()}
		switch t.Codec {
		case H264:
			ht.Codec = &codecs.H264{SPS: t.SPS, PPS: t.PPS}
		case H265:
			ht.Codec = &codecs.H265{VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}
		case AAC:
			ht.Codec = &codecs.MPEG4Audio{Config: *t.AACConfig}
		case Opus:
			ht.Codec = &codecs.Opus{ChannelCount: t.ChannelCount}
		default:
			return nil, fmt.Errorf("codec %q cannot be muxed to LL-HLS", t.Codec)
		}
		o.tracks[t] = ht
		hlsTracks = append(hlsTracks, ht)
	}
	o.muxer = &gohlslib.Muxer{
		Tracks:       hlsTracks,
		Variant:      gohlslib.MuxerVariantLowLatency,
		SegmentCount: cfg.SegmentCount,
		// The muxer cuts when a duration is reached; RTMP timestamps are
		// whole milliseconds, so six 30 fps frames span 199-200 ms and a
		// 30-frame GOP 999-1000 ms. Without this slack every part would get
		// a seventh frame and every segment a second GOP.
		SegmentMinDuration: cfg.SegmentDuration - durationSlack,
		PartMinDuration:    cfg.PartDuration - durationSlack,
		OnEncodeError: func(err error) {
			if strings.Contains(err.Error(), "part duration changed") {
				// Expected while the first segment settles the part duration.
				log.Debug("LL-HLS muxer", "msg", err)
				return
			}
			if strings.Contains(err.Error(), "segment duration changed") {
				// A segment spanning a backup ingest switch (or a longer
				// GOP) raised EXT-X-TARGETDURATION; nothing was dropped.
				log.Info("LL-HLS target duration grew", "msg", err)
				return
			}
			log.Warn("LL-HLS muxer dropped data", "err", err)
		},
	}
	if err := o.muxer.Start(); err != nil {
		return nil, fmt.Errorf("start LL-HLS muxer: %w", err)
	}
	return o, nil
}

// startWithLate makes the other tracks wait for t's first sample (see
// lateTrack). Call before the first write.
func (o *hlsOutput) startWithLate(t *Track) {
	o.lateTrack, o.heldFrom = t, -1
}

func (o *hlsOutput) write(t *Track, f Frame, ntp time.Time) error {
	ht, ok := o.tracks[t]
	if !ok {
		return nil // a track LL-HLS gets transcoded (Stream.hlsAudio)
	}
	if o.lateTrack != nil {
		switch {
		case t == o.lateTrack:
			o.lateTrack = nil
		case o.heldFrom < 0:
			o.heldFrom = f.DTS
			return nil
		case f.DTS-o.heldFrom < maxLateStart:
			return nil
		default:
			o.log.Warn("LL-HLS starts without the transcoded audio: none arrived", "waited", f.DTS-o.heldFrom)
			o.lateTrack = nil
		}
	}
	pts := durationToTicks(f.PTS, ht.ClockRate)
	var err error
	switch t.Codec {
	case H264:
		err = o.muxer.WriteH264(ht, ntp, pts, f.Data)
	case H265:
		err = o.muxer.WriteH265(ht, ntp, pts, f.Data)
	case AAC:
		err = o.muxer.WriteMPEG4Audio(ht, ntp, pts, f.Data)
	case Opus:
		err = o.muxer.WriteOpus(ht, ntp, pts, f.Data)
	}
	if err != nil {
		return fmt.Errorf("LL-HLS muxer: %w", err)
	}
	return nil
}

func (o *hlsOutput) close() {
	close(o.closed)
	o.muxer.Close()
}

// serve answers one LL-HLS request.
//
// The muxer holds blocking playlist reloads and requests for the
// preload-hinted part until they can be answered (a part not hinted yet is
// 404). When the stream ends, requests still waiting in the muxer get a 500
// from gohlslib; they are answered 404 stream_ended instead, as every
// request after the end is: the end of a stream is not a server error.
func (o *hlsOutput) serve(w http.ResponseWriter, r *http.Request) {
	if o.ended() {
		streamEnded(w)
		return
	}
	file := path.Base(r.URL.Path)
	r, pb := identify(r, isPlaylist(file))
	if pb.counted {
		o.players.Touch(pb.session, clientHost(r), time.Now())
	}
	rec := &muxerResponse{ResponseWriter: w, out: o, private: pb.issued}
	o.muxer.Handle(rec, r)
	if !rec.wrote {
		notFound(w, "not found")
	}
}

func (o *hlsOutput) ended() bool {
	select {
	case <-o.closed:
		return true
	default:
		return false
	}
}

// streamEnded answers a request for a stream that has ended.
func streamEnded(w http.ResponseWriter) {
	hlsError(w, http.StatusNotFound, "stream_ended", "the stream has ended")
}

func notFound(w http.ResponseWriter, msg string) { hlsError(w, http.StatusNotFound, "not_found", msg) }

func hlsError(w http.ResponseWriter, status int, code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Del("Content-Length")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"error\":%q,\"code\":%q}\n", msg, code)
}

// parsePartName reads the number of "PREFIX_video1_part42.mp4".
func parsePartName(name string) (n uint64, ok bool) {
	base, found := strings.CutSuffix(name, ".mp4")
	if !found {
		return 0, false
	}
	i := strings.LastIndex(base, "_part")
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(base[i+5:], 10, 64)
	return n, err == nil
}

// muxerResponse passes the muxer's answer on, noting whether and what it
// answered. A 500 because the muxer closed (the stream ended while the
// request waited) becomes 404 stream_ended. A playlist that carries a
// session issued for this request is private: a shared cache must not hand
// one player's session to others.
type muxerResponse struct {
	http.ResponseWriter
	out     *hlsOutput
	private bool

	wrote     bool
	code      int
	swallowed bool // the muxer's own answer was replaced
}

func (w *muxerResponse) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote, w.code = true, code
	if code == http.StatusInternalServerError && w.out.ended() {
		w.swallowed, w.code = true, http.StatusNotFound
		streamEnded(w.ResponseWriter)
		return
	}
	if w.private && code == http.StatusOK {
		w.Header().Set("Cache-Control", privateCache(w.Header().Get("Cache-Control")))
	}
	w.ResponseWriter.WriteHeader(code)
}

// privateCache turns the muxer's Cache-Control (gohlslib marks playlists
// "public, max-age=N") into one for a single client.
func privateCache(cc string) string {
	out := []string{"private"}
	for _, d := range strings.Split(cc, ",") {
		if d = strings.TrimSpace(d); d != "" && !strings.EqualFold(d, "public") {
			out = append(out, d)
		}
	}
	return strings.Join(out, ", ")
}

func (w *muxerResponse) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallowed {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// durationToTicks converts d to units of 1/rate s without overflowing for
// streams that run for days.
func durationToTicks(d time.Duration, rate int) int64 {
	secs := int64(d / time.Second)
	rem := int64(d % time.Second)
	return secs*int64(rate) + rem*int64(rate)/int64(time.Second)
}

// HLSKind classifies an LL-HLS file name (playlist, part, init, segment,
// other) for metrics and caching; edges use it too.
func HLSKind(file string) string {
	switch {
	case strings.HasSuffix(file, ".m3u8"):
		return "playlist"
	case strings.Contains(file, "_part"):
		return "part"
	case strings.Contains(file, "_init"):
		return "init"
	case strings.Contains(file, "_seg"):
		return "segment"
	default:
		return "other"
	}
}
