package social

import (
	"context"
	"fmt"

	"github.com/livehouse/livehouse/internal/store"
)

// Store keeps who follows which channel.
type Store struct{ db *store.DB }

// NewStore returns the follows store on db.
func NewStore(db *store.DB) *Store { return &Store{db: db} }

// Follow and Unfollow record who follows a channel.
func (s *Store) Follow(ctx context.Context, userID, channelID int64) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO follows (user_id, channel_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_id, channel_id) DO NOTHING`,
		userID, channelID, store.Now())
	return err
}

// Unfollow removes a follow (following nobody is not an error).
func (s *Store) Unfollow(ctx context.Context, userID, channelID int64) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM follows WHERE user_id = $1 AND channel_id = $2`, userID, channelID)
	return err
}

// Follows reports whether user follows channel.
func (s *Store) Follows(ctx context.Context, userID, channelID int64) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM follows WHERE user_id = $1 AND channel_id = $2`, userID, channelID).Scan(&n)
	return n > 0, err
}

// FollowedChannels lists the channels a user follows.
func (s *Store) FollowedChannels(ctx context.Context, userID int64) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT channel_id FROM follows WHERE user_id = $1`, userID)
	if err != nil {
		return nil, fmt.Errorf("read follows: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Followers counts a channel's followers.
func (s *Store) Followers(ctx context.Context, channelID int64) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM follows WHERE channel_id = $1`, channelID).Scan(&n)
	return n, err
}
