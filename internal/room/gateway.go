package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/moderation"
	"github.com/livehouse/livehouse/internal/policy"
)

// ProtocolVersion is the WebSocket protocol in docs/protocol.md.
const ProtocolVersion = 1

// Close codes (docs/protocol.md says which to retry).
const (
	CloseBadFrame     websocket.StatusCode = 4400 // do not retry the same frames
	CloseLoginEnded   websocket.StatusCode = 4401 // log-out, password change, deleted account, revoked token: reconnect (as who you now are)
	CloseRoomNotFound websocket.StatusCode = 4404 // do not retry
	CloseSlowConsumer websocket.StatusCode = 4408 // retry, resuming from the last id
	CloseIdle         websocket.StatusCode = 4410 // no frames for too long; retry
	CloseTooMany      websocket.StatusCode = 4429 // too many connections from this address: close others, retry later
)

const (
	maxFrame      = 4 << 10
	replayLimit   = 200
	recentOnJoin  = 50
	idleTimeout   = 90 * time.Second // clients ping every 30 s
	heldFramesMax = 64
	// giftReplayWindow is how far back a joining viewer sees gifts.
	giftReplayWindow = time.Minute
)

// Gateway is the /ws endpoint. It owns every connection it accepted, so
// Close can end them all.
type Gateway struct {
	svc *Service
	hub *Hub
	log *slog.Logger

	stopTail  func()       // the durable room events' tail
	recent    recentEvents // what the tail saw lately, for joins
	closeTail sync.Once

	mu      sync.Mutex
	clients map[*client]struct{}
	byUser  map[int64]map[*client]struct{} // logged-in connections by account
	perIP   map[string]int                 // open connections by client address
	closing bool
	wg      sync.WaitGroup // one per open connection

	poll      *poller // nil: every connection reads on its own goroutine
	stopSweep chan struct{}
	swept     chan struct{}
	stopOnce  sync.Once
}

// NewGateway serves WebSocket viewers for svc through hub. It listens on the
// bus for identity changes, so a log-out, ban or deletion on any node
// reaches the account's open connections here.
func NewGateway(svc *Service, hub *Hub, log *slog.Logger) (*Gateway, error) {
	g := &Gateway{svc: svc, hub: hub, log: log, clients: map[*client]struct{}{},
		byUser: map[int64]map[*client]struct{}{}, perIP: map[string]int{}}
	hub.observe = svc.ids.observe // ids stay causal across nodes (see idSource)
	if err := svc.bus.Subscribe(g.onIdentity, bus.IdentityChanged); err != nil {
		return nil, err
	}
	// Gifts and memberships are durable events: every node shows each new
	// one to its viewers of that room.
	stop, err := svc.bus.Tail(func(e bus.Event) {
		g.recent.add(e, time.Now())
		hub.deliverToChannel(e.ChannelID, e.Payload)
	}, roomEventTypes...)
	if err != nil {
		return nil, err
	}
	g.stopTail = stop
	g.stopSweep, g.swept = make(chan struct{}), make(chan struct{})
	if p, err := newPoller(g.onReadable); err == nil {
		g.poll = p
	} else {
		log.Info("WebSocket connections read on a goroutine each", "why", err)
	}
	go g.sweepIdle()
	return g, nil
}

// Frame is a client-to-server message (docs/protocol.md).
type Frame struct {
	Type  string `json:"type"`
	Room  string `json:"room,omitempty"`
	After string `json:"after,omitempty"`
	Text  string `json:"text,omitempty"`
	Color string `json:"color,omitempty"`
	Mode  string `json:"mode,omitempty"`
	Nonce string `json:"nonce,omitempty"`
	ID    string `json:"id,omitempty"`
	Count int    `json:"count,omitempty"`
	// ReplyTo (send): the id of the message answered.
	ReplyTo string `json:"reply_to,omitempty"`
}

// DecodeFrame parses one client frame strictly.
func DecodeFrame(data []byte) (Frame, error) {
	var f Frame
	if len(data) > maxFrame {
		return f, errors.New("frame too large")
	}
	dec := json.NewDecoder(bytesReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("frame is not a JSON object of the protocol: %v", err)
	}
	if dec.More() {
		return f, errors.New("one JSON object per frame")
	}
	switch f.Type {
	case "join", "send", "delete", "ping", "like":
	default:
		return f, fmt.Errorf("unknown frame type %q", clip(f.Type, 20))
	}
	if len(f.Nonce) > 64 {
		return f, errors.New("nonce longer than 64 bytes")
	}
	return f, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ServeHTTP upgrades to WebSocket and hands the connection to the poller:
// from here on it owns no goroutine while it is idle.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	accept, status, err := handshake(r)
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	g.wg.Add(1) // done when the connection ends (Gateway.ended)
	g.mu.Unlock()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		g.wg.Done()
		http.Error(w, "WebSocket upgrade: "+err.Error(), http.StatusInternalServerError)
		return
	}
	// The HTTP server's deadlines do not apply to a WebSocket.
	_ = conn.SetDeadline(time.Time{})
	// A client may send its first frames right behind the handshake.
	var early []byte
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ = brw.Reader.Peek(n)
		early = append([]byte(nil), early...)
	}
	c := newClient(g, conn, g.hub.queueLen, g.poll != nil)
	c.ip = account.ClientIP(r)
	// The principal (session cookie or bearer token) was resolved by the
	// account middleware on the upgrade request.
	p := policy.PrincipalFrom(r.Context())
	c.userID = p.UserID()
	c.principal.Store(&p)
	c.checkedAt.Store(time.Now().UnixMilli())
	if _, err := conn.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n")); err != nil {
		_ = conn.Close()
		g.wg.Done()
		return
	}
	// Watched before anything can end it (a closed descriptor must never
	// be added); input waits until the early frames are handled.
	c.reading.Store(true)
	if c.raw != nil && g.poll.add(c) != nil {
		c.raw = nil
	}
	c.admitted = g.admit(c)
	if !c.admitted {
		c.kill(CloseTooMany, "too many connections from your address")
	} else {
		g.send(c, map[string]any{"type": "welcome", "protocol": ProtocolVersion})
		if len(early) > 0 {
			g.input(c, early)
		}
	}
	if c.raw == nil {
		go g.readBlocking(c)
		return
	}
	c.reading.Store(false)
	if !c.isEnded() {
		g.poll.rearm(c) // input that came meanwhile fires at once
	}
}

// ended lets go of a connection that closed.
func (g *Gateway) ended(c *client) {
	if r := c.joined.Swap(nil); r != nil {
		g.hub.leave(r, c)
	}
	if c.admitted {
		g.release(c)
	}
	g.wg.Done()
}

// sweepIdle cuts connections that sent nothing for idleTimeout (clients
// ping every 30 s); one goroutine for all of them instead of a timer each.
func (g *Gateway) sweepIdle() {
	defer close(g.swept)
	tick := time.NewTicker(idleSweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-g.stopSweep:
			return
		case now := <-tick.C:
			limit := now.Add(-idleTimeout).UnixMilli()
			var idle []*client
			g.mu.Lock()
			for c := range g.clients {
				if c.lastRead.Load() < limit {
					idle = append(idle, c)
				}
			}
			g.mu.Unlock()
			for _, c := range idle {
				c.kill(CloseIdle, "no frames for 90 s")
			}
		}
	}
}

const idleSweepEvery = 5 * time.Second

func (g *Gateway) send(c *client, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		g.log.Error("encode frame", "err", err)
		return
	}
	c.deliver(textFrame(data))
}

// handle runs one client frame, on the goroutine its input woke.
func (g *Gateway) handle(c *client, data []byte) {
	ctx := c.ctx
	f, err := DecodeFrame(data)
	if err != nil {
		c.kill(CloseBadFrame, clip(err.Error(), 120))
		return
	}
	now := time.Now()
	g.recheckIfStale(ctx, c, now)
	fctx := policy.WithPrincipal(ctx, *c.principal.Load())
	joined := c.joined.Load()
	switch f.Type {
	case "ping":
		g.send(c, map[string]string{"type": "pong"})
	case "join":
		if joined != nil {
			c.kill(CloseBadFrame, "one room per connection")
			return
		}
		if r := g.join(fctx, c, f); r != nil {
			c.joined.Store(r)
			// The connection may have ended while joining: leave for it.
			if c.isEnded() && c.joined.CompareAndSwap(r, nil) {
				g.hub.leave(r, c)
			}
		}
	case "send":
		if joined == nil {
			g.fail(c, f.Nonce, "not_joined", "join a room first")
			return
		}
		m, err := g.svc.Post(fctx, joined.slug, PostInput{Text: f.Text, Color: f.Color, Mode: f.Mode, ReplyTo: f.ReplyTo})
		var held *Held
		if errors.As(err, &held) { // pending review: an ack, not a refusal
			g.send(c, map[string]string{"type": "held", "nonce": f.Nonce, "ticket": held.Ticket})
			return
		}
		if err != nil {
			g.refuse(c, f.Nonce, err)
			return
		}
		g.send(c, map[string]string{"type": "sent", "nonce": f.Nonce, "id": strconv.FormatInt(m.ID, 10)})
	case "like":
		if joined == nil {
			g.fail(c, f.Nonce, "not_joined", "join a room first")
			return
		}
		g.like(fctx, c, joined.slug, f, now)
	case "delete":
		id, err := strconv.ParseInt(f.ID, 10, 64)
		if joined == nil || err != nil {
			g.fail(c, f.Nonce, "bad_request", "join a room and give the message id")
			return
		}
		if err := g.svc.Delete(fctx, joined.slug, id); err != nil {
			g.refuse(c, f.Nonce, err)
			return
		}
		g.send(c, map[string]string{"type": "deleted", "nonce": f.Nonce, "id": f.ID})
	}
}

func (g *Gateway) fail(c *client, nonce, code, msg string) {
	g.send(c, map[string]string{"type": "error", "nonce": nonce, "code": code, "message": msg})
}

// refuse answers a refused frame; a refusal by the policy also says why
// ("reason": muted, channel_banned, platform_banned) when it is one of those.
func (g *Gateway) refuse(c *client, nonce string, err error) {
	code, msg := ErrorCode(err)
	frame := map[string]string{"type": "error", "nonce": nonce, "code": code, "message": msg}
	if kind := policy.DenialKind(err); kind != "" {
		frame["reason"] = kind
	}
	var b *moderation.Blocked
	if errors.As(err, &b) { // the category, never the term; the ticket to appeal
		frame["category"], frame["ticket"] = b.Category, b.Ticket
	}
	g.send(c, frame)
}

// Connections is how many WebSockets are open (parked or reading).
func (g *Gateway) Connections() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.clients)
}

// MoveViewers closes every open connection with 1001 over spread (so
// they do not all reconnect in the same instant), for a draining node:
// clients reconnect and resume, through the proxy, on another node. New
// joins are refused by then (503 node_draining). It returns when all are
// told, or ctx ends.
func (g *Gateway) MoveViewers(ctx context.Context, spread time.Duration) {
	g.mu.Lock()
	open := make([]*client, 0, len(g.clients))
	for c := range g.clients {
		open = append(open, c)
	}
	g.mu.Unlock()
	if len(open) == 0 {
		return
	}
	gap := spread / time.Duration(len(open))
	for i, c := range open {
		if i > 0 && gap > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(gap):
			}
		}
		c.kill(websocket.StatusGoingAway, "node draining; reconnect and resume")
	}
}

// Close tells every viewer the server is going away and waits for their
// connections to end, or ctx.
func (g *Gateway) Close(ctx context.Context) error {
	g.closeTail.Do(func() {
		if g.stopTail != nil {
			g.stopTail()
		}
	})
	g.mu.Lock()
	g.closing = true
	open := make([]*client, 0, len(g.clients))
	for c := range g.clients {
		open = append(open, c)
	}
	g.mu.Unlock()
	// Outside g.mu: a connection that ends at once releases itself under it.
	for _, c := range open {
		c.kill(websocket.StatusGoingAway, "server restarting; reconnect and resume")
	}
	done := make(chan struct{})
	go func() { g.wg.Wait(); g.hub.Wait(); close(done) }()
	select {
	case <-done:
		g.stopOnce.Do(func() {
			close(g.stopSweep)
			<-g.swept
			if g.poll != nil {
				g.poll.close()
			}
		})
		return nil
	case <-ctx.Done():
		return fmt.Errorf("WebSocket gateway: connections still closing: %w", ctx.Err())
	}
}

// ErrorCode maps a refusal to the protocol's error code and text.
func ErrorCode(err error) (string, string) {
	var rv *policy.RuleViolation
	var p *httpjson.Problem
	switch d, denied := policy.IsDenied(err); {
	case denied && d.Anonymous:
		return "login_required", d.Reason
	case denied:
		return "forbidden", d.Reason
	case errors.As(err, &rv):
		return rv.Code, rv.Msg
	case errors.As(err, new(*moderation.Blocked)):
		return moderation.CodeBlocked, err.Error()
	case errors.Is(err, policy.ErrNoChannel):
		return "room_not_found", "no such room"
	case errors.Is(err, policy.ErrChannelDisabled):
		return "channel_disabled", err.Error()
	case errors.Is(err, ErrNoMessage):
		return "message_not_found", err.Error()
	case errors.As(err, &p) && p.Status < 500: // a message's form (hygiene), other input
		return p.Code, p.Message
	}
	return "internal", "internal error"
}
