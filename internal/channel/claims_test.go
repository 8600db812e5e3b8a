package channel

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

func openSessionOf(t *testing.T, db *store.DB, channelID int64) (id int64, node int64, n int) {
	t.Helper()
	rows, err := db.Query(`SELECT id, node_id FROM live_sessions WHERE channel_id = $1 AND ended_at IS NULL`, channelID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var nodeID sql.NullInt64 // NULL: a session from before node ids
		if err := rows.Scan(&id, &nodeID); err != nil {
			t.Fatal(err)
		}
		node = nodeID.Int64
		n++
	}
	return id, node, n
}

func endReason(t *testing.T, db *store.DB, id int64) string {
	t.Helper()
	var reason *string
	if err := db.QueryRow(`SELECT end_reason FROM live_sessions WHERE id = $1`, id).Scan(&reason); err != nil {
		t.Fatal(err)
	}
	if reason == nil {
		return ""
	}
	return *reason
}

// TestLiveStateClaims: one open session per channel on every node; a
// second claim names the node that holds it; renewals keep a claim, a
// lapsed one is closed by whoever comes next and the channel can be
// claimed again; a starting node closes only its own sessions.
func TestLiveStateClaims(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := NewService(db)
		c, _, err := svc.Create(ctx, Input{Slug: ptr("claimed"), Title: ptr("Claimed")}, 0)
		if err != nil {
			t.Fatal(err)
		}
		other, _, err := svc.Create(ctx, Input{Slug: ptr("other"), Title: ptr("Other")}, 0)
		if err != nil {
			t.Fatal(err)
		}
		ref, otherRef := media.ChannelRef{ID: c.ID, Slug: c.Slug}, media.ChannelRef{ID: other.ID, Slug: other.Slug}

		s1, err := svc.ClaimChannel(ctx, ref, 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.ClaimChannel(ctx, ref, 2, time.Minute); !errors.Is(err, media.ErrAlreadyLive) || !strings.Contains(err.Error(), "node 1") {
			t.Fatalf("second claim: %v", err)
		}
		if err := svc.SessionStarted(ctx, s1, media.Status{StartedAt: time.Now(), Tracks: []media.TrackStatus{{Codec: media.H264}}}); err != nil {
			t.Fatal(err)
		}
		if open, err := svc.RenewClaims(ctx, 1, time.Minute); err != nil || len(open) != 1 || open[0] != s1 {
			t.Fatalf("renew node 1: %v %v", open, err)
		}
		if open, err := svc.RenewClaims(ctx, 2, time.Minute); err != nil || len(open) != 0 {
			t.Fatalf("renew node 2: %v %v", open, err)
		}
		// Node 2 holds another channel; node 3 starts: neither claim is its own.
		s2, err := svc.ClaimChannel(ctx, otherRef, 2, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := svc.CloseStaleSessions(ctx, 3); err != nil || n != 0 {
			t.Fatalf("node 3 starting closed %d sessions (%v)", n, err)
		}
		if n, err := svc.CloseLapsedClaims(ctx); err != nil || n != 0 {
			t.Fatalf("closed %d live claims that had not lapsed (%v)", n, err)
		}

		// Node 1 dies: nobody renews its claim (a renewal that sets the
		// deadline in the past stands for the time running out).
		if _, err := svc.RenewClaims(ctx, 1, -time.Second); err != nil {
			t.Fatal(err)
		}
		s3, err := svc.ClaimChannel(ctx, ref, 2, time.Minute)
		if err != nil {
			t.Fatalf("claim after node 1's claim lapsed: %v", err)
		}
		if r := endReason(t, db, s1); r != ReasonNodeLost {
			t.Fatalf("lapsed session ended with %q", r)
		}
		// Node 1 comes back: its renewal no longer holds the session it lost.
		if open, err := svc.RenewClaims(ctx, 1, time.Minute); err != nil || len(open) != 0 {
			t.Fatalf("node 1 renewed %v (%v) after losing its claim", open, err)
		}
		if n, err := svc.CloseStaleSessions(ctx, 1); err != nil || n != 0 {
			t.Fatalf("node 1 restarting closed %d (%v): node 2's sessions are not its own", n, err)
		}
		if id, node, n := openSessionOf(t, db, c.ID); n != 1 || id != s3 || node != 2 {
			t.Fatalf("open session of claimed: id %d node %d count %d", id, node, n)
		}

		// A lapsed claim is also closed by any node's sweep.
		if _, err := svc.RenewClaims(ctx, 2, -time.Second); err != nil {
			t.Fatal(err)
		}
		if n, err := svc.CloseLapsedClaims(ctx); err != nil || n != 2 {
			t.Fatalf("sweep closed %d (%v), want node 2's two", n, err)
		}
		if r := endReason(t, db, s2); r != ReasonNodeLost {
			t.Fatalf("swept session ended with %q", r)
		}

		// A claim that never went live leaves no session behind.
		s4, err := svc.ClaimChannel(ctx, ref, 3, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.DropClaim(ctx, s4); err != nil {
			t.Fatal(err)
		}
		if _, _, n := openSessionOf(t, db, c.ID); n != 0 {
			t.Fatal("a dropped claim is still open")
		}
		if err := svc.SessionStarted(ctx, s4, media.Status{StartedAt: time.Now()}); err == nil {
			t.Fatal("a dropped claim started")
		}
	}, Migrations())
}

// TestLiveStateClaimRace: nodes claiming one channel at the same moment:
// exactly one wins, on both engines.
func TestLiveStateClaimRace(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := NewService(db)
		c, _, err := svc.Create(ctx, Input{Slug: ptr("raced"), Title: ptr("Raced")}, 0)
		if err != nil {
			t.Fatal(err)
		}
		ref := media.ChannelRef{ID: c.ID, Slug: c.Slug}
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, errs[i] = svc.ClaimChannel(ctx, ref, i+1, time.Minute) })
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, media.ErrAlreadyLive):
				t.Fatalf("node %d: %v", i+1, err)
			}
		}
		if _, _, open := openSessionOf(t, db, c.ID); won != 1 || open != 1 {
			t.Fatalf("%d claims won, %d sessions open; want 1 and 1", won, open)
		}
	}, Migrations())
}

// TestLiveStateClaimMigration: a database from before claims, with two
// open sessions of one channel (two nodes took one key), upgrades: the
// older is closed so the one-open-session index can exist, and the open
// sessions left (no node renews them) count as lapsed.
func TestLiveStateClaimMigration(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			old := fstest.MapFS{}
			for _, name := range []string{"0001_channels.sql", "0002_owner.sql", "0003_cover_and_state.sql"} {
				body, err := fs.ReadFile(migrationFiles, "migrations/"+name)
				if err != nil {
					t.Fatal(err)
				}
				old[name] = &fstest.MapFile{Data: body}
			}
			db := storetest.Open(t, d, store.MigrationSet{Domain: "channel", FS: old})
			if _, err := db.Exec(`INSERT INTO channels (id, slug, title, stream_key_hash, created_at, updated_at)
				VALUES (1, 'twice', 'Twice', 'h1', 0, 0), (2, 'once', 'Once', 'h2', 0, 0)`); err != nil {
				t.Fatal(err)
			}
			var ids [3]int64
			for i, ch := range []int{1, 1, 2} {
				if err := db.QueryRow(`INSERT INTO live_sessions (channel_id, started_at, tracks) VALUES ($1, $2, '[]') RETURNING id`,
					ch, 10*(i+1)).Scan(&ids[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Migrate(ctx, Migrations()); err != nil {
				t.Fatalf("upgrade: %v", err)
			}
			if r := endReason(t, db, ids[0]); r != "server restarted" {
				t.Fatalf("older duplicate ended with %q", r)
			}
			if id, _, n := openSessionOf(t, db, 1); n != 1 || id != ids[1] {
				t.Fatalf("open sessions of twice: %d (id %d)", n, id)
			}
			svc := NewService(db)
			if _, err := svc.ClaimChannel(ctx, media.ChannelRef{ID: 1, Slug: "twice"}, 1, time.Minute); err != nil {
				t.Fatalf("claim over a session from before claims: %v", err)
			}
			if n, err := svc.CloseLapsedClaims(ctx); err != nil || n != 1 {
				t.Fatalf("closed %d lapsed (%v), want once's", n, err)
			}
		})
	}
}
