package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/money"
	"github.com/livehouse/livehouse/internal/store"
)

// GiftOptions configures `livehouse bench gifts`.
type GiftOptions struct {
	DBURL      string // empty: a fresh SQLite file
	Senders    int
	Duration   time.Duration
	Migrations []store.MigrationSet
	Out        io.Writer
	CPUProfile string // file for a CPU profile of the sending phase; empty: none
}

// RunGifts measures the gift path itself (money.Service.SendGift on the
// real store, the outbox relay and the embedded bus), without HTTP: N
// senders gift one hot streamer as fast as they can.
func RunGifts(ctx context.Context, o GiftOptions) error {
	dbURL := o.DBURL
	if dbURL == "" {
		dir, err := os.MkdirTemp("", "livehouse-bench-gifts-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dbURL = "sqlite:" + filepath.Join(dir, "bench.db")
	}
	db, err := store.Open(ctx, dbURL, "")
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx, o.Migrations...); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := bus.Open("", log)
	if err != nil {
		return err
	}
	defer b.Close()
	m := money.NewService(db, 3000, log, money.Deps{}) // no renewals in a benchmark
	m.StartGroupCommit()
	m.StartRelay(b, money.RelayOptions{})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			log.Error("stop the money service", "err", err)
		}
	}()

	const channelID = 1
	room := "bench-gifts-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for i := 1; i <= o.Senders; i++ {
		if _, err := m.Grant(ctx, int64(i), 1_000_000_000, "bench", 0); err != nil {
			return err
		}
	}

	// Room side: when does each gift arrive on the bus?
	var mu sync.Mutex
	committedAt := map[string]time.Time{}
	arrivedAt := map[string]time.Time{} // events that beat their sender's bookkeeping
	var toRoom []time.Duration
	// Gifts reach rooms as durable bus events; every node tails them.
	stopTail, err := b.Tail(func(e bus.Event) {
		var ev struct {
			GiftID string `json:"gift_id"`
		}
		if e.ChannelID != channelID || json.Unmarshal(e.Payload, &ev) != nil {
			return
		}
		now := time.Now()
		mu.Lock()
		if at, ok := committedAt[ev.GiftID]; ok {
			toRoom = append(toRoom, now.Sub(at))
			delete(committedAt, ev.GiftID)
		} else {
			arrivedAt[ev.GiftID] = now
		}
		mu.Unlock()
	}, bus.RoomGift)
	if err != nil {
		return err
	}
	defer stopTail()

	var done atomic.Int64
	var lmu sync.Mutex
	var toCommit []time.Duration
	deadline := time.Now().Add(o.Duration)
	var wg sync.WaitGroup
	errs := make(chan error, o.Senders)
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	for i := 1; i <= o.Senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; time.Now().Before(deadline); k++ {
				t0 := time.Now()
				// Keys are unique per run: a database reused between runs must
				// not turn new gifts into retries of old ones.
				g, err := m.SendGift(ctx, int64(i), "sender", channelID, room, "heart", 1, fmt.Sprintf("%s-%d-%d", room, i, k))
				if err != nil {
					errs <- err
					return
				}
				t1 := time.Now()
				id := strconv.FormatInt(g.ID, 10)
				mu.Lock()
				if at, ok := arrivedAt[id]; ok {
					toRoom = append(toRoom, max(at.Sub(t1), 0))
					delete(arrivedAt, id)
				} else {
					committedAt[id] = t1
				}
				mu.Unlock()
				lmu.Lock()
				toCommit = append(toCommit, t1.Sub(t0))
				lmu.Unlock()
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	select {
	case err := <-errs:
		return err
	default:
	}
	time.Sleep(2 * time.Second) // the relay's last batches
	rep, err := m.Verify(ctx)
	if err != nil {
		return err
	}
	sort.Slice(toCommit, func(i, j int) bool { return toCommit[i] < toCommit[j] })
	mu.Lock()
	sort.Slice(toRoom, func(i, j int) bool { return toRoom[i] < toRoom[j] })
	missing := len(committedAt)
	mu.Unlock()
	engine := "SQLite"
	if db.Dialect == store.Postgres {
		engine = "PostgreSQL"
	}
	fmt.Fprintf(o.Out, "%s, %d senders, one hot streamer, %v:\n", engine, o.Senders, o.Duration)
	fmt.Fprintf(o.Out, "  committed %d gifts, %.0f gifts/s\n", done.Load(), float64(done.Load())/elapsed)
	if len(toCommit) > 0 {
		fmt.Fprintf(o.Out, "  to commit:     p50 %v  p99 %v  max %v\n", pctl(toCommit, 50), pctl(toCommit, 99), toCommit[len(toCommit)-1].Round(100*time.Microsecond))
	}
	if len(toRoom) > 0 {
		fmt.Fprintf(o.Out, "  commit → room: p50 %v  p99 %v  max %v\n", pctl(toRoom, 50), pctl(toRoom, 99), toRoom[len(toRoom)-1].Round(100*time.Microsecond))
	}
	fmt.Fprintf(o.Out, "  gifts that never reached the room: %d; ledger problems: %d\n", missing, len(rep.Problems))
	return nil
}
