package room

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/moderation"
	"github.com/livehouse/livehouse/internal/policy"
)

// memSources is the chat context's sources held in memory: the cache's
// behaviour (one load for many callers, reloads on events, waiting for a
// fresh one) is what these tests pin; the real sources are exercised end to
// end in internal/app (TestChatContext*, TestQueriesPerDanmaku).
type memSources struct {
	mu        sync.Mutex
	rules     policy.Rules
	slugs     map[string]int64
	loads     atomic.Int64
	block     chan struct{} // when set, Rules waits on it
	follows   bool
	standings atomic.Int64
}

func (m *memSources) OpenChannel(_ context.Context, slug string) (int64, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.slugs[slug]
	if !ok {
		return 0, 0, policy.ErrNoChannel
	}
	return id, 1, nil
}
func (m *memSources) ChannelSlug(context.Context, int64) (string, error) {
	return "", policy.ErrNoChannel
}
func (m *memSources) Rules(context.Context, int64) (policy.Rules, error) {
	m.loads.Add(1)
	m.mu.Lock()
	block, r := m.block, m.rules
	m.mu.Unlock()
	if block != nil {
		<-block
		m.mu.Lock()
		r = m.rules
		m.mu.Unlock()
	}
	return r, nil
}
func (m *memSources) Moderators(context.Context, int64) ([]policy.User, error) { return nil, nil }
func (m *memSources) ListSanctions(context.Context, int64, time.Time) ([]moderation.Sanction, error) {
	return nil, nil
}
func (m *memSources) Follows(context.Context, int64, int64) (bool, error) {
	m.standings.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.follows, nil
}
func (m *memSources) Standing(context.Context, int64, int64, string) (policy.FanBadge, error) {
	return policy.FanBadge{}, nil
}

func newTestContext(t *testing.T) (*chatContext, *memSources) {
	src := &memSources{rules: policy.Rules{MaxLength: 100}, slugs: map[string]int64{"a": 7}}
	c := newChatContext(src, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(c.close)
	return c, src
}

func TestChatContextLoadsOnceForManyCallers(t *testing.T) {
	c, src := newTestContext(t)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, err := c.room(context.Background(), "a"); err != nil || st.channelID != 7 {
				t.Errorf("room: %v %+v", err, st)
			}
		}()
	}
	wg.Wait()
	if n := src.loads.Load(); n != 1 {
		t.Fatalf("50 concurrent first uses loaded %d times, want 1", n)
	}
	if _, err := c.room(context.Background(), "missing"); err != policy.ErrNoChannel {
		t.Fatalf("unknown room: %v", err)
	}
}

func TestChatContextEventIsReadBack(t *testing.T) {
	c, src := newTestContext(t)
	if _, err := c.room(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	src.rules.MaxLength = 5
	src.mu.Unlock()
	c.onEvent(bus.Event{Type: bus.RulesChanged, ChannelID: 7})
	st, err := c.room(context.Background(), "a")
	if err != nil || st.rules.MaxLength != 5 {
		t.Fatalf("the use after the event saw %+v (%v), want the new rules", st, err)
	}
	// Another channel's event reloads nothing here.
	before := src.loads.Load()
	c.onEvent(bus.Event{Type: bus.RulesChanged, ChannelID: 8})
	if _, err := c.room(context.Background(), "a"); err != nil || src.loads.Load() != before {
		t.Fatalf("an event of another channel reloaded this one (%d → %d loads)", before, src.loads.Load())
	}
}

// An event that arrives while a reload is reading waits for one more reload:
// the first may have read before the change.
func TestChatContextEventDuringReload(t *testing.T) {
	c, src := newTestContext(t)
	if _, err := c.room(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	block := make(chan struct{})
	src.mu.Lock()
	src.block = block
	src.mu.Unlock()
	c.onEvent(bus.Event{Type: bus.RulesChanged, ChannelID: 7}) // reload 1 starts and blocks
	waitUntil(t, func() bool { return src.loads.Load() == 2 })
	src.mu.Lock()
	src.rules.MaxLength = 9
	src.block = nil
	src.mu.Unlock()
	c.onEvent(bus.Event{Type: bus.RulesChanged, ChannelID: 7}) // during reload 1
	close(block)
	st, err := c.room(context.Background(), "a")
	if err != nil || st.rules.MaxLength != 9 {
		t.Fatalf("after two events saw %+v (%v), want max_length 9", st, err)
	}
	if n := src.loads.Load(); n != 3 {
		t.Fatalf("%d loads, want 3 (first, the blocked reload, one more)", n)
	}
}

func TestChatContextDropsRenamedRoomAndStaleValues(t *testing.T) {
	c, src := newTestContext(t)
	if _, err := c.room(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	delete(src.slugs, "a") // renamed
	src.mu.Unlock()
	c.onEvent(bus.Event{Type: bus.ChannelChanged, ChannelID: 7})
	if _, err := c.room(context.Background(), "a"); err != policy.ErrNoChannel {
		t.Fatalf("a renamed room: %v", err)
	}
	// A standing older than contextMaxAge is served at once and reloaded.
	src.mu.Lock()
	src.slugs["b"] = 9
	src.mu.Unlock()
	room, err := c.room(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.standing(context.Background(), 3, room); err != nil {
		t.Fatal(err)
	}
	c.standings.mu.Lock()
	c.standings.m[standingKey{3, 9}].val.loadedAt = time.Now().Add(-2 * contextMaxAge)
	c.standings.mu.Unlock()
	src.mu.Lock()
	src.follows = true
	src.mu.Unlock()
	if st, _ := c.standing(context.Background(), 3, room); st.follows {
		t.Fatal("a stale standing waited for its reload")
	}
	waitUntil(t, func() bool { st, _ := c.standing(context.Background(), 3, room); return st.follows })
	if n := src.standings.Load(); n != 2 {
		t.Fatalf("%d standing loads, want 2", n)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// A sender's standing changes with every gift: the events only mark it, and
// their next message reloads it once (and sees the change).
func TestChatContextStandingReloadsLazily(t *testing.T) {
	c, src := newTestContext(t)
	room, err := c.room(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.standing(context.Background(), 3, room); err != nil || st.follows {
		t.Fatalf("first load: %+v %v", st, err)
	}
	src.mu.Lock()
	src.follows = true
	src.mu.Unlock()
	for i := 0; i < 100; i++ { // a gift storm
		c.onEvent(bus.Event{Type: bus.StandingChanged, ChannelID: 7, UserID: 3})
	}
	if n := src.standings.Load(); n != 1 {
		t.Fatalf("events alone loaded the standing %d times, want only the first load", n)
	}
	if st, err := c.standing(context.Background(), 3, room); err != nil || !st.follows {
		t.Fatalf("the next use after the events: %+v %v, want the new standing", st, err)
	}
	if st, _ := c.standing(context.Background(), 3, room); !st.follows || src.standings.Load() != 2 {
		t.Fatalf("%d standing loads, want 2", src.standings.Load())
	}
}
