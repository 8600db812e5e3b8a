package srt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/live"
	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/media/flv"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a real media hub on a SQLite channel store with an SRT server in
// front of it, on a free loopback port.
type env struct {
	t    *testing.T
	hub  *media.Hub
	srv  *Server
	chs  *channel.Service
	db   *store.DB
	logs *syncBuffer
	keys []string // every key made, to check none reaches the log
}

func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	db := storetest.Open(t, store.SQLite, channel.Migrations())
	e := &env{t: t, db: db, chs: channel.NewService(db), logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hub, err := media.NewHub(media.HubOptions{Channels: e.chs, Directory: live.NewLocal(1), Log: log.With("component", "media")})
	if err != nil {
		t.Fatal(err)
	}
	e.hub = hub
	o.Hub, o.Log = hub, log.With("component", "srt")
	if e.srv, err = Listen("127.0.0.1:0", o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hub.Shutdown()
		if err := e.srv.Close(ctx); err != nil {
			t.Errorf("close SRT server: %v", err)
		}
		if err := hub.Close(ctx); err != nil {
			t.Errorf("close hub: %v", err)
		}
		logs := e.logs.String()
		for _, k := range e.keys {
			if strings.Contains(logs, k) {
				t.Errorf("a stream key reached the log")
			}
		}
		if t.Failed() || os.Getenv("SRT_TEST_LOGS") != "" {
			t.Logf("server log:\n%s", logs)
		}
	})
	return e
}

// channel creates a channel and returns its stream key.
func (e *env) channel(slug string) string {
	e.t.Helper()
	_, key, err := e.chs.Create(context.Background(), channel.Input{Slug: &slug, Title: &slug}, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	e.keys = append(e.keys, key)
	return key
}

// dial opens an SRT publisher connection with the given stream id.
func (e *env) dial(streamID, passphrase string) (gosrt.Conn, error) {
	cfg := gosrt.DefaultConfig()
	cfg.StreamId = streamID
	cfg.Passphrase = passphrase
	cfg.ConnectionTimeout = 5 * time.Second
	// A receive buffer of half a second, as over a real network: with the
	// default 120 ms, a starved test machine drops packets as too late.
	cfg.PeerLatency = 500 * time.Millisecond
	return gosrt.Dial("srt", e.srv.Addr().String(), cfg)
}

// rejectedWith checks that a dial failed with the SRT reject code want
// (gosrt spells it in base 32).
func rejectedWith(t *testing.T, err error, want gosrt.RejectionReason) {
	t.Helper()
	if err == nil {
		t.Fatalf("connection accepted; want reject %s", rejectName(want))
	}
	if s := "REJECT (" + strconv.FormatUint(uint64(want), 32) + ")"; !strings.Contains(err.Error(), s) {
		t.Fatalf("dial error %q, want %s (%d)", err, s, want)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) waitLog(substr string) {
	e.t.Helper()
	waitFor(e.t, 10*time.Second, "log line "+strconv.Quote(substr), func() bool { return strings.Contains(e.logs.String(), substr) })
}

// source is media to publish as MPEG-TS: tracks and frames with 90 kHz
// timestamps, in DTS order.
type source struct {
	tracks []*mpegts.Track
	frames []srcFrame
}

type srcFrame struct {
	track    int
	pts, dts int64
	data     [][]byte
}

// h264AAC is the repository's FLV recording (H.264 + AAC) as a source, with
// SPS and PPS in front of each keyframe as an encoder writing MPEG-TS puts them.
func h264AAC(t *testing.T) *source {
	t.Helper()
	rec, err := flv.ReadFile("../../../testdata/fixture.flv")
	if err != nil {
		t.Fatal(err)
	}
	s := &source{tracks: []*mpegts.Track{{Codec: &tscodecs.H264{}}, {Codec: &tscodecs.MPEG4Audio{Config: *rec.AAC}}}}
	ticks := func(d time.Duration) int64 { return int64(d) * 90000 / int64(time.Second) }
	for _, f := range rec.Frames {
		if f.Video {
			au := f.Data
			if h264.IsRandomAccess(au) {
				au = append([][]byte{rec.SPS, rec.PPS}, au...)
			}
			s.frames = append(s.frames, srcFrame{track: 0, pts: ticks(f.PTS), dts: ticks(f.DTS), data: au})
		} else {
			s.frames = append(s.frames, srcFrame{track: 1, pts: ticks(f.PTS), dts: ticks(f.DTS), data: f.Data})
		}
	}
	return s
}

// tsFile reads an MPEG-TS file (H.264/H.265 with AAC/Opus) as a source.
func tsFile(t *testing.T, path string) *source {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &mpegts.Reader{R: f}
	if err := r.Initialize(); err != nil {
		t.Fatal(err)
	}
	s := &source{}
	for i, tr := range r.Tracks() {
		s.tracks = append(s.tracks, &mpegts.Track{Codec: tr.Codec})
		add := func(pts, dts int64, data [][]byte) {
			s.frames = append(s.frames, srcFrame{track: i, pts: pts, dts: dts, data: data})
		}
		switch tr.Codec.(type) {
		case *tscodecs.H264:
			r.OnDataH264(tr, func(pts, dts int64, au [][]byte) error { add(pts, dts, au); return nil })
		case *tscodecs.H265:
			r.OnDataH265(tr, func(pts, dts int64, au [][]byte) error { add(pts, dts, au); return nil })
		case *tscodecs.Opus:
			r.OnDataOpus(tr, func(pts int64, pkts [][]byte) error { add(pts, pts, pkts); return nil })
		case *tscodecs.MPEG4Audio:
			r.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) error { add(pts, pts, aus); return nil })
		}
	}
	for {
		if err := r.Read(); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
	}
	sort.SliceStable(s.frames, func(i, j int) bool { return s.frames[i].dts < s.frames[j].dts })
	first := s.frames[0].dts
	for i := range s.frames {
		s.frames[i].pts -= first
		s.frames[i].dts -= first
	}
	return s
}

// sendOptions shape how a source is published.
type sendOptions struct {
	// Start is added to every timestamp (then wrapped to 33 bits, as an
	// encoder's clock would be).
	Start int64
	// For stops after this much media (0: all of it).
	For time.Duration
	// Speed paces frames at Speed times real time (0: as fast as possible).
	Speed float64
	// Loops sends the source this many times over, timestamps carrying on
	// (0 or 1: once).
	Loops int
}

// send publishes src over conn as MPEG-TS, as ffmpeg and OBS do: 7 TS
// packets per SRT packet, flushed at the end of each frame.
func send(ctx context.Context, conn io.Writer, src *source, o sendOptions) error {
	cw := &chunkWriter{w: conn}
	tracks := make([]*mpegts.Track, len(src.tracks))
	for i, tr := range src.tracks {
		tracks[i] = &mpegts.Track{Codec: tr.Codec}
	}
	w := &mpegts.Writer{W: cw, Tracks: tracks}
	if err := w.Initialize(); err != nil {
		return err
	}
	const mask = 1<<33 - 1
	begin := time.Now()
	frames := src.frames
	length := frames[len(frames)-1].dts + 3000
	for i := 1; i < o.Loops; i++ {
		for _, f := range src.frames {
			f.pts += int64(i) * length
			f.dts += int64(i) * length
			frames = append(frames, f)
		}
	}
	for _, f := range frames {
		if o.For > 0 && time.Duration(f.dts)*time.Second/90000 > o.For {
			break
		}
		if o.Speed > 0 {
			at := begin.Add(time.Duration(float64(time.Duration(f.dts)*time.Second/90000) / o.Speed))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Until(at)):
			}
		}
		pts, dts := (f.pts+o.Start)&mask, (f.dts+o.Start)&mask
		var err error
		switch c := tracks[f.track].Codec.(type) {
		case *tscodecs.H264:
			err = w.WriteH264(tracks[f.track], pts, dts, f.data)
		case *tscodecs.H265:
			err = w.WriteH265(tracks[f.track], pts, dts, f.data)
		case *tscodecs.MPEG4Audio:
			err = w.WriteMPEG4Audio(tracks[f.track], pts, f.data)
		case *tscodecs.Opus:
			err = w.WriteOpus(tracks[f.track], pts, f.data)
		default:
			_ = c
		}
		if err == nil {
			err = cw.flush()
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
}

// chunkWriter groups TS packets into SRT-sized payloads.
type chunkWriter struct {
	w   io.Writer
	buf []byte
}

const chunk = 7 * 188

func (c *chunkWriter) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	for len(c.buf) >= chunk {
		if _, err := c.w.Write(c.buf[:chunk]); err != nil {
			return 0, err
		}
		c.buf = c.buf[chunk:]
	}
	return len(p), nil
}

func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.w.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// endReason is how the channel's last live session ended, "" while open.
func (e *env) endReason(slug string) string {
	e.t.Helper()
	var reason *string
	err := e.db.QueryRow(`SELECT s.end_reason FROM live_sessions s JOIN channels c ON c.id = s.channel_id
		WHERE c.slug = $1 ORDER BY s.id DESC LIMIT 1`, slug).Scan(&reason)
	if err != nil || reason == nil {
		return ""
	}
	return *reason
}

// lossyLink is a UDP relay between an SRT caller and the server that loses
// some data packets for good: every transmission of them, retransmissions
// included, as a link that drops more than SRT's latency can recover.
type lossyLink struct {
	pc   *net.UDPConn
	lose func(seq uint32) bool
	lost atomic.Int64
}

func newLossyLink(t *testing.T, server net.Addr, lose func(seq uint32) bool) *lossyLink {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	l := &lossyLink{pc: pc, lose: lose}
	up, err := net.DialUDP("udp", nil, server.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(); up.Close() })
	var caller atomic.Pointer[net.UDPAddr]
	go func() { // caller → server
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			caller.Store(from)
			// A data packet's first bit is 0; its first 31 bits are the sequence number.
			if n >= 16 && buf[0]&0x80 == 0 && l.lose(binary.BigEndian.Uint32(buf)&0x7fffffff) {
				l.lost.Add(1)
				continue
			}
			_, _ = up.Write(buf[:n])
		}
	}()
	go func() { // server → caller
		buf := make([]byte, 2048)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return
			}
			if to := caller.Load(); to != nil {
				_, _ = pc.WriteToUDP(buf[:n], to)
			}
		}
	}()
	return l
}
