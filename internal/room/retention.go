package room

import (
	"context"
	"fmt"
	"time"
)

// The room log keeps danmaku for a retention period (--room-log-retention,
// default 90 days; 0 keeps them for ever): history, reports and replays
// read it, so it must not grow without bound on a busy platform.

// DefaultLogRetention is how long danmaku are kept unless configured.
const DefaultLogRetention = 90 * 24 * time.Hour

// pruneEvery is how often each node prunes (every node may; deleting what
// another node already deleted is harmless).
const pruneEvery = time.Hour

// pruneBatch bounds one DELETE, so pruning never holds the log for long.
const pruneBatch = 5000

// firstIDAt is the smallest message id made at t (ids start with the
// millisecond, see idSource).
func firstIDAt(t time.Time) int64 { return (t.UnixMilli() - idEpoch) << 22 }

// PruneLog deletes danmaku older than before, in batches, and returns how
// many it deleted.
func (s *Service) PruneLog(ctx context.Context, before time.Time) (int64, error) {
	cutoff := firstIDAt(before)
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, `DELETE FROM danmaku WHERE id IN (SELECT id FROM danmaku WHERE id < $1 ORDER BY id LIMIT $2)`,
			cutoff, pruneBatch)
		if err != nil {
			return total, fmt.Errorf("prune room log: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// runPruner prunes the log every pruneEvery until stop closes.
func (s *Service) runPruner(retention time.Duration, stop <-chan struct{}) {
	defer s.wg.Done()
	tick := time.NewTicker(pruneEvery)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if n, err := s.PruneLog(ctx, time.Now().Add(-retention)); err != nil {
			s.log.Error("prune room log", "err", err)
		} else if n > 0 {
			s.log.Info("pruned the room log", "danmaku", n, "older_than", retention)
		}
		if _, err := s.pruneEvents(ctx, time.Now().Add(-retention)); err != nil {
			s.log.Error("prune room events", "err", err)
		}
		cancel()
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}
