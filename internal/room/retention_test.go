package room

import (
	"context"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// TestPruneLog: danmaku older than the retention go, in batches; newer ones
// and other rooms' newer ones stay; both engines.
func TestPruneLog(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := &Service{db: db}
		ids := newIDSource(1)
		now := time.Now()
		insert := func(at time.Time, n int) {
			for i := 0; i < n; i++ {
				if _, err := db.ExecContext(ctx, `INSERT INTO danmaku (id, channel_id, user_id, username, level, text, color, mode, created_at, stream_offset_ms)
					VALUES ($1, $2, 1, 'u', 0, 'x', '#ffffff', 'scroll', $3, -1)`, ids.next(at), int64(i%3+1), at.UnixMilli()); err != nil {
					t.Fatal(err)
				}
			}
		}
		insert(now.Add(-100*24*time.Hour), pruneBatch+7) // more than one batch
		insert(now.Add(-89*24*time.Hour), 5)
		insert(now, 3)
		n, err := s.PruneLog(ctx, now.Add(-DefaultLogRetention))
		if err != nil || n != pruneBatch+7 {
			t.Fatalf("pruned %d (%v), want %d", n, err, pruneBatch+7)
		}
		var left int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM danmaku`).Scan(&left); err != nil || left != 8 {
			t.Fatalf("%d danmaku left (%v), want 8", left, err)
		}
		if n, _ := s.PruneLog(ctx, now.Add(-DefaultLogRetention)); n != 0 {
			t.Fatalf("pruning again deleted %d", n)
		}
	}, Migrations())
}
