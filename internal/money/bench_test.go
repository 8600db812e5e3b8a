package money

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// BenchmarkGiftWriter measures group commit, the path every gift takes
// on a running node: 200 senders gift one hot streamer as fast as they
// are answered. It reports gifts/s; compare runs with benchstat
// (go test -run '^$' -bench GiftWriter -count 6 ./internal/money).
func BenchmarkGiftWriter(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) { benchGiftWriter(b, storetest.Open(b, d, Migrations())) })
	}
}

func benchGiftWriter(b *testing.B, db *store.DB) {
	ctx := context.Background()
	s := newService(db)
	s.StartGroupCommit()
	defer s.StopGroupCommit()
	const senders = 200
	for u := int64(1); u <= senders; u++ {
		if _, err := s.Grant(ctx, u, 1_000_000_000, "bench", 0); err != nil {
			b.Fatal(err)
		}
	}
	// Each sender sends one gift at a time, waiting for its answer, as a
	// viewer's page does; gifts are handed out one by one so that all 200
	// stay busy to the end and groups stay as large as in the CLI bench.
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for u := int64(1); u <= senders; u++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := next.Add(1); k <= int64(b.N); k = next.Add(1) {
				if _, err := s.SendGift(ctx, u, "s", 1, "bench", "heart", 1, fmt.Sprintf("k-%d", k)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "gifts/s")
	if err := s.Settle(ctx); err != nil {
		b.Fatal(err)
	}
	if r, err := s.Verify(ctx); err != nil || len(r.Problems) > 0 {
		b.Fatalf("verify: %v %v", r.Problems, err)
	}
}
