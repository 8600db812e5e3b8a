package media

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/live"
	"github.com/livehouse/livehouse/internal/media/flv"
)

// oneChannel is a store with one channel and its two keys.
type oneChannel struct {
	mu     sync.Mutex
	open   bool
	ended  int
	starts int
}

const (
	testPrimaryKey = "primary-key-1"
	testBackupKey  = "backup-key-12"
)

func (c *oneChannel) ChannelForKey(_ context.Context, key string) (ChannelRef, error) {
	switch key {
	case testPrimaryKey:
		return ChannelRef{ID: 1, Slug: "twin"}, nil
	case testBackupKey:
		return ChannelRef{ID: 1, Slug: "twin", BackupKey: true}, nil
	}
	return ChannelRef{}, ErrUnknownKey
}

func (c *oneChannel) ClaimChannel(context.Context, ChannelRef, int, time.Duration) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open {
		return 0, ErrAlreadyLive
	}
	c.open = true
	return 7, nil
}

func (c *oneChannel) SessionStarted(context.Context, int64, Status) error {
	c.mu.Lock()
	c.starts++
	c.mu.Unlock()
	return nil
}

func (c *oneChannel) SessionEnded(context.Context, int64, Status, string) error {
	c.mu.Lock()
	c.open = false
	c.ended++
	c.mu.Unlock()
	return nil
}

func (c *oneChannel) DropClaim(context.Context, int64) error { return nil }

func (c *oneChannel) RenewClaims(context.Context, int, time.Duration) ([]int64, error) {
	return []int64{7}, nil
}

func (c *oneChannel) CloseLapsedClaims(context.Context) (int64, error) { return 0, nil }

// feeder writes a recording's frames through a claim, its timeline
// shifted by offset (another encoder's clock).
type feeder struct {
	t      *testing.T
	c      *Claim
	rec    *flv.Recording
	offset time.Duration
	i      int
}

func (f *feeder) next(n int) {
	f.t.Helper()
	for range n {
		fr := f.rec.Frames[f.i%len(f.rec.Frames)]
		loop := time.Duration(f.i/len(f.rec.Frames)) * (f.rec.Duration + 40*time.Millisecond)
		f.i++
		track := 0
		if !fr.Video {
			track = 1
		}
		if err := f.c.WriteFrame(Frame{Track: track, DTS: fr.DTS + loop + f.offset, PTS: fr.PTS + loop + f.offset, Data: fr.Data}); err != nil {
			f.t.Fatalf("write frame %d: %v", f.i, err)
		}
	}
}

// TestBackupInputTakesOver: a second publisher stands by; when the one on
// air stalls it takes over on the same stream, its timeline rebased to
// continue the stream's (not its own clock, 100 s ahead); the old one,
// sending again, stands by without taking the air back; when the input on
// air leaves, the standby takes over at once; the session ends once.
func TestBackupInputTakesOver(t *testing.T) {
	rec, err := flv.ReadFile("../../testdata/fixture.flv")
	if err != nil {
		t.Fatal(err)
	}
	store := &oneChannel{}
	h, err := NewHub(HubOptions{Channels: store, Directory: live.NewLocal(1), FailoverAfter: 300 * time.Millisecond,
		HLS: HLSConfig{PartDuration: 200 * time.Millisecond, SegmentDuration: time.Second, SegmentCount: 7},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	ctx := context.Background()
	tracks := func() []*Track {
		v, err := NewH264Track(rec.SPS, rec.PPS)
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewAACTrack(rec.AAC)
		if err != nil {
			t.Fatal(err)
		}
		return []*Track{v, a}
	}

	primary, err := h.ClaimInput(ctx, testPrimaryKey)
	if err != nil {
		t.Fatal(err)
	}
	s, err := primary.GoLive(ctx, tracks(), Ingest{Protocol: "rtmp"})
	if err != nil {
		t.Fatal(err)
	}
	backup, err := h.ClaimInput(ctx, testBackupKey)
	if err != nil || !backup.Standby() {
		t.Fatalf("second publisher: %v (standby %v)", err, backup != nil && backup.Standby())
	}
	if _, err := h.ClaimInput(ctx, testPrimaryKey); !errors.Is(err, ErrAlreadyLive) {
		t.Fatalf("third publisher: %v", err)
	}
	if got, err := backup.GoLive(ctx, tracks(), Ingest{Protocol: "rtmp"}); err != nil || got != s {
		t.Fatalf("standby GoLive: %v (same stream %v)", err, got == s)
	}

	p := &feeder{t: t, c: primary, rec: rec}
	b := &feeder{t: t, c: backup, rec: rec, offset: 100 * time.Second}
	p.next(120)
	b.next(120)
	lastPrimary := s.continueAt()
	if in := s.Health().Inputs; in == nil || in.OnAir != InputPrimary || in.Standby != "ready" || in.StandbyInput != InputBackup {
		t.Fatalf("before: %+v", in)
	}

	// The primary stalls; the backup keeps sending.
	deadline := time.Now().Add(3 * time.Second)
	for !(s.Health().Inputs.OnAir == InputBackup) {
		if time.Now().After(deadline) {
			t.Fatal("backup did not take over from a stalled primary")
		}
		b.next(3)
		time.Sleep(30 * time.Millisecond)
	}
	b.next(60)
	if at := s.continueAt(); at < lastPrimary || at > lastPrimary+10*time.Second {
		t.Fatalf("timeline after the switch at %v, primary ended at %v: not rebased", at, lastPrimary)
	}

	// The primary sends again: it stands by, the backup stays on air.
	p.next(120)
	time.Sleep(500 * time.Millisecond)
	b.next(30)
	if in := s.Health().Inputs; in.OnAir != InputBackup || in.StandbyInput != InputPrimary || in.Failovers != 1 {
		t.Fatalf("after the primary came back: %+v", in)
	}

	// The backup leaves: the primary (a keyframe buffered) takes over at once.
	p.next(60)
	backup.Release("publisher disconnected")
	if in := s.Health().Inputs; in.OnAir != InputPrimary || in.Standby != "none" || in.Failovers != 2 {
		t.Fatalf("after the backup left: %+v", in)
	}
	p.next(60)
	primary.Release("publisher disconnected")
	if store.ended != 1 || store.starts != 1 {
		t.Fatalf("session started %d and ended %d times, want once each", store.starts, store.ended)
	}
	if _, ok := h.Stream("twin"); ok {
		t.Fatal("stream still listed after both inputs left")
	}
}

// TestBackupOfAnotherCodecIsRefused: a standby the stream cannot continue
// with is refused when it connects, saying why.
func TestBackupOfAnotherCodecIsRefused(t *testing.T) {
	stream := []*Track{{Codec: H264}, {Codec: AAC, SampleRate: 48000, ChannelCount: 2}}
	for name, tracks := range map[string][]*Track{
		"h265":       {{Codec: H265}, {Codec: AAC, SampleRate: 48000, ChannelCount: 2}},
		"opus":       {{Codec: H264}, {Codec: Opus, SampleRate: 48000, ChannelCount: 2}},
		"44.1 kHz":   {{Codec: H264}, {Codec: AAC, SampleRate: 44100, ChannelCount: 2}},
		"audio only": {{Codec: AAC, SampleRate: 48000, ChannelCount: 2}},
	} {
		if err := (&input{}).setTracks(tracks, stream); !errors.Is(err, ErrIncompatibleBackup) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The same codecs (another resolution is another SPS) are fine, in any order.
	ok := []*Track{{Codec: AAC, SampleRate: 48000, ChannelCount: 2}, {Codec: H264, Width: 1920}}
	in := &input{}
	if err := in.setTracks(ok, stream); err != nil || in.route[0] != 1 || in.route[1] != 0 {
		t.Fatalf("compatible backup: %v, route %v", err, in.route)
	}
}
