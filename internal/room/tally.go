package room

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/livehouse/livehouse/internal/policy"
)

// tally aggregates likes, shares and joins per room on this node and, once
// a second, adds them to the room's totals and tells every node:
// {"type":"likes","count":N,"total":T}, {"type":"shares",…},
// {"type":"joins","names":[…],"others":N}.
type tally struct {
	mu    sync.Mutex
	rooms map[string]*roomTally

	stop chan struct{}
	done chan struct{}
}

type roomTally struct {
	channelID     int64
	likes, shares int64
	names         []string
	others        int
}

// MaxLikesPerFrame caps one client's taps per report (a frame a second).
const MaxLikesPerFrame = 50

func (s *Service) roomTally(slug string, channelID int64) *roomTally {
	t := s.tally.rooms[slug]
	if t == nil {
		t = &roomTally{channelID: channelID}
		s.tally.rooms[slug] = t
	}
	return t
}

// Like records count taps (1 to 50) by the principal in ctx.
func (s *Service) Like(ctx context.Context, slug string, count int) error {
	if count < 1 || count > MaxLikesPerFrame {
		return hygiene("bad_count", "count must be 1 to 50")
	}
	chID, err := s.authorizeLike(ctx, slug)
	if err != nil {
		return err
	}
	s.countLikes(slug, chID, count)
	return nil
}

// authorizeLike says whether the principal in ctx may like (or share) in
// the room: a logged-in account, not banned there, in a channel that is not
// disabled — read from the chat context, so it costs no query. An anonymous
// tap is refused before anything else.
func (s *Service) authorizeLike(ctx context.Context, slug string) (int64, error) {
	p := policy.PrincipalFrom(ctx)
	if p.Via == "" {
		return 0, &policy.Denied{Reason: "log in to like", Anonymous: true}
	}
	room, err := s.chat.room(ctx, slug)
	if err != nil {
		return 0, err
	}
	if room.disabled {
		return room.channelID, policy.ErrChannelDisabled
	}
	if err := policy.Decide(p, policy.ActFollow, room.roles(p.UserID(), time.Now()), policy.Settings{}); err != nil {
		return room.channelID, err
	}
	return room.channelID, nil
}

func (s *Service) countLikes(slug string, chID int64, n int) {
	s.tally.mu.Lock()
	s.roomTally(slug, chID).likes += int64(n)
	s.tally.mu.Unlock()
}

// LikesDropped counts taps refused for coming too fast or too many at once
// (over the WebSocket), for /metrics.
func (s *Service) LikesDropped() int64 { return s.likesDropped.Load() }

// Share counts a share of the room (logged-in viewers).
func (s *Service) Share(ctx context.Context, slug string) error {
	chID, err := s.authorizeLike(ctx, slug)
	if err != nil {
		return err
	}
	s.tally.mu.Lock()
	s.roomTally(slug, chID).shares++
	s.tally.mu.Unlock()
	return nil
}

// joined notes a viewer entering; logged-in viewers are named (up to two a
// second), everyone else is counted.
func (s *Service) joined(slug string, channelID int64, name string) {
	s.tally.mu.Lock()
	defer s.tally.mu.Unlock()
	t := s.roomTally(slug, channelID)
	if name != "" && len(t.names) < 2 {
		t.names = append(t.names, name)
	} else {
		t.others++
	}
}

func (s *Service) runTally() {
	defer close(s.tally.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.tally.stop:
			s.flushTally()
			return
		case <-tick.C:
			s.flushTally()
		}
	}
}

func (s *Service) flushTally() {
	s.tally.mu.Lock()
	rooms := s.tally.rooms
	s.tally.rooms = map[string]*roomTally{}
	s.tally.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for slug, t := range rooms {
		if t.likes > 0 || t.shares > 0 {
			var likes, shares int64
			err := s.db.QueryRowContext(ctx, `INSERT INTO room_counters (channel_id, likes, shares) VALUES ($1, $2, $3)
				ON CONFLICT (channel_id) DO UPDATE SET likes = room_counters.likes + excluded.likes, shares = room_counters.shares + excluded.shares
				RETURNING likes, shares`, t.channelID, t.likes, t.shares).Scan(&likes, &shares)
			if err != nil {
				s.log.Error("save room counters", "room", slug, "err", err)
				continue
			}
			if t.likes > 0 {
				s.publishRaw(t.channelID, map[string]any{"type": "likes", "count": t.likes, "total": likes})
			}
			if t.shares > 0 {
				s.publishRaw(t.channelID, map[string]any{"type": "shares", "count": t.shares, "total": shares})
			}
		}
		if len(t.names) > 0 || t.others > 0 {
			names := t.names
			if names == nil {
				names = []string{} // only anonymous viewers joined: [] not null
			}
			s.publishRaw(t.channelID, map[string]any{"type": "joins", "names": names, "others": t.others})
		}
	}
}

// Counters returns a room's like and share totals.
func (s *Service) Counters(ctx context.Context, slug string) (likes, shares int64, err error) {
	chID, _, err := s.channels.ChannelOwner(ctx, slug)
	if err != nil {
		return 0, 0, err
	}
	err = s.db.QueryRowContext(ctx, `SELECT likes, shares FROM room_counters WHERE channel_id = $1`, chID).Scan(&likes, &shares)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	return likes, shares, err
}

// DanmakuSince counts a room's messages since a time (deleted ones too:
// they were sent).
func (s *Service) DanmakuSince(ctx context.Context, slug string, since time.Time) (int, error) {
	chID, _, err := s.channels.ChannelOwner(ctx, slug)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM danmaku WHERE channel_id = $1 AND created_at >= $2`, chID, since.UnixMilli()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count danmaku: %w", err)
	}
	return n, nil
}
