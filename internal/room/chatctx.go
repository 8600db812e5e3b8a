package room

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/moderation"
	"github.com/livehouse/livehouse/internal/policy"
)

// The chat context: what a danmaku check needs, kept in this node's memory
// so a message costs no query before its insert. Per room: the channel
// (id, owner, disabled), its rules, moderators and the mutes and bans in
// force. Per sender and room: whether they follow and their fan badge.
//
// Entries load on first use (a viewer joining loads both before speaking).
// An event on the bus (bus.RulesChanged, …, bus.StandingChanged) reloads
// what it touches, and a check that comes after the event waits for that
// reload — the node where a moderator mutes someone refuses that person's
// next message, and other nodes within the event's flight time. An entry
// older than contextMaxAge is also reloaded, in the background, in case an
// event was lost (NATS core delivers at most once).

// chatSources are where the context is read from: the channel, moderation,
// social and money domains (see sources).
type chatSources interface {
	OpenChannel(ctx context.Context, slug string) (channelID, ownerID int64, err error)
	ChannelSlug(ctx context.Context, channelID int64) (string, error)
	Rules(ctx context.Context, channelID int64) (policy.Rules, error)
	Moderators(ctx context.Context, channelID int64) ([]policy.User, error)
	ListSanctions(ctx context.Context, channelID int64, now time.Time) ([]moderation.Sanction, error)
	Follows(ctx context.Context, userID, channelID int64) (bool, error)
	Standing(ctx context.Context, userID, channelID int64, slug string) (policy.FanBadge, error)
}

const (
	// contextMaxAge: an entry this old is reloaded in the background on its
	// next use (the safety net for a lost event).
	contextMaxAge = time.Minute
	// contextIdle: entries unused this long are forgotten.
	contextIdle = 10 * time.Minute
)

// roomState is one room's context, replaced whole on reload.
type roomState struct {
	slug      string
	channelID int64
	ownerID   int64
	disabled  bool
	rules     policy.Rules
	mods      map[int64]bool
	sanctions map[int64][]moderation.Sanction // by user: channel mutes and bans
	loadedAt  time.Time
}

// roles is what the policy needs to know about userID here at now.
func (st *roomState) roles(userID int64, now time.Time) policy.ChannelRoles {
	r := policy.ChannelRoles{ChannelID: st.channelID, OwnerID: st.ownerID, IsModerator: st.mods[userID]}
	for _, sn := range st.sanctions[userID] {
		if sn.ExpiresAt != nil && !now.Before(*sn.ExpiresAt) {
			continue
		}
		switch sn.Kind {
		case "mute":
			r.Muted = true
		case "ban":
			r.Banned = true
		}
	}
	return r
}

// standing is a sender's standing in one room.
type standing struct {
	follows  bool
	badge    policy.FanBadge
	loadedAt time.Time
}

type standingKey struct{ user, channel int64 }

// chatContext is the node's chat context.
type chatContext struct {
	src chatSources
	log *slog.Logger

	rooms     *cache[string, roomState]
	standings *cache[standingKey, standing]

	wg   sync.WaitGroup // background reloads and the sweeper
	stop chan struct{}
}

func newChatContext(src chatSources, log *slog.Logger) *chatContext {
	c := &chatContext{src: src, log: log, stop: make(chan struct{})}
	c.rooms = newCache(c, "room", c.loadRoom, func(st *roomState) time.Time { return st.loadedAt })
	c.rooms.drop = func(err error) bool { return errors.Is(err, policy.ErrNoChannel) } // renamed or deleted
	c.standings = newCache(c, "standing", c.loadStanding, func(st *standing) time.Time { return st.loadedAt })
	return c
}

// listen reloads what the bus says changed, and forgets idle entries.
func (c *chatContext) listen(b *bus.Bus) error {
	if err := b.Subscribe(c.onEvent, bus.RulesChanged, bus.ModeratorsChanged, bus.SanctionsChanged,
		bus.ChannelChanged, bus.MedalChanged, bus.StandingChanged); err != nil {
		return err
	}
	c.wg.Add(1)
	go c.sweep()
	return nil
}

// close stops the sweeper and background reloads and waits for them; later
// events are ignored.
func (c *chatContext) close() {
	c.rooms.mu.Lock()
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.rooms.mu.Unlock()
	c.standings.mu.Lock() // no reload starts after this
	c.standings.mu.Unlock()
	c.wg.Wait()
}

func (c *chatContext) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

func (c *chatContext) sweep() {
	defer c.wg.Done()
	tick := time.NewTicker(contextIdle / 2)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-tick.C:
			c.rooms.forgetIdle(now)
			c.standings.forgetIdle(now)
		}
	}
}

// onEvent reloads the rooms and standings an event touches.
func (c *chatContext) onEvent(e bus.Event) {
	switch e.Type {
	case bus.StandingChanged:
		// Lazily: a storm of gifts must not become a storm of reloads; the
		// sender's next message reloads their standing (and waits for it).
		c.standings.invalidate(standingKey{e.UserID, e.ChannelID})
	case bus.MedalChanged: // every badge in the channel shows the medal's name
		for _, k := range c.standings.keys(func(k standingKey, _ *standing) bool { return k.channel == e.ChannelID }) {
			c.standings.invalidate(k)
		}
	default: // the room itself
		for _, slug := range c.rooms.keys(func(_ string, st *roomState) bool { return st.channelID == e.ChannelID }) {
			c.rooms.reload(slug, true)
		}
	}
}

// room returns the room's context, loading it on first use.
func (c *chatContext) room(ctx context.Context, slug string) (*roomState, error) {
	return c.rooms.get(ctx, slug)
}

// standing returns a sender's standing in a room, loading it on first use.
func (c *chatContext) standing(ctx context.Context, userID int64, room *roomState) (*standing, error) {
	return c.standings.get(ctx, standingKey{userID, room.channelID})
}

func (c *chatContext) loadRoom(ctx context.Context, slug string) (*roomState, error) {
	now := time.Now()
	st := &roomState{slug: slug, loadedAt: now, mods: map[int64]bool{}, sanctions: map[int64][]moderation.Sanction{}}
	var err error
	st.channelID, st.ownerID, err = c.src.OpenChannel(ctx, slug)
	if errors.Is(err, policy.ErrChannelDisabled) {
		st.disabled, err = true, nil
	}
	if err != nil {
		return nil, err
	}
	if st.rules, err = c.src.Rules(ctx, st.channelID); err != nil {
		return nil, fmt.Errorf("load rules of %q: %w", slug, err)
	}
	mods, err := c.src.Moderators(ctx, st.channelID)
	if err != nil {
		return nil, fmt.Errorf("load moderators of %q: %w", slug, err)
	}
	for _, m := range mods {
		st.mods[m.ID] = true
	}
	sanctions, err := c.src.ListSanctions(ctx, st.channelID, now)
	if err != nil {
		return nil, fmt.Errorf("load sanctions of %q: %w", slug, err)
	}
	for _, sn := range sanctions {
		st.sanctions[sn.UserID] = append(st.sanctions[sn.UserID], sn)
	}
	return st, nil
}

func (c *chatContext) loadStanding(ctx context.Context, k standingKey) (*standing, error) {
	// The slug names a medal that has no name of its own.
	slug := ""
	if rooms := c.rooms.keys(func(_ string, st *roomState) bool { return st.channelID == k.channel }); len(rooms) > 0 {
		slug = rooms[0]
	} else if s, err := c.src.ChannelSlug(ctx, k.channel); err == nil {
		slug = s
	}
	st := &standing{loadedAt: time.Now()}
	var err error
	if st.follows, err = c.src.Follows(ctx, k.user, k.channel); err != nil {
		return nil, fmt.Errorf("load follow: %w", err)
	}
	if st.badge, err = c.src.Standing(ctx, k.user, k.channel, slug); err != nil {
		return nil, err
	}
	return st, nil
}

// cache holds values of T by K for the chat context: the first use loads
// while others wait; reload runs in the background, and a reload asked for
// by an event (fresh) is waited for by uses that come after it.
type cache[K comparable, T any] struct {
	owner  *chatContext
	what   string
	load   func(context.Context, K) (*T, error)
	loaded func(*T) time.Time
	drop   func(error) bool // a reload error that removes the entry

	mu sync.Mutex
	m  map[K]*entry[T]
}

type entry[T any] struct {
	ready   chan struct{} // closed when the first load is done
	val     *T            // mu
	err     error         // first load's error; set before ready closes
	used    time.Time     // mu
	running bool          // mu: a reload runs
	stale   bool          // mu: changed; the next use reloads and waits
	waitFor chan struct{} // mu: the reload uses must wait for (an event asked for it)
	next    chan struct{} // mu: an event came during a reload: run again, then close this
}

func newCache[K comparable, T any](owner *chatContext, what string, load func(context.Context, K) (*T, error), loaded func(*T) time.Time) *cache[K, T] {
	return &cache[K, T]{owner: owner, what: what, load: load, loaded: loaded, m: map[K]*entry[T]{}}
}

func (c *cache[K, T]) get(ctx context.Context, k K) (*T, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[k]
	if !ok {
		e = &entry[T]{ready: make(chan struct{}), used: now}
		c.m[k] = e
		c.mu.Unlock()
		v, err := c.load(ctx, k)
		c.mu.Lock()
		e.val, e.err = v, err
		if err != nil && c.m[k] == e {
			delete(c.m, k) // not kept: the next use asks again
		}
		c.mu.Unlock()
		close(e.ready)
		return v, err
	}
	e.used = now
	if e.stale && e.val != nil {
		e.stale = false
		c.reloadLocked(k, e, true)
	}
	wait := e.waitFor
	c.mu.Unlock()
	for _, ch := range []chan struct{}{e.ready, wait} {
		if ch == nil {
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if e.err != nil {
		return nil, e.err
	}
	c.mu.Lock()
	v, gone := e.val, c.m[k] != e
	c.mu.Unlock()
	if gone { // a reload found it gone (a renamed room): ask afresh
		return c.get(ctx, k)
	}
	if now.Sub(c.loaded(v)) > contextMaxAge {
		c.reload(k, false)
	}
	return v, nil
}

// invalidate marks k changed: its next use reloads it and waits.
func (c *cache[K, T]) invalidate(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		e.stale = true
	}
}

// reload reloads k in the background; the loaded value serves meanwhile
// unless fresh (an event changed it), when uses wait for the new one.
func (c *cache[K, T]) reload(k K, fresh bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || e.val == nil {
		return
	}
	c.reloadLocked(k, e, fresh)
}

// reloadLocked is reload for callers holding mu.
func (c *cache[K, T]) reloadLocked(k K, e *entry[T], fresh bool) {
	if c.owner.stopped() {
		return
	}
	if e.running {
		if fresh { // the running reload may have read before the change
			if e.next == nil {
				e.next = make(chan struct{})
			}
			e.waitFor = e.next
		}
		return
	}
	done := make(chan struct{})
	if fresh {
		e.waitFor = done
	}
	c.start(k, e, done)
}

// start runs one reload of e (callers hold mu).
func (c *cache[K, T]) start(k K, e *entry[T], done chan struct{}) {
	e.running = true
	c.owner.wg.Add(1)
	go func() {
		defer c.owner.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		v, err := c.load(ctx, k)
		cancel()
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case err != nil && c.drop != nil && c.drop(err):
			if c.m[k] == e {
				delete(c.m, k)
			}
		case err != nil:
			c.owner.log.Warn("reload chat context; keeping the one loaded", "what", c.what, "err", err)
		default:
			e.val = v
		}
		close(done)
		if e.waitFor == done {
			e.waitFor = nil
		}
		e.running = false
		if next := e.next; next != nil && !c.owner.stopped() {
			e.next = nil
			c.start(k, e, next)
		} else if next != nil {
			close(next)
		}
	}()
}

// keys lists the loaded keys whose values match.
func (c *cache[K, T]) keys(match func(K, *T) bool) []K {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []K
	for k, e := range c.m {
		if e.val != nil && match(k, e.val) {
			out = append(out, k)
		}
	}
	return out
}

// forgetIdle drops entries unused for contextIdle.
func (c *cache[K, T]) forgetIdle(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.val != nil && !e.running && now.Sub(e.used) > contextIdle {
			delete(c.m, k)
		}
	}
}
