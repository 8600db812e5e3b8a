package recording

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/store"
)

// Chapter is a marker in a replay.
type Chapter struct {
	ID    int64  `json:"id"`
	AtMS  int64  `json:"at_ms"`
	Title string `json:"title"`
}

// Limits of chapters and clips.
const (
	MaxChapterTitle = 60
	MaxChapters     = 100
	// MinClip is the shortest clip (a clip is whole segments: about a
	// second each).
	MinClip = time.Second
)

// More refusals.
var (
	ErrChapterInvalid = httpjson.NewProblem(http.StatusBadRequest, "replay_chapter_invalid", "a chapter needs a title of at most 60 characters and a time inside the replay")
	ErrChapterLimit   = httpjson.NewProblem(http.StatusConflict, "replay_chapter_limit", "a replay has at most 100 chapters")
	ErrNotRecording   = httpjson.NewProblem(http.StatusConflict, "replay_not_recording", "the channel is not being recorded right now")
	ErrClipInvalid    = httpjson.NewProblem(http.StatusBadRequest, "replay_clip_invalid", "a clip is a range of at least a second inside the replay")
)

// Chapters of a replay, in time order.
func (s *Service) Chapters(ctx context.Context, replayID int64) ([]Chapter, error) {
	rows, err := s.d.DB.QueryContext(ctx, `SELECT id, at_ms, title FROM replay_chapters WHERE replay_id = $1 ORDER BY at_ms, id`, replayID)
	if err != nil {
		return nil, fmt.Errorf("recording: read chapters: %w", err)
	}
	defer rows.Close()
	out := []Chapter{}
	for rows.Next() {
		var c Chapter
		if err := rows.Scan(&c.ID, &c.AtMS, &c.Title); err != nil {
			return nil, fmt.Errorf("recording: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// AddChapter marks a moment of a replay.
func (s *Service) AddChapter(ctx context.Context, r Replay, at int64, title string) (Chapter, error) {
	title = strings.TrimSpace(title)
	if title == "" || utf8.RuneCountInString(title) > MaxChapterTitle || strings.ContainsAny(title, "\x00\r\n") || at < 0 ||
		(r.State == StateReady && at > r.DurationMS) {
		return Chapter{}, ErrChapterInvalid
	}
	var n int
	if err := s.d.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM replay_chapters WHERE replay_id = $1`, r.ID).Scan(&n); err != nil {
		return Chapter{}, fmt.Errorf("recording: count chapters: %w", err)
	}
	if n >= MaxChapters {
		return Chapter{}, ErrChapterLimit
	}
	c := Chapter{AtMS: at, Title: title}
	if err := s.d.DB.QueryRowContext(ctx, `INSERT INTO replay_chapters (replay_id, at_ms, title, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		r.ID, at, title, store.Now()).Scan(&c.ID); err != nil {
		return Chapter{}, fmt.Errorf("recording: add chapter: %w", err)
	}
	return c, nil
}

// Recording is the channel's replay being recorded now, if any.
func (s *Service) Recording(ctx context.Context, channelID int64) (Replay, error) {
	r, err := scanReplay(s.d.DB.QueryRowContext(ctx, `SELECT `+replayColumns+` FROM replays WHERE channel_id = $1 AND state = $2
		ORDER BY id DESC LIMIT 1`, channelID, StateRecording))
	if errors.Is(err, sql.ErrNoRows) {
		return Replay{}, ErrNotRecording
	}
	if err != nil {
		return Replay{}, fmt.Errorf("recording: %w", err)
	}
	return r, nil
}

// Clip makes a new replay of [from, to) of r: the segments overlapping
// the range, hard-linked (no copy; a copy only where links cannot be
// made), so a clip starts and ends on the source's segment boundaries.
// Its start time moves with its first segment, so its danmaku stay in place.
func (s *Service) Clip(ctx context.Context, r Replay, from, to time.Duration, title string) (Replay, error) {
	if r.State != StateReady {
		return Replay{}, ErrRecording
	}
	if from < 0 || to-from < MinClip || to > time.Duration(r.DurationMS)*time.Millisecond+time.Second {
		return Replay{}, ErrClipInvalid
	}
	segs, err := Scan(s.dir(r), false)
	if err != nil {
		return Replay{}, err
	}
	var pick []Segment
	for _, sg := range segs {
		if sg.Start+sg.Duration > from && sg.Start < to {
			pick = append(pick, sg)
		}
	}
	if len(pick) == 0 {
		return Replay{}, ErrClipInvalid
	}
	d, n := Total(pick)
	start := r.StartedAt + pick[0].Start.Milliseconds()
	var id int64
	members := 0
	if r.MembersOnly {
		members = 1 // a clip of a members-only replay stays so
	}
	if err := s.d.DB.QueryRowContext(ctx, `INSERT INTO replays (channel_id, channel_slug, session_id, node_id, title, started_at, duration_ms, bytes, state, created_at, members_only)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`, r.ChannelID, r.Channel, r.SessionID, s.d.Node, title, start,
		d.Milliseconds(), n+initSize(s.dir(r)), StateRecording, store.Now(), members).Scan(&id); err != nil {
		return Replay{}, fmt.Errorf("recording: create clip: %w", err)
	}
	rel := filepath.Join("recordings", strconv.FormatInt(r.ChannelID, 10), strconv.FormatInt(id, 10))
	dst := filepath.Join(s.d.DataDir, rel)
	err = func() error {
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		for _, name := range append([]string{initName}, segNames(pick)...) {
			if err := linkOrCopy(filepath.Join(s.dir(r), name), filepath.Join(dst, name)); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		_ = os.RemoveAll(dst)
		_, _ = s.d.DB.ExecContext(ctx, `DELETE FROM replays WHERE id = $1`, id)
		return Replay{}, fmt.Errorf("recording: clip files: %w", err)
	}
	// Ready only once its files are there (a crash before leaves a
	// "recording" row this node finalises from what is on disk).
	if _, err := s.d.DB.ExecContext(ctx, `UPDATE replays SET path = $1, state = $2 WHERE id = $3`, rel, StateReady, id); err != nil {
		return Replay{}, fmt.Errorf("recording: %w", err)
	}
	// Its chapters inside the range come along.
	chs, err := s.Chapters(ctx, r.ID)
	if err != nil {
		return Replay{}, err
	}
	for _, c := range chs {
		at := c.AtMS - pick[0].Start.Milliseconds()
		if at >= 0 && at <= d.Milliseconds() {
			if _, err := s.d.DB.ExecContext(ctx, `INSERT INTO replay_chapters (replay_id, at_ms, title, created_at) VALUES ($1, $2, $3, $4)`,
				id, at, c.Title, store.Now()); err != nil {
				return Replay{}, fmt.Errorf("recording: copy chapter: %w", err)
			}
		}
	}
	s.queueThumbs(id)
	return s.Get(ctx, id)
}

func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeSynced(dst, b)
}

// --- HTTP ---------------------------------------------------------------

// markHTTP is the studio's "mark this moment": a chapter at now in the
// channel's recording in progress.
func (s *Service) markHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := s.managed(r, r.PathValue("slug"))
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	var in struct {
		Title string `json:"title"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	rep, err := s.Recording(r.Context(), c.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	ch, err := s.AddChapter(r.Context(), rep, time.Now().UnixMilli()-rep.StartedAt, in.Title)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusCreated, map[string]any{"chapter": ch, "replay_id": rep.ID})
}

func (s *Service) addChapterHTTP(w http.ResponseWriter, r *http.Request) {
	rep, ok := s.ownReplay(w, r)
	if !ok {
		return
	}
	var in struct {
		AtMS  *int64 `json:"at_ms"`
		Title string `json:"title"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if in.AtMS == nil {
		httpjson.Fail(w, ErrChapterInvalid)
		return
	}
	ch, err := s.AddChapter(r.Context(), rep, *in.AtMS, in.Title)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusCreated, map[string]any{"chapter": ch})
}

func (s *Service) deleteChapterHTTP(w http.ResponseWriter, r *http.Request) {
	rep, ok := s.ownReplay(w, r)
	if !ok {
		return
	}
	cid, err := strconv.ParseInt(r.PathValue("chapter"), 10, 64)
	if err != nil {
		httpjson.Fail(w, httpjson.NewProblem(http.StatusNotFound, "", "chapter not found"))
		return
	}
	res, err := s.d.DB.ExecContext(r.Context(), `DELETE FROM replay_chapters WHERE id = $1 AND replay_id = $2`, cid, rep.ID)
	if err != nil {
		httpjson.Fail(w, fmt.Errorf("recording: delete chapter: %w", err))
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		httpjson.Fail(w, httpjson.NewProblem(http.StatusNotFound, "", "chapter not found"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) clipHTTP(w http.ResponseWriter, r *http.Request) {
	rep, ok := s.ownReplay(w, r)
	if !ok {
		return
	}
	var in struct {
		FromMS int64  `json:"from_ms"`
		ToMS   int64  `json:"to_ms"`
		Title  string `json:"title"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	title := strings.TrimSpace(in.Title)
	if utf8.RuneCountInString(title) > MaxTitle || strings.ContainsAny(title, "\x00\r\n") {
		httpjson.Fail(w, ErrTitleInvalid)
		return
	}
	clip, err := s.Clip(r.Context(), rep, time.Duration(in.FromMS)*time.Millisecond, time.Duration(in.ToMS)*time.Millisecond, title)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusCreated, map[string]any{"replay": clip})
}

// ownReplay reads the replay in the path for its channel's manager.
func (s *Service) ownReplay(w http.ResponseWriter, r *http.Request) (Replay, bool) {
	rep, manage, err := s.visible(r)
	if err != nil {
		httpjson.Fail(w, err)
		return rep, false
	}
	if !manage {
		httpjson.Fail(w, httpjson.NewProblem(http.StatusForbidden, "", "only the channel's owner may change its replays"))
		return rep, false
	}
	return rep, true
}
