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
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/httpjson"
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
	wg      sync.WaitGroup
}

// NewGateway serves WebSocket viewers for svc through hub. It listens on the
// bus for identity changes, so a log-out, ban or deletion on any node
// reaches the account's open connections here.
func NewGateway(svc *Service, hub *Hub, log *slog.Logger) (*Gateway, error) {
	g := &Gateway{svc: svc, hub: hub, log: log, clients: map[*client]struct{}{},
		byUser: map[int64]map[*client]struct{}{}, perIP: map[string]int{}}
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
	return g, nil
}

// client is one WebSocket connection.
type client struct {
	ws  *websocket.Conn
	out chan []byte

	ip     string
	userID int64 // 0: anonymous or the admin token
	// principal is who the connection acts as; replaced when a re-check
	// finds roles or a ban changed.
	principal atomic.Pointer[policy.Principal]
	checkedAt atomic.Int64 // Unix ms of the last identity re-check
	likes     likeGate     // reader goroutine only

	mu        sync.Mutex
	replaying bool     // frames arrive while the join replay is being sent
	held      [][]byte // those frames, filtered against the replay later
	gone      bool

	once sync.Once
	done chan struct{}
	code websocket.StatusCode
	why  string

	// writeCtx aborts a write stuck on a peer that stopped reading; kill
	// cancels it. (No per-write timer: at a million deliveries a second the
	// timers cost more than the writes.)
	writeCtx    context.Context
	writeCancel context.CancelFunc
}

// deliver queues a frame without ever blocking the room.
func (c *client) deliver(frame []byte) {
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return
	}
	if c.replaying {
		if len(c.held) >= heldFramesMax {
			c.mu.Unlock()
			c.kill(CloseSlowConsumer, "too slow to catch up")
			return
		}
		c.held = append(c.held, frame)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	select {
	case c.out <- frame:
	default:
		c.kill(CloseSlowConsumer, "slow consumer: resume from your last id")
	}
}

// kill ends the connection with a code; the writer sends the close frame.
func (c *client) kill(code websocket.StatusCode, why string) {
	c.once.Do(func() {
		c.mu.Lock()
		c.gone = true
		c.mu.Unlock()
		c.code, c.why = code, why
		close(c.done)
		if c.writeCancel == nil {
			return
		}
		// A slow consumer's blocked write is abandoned at once. Otherwise a
		// write in flight may finish (cancelling it would drop the TCP
		// connection without the close frame the protocol promises); the
		// grace period bounds a peer that stopped reading.
		if code == CloseSlowConsumer || code == websocket.StatusGoingAway {
			c.writeCancel()
		} else {
			time.AfterFunc(closeGrace, c.writeCancel)
		}
	})
}

// closeGrace is how long a write in flight may take once a connection is
// being closed.
const closeGrace = 2 * time.Second

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

// ServeHTTP upgrades to WebSocket and runs the connection.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	g.wg.Add(1)
	g.mu.Unlock()
	defer g.wg.Done()

	// Same-origin only (the library's default): another site cannot open a
	// socket with a viewer's cookies.
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(maxFrame)
	// The principal (session cookie or bearer token) was resolved by the
	// account middleware on the upgrade request.
	p := policy.PrincipalFrom(r.Context())
	c := &client{ws: ws, out: make(chan []byte, g.hub.queueLen), done: make(chan struct{}), ip: account.ClientIP(r), userID: p.UserID()}
	c.principal.Store(&p)
	c.checkedAt.Store(time.Now().UnixMilli())
	if !g.admit(c) {
		_ = ws.Close(CloseTooMany, "too many connections from your address")
		return
	}
	defer g.release(c)
	c.writeCtx, c.writeCancel = context.WithCancel(context.Background())

	// Detached from the upgrade request's deadline; each frame runs as the
	// connection's current principal.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.writer(c)
	}()
	g.reader(ctx, c)
	c.kill(websocket.StatusNormalClosure, "")
	wg.Wait()
}

func (g *Gateway) writer(c *client) {
	for {
		select {
		case <-c.done: // closing wins over pending frames
			_ = c.ws.Close(c.code, c.why)
			return
		default:
		}
		select {
		case frame := <-c.out:
			if err := c.ws.Write(c.writeCtx, websocket.MessageText, frame); err != nil {
				c.kill(websocket.StatusGoingAway, "write failed")
			}
		case <-c.done:
			_ = c.ws.Close(c.code, c.why)
			return
		}
	}
}

func (g *Gateway) send(c *client, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		g.log.Error("encode frame", "err", err)
		return
	}
	c.deliver(data)
}

func (g *Gateway) reader(ctx context.Context, c *client) {
	g.send(c, map[string]any{"type": "welcome", "protocol": ProtocolVersion})
	var joined *liveRoom
	defer func() {
		if joined != nil {
			g.hub.leave(joined, c)
		}
	}()
	for {
		rctx, cancel := context.WithTimeout(ctx, idleTimeout)
		typ, data, err := c.ws.Read(rctx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				c.kill(CloseIdle, "no frames for 90 s")
			}
			return
		}
		if typ != websocket.MessageText {
			c.kill(CloseBadFrame, "text frames only")
			return
		}
		f, err := DecodeFrame(data)
		if err != nil {
			c.kill(CloseBadFrame, clip(err.Error(), 120))
			return
		}
		now := time.Now()
		g.recheckIfStale(ctx, c, now)
		fctx := policy.WithPrincipal(ctx, *c.principal.Load())
		switch f.Type {
		case "ping":
			g.send(c, map[string]string{"type": "pong"})
		case "join":
			if joined != nil {
				c.kill(CloseBadFrame, "one room per connection")
				return
			}
			if joined = g.join(fctx, c, f); joined == nil {
				return
			}
		case "send":
			if joined == nil {
				g.fail(c, f.Nonce, "not_joined", "join a room first")
				continue
			}
			m, err := g.svc.Post(fctx, joined.slug, PostInput{Text: f.Text, Color: f.Color, Mode: f.Mode, ReplyTo: f.ReplyTo})
			if err != nil {
				g.refuse(c, f.Nonce, err)
				continue
			}
			g.send(c, map[string]string{"type": "sent", "nonce": f.Nonce, "id": strconv.FormatInt(m.ID, 10)})
		case "like":
			if joined == nil {
				g.fail(c, f.Nonce, "not_joined", "join a room first")
				continue
			}
			g.like(fctx, c, joined.slug, f, now)
		case "delete":
			id, err := strconv.ParseInt(f.ID, 10, 64)
			if joined == nil || err != nil {
				g.fail(c, f.Nonce, "bad_request", "join a room and give the message id")
				continue
			}
			if err := g.svc.Delete(fctx, joined.slug, id); err != nil {
				g.refuse(c, f.Nonce, err)
				continue
			}
			g.send(c, map[string]string{"type": "deleted", "nonce": f.Nonce, "id": f.ID})
		}
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
	g.send(c, frame)
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
	for c := range g.clients {
		c.kill(websocket.StatusGoingAway, "server restarting; reconnect and resume")
	}
	g.mu.Unlock()
	done := make(chan struct{})
	go func() { g.wg.Wait(); g.hub.Wait(); close(done) }()
	select {
	case <-done:
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
