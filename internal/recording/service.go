// Package recording records live sessions to disk as fragmented MP4 and
// serves them back as replays: an HLS VOD playlist over the recorded
// segments (no remux copy), the replay page's data (danmaku from the room
// log at their offsets), and the owner's tools (rename, hide, delete, the
// per-channel on/off switch). Retention (days, GiB) deletes the oldest.
package recording

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/room"
	"github.com/livehouse/livehouse/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the recording domain's tables.
func Migrations() store.MigrationSet {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return store.MigrationSet{Domain: "recording", FS: sub}
}

// Replay states.
const (
	StateRecording = "recording"
	StateReady     = "ready"
)

// Replay is one recorded live session.
type Replay struct {
	ID         int64  `json:"id"`
	ChannelID  int64  `json:"-"`
	Channel    string `json:"channel"` // slug
	SessionID  int64  `json:"session_id"`
	Title      string `json:"title"`
	StartedAt  int64  `json:"started_at"` // Unix ms of replay time 0
	DurationMS int64  `json:"duration_ms"`
	Bytes      int64  `json:"bytes"`
	State      string `json:"state"`
	Hidden     bool   `json:"hidden"`
	// MembersOnly replays play for the channel's members only.
	MembersOnly bool `json:"members_only"`
	path        string
	node        int
}

// Errors the API answers with.
var (
	ErrNotFound     = httpjson.NewProblem(http.StatusNotFound, "replay_not_found", "replay not found")
	ErrRecording    = httpjson.NewProblem(http.StatusConflict, "replay_recording", "the replay is still being recorded")
	ErrTitleInvalid = httpjson.NewProblem(http.StatusBadRequest, "replay_title_invalid", "a replay title is at most 100 characters")
	ErrMembersOnly  = httpjson.NewProblem(http.StatusForbidden, "replay_members_only", "this replay is for the channel's members")
)

// Deps are what the recorder needs from the rest of Livehouse.
type Deps struct {
	DB  *store.DB
	Hub interface {
		Stream(slug string) (*media.Stream, bool)
	}
	Channels interface {
		Get(ctx context.Context, slug string) (channel.Channel, error)
	}
	Accounts interface {
		Authorize(r *http.Request, a policy.Action, channelID, ownerID int64) (policy.Principal, error)
	}
	Messages interface {
		Between(ctx context.Context, channelID, from, to int64, limit int) ([]room.Message, error)
	}
	// Fans tells members apart (members-only replays); nil: nobody is a member.
	Fans interface {
		Standing(ctx context.Context, userID, channelID int64, slug string) (policy.FanBadge, error)
	}
	// DataDir holds recordings/<channel id>/<replay id>/.
	DataDir string
	Node    int
	// Remote, when set, answers a /vod/ request for a replay another node
	// recorded by passing it to that node (nil: 404, as before clusters).
	Remote func(w http.ResponseWriter, r *http.Request, node int)
	// RetentionDays and RetentionGiB bound what is kept (0: no bound).
	RetentionDays int
	RetentionGiB  float64
	// Default is whether a channel without a setting records.
	Default bool
	// FFmpeg makes the seek-bar thumbnails; "" looks it up on PATH (none:
	// replays have no thumbnails).
	FFmpeg string
	Log    *slog.Logger
}

// Service records this node's live sessions and serves replays.
type Service struct {
	d      Deps
	stop   chan struct{}
	cancel context.CancelFunc // stops the thumbnail maker's ffmpeg
	wg     sync.WaitGroup
	ffmpeg string
	thumbs chan int64 // replays waiting for their sprite
	scans  ScanCache  // what the playlists of growing recordings read

	mu     sync.Mutex
	active map[int64]*recorder // by replay id
	closed bool
}

type recorder struct {
	replay Replay
	sub    *media.Subscription
	w      *Writer
}

// New finalises the recordings this node left open (a crash: each keeps
// what reached the disk) and starts the retention loop. Close stops it.
func New(ctx context.Context, d Deps) (*Service, error) {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	s := &Service{d: d, stop: make(chan struct{}), active: map[int64]*recorder{}, thumbs: make(chan int64, thumbQueue), ffmpeg: d.FFmpeg}
	if s.ffmpeg == "" {
		if ff, err := exec.LookPath("ffmpeg"); err == nil {
			s.ffmpeg = ff
		} else {
			d.Log.Info("ffmpeg not found: replays get no seek-bar thumbnails")
		}
	}
	if err := s.recover(ctx); err != nil {
		return nil, err
	}
	var tctx context.Context
	tctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(2)
	go s.retentionLoop()
	go s.thumbLoop(tctx)
	return s, nil
}

// Close stops recording (every recording is finalised with what it has)
// and the retention loop.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	recs := make([]*recorder, 0, len(s.active))
	for _, r := range s.active {
		recs = append(recs, r)
	}
	s.mu.Unlock()
	close(s.stop)
	s.cancel()
	for _, r := range recs {
		r.sub.Close()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("recording: close: %w", ctx.Err())
	}
}

const replayColumns = `id, channel_id, channel_slug, session_id, node_id, title, started_at, duration_ms, bytes, path, state, hidden, members_only`

func scanReplay(row interface{ Scan(...any) error }) (Replay, error) {
	var r Replay
	var hidden, members int64
	err := row.Scan(&r.ID, &r.ChannelID, &r.Channel, &r.SessionID, &r.node, &r.Title, &r.StartedAt, &r.DurationMS, &r.Bytes, &r.path, &r.State, &hidden, &members)
	r.Hidden, r.MembersOnly = hidden != 0, members != 0
	return r, err
}

func (s *Service) dir(r Replay) string { return filepath.Join(s.d.DataDir, r.path) }

// recover finalises the replays this node was recording when it stopped
// without finishing them.
func (s *Service) recover(ctx context.Context) error {
	rows, err := s.d.DB.QueryContext(ctx, `SELECT `+replayColumns+` FROM replays WHERE state = $1 AND node_id = $2`, StateRecording, s.d.Node)
	if err != nil {
		return fmt.Errorf("recording: find open recordings: %w", err)
	}
	var open []Replay
	for rows.Next() {
		r, err := scanReplay(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("recording: %w", err)
		}
		open = append(open, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	for _, r := range open {
		segs, err := Scan(s.dir(r), true)
		if err != nil {
			s.d.Log.Warn("recording left open is unreadable; keeping it empty", "replay", r.ID, "err", err)
		}
		d, n := Total(segs)
		if err := s.finish(ctx, r.ID, d, n+initSize(s.dir(r))); err != nil {
			return err
		}
		s.d.Log.Info("finalised a recording left open by an earlier run", "replay", r.ID, "duration", d)
		s.queueThumbs(r.ID)
	}
	return nil
}

func initSize(dir string) int64 {
	fi, err := os.Stat(filepath.Join(dir, initName))
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (s *Service) finish(ctx context.Context, id int64, d time.Duration, bytes int64) error {
	if _, err := s.d.DB.ExecContext(ctx, `UPDATE replays SET state = $1, duration_ms = $2, bytes = $3 WHERE id = $4`,
		StateReady, d.Milliseconds(), bytes, id); err != nil {
		return fmt.Errorf("recording: finalise replay %d: %w", id, err)
	}
	return nil
}

// Enabled reports whether a channel records its live sessions.
func (s *Service) Enabled(ctx context.Context, channelID int64) (bool, error) {
	var on int64
	err := s.d.DB.QueryRowContext(ctx, `SELECT enabled FROM recording_settings WHERE channel_id = $1`, channelID).Scan(&on)
	if errors.Is(err, sql.ErrNoRows) {
		return s.d.Default, nil
	}
	if err != nil {
		return false, fmt.Errorf("recording: read setting: %w", err)
	}
	return on != 0, nil
}

// SetEnabled turns a channel's recording on or off (from its next session).
func (s *Service) SetEnabled(ctx context.Context, channelID int64, on bool) error {
	v := int64(0)
	if on {
		v = 1
	}
	if _, err := s.d.DB.ExecContext(ctx, `INSERT INTO recording_settings (channel_id, enabled) VALUES ($1, $2)
		ON CONFLICT (channel_id) DO UPDATE SET enabled = excluded.enabled`, channelID, v); err != nil {
		return fmt.Errorf("recording: save setting: %w", err)
	}
	return nil
}

// OnLive starts recording a channel's stream that just went live on this
// node (media.Hub's live.started), if the channel records. The hub calls
// it before the stream's first frame, so the recording starts with it.
func (s *Service) OnLive(ch media.ChannelRef) {
	st, ok := s.d.Hub.Stream(ch.Slug)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	on, err := s.Enabled(ctx, ch.ID)
	if err != nil {
		s.d.Log.Error("recording: read setting", "channel", ch.Slug, "err", err)
		return
	}
	if !on {
		return
	}
	if err := s.start(ctx, st); err != nil {
		s.d.Log.Error("recording did not start", "channel", ch.Slug, "err", err)
	}
}

func (s *Service) start(ctx context.Context, st *media.Stream) error {
	sub, err := st.Subscribe(media.SubscribeOptions{Queue: 2048})
	if err != nil {
		return err
	}
	var id int64
	now := store.Now()
	if err := s.d.DB.QueryRowContext(ctx, `INSERT INTO replays (channel_id, channel_slug, session_id, node_id, started_at, state, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, st.Channel.ID, st.Channel.Slug, st.SessionID, s.d.Node,
		st.StartedAt().UnixMilli(), StateRecording, now).Scan(&id); err != nil {
		sub.Close()
		return fmt.Errorf("recording: create replay: %w", err)
	}
	rel := filepath.Join("recordings", strconv.FormatInt(st.Channel.ID, 10), strconv.FormatInt(id, 10))
	if _, err := s.d.DB.ExecContext(ctx, `UPDATE replays SET path = $1 WHERE id = $2`, rel, id); err != nil {
		sub.Close()
		return fmt.Errorf("recording: %w", err)
	}
	w, err := NewWriter(filepath.Join(s.d.DataDir, rel), sub.Tracks)
	if err != nil {
		sub.Close()
		_ = s.finish(ctx, id, 0, 0)
		return err
	}
	rec := &recorder{replay: Replay{ID: id, ChannelID: st.Channel.ID, Channel: st.Channel.Slug, path: rel}, sub: sub, w: w}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		sub.Close()
		_ = w.Close()
		return s.finish(ctx, id, 0, w.Bytes)
	}
	s.active[id] = rec
	s.wg.Add(1)
	s.mu.Unlock()
	go s.run(rec)
	s.d.Log.Info("recording", "channel", st.Channel.Slug, "replay", id, "dir", rel)
	return nil
}

// run writes the stream's frames until it ends, then finalises the replay.
func (s *Service) run(rec *recorder) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.active, rec.replay.ID)
		s.mu.Unlock()
	}()
	log := s.d.Log.With("replay", rec.replay.ID, "channel", rec.replay.Channel)
	started := false
	failed := false
	lastSave := time.Now()
	for f := range rec.sub.Frames() {
		if failed {
			continue
		}
		if err := rec.w.WriteFrame(f); err != nil {
			log.Error("recording stopped", "err", err)
			failed = true
			go rec.sub.Close() // Close takes the stream's lock; never from under it
			continue
		}
		if started && time.Since(lastSave) >= progressEvery {
			lastSave = time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if _, err := s.d.DB.ExecContext(ctx, `UPDATE replays SET duration_ms = $1, bytes = $2 WHERE id = $3`,
				rec.w.Duration().Milliseconds(), rec.w.Bytes, rec.replay.ID); err != nil {
				log.Warn("recording: save progress", "err", err)
			}
			cancel()
		}
		if !started && rec.w.started {
			started = true
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if _, err := s.d.DB.ExecContext(ctx, `UPDATE replays SET started_at = $1 WHERE id = $2`, rec.w.First.UnixMilli(), rec.replay.ID); err != nil {
				log.Error("recording: save start", "err", err)
			}
			cancel()
		}
	}
	if err := rec.w.Close(); err != nil {
		log.Error("recording: close", "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	segs, err := Scan(s.dir(rec.replay), false)
	if err != nil {
		log.Error("recording: scan", "err", err)
	}
	d, n := Total(segs)
	if err := s.finish(ctx, rec.replay.ID, d, n+initSize(s.dir(rec.replay))); err != nil {
		log.Error("recording: finalise", "err", err)
	} else if d > 0 {
		s.queueThumbs(rec.replay.ID)
	}
	if rec.w.Ingested > 0 {
		log.Info("recording finished", "duration", d, "bytes", rec.w.Bytes, "ingested", rec.w.Ingested,
			"write_amplification", fmt.Sprintf("%.3f", float64(rec.w.Bytes)/float64(rec.w.Ingested)), "dropped", rec.sub.Dropped())
	}
}

// progressEvery is how often a recording's length and size are saved
// while it runs (the lists show them growing).
const progressEvery = 10 * time.Second

// Active is how many recordings this node is writing.
func (s *Service) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.active)
}

// Get reads one replay.
func (s *Service) Get(ctx context.Context, id int64) (Replay, error) {
	r, err := scanReplay(s.d.DB.QueryRowContext(ctx, `SELECT `+replayColumns+` FROM replays WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Replay{}, ErrNotFound
	}
	if err != nil {
		return Replay{}, fmt.Errorf("recording: read replay: %w", err)
	}
	return r, nil
}

// List is a channel's replays, newest first; hidden ones only with all.
func (s *Service) List(ctx context.Context, channelID int64, all bool, limit int) ([]Replay, error) {
	q := `SELECT ` + replayColumns + ` FROM replays WHERE channel_id = $1`
	if !all {
		q += ` AND hidden = 0`
	}
	rows, err := s.d.DB.QueryContext(ctx, q+` ORDER BY started_at DESC, id DESC LIMIT $2`, channelID, limit)
	if err != nil {
		return nil, fmt.Errorf("recording: list replays: %w", err)
	}
	defer rows.Close()
	out := []Replay{}
	for rows.Next() {
		r, err := scanReplay(rows)
		if err != nil {
			return nil, fmt.Errorf("recording: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Update renames, hides or restricts a replay (nil leaves a field as it is).
func (s *Service) Update(ctx context.Context, id int64, title *string, hidden, membersOnly *bool) error {
	if membersOnly != nil {
		v := 0
		if *membersOnly {
			v = 1
		}
		if _, err := s.d.DB.ExecContext(ctx, `UPDATE replays SET members_only = $1 WHERE id = $2`, v, id); err != nil {
			return fmt.Errorf("recording: members only: %w", err)
		}
	}
	if title != nil {
		if _, err := s.d.DB.ExecContext(ctx, `UPDATE replays SET title = $1 WHERE id = $2`, *title, id); err != nil {
			return fmt.Errorf("recording: rename: %w", err)
		}
	}
	if hidden != nil {
		v := 0
		if *hidden {
			v = 1
		}
		if _, err := s.d.DB.ExecContext(ctx, `UPDATE replays SET hidden = $1 WHERE id = $2`, v, id); err != nil {
			return fmt.Errorf("recording: hide: %w", err)
		}
	}
	return nil
}

// Delete removes a finished replay: its files, then its row.
func (s *Service) Delete(ctx context.Context, r Replay) error {
	if r.State == StateRecording {
		return ErrRecording
	}
	if r.path != "" {
		if err := os.RemoveAll(s.dir(r)); err != nil {
			return fmt.Errorf("recording: delete files: %w", err)
		}
	}
	if _, err := s.d.DB.ExecContext(ctx, `DELETE FROM replay_chapters WHERE replay_id = $1`, r.ID); err != nil {
		return fmt.Errorf("recording: delete chapters: %w", err)
	}
	if _, err := s.d.DB.ExecContext(ctx, `DELETE FROM replays WHERE id = $1`, r.ID); err != nil {
		return fmt.Errorf("recording: delete replay: %w", err)
	}
	return nil
}

// retentionLoop applies retention at start and every RetentionEvery.
func (s *Service) retentionLoop() {
	defer s.wg.Done()
	t := time.NewTicker(RetentionEvery)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if n, err := s.ApplyRetention(ctx, time.Now()); err != nil {
			s.d.Log.Error("recording retention", "err", err)
		} else if n > 0 {
			s.d.Log.Info("recording retention deleted replays", "count", n)
		}
		cancel()
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// RetentionEvery is how often retention runs.
const RetentionEvery = 10 * time.Minute

// ApplyRetention deletes this node's finished replays older than
// RetentionDays, then the oldest while they take more than RetentionGiB.
// It reports how many it deleted.
func (s *Service) ApplyRetention(ctx context.Context, now time.Time) (int, error) {
	rows, err := s.d.DB.QueryContext(ctx, `SELECT `+replayColumns+` FROM replays WHERE node_id = $1 ORDER BY started_at, id`, s.d.Node)
	if err != nil {
		return 0, fmt.Errorf("recording: retention: %w", err)
	}
	var all []Replay
	var total int64
	for rows.Next() {
		r, err := scanReplay(rows)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("recording: retention: %w", err)
		}
		all = append(all, r)
		total += r.Bytes
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("recording: retention: %w", err)
	}
	limit := int64(s.d.RetentionGiB * (1 << 30))
	cutoff := now.Add(-time.Duration(s.d.RetentionDays) * 24 * time.Hour).UnixMilli()
	n := 0
	for _, r := range all { // oldest first
		if r.State != StateReady {
			continue
		}
		tooOld := s.d.RetentionDays > 0 && r.StartedAt < cutoff
		tooBig := limit > 0 && total > limit
		if !tooOld && !tooBig {
			break
		}
		if err := s.Delete(ctx, r); err != nil {
			return n, err
		}
		total -= r.Bytes
		n++
	}
	return n, nil
}
