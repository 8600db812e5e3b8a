package room

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// The viewer list for moderators: every node with viewers of a room answers
// a request on the bus with its logged-in viewers and its guest count, so
// the list covers the cluster like the online count does.

// Viewer is one logged-in viewer in a room.
type Viewer struct {
	UserID int64  `json:"user_id"`
	Name   string `json:"name"`
	Level  int    `json:"level"`
}

// nodeViewers is one node's answer.
type nodeViewers struct {
	Node    string   `json:"node"`
	Viewers []Viewer `json:"viewers"`
	Anon    int      `json:"anonymous"`
}

func viewersSubject(channelID int64) string { return "viewers." + strconv.FormatInt(channelID, 10) }

// onViewers answers a viewer-list request with this node's viewers.
func (r *liveRoom) onViewers(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	out := nodeViewers{Node: r.hub.node, Viewers: []Viewer{}}
	r.mu.Lock()
	seen := map[int64]bool{}
	for c := range r.viewers {
		if c.userID == 0 {
			out.Anon++
			continue
		}
		if seen[c.userID] {
			continue
		}
		seen[c.userID] = true
		if p := c.principal.Load(); p != nil && p.User != nil {
			out.Viewers = append(out.Viewers, Viewer{UserID: p.User.ID, Name: p.User.Username, Level: p.User.Level()})
		}
	}
	r.mu.Unlock()
	data, _ := json.Marshal(out)
	_ = m.Respond(data)
}

// viewersQuiet is how long the list waits for one more node to answer;
// viewersMax bounds the whole wait.
const (
	viewersQuiet = 200 * time.Millisecond
	viewersMax   = 1500 * time.Millisecond
)

// Viewers lists a room's logged-in viewers on every node (each account
// once, by name) and counts its guests.
func (h *Hub) Viewers(ctx context.Context, channelID int64) ([]Viewer, int, error) {
	inbox := nats.NewInbox()
	replies := make(chan *nats.Msg, 64)
	sub, err := h.nc.ChanSubscribe(inbox, replies)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := h.nc.PublishRequest(viewersSubject(channelID), inbox, nil); err != nil {
		return nil, 0, err
	}
	byID := map[int64]Viewer{}
	anon := 0
	deadline := time.NewTimer(viewersMax)
	defer deadline.Stop()
	quiet := time.NewTimer(viewersQuiet)
	defer quiet.Stop()
	for {
		select {
		case m := <-replies:
			var nv nodeViewers
			if json.Unmarshal(m.Data, &nv) == nil {
				anon += nv.Anon
				for _, v := range nv.Viewers {
					byID[v.UserID] = v
				}
			}
			quiet.Reset(viewersQuiet)
			continue
		case <-quiet.C:
		case <-deadline.C:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
		break
	}
	out := make([]Viewer, 0, len(byID))
	for _, v := range byID {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Level != out[j].Level {
			return out[i].Level > out[j].Level
		}
		return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name)
	})
	return out, anon, nil
}
