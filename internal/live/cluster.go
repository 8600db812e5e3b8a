package live

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// subjectPrefix + node id carries a node's snapshot of its live streams.
const subjectPrefix = "live.node."

// ClusterOptions tune the cluster directory.
type ClusterOptions struct {
	// Heartbeat is how often a node republishes its streams, whether or
	// not anything changed (default 500 ms); changes go out at once.
	Heartbeat time.Duration
	// Expiry is how long a node may stay silent before its streams read
	// as offline (default 5 s). Keep it above the media hub's claim TTL,
	// so a channel that reads offline can be claimed on another node.
	Expiry time.Duration
	Log    *slog.Logger
}

// snapshot is what a node publishes: every stream it ingests, whole, so
// one message is enough for a node that just joined, and a lost message
// is mended by the next.
type snapshot struct {
	Node    Node    `json:"node"`
	Bye     bool    `json:"bye,omitempty"` // the node is shutting down
	Streams []State `json:"streams"`
}

type remoteNode struct {
	heard   time.Time // local clock
	node    Node
	streams map[string]State // by slug
}

// Cluster is the directory of a node among several: its own streams
// (Local) plus the latest snapshot of every other node heard within
// Expiry, over core NATS.
type Cluster struct {
	*Local
	nc  *nats.Conn
	o   ClusterOptions
	sub *nats.Subscription

	mu     sync.RWMutex
	remote map[int]*remoteNode // by node id

	now   chan struct{} // publish now (a change)
	stop  chan struct{}
	done  chan struct{}
	close sync.Once
}

// NewCluster subscribes to every node's snapshots and starts publishing
// this node's; Close stops both.
func NewCluster(nc *nats.Conn, id int, o ClusterOptions) (*Cluster, error) {
	if o.Heartbeat <= 0 {
		o.Heartbeat = 500 * time.Millisecond
	}
	if o.Expiry <= 0 {
		o.Expiry = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{Local: NewLocal(id), nc: nc, o: o, remote: map[int]*remoteNode{},
		now: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	c.Local.changed = c.publishSoon
	sub, err := nc.Subscribe(subjectPrefix+"*", c.receive)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s*: %w", subjectPrefix, err)
	}
	c.sub = sub
	// The subscription is registered with the server before the first
	// snapshot goes out, so this node hears every node from now on.
	if err := nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe to %s*: %w", subjectPrefix, err)
	}
	go c.run()
	return c, nil
}

func (c *Cluster) publishSoon() {
	select {
	case c.now <- struct{}{}:
	default:
	}
}

func (c *Cluster) receive(m *nats.Msg) {
	var s snapshot
	if err := json.Unmarshal(m.Data, &s); err != nil {
		c.o.Log.Warn("unreadable live snapshot", "subject", m.Subject, "err", err)
		return
	}
	if s.Node.ID == c.id || subjectPrefix+strconv.Itoa(s.Node.ID) != m.Subject {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.Bye {
		delete(c.remote, s.Node.ID)
		return
	}
	r := &remoteNode{heard: time.Now(), node: s.Node, streams: make(map[string]State, len(s.Streams))}
	for _, st := range s.Streams {
		st.Node, st.Local = s.Node, false
		r.streams[st.Slug] = st
	}
	c.remote[s.Node.ID] = r
}

func (c *Cluster) run() {
	defer close(c.done)
	t := time.NewTicker(c.o.Heartbeat)
	defer t.Stop()
	c.publish(false)
	for {
		select {
		case <-c.stop:
			c.publish(true)
			return
		case <-c.now:
		case <-t.C:
			c.forgetSilent()
		}
		c.publish(false)
	}
}

func (c *Cluster) publish(bye bool) {
	s := snapshot{Node: c.Self(), Bye: bye, Streams: []State{}}
	if !bye {
		s.Streams = c.Local.List()
	}
	data, err := json.Marshal(s)
	if err != nil {
		c.o.Log.Error("encode live snapshot", "err", err)
		return
	}
	if err := c.nc.Publish(subjectPrefix+strconv.Itoa(c.id), data); err != nil {
		c.o.Log.Warn("publish live snapshot", "err", err)
	}
}

// forgetSilent drops nodes not heard within Expiry (Lookup already ignores
// them; this frees them and says so once).
func (c *Cluster) forgetSilent() {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, r := range c.remote {
		if now.Sub(r.heard) > c.o.Expiry {
			delete(c.remote, id)
			c.o.Log.Warn("node went silent: its streams read as offline", "node", id, "silent", now.Sub(r.heard).Round(time.Millisecond),
				"streams", len(r.streams))
		}
	}
}

// Lookup returns a channel's state from whichever node ingests it.
func (c *Cluster) Lookup(slug string) (State, bool) {
	if st, ok := c.Local.Lookup(slug); ok {
		return st, true
	}
	now := time.Now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	var best State
	found := false
	for _, r := range c.remote {
		if now.Sub(r.heard) > c.o.Expiry {
			continue
		}
		// Two nodes claim one channel only for the moment a dead node's
		// claim is taken over: the newer session is the real one.
		if st, ok := r.streams[slug]; ok && (!found || st.StartedAt.After(best.StartedAt)) {
			best, found = st, true
		}
	}
	return best, found
}

// List returns every live channel on every node heard within Expiry.
func (c *Cluster) List() []State {
	bySlug := map[string]State{}
	now := time.Now()
	c.mu.RLock()
	for _, r := range c.remote {
		if now.Sub(r.heard) > c.o.Expiry {
			continue
		}
		for slug, st := range r.streams {
			if old, ok := bySlug[slug]; !ok || st.StartedAt.After(old.StartedAt) {
				bySlug[slug] = st
			}
		}
	}
	c.mu.RUnlock()
	for _, st := range c.Local.List() {
		bySlug[st.Slug] = st
	}
	out := make([]State, 0, len(bySlug))
	for _, st := range bySlug {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out
}

// Close says goodbye (the other nodes drop this node's streams at once)
// and stops listening, bounded by ctx. Safe to call more than once.
func (c *Cluster) Close(ctx context.Context) error {
	var err error
	c.close.Do(func() {
		close(c.stop)
		select {
		case <-c.done:
		case <-ctx.Done():
			err = fmt.Errorf("stop the live directory: %w", ctx.Err())
		}
		if e := c.sub.Unsubscribe(); e != nil && err == nil && !c.nc.IsClosed() {
			err = fmt.Errorf("unsubscribe live snapshots: %w", e)
		}
	})
	return err
}
