package room

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/bus"
)

// What the gateway keeps per connection beyond the socket: who is on it
// (re-checked when their identity changes), where it comes from (capped per
// address) and how fast it taps like.

// identityRecheck is how often an authenticated connection re-reads its
// identity even without an event: NATS core delivers at most once, and a
// password reset from the CLI reaches no bus.
const identityRecheck = 5 * time.Minute

// admit registers c under its address and account. It reports false when
// the address already holds the cap of open connections on this node.
func (g *Gateway) admit(c *client) bool {
	limit := g.svc.accounts.RoomConnectionsPerIP()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perIP[c.ip] >= limit {
		return false
	}
	g.perIP[c.ip]++
	g.clients[c] = struct{}{}
	if c.userID != 0 {
		set := g.byUser[c.userID]
		if set == nil {
			set = map[*client]struct{}{}
			g.byUser[c.userID] = set
		}
		set[c] = struct{}{}
	}
	return true
}

// release forgets c.
func (g *Gateway) release(c *client) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.clients, c)
	if g.perIP[c.ip]--; g.perIP[c.ip] <= 0 {
		delete(g.perIP, c.ip)
	}
	if set := g.byUser[c.userID]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(g.byUser, c.userID)
		}
	}
}

// onIdentity hears an account's identity change (on any node) and
// re-checks that account's connections here.
func (g *Gateway) onIdentity(ch bus.Event) {
	if ch.UserID == 0 {
		return
	}
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		return
	}
	conns := make([]*client, 0, len(g.byUser[ch.UserID]))
	for c := range g.byUser[ch.UserID] {
		conns = append(conns, c)
	}
	if len(conns) == 0 {
		g.mu.Unlock()
		return
	}
	g.wg.Add(1)
	g.mu.Unlock()
	// Off the bus's delivery goroutine: the re-check reads the database.
	go func() {
		defer g.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, c := range conns {
			g.recheck(ctx, c)
		}
	}()
}

// recheck re-reads who is on c: a login that ended closes the connection
// (CloseLoginEnded); changed roles or a platform ban apply from its next
// frame, and the client hears of them in an "account" frame.
func (g *Gateway) recheck(ctx context.Context, c *client) {
	old := *c.principal.Load()
	p, err := g.svc.accounts.Refresh(ctx, old)
	switch {
	case errors.Is(err, account.ErrIdentityGone):
		c.kill(CloseLoginEnded, "your login has ended; reconnect")
	case err != nil:
		g.log.Error("re-check a connection's identity", "user", c.userID, "err", err) // tried again later
	default:
		c.principal.Store(&p)
		if p.User != nil && old.User != nil && (p.PlatformBanned != old.PlatformBanned || !slices.Equal(p.User.Roles(), old.User.Roles())) {
			g.send(c, map[string]any{"type": "account", "roles": p.User.Roles(), "platform_banned": p.PlatformBanned})
		}
	}
	c.checkedAt.Store(time.Now().UnixMilli())
}

// recheckIfStale is the safety net for a lost identity event.
func (g *Gateway) recheckIfStale(ctx context.Context, c *client, now time.Time) {
	if c.userID != 0 && now.Sub(time.UnixMilli(c.checkedAt.Load())) > identityRecheck {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		g.recheck(ctx, c)
	}
}

// Likes over the WebSocket cost what they cost over HTTP: a connection may
// report once a second (a burst of likeBurst), each report at most
// MaxLikesPerFrame taps; the rest is dropped and counted. Whether the viewer
// may like (logged in, not banned, channel not disabled) is asked again at
// most every likeRecheck, so tapping costs no query per frame.
const (
	likeEvery   = time.Second
	likeBurst   = 2
	likeRecheck = 15 * time.Second
)

// likeGate is one connection's like state; only its reader touches it.
type likeGate struct {
	tokens       float64
	refilled     time.Time
	channelID    int64
	allowedUntil time.Time
}

// take reports whether a report may pass now.
func (l *likeGate) take(now time.Time) bool {
	if l.refilled.IsZero() {
		l.tokens = likeBurst
	} else {
		l.tokens = min(likeBurst, l.tokens+float64(now.Sub(l.refilled))/float64(likeEvery))
	}
	l.refilled = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

func (g *Gateway) like(ctx context.Context, c *client, slug string, f Frame, now time.Time) {
	if f.Count < 1 {
		g.fail(c, f.Nonce, "bad_count", "count must be 1 to 50")
		return
	}
	if !c.likes.take(now) {
		g.svc.likesDropped.Add(int64(f.Count))
		return
	}
	n := min(f.Count, MaxLikesPerFrame)
	g.svc.likesDropped.Add(int64(f.Count - n))
	if now.After(c.likes.allowedUntil) {
		chID, err := g.svc.authorizeLike(ctx, slug)
		if err != nil {
			c.likes.allowedUntil = time.Time{}
			g.refuse(c, f.Nonce, err)
			return
		}
		c.likes.channelID, c.likes.allowedUntil = chID, now.Add(likeRecheck)
	}
	g.svc.countLikes(slug, c.likes.channelID, n)
}
