package money

import (
	"context"
	"fmt"
	"runtime"
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
	var goroutines atomic.Int64
	b.SetParallelism(max(1, senders/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		g := goroutines.Add(1)
		sender := (g-1)%senders + 1
		for k := 0; pb.Next(); k++ {
			if _, err := s.SendGift(ctx, sender, "s", 1, "bench", "heart", 1, fmt.Sprintf("%d-%d", g, k)); err != nil {
				b.Error(err)
				return
			}
		}
	})
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
