package channel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

// The schedule: upcoming streams an owner announces in the studio, shown on
// the channel page's offline card ("Next: Fri 20:00 — Title").
const (
	MaxScheduleEntries = 10
	maxScheduleTitle   = 100
	// maxScheduleAhead is how far ahead an entry may be.
	maxScheduleAhead = 366 * 24 * time.Hour
	week             = 7 * 24 * time.Hour
)

// ScheduleEntry is one announced stream. StartsAt is its next occurrence
// (a weekly entry's first one after now).
type ScheduleEntry struct {
	ID       int64     `json:"id"`
	StartsAt time.Time `json:"starts_at"`
	Title    string    `json:"title"`
	Weekly   bool      `json:"weekly"`
}

// ScheduleInput is what an owner posts.
type ScheduleInput struct {
	StartsAt time.Time `json:"starts_at"`
	Title    string    `json:"title"`
	Weekly   bool      `json:"weekly"`
}

var errScheduleNotFound = httpjson.NewProblem(http.StatusNotFound, "schedule_not_found", "no such schedule entry")

// nextOccurrence is when an entry that starts at start happens next after
// now: start itself, or for a weekly entry the first start + k weeks that
// is not past. ok is false for a one-off entry that is past.
func nextOccurrence(start time.Time, weekly bool, now time.Time) (time.Time, bool) {
	if !start.Before(now) {
		return start, true
	}
	if !weekly {
		return time.Time{}, false
	}
	k := now.Sub(start)/week + 1
	next := start.Add(k * week)
	if next.Sub(now) >= week { // now fell exactly on an occurrence
		next = next.Add(-week)
	}
	return next, true
}

// cleanSchedule checks an entry an owner posts at now.
func cleanSchedule(in ScheduleInput, now time.Time) (ScheduleInput, error) {
	t, err := cleanText("title", in.Title, maxScheduleTitle)
	if err != nil {
		var p *httpjson.Problem
		if errors.As(err, &p) && p.Code == "too_long" {
			return in, httpjson.BadRequest("schedule_title_too_long", "a scheduled stream's title is at most %d characters", maxScheduleTitle)
		}
		return in, err
	}
	if t == "" {
		return in, httpjson.BadRequest("schedule_title_required", "a scheduled stream needs a title")
	}
	in.Title = t
	if in.StartsAt.IsZero() {
		return in, httpjson.BadRequest("schedule_past", "starts_at is required (RFC 3339)")
	}
	if in.StartsAt.Before(now) {
		return in, httpjson.BadRequest("schedule_past", "a scheduled stream must start in the future")
	}
	if in.StartsAt.Sub(now) > maxScheduleAhead {
		return in, httpjson.BadRequest("schedule_too_far", "a scheduled stream must start within a year")
	}
	in.StartsAt = in.StartsAt.UTC().Truncate(time.Minute)
	return in, nil
}

// Schedule returns a channel's upcoming entries, soonest first; past
// one-off entries are left out.
func (s *Service) Schedule(ctx context.Context, channelID int64, now time.Time) ([]ScheduleEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, starts_at, title, weekly FROM channel_schedule
		WHERE channel_id = $1 AND (starts_at >= $2 OR weekly = 1) ORDER BY starts_at, id`, channelID, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read schedule of channel %d: %w", channelID, err)
	}
	defer rows.Close()
	out := []ScheduleEntry{}
	for rows.Next() {
		var e ScheduleEntry
		var start int64
		var weekly int
		if err := rows.Scan(&e.ID, &start, &e.Title, &weekly); err != nil {
			return nil, fmt.Errorf("read schedule of channel %d: %w", channelID, err)
		}
		e.Weekly = weekly != 0
		next, ok := nextOccurrence(time.UnixMilli(start).UTC(), e.Weekly, now)
		if !ok {
			continue
		}
		e.StartsAt = next
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schedule of channel %d: %w", channelID, err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].StartsAt.Before(out[j].StartsAt) })
	return out, nil
}

// NextStreams returns the next scheduled stream of each of these channels
// that has one (the home page's cards), in one query.
func (s *Service) NextStreams(ctx context.Context, channelIDs []int64, now time.Time) (map[int64]ScheduleEntry, error) {
	out := map[int64]ScheduleEntry{}
	if len(channelIDs) == 0 {
		return out, nil
	}
	args := []any{now.UnixMilli()}
	marks := make([]string, 0, len(channelIDs))
	for _, id := range channelIDs {
		args = append(args, id)
		marks = append(marks, "$"+strconv.Itoa(len(args)))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT channel_id, id, starts_at, title, weekly FROM channel_schedule
		WHERE (starts_at >= $1 OR weekly = 1) AND channel_id IN (`+strings.Join(marks, ", ")+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("read next streams: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ch, start int64
		var e ScheduleEntry
		var weekly int
		if err := rows.Scan(&ch, &e.ID, &start, &e.Title, &weekly); err != nil {
			return nil, fmt.Errorf("read next streams: %w", err)
		}
		e.Weekly = weekly != 0
		next, ok := nextOccurrence(time.UnixMilli(start).UTC(), e.Weekly, now)
		if !ok {
			continue
		}
		e.StartsAt = next
		if cur, seen := out[ch]; !seen || next.Before(cur.StartsAt) {
			out[ch] = e
		}
	}
	return out, rows.Err()
}

// AddSchedule adds an entry: past one-off entries are dropped first, and a
// channel holds at most MaxScheduleEntries upcoming ones.
func (s *Service) AddSchedule(ctx context.Context, channelID int64, in ScheduleInput, now time.Time) (ScheduleEntry, error) {
	in, err := cleanSchedule(in, now)
	if err != nil {
		return ScheduleEntry{}, err
	}
	weekly := 0
	if in.Weekly {
		weekly = 1
	}
	var id int64
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM channel_schedule WHERE channel_id = $1 AND weekly = 0 AND starts_at < $2`,
			channelID, now.UnixMilli()); err != nil {
			return fmt.Errorf("drop past schedule entries: %w", err)
		}
		// The count and the insert are one statement, so two owners' tabs
		// posting at once cannot both take the last place on SQLite; on
		// PostgreSQL they may, by one.
		err := tx.QueryRowContext(ctx, `INSERT INTO channel_schedule (channel_id, starts_at, title, weekly, created_at)
			SELECT $1, $2, $3, $4, $5 WHERE (SELECT COUNT(*) FROM channel_schedule WHERE channel_id = $1) < $6 RETURNING id`,
			channelID, in.StartsAt.UnixMilli(), in.Title, weekly, now.UnixMilli(), MaxScheduleEntries).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return httpjson.BadRequest("schedule_full", "a channel's schedule holds at most %d streams; remove one first", MaxScheduleEntries)
		}
		if err != nil {
			return fmt.Errorf("add schedule entry: %w", err)
		}
		return nil
	})
	if err != nil {
		return ScheduleEntry{}, err
	}
	return ScheduleEntry{ID: id, StartsAt: in.StartsAt, Title: in.Title, Weekly: in.Weekly}, nil
}

// DeleteSchedule removes one entry of a channel.
func (s *Service) DeleteSchedule(ctx context.Context, channelID, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM channel_schedule WHERE channel_id = $1 AND id = $2`, channelID, id)
	if err != nil {
		return fmt.Errorf("delete schedule entry %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errScheduleNotFound
	}
	return nil
}

// LastLiveAt is when the channel's most recent live session ended; ok is
// false when it never went live (or its only session is still open). It
// reads the sessions table, so every node agrees and a restart forgets
// nothing.
func (s *Service) LastLiveAt(ctx context.Context, channelID int64) (time.Time, bool, error) {
	var ended sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MAX(ended_at) FROM live_sessions WHERE channel_id = $1 AND ended_at IS NOT NULL`, channelID).Scan(&ended)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("last live session of channel %d: %w", channelID, err)
	}
	if !ended.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(ended.Int64).UTC(), true, nil
}

// manageable reads the channel in the path and checks the caller may
// manage it (the owner or a platform admin).
func (h *Handlers) manageable(r *http.Request) (Channel, error) {
	c, err := h.Service.Get(r.Context(), r.PathValue("slug"))
	if err != nil {
		return Channel{}, err
	}
	if _, err := h.Accounts.Authorize(r, policy.ActChannelManage, c.ID, c.OwnerID); err != nil {
		return Channel{}, err
	}
	return c, nil
}

func (h *Handlers) getSchedule(w http.ResponseWriter, r *http.Request) {
	c, err := h.Service.Get(r.Context(), r.PathValue("slug"))
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	entries, err := h.Service.Schedule(r.Context(), c.ID, time.Now())
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	out := map[string]any{"schedule": entries, "max": MaxScheduleEntries}
	if last, ok, err := h.Service.LastLiveAt(r.Context(), c.ID); err != nil {
		httpjson.Fail(w, err)
		return
	} else if ok {
		out["last_live_at"] = last
	}
	w.Header().Set("Cache-Control", "no-cache")
	httpjson.Write(w, http.StatusOK, out)
}

func (h *Handlers) postSchedule(w http.ResponseWriter, r *http.Request) {
	c, err := h.manageable(r)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	var in ScheduleInput
	if !httpjson.Read(w, r, &in) {
		return
	}
	e, err := h.Service.AddSchedule(r.Context(), c.ID, in, time.Now())
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusCreated, e)
}

func (h *Handlers) deleteSchedule(w http.ResponseWriter, r *http.Request) {
	c, err := h.manageable(r)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		httpjson.Fail(w, errScheduleNotFound)
		return
	}
	if err := h.Service.DeleteSchedule(r.Context(), c.ID, id); err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]bool{"deleted": true})
}
