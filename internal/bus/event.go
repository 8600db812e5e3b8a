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

// Publish stamps e (id, time) and sends it to every node.
func Publish(nc *nats.Conn, e Event) error {
	if e.ID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		e.ID = hex.EncodeToString(b[:])
	}
	if e.At == 0 {
		e.At = time.Now().UnixMilli()
	}
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", e.Type, err)
	}
	if err := nc.Publish(Subject(e.Type), data); err != nil {
		return fmt.Errorf("publish %s event: %w", e.Type, err)
	}
	return nil
}

// Subscribe calls fn with every event of the given types, on this node's
// bus connection; undecodable messages are dropped.
func Subscribe(nc *nats.Conn, fn func(Event), types ...string) ([]*nats.Subscription, error) {
	var subs []*nats.Subscription
	for _, typ := range types {
		sub, err := nc.Subscribe(Subject(typ), func(m *nats.Msg) {
			var e Event
			if json.Unmarshal(m.Data, &e) == nil {
				fn(e)
			}
		})
		if err != nil {
			for _, s := range subs {
				_ = s.Unsubscribe()
			}
			return nil, fmt.Errorf("subscribe to %s: %w", Subject(typ), err)
		}
		subs = append(subs, sub)
	}
	return subs, nil
}

// Publish sends e through this bus (see the package function).
func (b *Bus) Publish(e Event) error { return Publish(b.Conn, e) }
