package live

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

func register(t *testing.T, db *store.DB, dataDir string) *Registry {
	t.Helper()
	r, err := Register(context.Background(), db, RegistryOptions{DataDir: dataDir, LeaseTTL: time.Minute, Renew: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func leaseOf(t *testing.T, db *store.DB, id int) int64 {
	t.Helper()
	var until int64
	if err := db.QueryRow(`SELECT lease_until FROM nodes WHERE id = $1`, id).Scan(&until); err != nil {
		t.Fatalf("lease of node %d: %v", id, err)
	}
	return until
}

// TestLiveStateNodeIDs: running nodes never share an id; a restart on the
// same data directory gets its id back at once; a released or expired id
// is reused; a second process on a locked data directory gets its own.
func TestLiveStateNodeIDs(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		dirA, dirB := t.TempDir(), t.TempDir()
		a, b := register(t, db, dirA), register(t, db, dirB)
		if a.ID() < 1 || b.ID() < 1 || a.ID() == b.ID() {
			t.Fatalf("ids %d and %d", a.ID(), b.ID())
		}
		// The lease is renewed while the node runs.
		first := leaseOf(t, db, a.ID())
		deadline := time.Now().Add(5 * time.Second)
		for leaseOf(t, db, a.ID()) == first {
			if time.Now().After(deadline) {
				t.Fatal("lease never renewed")
			}
			time.Sleep(20 * time.Millisecond)
		}

		// A second process on A's data directory cannot hold A's identity.
		twin := register(t, db, dirA)
		if twin.ID() == a.ID() || twin.ID() == b.ID() {
			t.Fatalf("a process on a locked data directory got id %d (a=%d b=%d)", twin.ID(), a.ID(), b.ID())
		}

		// A restart (the lock freed, the lease still running) takes its id back.
		idA := a.ID()
		if err := a.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(ctx); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		again := register(t, db, dirA)
		if again.ID() != idA {
			t.Fatalf("restart on the same data directory got id %d, want %d", again.ID(), idA)
		}

		// A node without a persisted identity takes an id whose lease ran
		// out, never a running node's.
		idB := b.ID()
		if _, err := db.Exec(`UPDATE nodes SET lease_until = 1 WHERE id = $1`, idB); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(ctx); err != nil {
			t.Fatal(err)
		}
		fresh := register(t, db, "")
		if fresh.ID() != idB {
			t.Fatalf("an expired id was not reused: got %d, want %d", fresh.ID(), idB)
		}
		// B, back on its data directory, finds its id taken and gets another.
		b2 := register(t, db, dirB)
		for _, other := range []int{again.ID(), twin.ID(), fresh.ID()} {
			if b2.ID() == other {
				t.Fatalf("B restarted onto id %d held by a running node", other)
			}
		}
	}, Migrations())
}

// TestLiveStateNodeIDsRaceAndRunOut: nodes registering at once get
// distinct ids; when every id is held, Register refuses with a clear error.
func TestLiveStateNodeIDsRaceAndRunOut(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const n = 8
		ids := make([]int, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				r, err := Register(ctx, db, RegistryOptions{LeaseTTL: time.Minute})
				if err == nil {
					ids[i] = r.ID()
					t.Cleanup(func() { _ = r.Close(context.Background()) })
				}
				errs[i] = err
			})
		}
		wg.Wait()
		seen := map[int]bool{}
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("register %d: %v", i, errs[i])
			}
			if seen[ids[i]] {
				t.Fatalf("two nodes got id %d: %v", ids[i], ids)
			}
			seen[ids[i]] = true
		}

		// Fill every other id with a running node.
		var rows [][]any
		far := time.Now().Add(time.Hour).UnixMilli()
		for id := n + 1; id <= MaxNodeID; id++ {
			rows = append(rows, []any{id, "filler-" + strconv.Itoa(id), 0, far})
		}
		for len(rows) > 0 {
			chunk := rows[:min(200, len(rows))]
			rows = rows[len(chunk):]
			values, args := store.Values(chunk)
			if _, err := db.Exec(`INSERT INTO nodes (id, identity, started_at, lease_until) VALUES `+values, args...); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Register(ctx, db, RegistryOptions{LeaseTTL: time.Minute})
		if !errors.Is(err, ErrNoNodeID) || !strings.Contains(err.Error(), "1023") {
			t.Fatalf("register with every id held: %v", err)
		}
		// One lease runs out: that id is free again.
		if _, err := db.Exec(`UPDATE nodes SET lease_until = 1 WHERE id = 700`); err != nil {
			t.Fatal(err)
		}
		r, err := Register(ctx, db, RegistryOptions{LeaseTTL: time.Minute})
		if err != nil || r.ID() != 700 {
			t.Fatalf("register after id 700 expired: %v %v", r, err)
		}
		_ = r.Close(ctx)
	}, Migrations())
}
