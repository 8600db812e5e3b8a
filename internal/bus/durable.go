package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Durable events travel through JetStream: a publisher's call returns once
// the event is stored, and every consumer gets it at least once, a node
// that was down included when it comes back. Money's room events (gifts,
// memberships) and the notices it sends people are durable; chat-context
// and identity events are not (a lost one is repaired by a reload).

// StreamName is the JetStream stream holding durable events.
const StreamName = "LIVEHOUSE_EVENTS"

// durablePrefix starts the subjects of durable events.
const durablePrefix = "dur."

// DurableRetention is how long the stream keeps an event: long enough for a
// node that was down a day to catch up.
const DurableRetention = 24 * time.Hour

// Durable event types.
const (
	// A gift or a membership a room shows (payload: the room event JSON).
	RoomGift       = "room.gift"
	RoomMembership = "room.membership"
	// A notice for one account (payload: the notice JSON).
	MoneyNotice = "money.notice"
)

func (b *Bus) openStream() error {
	js, err := jetstream.New(b.Conn)
	if err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}
	storage := jetstream.FileStorage
	if b.memoryOnly {
		storage = jetstream.MemoryStorage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       StreamName,
		Subjects:   []string{durablePrefix + ">"},
		Storage:    storage,
		MaxAge:     DurableRetention,
		Duplicates: 2 * time.Minute, // a retried publish with the same id is stored once
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return fmt.Errorf("the NATS server at %s has no JetStream: start it with -js", b.Location)
		}
		return fmt.Errorf("create the %s stream: %w", StreamName, err)
	}
	b.js, b.stream = js, st
	return nil
}

// PublishDurable stores e in the durable stream and returns once it is
// stored. The event id is its de-duplication key: publishing the same id
// again within two minutes stores it once (a relay retrying after a crash).
func (b *Bus) PublishDurable(ctx context.Context, e Event) error {
	if e.ID == "" {
		e.ID = randomID()
	}
	if e.At == 0 {
		e.At = time.Now().UnixMilli()
	}
	e.Origin = b.node
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", e.Type, err)
	}
	if _, err := b.js.Publish(ctx, durablePrefix+e.Type, data, jetstream.WithMsgID(e.ID)); err != nil {
		return fmt.Errorf("store %s event: %w", e.Type, err)
	}
	return nil
}

// PublishDurableAll stores events in the durable stream without waiting
// for one before sending the next (the stream acknowledges them in
// flight), and returns which were stored; err is the first failure.
func (b *Bus) PublishDurableAll(ctx context.Context, events []Event) ([]bool, error) {
	futures := make([]jetstream.PubAckFuture, len(events))
	stored := make([]bool, len(events))
	var first error
	for i, e := range events {
		if e.ID == "" {
			e.ID = randomID()
		}
		if e.At == 0 {
			e.At = time.Now().UnixMilli()
		}
		e.Origin = b.node
		data, err := json.Marshal(e)
		if err == nil {
			futures[i], err = b.js.PublishAsync(durablePrefix+e.Type, data, jetstream.WithMsgID(e.ID))
		}
		if err != nil && first == nil {
			first = fmt.Errorf("store %s event: %w", e.Type, err)
		}
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
			stored[i] = true
		case err := <-f.Err():
			if first == nil {
				first = fmt.Errorf("store %s event: %w", events[i].Type, err)
			}
		case <-ctx.Done():
			if first == nil {
				first = fmt.Errorf("store events: %w", ctx.Err())
			}
			return stored, first
		}
	}
	return stored, first
}

// Consume hands each durable event of the types to fn on ONE node of all
// that consume under name (a shared durable consumer), from where the last
// left off. An fn error has the event delivered again later. It runs until
// the returned stop is called.
func (b *Bus) Consume(name string, fn func(Event) error, types ...string) (stop func(), err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := b.filterFor(types)
	c, err := b.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:        name,
		FilterSubject:  f.subject,
		FilterSubjects: f.subjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        30 * time.Second,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("durable consumer %s: %w", name, err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		if !f.wants(m.Subject()) {
			_ = m.Ack() // another type, read through the wildcard: not ours
			return
		}
		var e Event
		if json.Unmarshal(m.Data(), &e) != nil {
			_ = m.Term() // undecodable: never again
			return
		}
		if err := fn(e); err != nil {
			_ = m.NakWithDelay(time.Second)
			return
		}
		_ = m.Ack()
	})
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", name, err)
	}
	return cc.Stop, nil
}

// Tail hands this node every durable event of the types published from now
// on (each node gets all of them: live fan-out). It runs until stop.
func (b *Bus) Tail(fn func(Event), types ...string) (stop func(), err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := b.filterFor(types)
	subjects := f.subjects
	if f.subject != "" {
		subjects = []string{f.subject}
	}
	c, err := b.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: subjects,
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("tail durable events: %w", err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		if !f.wants(m.Subject()) {
			return
		}
		var e Event
		if json.Unmarshal(m.Data(), &e) == nil {
			fn(e)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("tail durable events: %w", err)
	}
	return cc.Stop, nil
}

// consumerFilter is what a consumer of some event types asks the server
// for, and what it keeps of what comes.
type consumerFilter struct {
	subject  string   // one subject (every server version)
	subjects []string // several (nats-server 2.10 and later)
	want     map[string]bool
}

// filterFor: several filter subjects need nats-server 2.10; older servers
// (Debian 12 packages 2.9) refused them, and every node with them. There
// a consumer of several types reads the durable prefix's wildcard and
// skips the other types itself.
func (b *Bus) filterFor(types []string) consumerFilter {
	f := consumerFilter{want: map[string]bool{}}
	for _, t := range types {
		f.want[durablePrefix+t] = true
		f.subjects = append(f.subjects, durablePrefix+t)
	}
	switch {
	case len(f.subjects) == 1:
		f.subject, f.subjects = f.subjects[0], nil
	case !serverAtLeast(b.Conn.ConnectedServerVersion(), 2, 10):
		f.subject, f.subjects = durablePrefix+">", nil
	}
	return f
}

func (f consumerFilter) wants(subject string) bool { return f.want[subject] }

// serverAtLeast reports whether a server version "MAJOR.MINOR.PATCH…" is at
// least major.minor (an unreadable one is taken as new).
func serverAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return true
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return true
	}
	return ma > major || ma == major && mi >= minor
}

// Stored is how many durable events the stream holds (for /metrics and
// tests).
func (b *Bus) Stored(ctx context.Context) (uint64, error) {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("read the %s stream: %w", StreamName, err)
	}
	return info.State.Msgs, nil
}
