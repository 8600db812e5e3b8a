package filter_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/moderation/filter"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// TestReloadOnTwoNodes: two engines (two nodes) on one store and one NATS
// server: a term, the floor and a newly trained model added through one
// reach the other's Check without a restart.
func TestReloadOnTwoNodes(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("NATS did not start")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := storetest.Open(t, store.Postgres, sets...) // nodes share PostgreSQL in production
	node := func() *filter.Engine {
		b, err := bus.Open(ns.ClientURL(), log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		e, err := filter.New(filter.Deps{DB: db, Bus: b, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close(context.Background()) })
		return e
	}
	a, b := node(), node()
	ctx := context.Background()
	if r := b.Check(ctx, filter.Input{Text: "你个sb", Level: 2}); r.Action != filter.Allow {
		t.Fatalf("before any term: %s", r.Action)
	}
	if err := a.AddTerms(ctx, []filter.Term{{Term: "傻逼", Action: "block", Category: "abuse", Initials: true}}, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node B to load node A's term", func() bool {
		return b.Check(ctx, filter.Input{Text: "你个sb", Level: 2}).Action == filter.Block
	})
	if err := a.SetFloor(ctx, 3); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node B to load the floor", func() bool { return b.Floor() == 3 })

	// A moderator decision and a training run on node A: node B swaps in
	// the new model.
	if err := a.Feedback(ctx, "这种人就是垃圾", true, "deleted"); err != nil {
		t.Fatal(err)
	}
	if err := a.Feedback(ctx, "x", true, "whatever"); err == nil {
		t.Fatal("an unknown feedback source was stored")
	}
	dir := t.TempDir()
	csv := "\ufeff,split,topic,label,TEXT\n1,train,race,1,\"都是垃圾\n滚\"\n2,train,race,0,今天真好\n3,train,region,1,地域黑滚\n4,train,region,0,欢迎来玩\n"
	for _, split := range []string{"train", "dev"} {
		if err := os.WriteFile(filepath.Join(dir, split+".csv"), []byte(csv), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := b.ModelVersion()
	m, met, err := a.TrainAndStore(ctx, dir, true, filter.TrainOptions{Seed: 1, Bits: 12})
	if err != nil {
		t.Fatal(err)
	}
	if met.N != 4 || m.Version == before {
		t.Fatalf("trained %s on dev n=%d", m.Version, met.N)
	}
	eventually(t, "node B to load the new model", func() bool { return b.ModelVersion() == m.Version })
}
