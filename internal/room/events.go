package room

import (
	"context"
	"encoding/json"
	"fmt"
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

// EventsSince returns a room's gift and membership events (their client
// JSON) created after sinceMs, oldest first.
func (s *Service) EventsSince(ctx context.Context, channelID, sinceMs int64, limit int) ([]json.RawMessage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT payload FROM room_events WHERE channel_id = $1 AND created_at > $2
		ORDER BY created_at, id LIMIT $3`, channelID, sinceMs, limit)
	if err != nil {
		return nil, fmt.Errorf("read room events: %w", err)
	}
	defer rows.Close()
	out := []json.RawMessage{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, json.RawMessage(p))
	}
	return out, rows.Err()
}

// pruneEvents deletes room events older than before (with the room log).
func (s *Service) pruneEvents(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM room_events WHERE created_at < $1`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune room events: %w", err)
	}
	return res.RowsAffected()
}
