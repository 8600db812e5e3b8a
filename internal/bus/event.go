package bus

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// Event is the one envelope every domain publishes (DESIGN.md "Events"):
// what happened, when, in which channel (by id: a slug can be renamed), who
// did it and to whom, and a payload of the type's own.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	At        int64           `json:"at"` // Unix ms
	ChannelID int64           `json:"channel_id,omitempty"`
	ActorID   int64           `json:"actor_id,omitempty"`
	UserID    int64           `json:"user_id,omitempty"` // the account the event is about
	Payload   json.RawMessage `json:"payload,omitempty"`
	// Origin is the node that published it (its own handlers already ran).
	Origin string `json:"origin,omitempty"`
}

// Event types. Each travels on its own subject (Subject).
const (
	// An account's identity or rights changed (payload {"kind"}); open
	// connections re-check who they are.
	IdentityChanged = "identity.changed"
	// What a danmaku check reads about a channel changed: its rules, its
	// moderators, a mute or ban in it, the channel itself (disabled, owner,
	// slug) or its fan medal.
	RulesChanged      = "rules.changed"
	ModeratorsChanged = "moderators.changed"
	SanctionsChanged  = "sanctions.changed"
	ChannelChanged    = "channel.changed"
	MedalChanged      = "medal.changed"
	// An account's standing in a channel changed: it followed or unfollowed,
	// or its membership or fan medal grew.
	StandingChanged = "standing.changed"
	// Platform settings (rate limits, who may stream) changed.
	SettingsChanged = "settings.changed"
)

// Subject is the bus subject events of type typ travel on.
func Subject(typ string) string { return "ev." + typ }

// Publish stamps e (id, time, this node as its origin), hands it to this
// node's handlers at once — so whoever made a change reads it back on the
// next request — and sends it to every other node.
func (b *Bus) Publish(e Event) error {
	if e.ID == "" {
		e.ID = randomID()
	}
	if e.At == 0 {
		e.At = time.Now().UnixMilli()
	}
	e.Origin = b.node
	b.mu.RLock()
	handlers := b.handlers[e.Type]
	b.mu.RUnlock()
	for _, h := range handlers {
		h(e)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", e.Type, err)
	}
	if err := b.Conn.Publish(Subject(e.Type), data); err != nil {
		return fmt.Errorf("publish %s event: %w", e.Type, err)
	}
	return nil
}

// Subscribe calls fn with every event of the given types: this node's own
// as they are published, other nodes' as they arrive. fn must not block
// (it may run in the publisher's goroutine). Subscriptions end with the bus.
func (b *Bus) Subscribe(fn func(Event), types ...string) error {
	for _, typ := range types {
		_, err := b.Conn.Subscribe(Subject(typ), func(m *nats.Msg) {
			var e Event
			if json.Unmarshal(m.Data, &e) == nil && e.Origin != b.node {
				fn(e)
			}
		})
		if err != nil {
			return fmt.Errorf("subscribe to %s: %w", Subject(typ), err)
		}
		b.mu.Lock()
		if b.handlers == nil {
			b.handlers = map[string][]func(Event){}
		}
		b.handlers[typ] = append(b.handlers[typ], fn)
		b.mu.Unlock()
	}
	return nil
}

func randomID() string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return hex.EncodeToString(r[:])
}
