package recording

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

func newService(t *testing.T, db *store.DB, dir string, set func(*Deps)) *Service {
	t.Helper()
	d := Deps{DB: db, DataDir: dir, Node: 1, Default: true, FFmpeg: "/nonexistent/ffmpeg",
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if set != nil {
		set(&d)
	}
	s, err := New(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return s
}

// addReplay inserts a replay row with a folder holding `bytes` bytes.
func addReplay(t *testing.T, db *store.DB, dir string, started time.Time, bytes int64, state string) int64 {
	t.Helper()
	var id int64
	if err := db.QueryRowContext(context.Background(), `INSERT INTO replays (channel_id, channel_slug, node_id, started_at, bytes, state, created_at)
		VALUES (7, 'c', 1, $1, $2, $3, $4) RETURNING id`, started.UnixMilli(), bytes, state, store.Now()).Scan(&id); err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join("recordings", "7", strconv.FormatInt(id, 10))
	if err := os.MkdirAll(filepath.Join(dir, rel), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, rel, "seg00000.m4s"), make([]byte, bytes), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), `UPDATE replays SET path = $1 WHERE id = $2`, rel, id); err != nil {
		t.Fatal(err)
	}
	return id
}

func exists(s *Service, id int64) bool {
	_, err := s.Get(context.Background(), id)
	return err == nil
}

func TestRetention(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		dir := t.TempDir()
		now := time.Now()
		old := addReplay(t, db, dir, now.Add(-40*24*time.Hour), 100, StateReady)
		a := addReplay(t, db, dir, now.Add(-3*time.Hour), 600, StateReady)
		b := addReplay(t, db, dir, now.Add(-2*time.Hour), 600, StateReady)
		c := addReplay(t, db, dir, now.Add(-1*time.Hour), 600, StateReady)
		// 30 days and about 1300 bytes: the 40-day-old one goes for its
		// age, then the oldest of the rest until they fit.
		s := newService(t, db, dir, func(d *Deps) { d.RetentionDays = 30; d.RetentionGiB = 1300.0 / (1 << 30) })
		// New ran retention once already (its loop starts with it); run again: nothing more.
		waitGone := time.Now().Add(5 * time.Second)
		for exists(s, a) && time.Now().Before(waitGone) {
			time.Sleep(20 * time.Millisecond)
		}
		// A recording in progress is never deleted, however old.
		live := addReplay(t, db, dir, now.Add(-50*24*time.Hour), 100, StateRecording)
		if n, err := s.ApplyRetention(context.Background(), now); err != nil || n != 0 {
			t.Fatalf("second retention pass: %d, %v", n, err)
		}
		for id, want := range map[int64]bool{old: false, live: true, a: false, b: true, c: true} {
			if exists(s, id) != want {
				t.Errorf("replay %d exists = %v, want %v", id, !want, want)
			}
			if _, err := os.Stat(filepath.Join(dir, "recordings", "7", strconv.FormatInt(id, 10))); (err == nil) != want {
				t.Errorf("replay %d folder exists = %v, want %v", id, err == nil, want)
			}
		}
	}, Migrations())
}

// A recording left open by a crash is finalised on start-up from what is
// on disk (the torn fragment cut off).
func TestRecoverOpenRecording(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		dir := t.TempDir()
		id := addReplay(t, db, dir, time.Now(), 0, StateRecording)
		rdir := filepath.Join(dir, "recordings", "7", strconv.FormatInt(id, 10))
		_ = os.Remove(filepath.Join(rdir, "seg00000.m4s"))
		w, err := NewWriter(rdir, testTracks(t))
		if err != nil {
			t.Fatal(err)
		}
		feed(t, w, 5500*time.Millisecond) // no Close: the process died
		s := newService(t, db, dir, nil)
		r, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != StateReady || r.DurationMS < 4400 || r.DurationMS > 5500 || r.Bytes < 1000 {
			t.Fatalf("recovered %+v, want ready with 4.5-5.5 s", r)
		}
	}, Migrations())
}

func TestEnabledSetting(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, def := range []bool{true, false} {
			s := newService(t, db, t.TempDir(), func(d *Deps) { d.Default = def })
			ch := int64(100)
			if def {
				ch = 200
			}
			if on, err := s.Enabled(ctx, ch); err != nil || on != def {
				t.Fatalf("default %v: %v %v", def, on, err)
			}
			for _, v := range []bool{!def, def, !def} {
				if err := s.SetEnabled(ctx, ch, v); err != nil {
					t.Fatal(err)
				}
				if on, _ := s.Enabled(ctx, ch); on != v {
					t.Fatalf("set %v, read %v", v, on)
				}
			}
		}
	}, Migrations())
}

func TestThumbInterval(t *testing.T) {
	for _, c := range []struct{ d, want time.Duration }{
		{20 * time.Second, 2 * time.Second}, {0, 2 * time.Second}, {10 * time.Minute, 6 * time.Second}, {3 * time.Hour, 108 * time.Second},
	} {
		if got := ThumbInterval(c.d); got != c.want {
			t.Errorf("ThumbInterval(%v) = %v, want %v", c.d, got, c.want)
		}
	}
}

// FuzzScanSegment: whatever a segment file holds (a disk error, a torn
// write), reading the recording neither panics nor claims bytes it lacks.
func FuzzScanSegment(f *testing.F) {
	dir := f.TempDir()
	w, err := NewWriter(dir, testTracks(&testing.T{}))
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(filepath.Join(dir, initName))
	f.Add([]byte{0, 0, 0, 8, 'm', 'd', 'a', 't'})
	f.Add(seed)
	_ = w
	f.Fuzz(func(t *testing.T, b []byte) {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, initName), seed, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "seg00000.m4s"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		segs, err := Scan(d, true)
		if err != nil {
			return
		}
		for _, s := range segs {
			if s.Bytes > int64(len(b)) || s.Duration < 0 {
				t.Fatalf("segment %+v from %d bytes", s, len(b))
			}
		}
	})
}
