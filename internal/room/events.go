package room

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
)

// Room events besides danmaku — gifts and memberships, made by money — are
// durable bus events keyed by channel id. One node records each in the
// room's own history (room_events) from a durable consumer all nodes
// share, so a node that was down catches up; every node hands each new one
// to its viewers of that room (Tail). Joining viewers replay the last
// minute from the history.

// roomEventTypes are the durable events a room shows.
var roomEventTypes = []string{bus.RoomGift, bus.RoomMembership}

// record stores a room event once (its id is the key: redelivery is
// harmless).
func (s *Service) record(e bus.Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.db.ExecContext(ctx, `INSERT INTO room_events (id, channel_id, type, payload, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO NOTHING`, e.ID, e.ChannelID, e.Type, string(e.Payload), e.At)
	if err != nil {
		return fmt.Errorf("record room event %s: %w", e.ID, err)
	}
	return nil
}

// roomEvent is a gift or membership event a room shows.
type roomEvent struct {
	id      string
	at      int64 // Unix ms
	payload json.RawMessage
}

// eventsSince returns a room's gift and membership events created after
// sinceMs, oldest first, from its history.
func (s *Service) eventsSince(ctx context.Context, channelID, sinceMs int64, limit int) ([]roomEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, created_at, payload FROM room_events WHERE channel_id = $1 AND created_at > $2
		ORDER BY created_at, id LIMIT $3`, channelID, sinceMs, limit)
	if err != nil {
		return nil, fmt.Errorf("read room events: %w", err)
	}
	defer rows.Close()
	var out []roomEvent
	for rows.Next() {
		var e roomEvent
		var p string
		if err := rows.Scan(&e.id, &e.at, &p); err != nil {
			return nil, err
		}
		e.payload = json.RawMessage(p)
		out = append(out, e)
	}
	return out, rows.Err()
}

// recentEvents is what this node's tail saw of each channel's room events
// in the replay window. The history is written by whichever node consumes
// an event, a moment after it is stored; a viewer joining in that moment
// gets it from here (and one joining later from the history).
type recentEvents struct {
	mu        sync.Mutex
	byChannel map[int64][]roomEvent
}

// recentPerChannel bounds what is kept of one busy channel.
const recentPerChannel = 200

func (r *recentEvents) add(e bus.Event, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byChannel == nil || len(r.byChannel) > 10000 {
		r.byChannel = map[int64][]roomEvent{} // a flood of channels resets the memory, not the server
	}
	cutoff := now.Add(-giftReplayWindow).UnixMilli()
	list := r.byChannel[e.ChannelID]
	for len(list) > 0 && (list[0].at < cutoff || len(list) >= recentPerChannel) {
		list = list[1:]
	}
	r.byChannel[e.ChannelID] = append(list, roomEvent{id: e.ID, at: e.At, payload: e.Payload})
}

func (r *recentEvents) since(channelID, sinceMs int64) []roomEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []roomEvent
	for _, e := range r.byChannel[channelID] {
		if e.at > sinceMs {
			out = append(out, e)
		}
	}
	return out
}

// replayEvents merges a room's history and what this node saw lately, once
// each, oldest first, at most limit.
func replayEvents(stored, seen []roomEvent, limit int) []json.RawMessage {
	byID := map[string]roomEvent{}
	for _, list := range [][]roomEvent{stored, seen} {
		for _, e := range list {
			byID[e.id] = e
		}
	}
	all := make([]roomEvent, 0, len(byID))
	for _, e := range byID {
		all = append(all, e)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].at != all[j].at {
			return all[i].at < all[j].at
		}
		return all[i].id < all[j].id
	})
	if len(all) > limit {
		all = all[len(all)-limit:]
	}
	out := make([]json.RawMessage, len(all))
	for i, e := range all {
		out[i] = e.payload
	}
	return out
}

// pruneEvents deletes room events older than before (with the room log).
func (s *Service) pruneEvents(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM room_events WHERE created_at < $1`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune room events: %w", err)
	}
	return res.RowsAffected()
}
