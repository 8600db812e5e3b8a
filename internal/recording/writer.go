package recording

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livehouse/livehouse/internal/media"
)

// On disk a recording is a folder holding init.mp4 (the fMP4 header) and
// segNNNNN.m4s files, each starting at a video keyframe and made of
// fragments (moof+mdat) of about FragmentDuration. Every fragment is
// written and fsync'd as it completes, so a crash loses at most the
// fragment being built. The VOD playlist is derived from those files.
const (
	initName = "init.mp4"
	// FragmentDuration is how much media a fragment holds before it is
	// written and synced: what a crash can lose.
	FragmentDuration = time.Second
	// SegmentDuration is the shortest segment: a segment ends at the first
	// keyframe after it (seeking lands on segment starts).
	SegmentDuration = time.Second
)

func segName(i int) string { return fmt.Sprintf("seg%05d.m4s", i) }

// trackState is one track's samples on their way to disk.
type trackState struct {
	t     *media.Track
	clock int64
	// pending is the newest frame, waiting for the next one to know its duration.
	pending    *fmp4.Sample
	pendingDTS time.Duration
	hasPending bool
	lastDur    uint32
	samples    []*fmp4.Sample
	base       uint64 // base time of samples[0]
}

// Writer writes one recording. It is not safe for concurrent use: one
// goroutine (the recorder's) feeds it.
type Writer struct {
	dir     string
	tracks  []*trackState
	video   int // index of the video track, -1 when none
	started bool
	origin  time.Duration
	// First is the capture time (Frame.NTP) of the recording's first frame:
	// replay time 0.
	First time.Time

	seg      *os.File
	segIndex int
	segStart time.Duration
	fragFrom time.Duration
	seq      uint32
	now      time.Duration // newest frame's time on the recording's timeline
	// Bytes is what the writer put on disk; Ingested the media bytes it was given.
	Bytes, Ingested int64
}

// NewWriter creates dir and writes init.mp4 for tracks.
func NewWriter(dir string, tracks []*media.Track) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create recording folder: %w", err)
	}
	w := &Writer{dir: dir, video: -1, segIndex: -1}
	var init fmp4.Init
	for i, t := range tracks {
		it := &fmp4.InitTrack{ID: i + 1, TimeScale: uint32(t.ClockRate())}
		switch t.Codec {
		case media.H264:
			it.Codec = &codecs.H264{SPS: t.SPS, PPS: t.PPS}
		case media.H265:
			it.Codec = &codecs.H265{VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}
		case media.AAC:
			if t.AACConfig == nil {
				return nil, errors.New("recording: AAC track without its configuration")
			}
			it.Codec = &codecs.MPEG4Audio{Config: *t.AACConfig}
		case media.Opus:
			it.Codec = &codecs.Opus{ChannelCount: t.ChannelCount}
		default:
			return nil, fmt.Errorf("recording: codec %q not supported", t.Codec)
		}
		if t.Codec.IsVideo() && w.video < 0 {
			w.video = i
		}
		init.Tracks = append(init.Tracks, it)
		w.tracks = append(w.tracks, &trackState{t: t, clock: int64(t.ClockRate())})
	}
	if len(init.Tracks) == 0 {
		return nil, errors.New("recording: no tracks")
	}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("recording: build init: %w", err)
	}
	if err := writeSynced(filepath.Join(dir, initName), buf.Bytes()); err != nil {
		return nil, err
	}
	w.Bytes += int64(len(buf.Bytes()))
	return w, nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("recording: write %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("recording: sync %s: %w", filepath.Base(path), err)
	}
	return f.Close()
}

func ticks(d time.Duration, clock int64) int64 {
	return int64(math.Round(float64(d) * float64(clock) / float64(time.Second)))
}

// WriteFrame adds a frame. Video before the first keyframe, and anything
// older than it, is skipped.
func (w *Writer) WriteFrame(f media.Frame) error {
	if f.Track < 0 || f.Track >= len(w.tracks) {
		return nil
	}
	isVideo := f.Track == w.video
	if !w.started {
		if (w.video >= 0 && !isVideo) || (isVideo && !f.Key) {
			return nil
		}
		w.started, w.origin, w.First = true, f.DTS, f.NTP
	}
	if f.DTS < w.origin {
		return nil
	}
	ts := w.tracks[f.Track]
	t := f.DTS - w.origin
	if t > w.now {
		w.now = t
	}
	// A keyframe after SegmentDuration starts a new segment (the first one too).
	// Without video every audio frame is a sync point: cut by time alone.
	if isVideo && f.Key && (w.seg == nil || t-w.segStart >= SegmentDuration) ||
		w.video < 0 && (w.seg == nil || t-w.segStart >= SegmentDuration) {
		if err := w.flush(); err != nil {
			return err
		}
		if err := w.nextSegment(t); err != nil {
			return err
		}
	} else if t-w.fragFrom >= FragmentDuration {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if ts.hasPending {
		w.finish(ts, f.DTS)
	}
	var payload []byte
	if ts.t.Codec.IsVideo() {
		b, err := h264.AVCC(f.Data).Marshal()
		if err != nil {
			return fmt.Errorf("recording: frame: %w", err)
		}
		payload = b
	} else {
		for _, d := range f.Data {
			payload = append(payload, d...)
		}
	}
	w.Ingested += int64(len(payload))
	off := ticks(f.PTS-w.origin, ts.clock) - ticks(t, ts.clock)
	ts.pending = &fmp4.Sample{PTSOffset: int32(off), IsNonSyncSample: ts.t.Codec.IsVideo() && !f.Key, Payload: payload}
	ts.pendingDTS, ts.hasPending = f.DTS, true
	return nil
}

// finish gives the pending sample of ts its duration (up to the DTS next)
// and moves it into the fragment.
func (w *Writer) finish(ts *trackState, next time.Duration) {
	start := ticks(ts.pendingDTS-w.origin, ts.clock)
	d := ticks(next-w.origin, ts.clock) - start
	if d <= 0 {
		d = 1
	}
	ts.pending.Duration = uint32(d)
	ts.lastDur = uint32(d)
	if len(ts.samples) == 0 {
		ts.base = uint64(start)
	}
	ts.samples = append(ts.samples, ts.pending)
	ts.pending, ts.hasPending = nil, false
}

// flush writes the fragment built so far and syncs the segment.
func (w *Writer) flush() error {
	var part fmp4.Part
	for i, ts := range w.tracks {
		if len(ts.samples) == 0 {
			continue
		}
		part.Tracks = append(part.Tracks, &fmp4.PartTrack{ID: i + 1, BaseTime: ts.base, Samples: ts.samples})
	}
	if len(part.Tracks) == 0 || w.seg == nil {
		return nil
	}
	w.seq++
	part.SequenceNumber = w.seq
	var buf seekablebuffer.Buffer
	if err := part.Marshal(&buf); err != nil {
		return fmt.Errorf("recording: build fragment: %w", err)
	}
	if _, err := w.seg.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("recording: write fragment: %w", err)
	}
	if err := w.seg.Sync(); err != nil {
		return fmt.Errorf("recording: sync fragment: %w", err)
	}
	w.Bytes += int64(len(buf.Bytes()))
	for _, ts := range w.tracks {
		ts.samples = nil
	}
	w.fragFrom = w.now
	return nil
}

func (w *Writer) nextSegment(t time.Duration) error {
	if w.seg != nil {
		if err := w.seg.Close(); err != nil {
			return fmt.Errorf("recording: close segment: %w", err)
		}
	}
	w.segIndex++
	f, err := os.Create(filepath.Join(w.dir, segName(w.segIndex)))
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	w.seg, w.segStart, w.fragFrom = f, t, t
	return nil
}

// Duration is how much media the writer has been given.
func (w *Writer) Duration() time.Duration { return w.now }

// Close writes what is left (each track's last sample lasting as long as
// its previous one) and closes the files.
func (w *Writer) Close() error {
	for _, ts := range w.tracks {
		if ts.hasPending {
			d := ts.lastDur
			if d == 0 {
				d = uint32(ts.clock / 30)
			}
			w.finish(ts, ts.pendingDTS+time.Duration(int64(d)*int64(time.Second)/ts.clock))
		}
	}
	err := w.flush()
	if w.seg != nil {
		if cerr := w.seg.Close(); err == nil {
			err = cerr
		}
		w.seg = nil
	}
	return err
}

// Segment is one segment file of a recording as found on disk.
type Segment struct {
	Name     string
	Start    time.Duration
	Duration time.Duration
	Bytes    int64
}

// Scan reads a recording's folder: every segment with its times, taken
// from the fragments themselves. With repair, a segment whose last
// fragment was cut short (a crash while writing it) is truncated to its
// complete fragments, and a segment with none is removed.
func Scan(dir string, repair bool) ([]Segment, error) { return scan(dir, repair, nil) }

// ScanCache remembers what Scan read of segment files that did not change
// since (same size), so a growing recording's playlist costs the new
// segments only. Safe for concurrent use.
type ScanCache struct {
	mu   sync.Mutex
	segs map[string]Segment // by path; Bytes is the file size it was read at
}

const maxCachedSegments = 200_000 // ~55 h of 1 s segments; then it starts over

func (c *ScanCache) get(path string, size int64) (Segment, bool) {
	if c == nil {
		return Segment{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sg, ok := c.segs[path]
	return sg, ok && sg.Bytes == size
}

func (c *ScanCache) put(path string, sg Segment) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.segs == nil || len(c.segs) >= maxCachedSegments {
		c.segs = map[string]Segment{}
	}
	c.segs[path] = sg
}

func scan(dir string, repair bool, cache *ScanCache) ([]Segment, error) {
	initB, err := os.ReadFile(filepath.Join(dir, initName))
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(initB)); err != nil {
		return nil, fmt.Errorf("recording: read init: %w", err)
	}
	// The timeline is the first track's (video when there is video).
	if len(init.Tracks) == 0 {
		return nil, errors.New("recording: init has no tracks")
	}
	main := init.Tracks[0]
	for _, t := range init.Tracks {
		switch t.Codec.(type) {
		case *codecs.H264, *codecs.H265:
			main = t
		}
		if main != init.Tracks[0] {
			break
		}
	}
	mainID, scale := main.ID, int64(main.TimeScale)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "seg") && strings.HasSuffix(e.Name(), ".m4s") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out []Segment
	for _, name := range names {
		path := filepath.Join(dir, name)
		if fi, err := os.Stat(path); err == nil && !repair {
			if sg, ok := cache.get(path, fi.Size()); ok {
				if sg.Duration > 0 || sg.Start > 0 {
					out = append(out, sg)
				}
				continue
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("recording: %w", err)
		}
		good := completeFragments(b)
		if good < len(b) && repair {
			if good == 0 {
				if err := os.Remove(path); err != nil {
					return nil, fmt.Errorf("recording: %w", err)
				}
				continue
			}
			if err := os.Truncate(path, int64(good)); err != nil {
				return nil, fmt.Errorf("recording: repair %s: %w", name, err)
			}
		}
		if good == 0 {
			continue
		}
		var parts fmp4.Parts
		if err := parts.Unmarshal(b[:good]); err != nil {
			return nil, fmt.Errorf("recording: read %s: %w", name, err)
		}
		var from, to int64 = -1, -1
		for _, p := range parts {
			for _, pt := range p.Tracks {
				if pt.ID != mainID {
					continue
				}
				end := int64(pt.BaseTime)
				for _, s := range pt.Samples {
					end += int64(s.Duration)
				}
				if from < 0 || int64(pt.BaseTime) < from {
					from = int64(pt.BaseTime)
				}
				if end > to {
					to = end
				}
			}
		}
		if from < 0 {
			continue
		}
		sg := Segment{Name: name, Start: time.Duration(from * int64(time.Second) / scale),
			Duration: time.Duration((to - from) * int64(time.Second) / scale), Bytes: int64(good)}
		if good == len(b) {
			cache.put(path, sg)
		}
		out = append(out, sg)
	}
	return out, nil
}

// completeFragments is the length of b's prefix made of whole top-level
// boxes ending with an mdat: what survives of a segment cut by a crash.
func completeFragments(b []byte) int {
	good, off := 0, 0
	for off+8 <= len(b) {
		size := int(binary.BigEndian.Uint32(b[off:]))
		typ := string(b[off+4 : off+8])
		hdr := 8
		if size == 1 {
			if off+16 > len(b) {
				break
			}
			s64 := binary.BigEndian.Uint64(b[off+8:])
			if s64 > uint64(len(b)) {
				break
			}
			size, hdr = int(s64), 16
		}
		if size < hdr || off+size > len(b) {
			break
		}
		off += size
		if typ == "mdat" {
			good = off
		}
	}
	return good
}

// Playlist is the HLS media playlist of segs; final adds ENDLIST (VOD).
func Playlist(segs []Segment, final bool) string {
	target := 1
	for _, s := range segs {
		if d := int(math.Round(s.Duration.Seconds())); d > target {
			target = d
		}
	}
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:" + strconv.Itoa(target) + "\n")
	if final {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	} else {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:EVENT\n")
	}
	b.WriteString("#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"" + initName + "\"\n")
	for _, s := range segs {
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s\n", s.Duration.Seconds(), s.Name)
	}
	if final {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.String()
}

// Total is the summed duration and size of segs.
func Total(segs []Segment) (time.Duration, int64) {
	var d time.Duration
	var n int64
	for _, s := range segs {
		d += s.Duration
		n += s.Bytes
	}
	return d, n
}
