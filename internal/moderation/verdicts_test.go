package moderation

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// TestVerdictQueueAndAppeals: a held verdict is decided once, a blocked
// one is appealed once by its sender only, and the queues list them.
func TestVerdictQueueAndAppeals(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		users, _ := account.NewUsers(db)
		mod := NewStore(db)
		sender, err := users.Create(ctx, account.NewUser{Username: "sender1", Password: "sender-password-1"})
		if err != nil {
			t.Fatal(err)
		}
		if fs, err := mod.FilterSetting(ctx, 7); err != nil || fs.Enabled || fs.Level != 2 {
			t.Fatalf("default setting: %+v %v", fs, err)
		}
		if err := mod.SetFilterSetting(ctx, 7, 1, FilterSetting{Enabled: true, Level: 5}); err == nil {
			t.Fatal("level 5 accepted")
		}
		if err := mod.SetFilterSetting(ctx, 7, 1, FilterSetting{Enabled: true, Level: 3}); err != nil {
			t.Fatal(err)
		}
		if lvl, err := mod.FilterLevel(ctx, 7); err != nil || lvl != 3 {
			t.Fatalf("level: %d %v", lvl, err)
		}

		reasons := json.RawMessage(`[{"source":"term","rule":"x","steps":["nfkc"]}]`)
		held, err := mod.RecordVerdict(ctx, VerdictRecord{ChannelID: 7, UserID: sender.ID, Username: "sender1", Text: "held text",
			Action: Hold, Score: 70, Category: "abuse", Reasons: reasons, Payload: json.RawMessage(`{"text":"held text"}`)})
		if err != nil || held.Ticket == "" {
			t.Fatalf("record: %+v %v", held, err)
		}
		blocked, err := mod.RecordVerdict(ctx, VerdictRecord{ChannelID: 7, UserID: sender.ID, Username: "sender1", Text: "blocked text",
			Action: Block, Score: 95, Category: "hate"})
		if err != nil {
			t.Fatal(err)
		}
		list, err := mod.Verdicts(ctx, VerdictQuery{ChannelID: 7, Action: Hold, Pending: true})
		if err != nil || len(list) != 1 || list[0].ID != held.ID || string(list[0].Reasons) != string(reasons) {
			t.Fatalf("held queue: %+v %v", list, err)
		}
		if list, _ := mod.Verdicts(ctx, VerdictQuery{ChannelID: 8}); len(list) != 0 {
			t.Fatal("another channel sees this one's verdicts")
		}
		if list, _ := mod.Verdicts(ctx, VerdictQuery{ChannelID: -1}); len(list) != 2 {
			t.Fatalf("platform queue: %d verdicts", len(list))
		}
		v, err := mod.Decide(ctx, held.ID, 1, DecisionApproved)
		if err != nil || v.Decision != DecisionApproved || v.DecidedAt == nil || string(v.Payload) != `{"text":"held text"}` {
			t.Fatalf("decide: %+v %v", v, err)
		}
		if _, err := mod.Decide(ctx, held.ID, 2, DecisionDenied); !errors.Is(err, ErrDecided) {
			t.Fatalf("second decision: %v", err)
		}
		if list, _ := mod.Verdicts(ctx, VerdictQuery{ChannelID: 7, Action: Hold, Pending: true}); len(list) != 0 {
			t.Fatal("a decided message is still pending")
		}

		if _, err := mod.FileAppeal(ctx, sender.ID+1, blocked.Ticket, "not me"); !errors.Is(err, ErrNotAppealable) {
			t.Fatalf("someone else's appeal: %v", err)
		}
		if _, err := mod.FileAppeal(ctx, sender.ID, held.Ticket, "approved anyway"); !errors.Is(err, ErrNotAppealable) {
			t.Fatalf("appeal of an approved message: %v", err)
		}
		a, err := mod.FileAppeal(ctx, sender.ID, blocked.Ticket, "it was a quote")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mod.FileAppeal(ctx, sender.ID, blocked.Ticket, "again"); !errors.Is(err, ErrAppealed) {
			t.Fatalf("second appeal: %v", err)
		}
		open, err := mod.Appeals(ctx, 7, "open", 10)
		if err != nil || len(open) != 1 || open[0].Verdict == nil || open[0].Verdict.Text != "blocked text" {
			t.Fatalf("appeals: %+v %v", open, err)
		}
		if _, err := mod.DecideAppeal(ctx, a.ID, 1, "upheld"); err != nil {
			t.Fatal(err)
		}
		if _, err := mod.DecideAppeal(ctx, a.ID, 1, "rejected"); !errors.Is(err, ErrAppealDecided) {
			t.Fatalf("second appeal decision: %v", err)
		}
		if open, _ := mod.Appeals(ctx, -1, "open", 10); len(open) != 0 {
			t.Fatal("a decided appeal is still open")
		}
	}, account.Migrations(), Migrations())
}

type slowFilter time.Duration

func (d slowFilter) Screen(ctx context.Context, in Input) Verdict {
	select {
	case <-time.After(time.Duration(d)):
	case <-ctx.Done():
	}
	return Verdict{Action: Block, Category: "slow"}
}

type boundedFilter struct {
	delay time.Duration
	v     Verdict
}

func (f boundedFilter) Screen(context.Context, Input) Verdict { time.Sleep(f.delay); return f.v }
func (boundedFilter) Bounded() bool                           { return true }

type levelOf int

func (l levelOf) FilterLevel(context.Context, int64) (int, error) { return int(l), nil }

// TestStageDeadlineAndCombining: the most severe verdict wins, the highest
// score is kept, the channel's level reaches the filter, and a filter that
// overruns the deadline lets the message through and is counted.
func TestStageDeadlineAndCombining(t *testing.T) {
	var sawLevel int
	hide := FilterFunc(func(_ context.Context, in Input) Verdict {
		sawLevel = in.Level
		return Verdict{Action: Hide, Score: 80, Category: "spam"}
	})
	hold := FilterFunc(func(context.Context, Input) Verdict { return Verdict{Action: Hold, Score: 60, Category: "abuse"} })
	st := NewStage(levelOf(3), 20*time.Millisecond, hide, hold)
	v := st.Screen(context.Background(), Input{ChannelID: 1, Text: "x"})
	if v.Action != Hold || v.Score != 80 || v.Category != "abuse" || sawLevel != 3 {
		t.Fatalf("combined: %+v level %d", v, sawLevel)
	}
	slow := NewStage(levelOf(2), 5*time.Millisecond, slowFilter(time.Second), hide)
	start := time.Now()
	v = slow.Screen(context.Background(), Input{ChannelID: 1, Text: "x"})
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Fatalf("the stage waited %v for a slow filter", took)
	}
	if v.Action != Hide || slow.Overruns() != 1 {
		t.Fatalf("after an overrun: %+v overruns %d", v, slow.Overruns())
	}
	// A bounded filter runs inline; one that answered late is counted, and
	// its verdict stands (the time is spent; load must not open the gate).
	late := boundedFilter{delay: 20 * time.Millisecond, v: Verdict{Action: Block, Score: 95}}
	inline := NewStage(levelOf(2), 5*time.Millisecond, late, boundedFilter{v: Verdict{Action: Hold, Score: 70}})
	if v := inline.Screen(context.Background(), Input{ChannelID: 1, Text: "x"}); v.Action != Block || v.Score != 95 || inline.Overruns() != 1 {
		t.Fatalf("inline overrun: %+v overruns %d", v, inline.Overruns())
	}
	var none *Stage
	if v := none.Screen(context.Background(), Input{Text: "x"}); v.Action != Allow {
		t.Fatalf("no stage: %+v", v)
	}
}

// BenchmarkStageOverhead: what the stage adds around one bounded filter
// (the engine's case: inline, timed).
func BenchmarkStageOverhead(b *testing.B) {
	st := NewStage(levelOf(2), DefaultDeadline, boundedFilter{v: Verdict{Action: Allow, Score: 3}})
	ctx := context.Background()
	in := Input{ChannelID: 1, Kind: KindChat, Text: "hello"}
	b.ReportAllocs()
	for b.Loop() {
		st.Screen(ctx, in)
	}
}
