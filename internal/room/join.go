package room

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/livehouse/livehouse/internal/policy"
)

// join enters the room: live frames are held while the replay (missed or
// recent messages) is sent, then released without the ids the replay had.
func (g *Gateway) join(ctx context.Context, c *client, f Frame) *liveRoom {
	chID, _, err := g.svc.channels.ChannelOwner(ctx, f.Room)
	if err != nil {
		c.kill(CloseRoomNotFound, "no such room")
		return nil
	}
	var after int64
	if f.After != "" {
		var err error
		if after, err = strconv.ParseInt(f.After, 10, 64); err != nil || after < 0 {
			c.kill(CloseBadFrame, "after must be a message id")
			return nil
		}
	}
	c.mu.Lock()
	c.replaying = true
	c.mu.Unlock()
	r, err := g.hub.join(f.Room, chID, c)
	if err == nil {
		name := ""
		if p := policy.PrincipalFrom(ctx); p.User != nil {
			name = p.User.Username
		}
		g.svc.joined(f.Room, chID, name)
		g.svc.warm(ctx, f.Room, c.userID)
	}
	if err != nil {
		g.log.Error("join room", "room", f.Room, "err", err)
		c.kill(websocket.StatusInternalError, "try again")
		return nil
	}
	var msgs []Message
	if after > 0 {
		msgs, err = g.svc.after(ctx, chID, f.Room, after, replayLimit)
	} else {
		msgs, err = g.svc.history(ctx, chID, f.Room, 0, recentOnJoin)
	}
	if err != nil {
		g.log.Error("replay room", "room", f.Room, "err", err)
	}
	last := after
	events := make([]event, 0, len(msgs))
	for i := range msgs {
		events = append(events, event{Type: "danmaku", Message: &msgs[i]})
		last = max(last, msgs[i].ID)
	}
	c.mu.Lock()
	held := c.held
	c.held, c.replaying = nil, false
	c.mu.Unlock()
	likes, shares, err := g.svc.Counters(ctx, f.Room)
	if err != nil {
		g.log.Error("room counters", "room", f.Room, "err", err)
	}
	since := time.Now().Add(-giftReplayWindow).UnixMilli()
	if after > 0 {
		since = max(since, idTime(after)-1000) // a second of overlap; clients de-duplicate
	}
	stored, err := g.svc.eventsSince(ctx, chID, since, replayLimit)
	if err != nil {
		g.log.Error("replay gifts", "room", f.Room, "err", err)
	}
	gifts := replayEvents(stored, g.recent.since(chID, since), replayLimit)
	g.send(c, map[string]any{"type": "joined", "room": f.Room, "online": g.hub.Online(f.Room), "replay": events,
		"replay_complete": len(msgs) < replayLimit, "likes": likes, "shares": shares, "gifts": gifts,
		"max_length": g.svc.MaxLength(ctx, f.Room)})
	for _, frame := range held {
		payload := payloadOf(frame)
		switch kept := withoutReplayed(payload, last); {
		case kept == nil:
		case len(kept) == len(payload):
			c.deliver(frame) // nothing dropped: the shared frame as it is
		default:
			c.deliver(textFrame(kept))
		}
	}
	return r
}

// withoutReplayed drops danmaku the replay already carried from a frame
// that arrived during the replay.
func withoutReplayed(frame []byte, last int64) []byte {
	var b struct {
		Type   string            `json:"type"`
		Events []json.RawMessage `json:"events"`
	}
	if json.Unmarshal(frame, &b) != nil || b.Type != "batch" {
		return frame
	}
	keep := b.Events[:0]
	for _, e := range b.Events {
		var head struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		}
		if json.Unmarshal(e, &head) == nil && head.Type == "danmaku" {
			if id, err := strconv.ParseInt(head.ID, 10, 64); err == nil && id <= last {
				continue
			}
		}
		keep = append(keep, e)
	}
	if len(keep) == 0 {
		return nil
	}
	b.Events = keep
	out, _ := json.Marshal(b)
	return out
}
