package app

import (
	"context"
	"net/http"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/live"
)

// drainGate stands in front of the WebSocket gateway: a draining node
// takes no new joins (503 node_draining, so the page asks the scheduler
// for another node).
type drainGate struct {
	drain *live.Drain
	next  http.Handler
}

func (g *drainGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.drain.Draining() {
		w.Header().Set("Retry-After", "1")
		httpjson.Fail(w, httpjson.NewProblem(http.StatusServiceUnavailable, "node_draining",
			"this node is shutting down: join through another node"))
		return
	}
	g.next.ServeHTTP(w, r)
}

// drainPoll is how often Drain looks whether viewers are still here.
const drainPoll = 200 * time.Millisecond

// drainSpread is how long a draining node takes to close its WebSockets,
// so their reconnects do not arrive on the others at once.
const drainSpread = 2 * time.Second

// drainQuiet is how long no player may have been served for a draining
// node to count its players gone: longer than a blocking playlist reload
// is held, so a player between two requests is not taken for gone.
const drainQuiet = 2 * time.Second

// Drain starts draining (no new publishers, players or WebSocket joins;
// the players here are moved to other nodes, see edge.moveOff) and waits
// until this node's players and WebSocket viewers have left or timeout
// passes (or ctx ends). Streams go on meanwhile: their publishers and
// viewers are moved elsewhere, or cut when the node shuts down.
func (a *App) Drain(ctx context.Context, timeout time.Duration) {
	a.drain.Start()
	a.Log.Warn("draining: refusing new publishers, players and WebSocket joins; moving players", "timeout", timeout)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	// WebSocket viewers reconnect and resume on another node (through the
	// proxy in front) once told: only when there is one to go to.
	if a.Edge.OthersServeViewers() {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go a.Gateway.MoveViewers(ctx, drainSpread)
	}
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		// Sockets are counted by the gateway: once upgraded they are parked
		// and the gate's ServeHTTP has returned.
		playing, sockets := a.Edge.PlayersServedWithin(drainQuiet), a.Gateway.Connections()
		if !playing && sockets == 0 {
			a.Log.Info("drained: no players or WebSocket viewers left")
			return
		}
		select {
		case <-ctx.Done():
			a.Log.Warn("drain cut short by a second signal", "players_active", playing, "websockets", sockets)
			return
		case <-deadline.C:
			a.Log.Warn("drain timeout: shutting down with viewers still here", "players_active", playing, "websockets", sockets)
			return
		case <-t.C:
		}
	}
}
