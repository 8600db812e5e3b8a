package room

import (
	"bytes"
	"encoding/json"
	"github.com/prometheus/client_golang/prometheus"
	"hash/fnv"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Hub fans room events out to this node's viewers. Each room with local
// viewers subscribes to its bus subject; events collect in the room and a
// per-room flusher sends them as one frame every FlushEvery, encoded once
// for all viewers. A viewer whose queue is full is disconnected (slow
// consumer) instead of holding the room back.
//
// Lock order: hubShard.mu before liveRoom.mu; never the other way.
type Hub struct {
	nc         *nats.Conn
	node       string
	log        *slog.Logger
	flushEvery time.Duration
	// minFlushGap is the shortest time between two batches of a room.
	minFlushGap time.Duration
	queueLen    int

	shards [32]hubShard
	wg     sync.WaitGroup

	// slugs maps channel ids to the slug their room joined under: durable
	// room events are addressed by channel id.
	slugs sync.Map // int64 → string

	// elsewhere are other nodes' viewer counts of every room (channel id →
	// node → count), from their presence reports.
	presMu     sync.Mutex
	elsewhere  map[int64]map[string]presence
	presPruned time.Time

	// observe sees the id of every danmaku arriving from the bus (set by
	// NewGateway to the service's id source; nil in hub-only tests).
	observe func(id int64)

	// fanout is the server's side of delivery latency: from an event
	// reaching this hub to the end of the write pass that gave it to every
	// viewer of the room here.
	fanout prometheus.Histogram
}

// latencyBuckets: 1 ms to 10 s, 24 steps of about 1.5×.
var latencyBuckets = prometheus.ExponentialBucketsRange(0.001, 10, 24)

// Collectors are the hub's metrics, for the app's registry.
func (h *Hub) Collectors() []prometheus.Collector { return []prometheus.Collector{h.fanout} }

type hubShard struct {
	mu    sync.Mutex
	rooms map[string]*liveRoom
}

// HubOptions tunes the fan-out.
type HubOptions struct {
	FlushEvery time.Duration // the longest gap between a room's batches; default 50 ms
	// MinFlushGap is the shortest (default 10 ms); the gap in between
	// follows the cost of a batch (liveRoom.run).
	MinFlushGap time.Duration
	QueueLen    int // frames a viewer may lag behind; default 64
}

// NewHub returns a hub publishing presence as node.
func NewHub(nc *nats.Conn, node string, o HubOptions, log *slog.Logger) *Hub {
	if o.FlushEvery <= 0 {
		o.FlushEvery = 50 * time.Millisecond
	}
	if o.MinFlushGap <= 0 {
		o.MinFlushGap = 10 * time.Millisecond
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 64
	}
	h := &Hub{nc: nc, node: node, log: log, flushEvery: o.FlushEvery, minFlushGap: o.MinFlushGap, queueLen: o.QueueLen,
		elsewhere: map[int64]map[string]presence{},
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "livehouse_room_fanout_seconds",
			Help:    "From a live event reaching the node's room hub to the end of the write pass that queued or wrote it to every viewer of its room on the node.",
			Buckets: latencyBuckets})}
	for i := range h.shards {
		h.shards[i].rooms = map[string]*liveRoom{}
	}
	// Every room's count on every node, rooms with no viewer here too: the
	// node that ingests a stream counts the viewers watching it on others.
	// (The subscription ends with the connection.)
	if _, err := nc.Subscribe("presence.*", h.onPresence); err != nil {
		log.Error("room: subscribe to presence reports; viewer counts miss other nodes", "err", err)
	}
	return h
}

// onPresence keeps another node's viewer count of a room.
func (h *Hub) onPresence(m *nats.Msg) {
	id, err := strconv.ParseInt(strings.TrimPrefix(m.Subject, "presence."), 10, 64)
	var p presenceMsg
	if err != nil || json.Unmarshal(m.Data, &p) != nil || p.Node == h.node {
		return
	}
	now := time.Now()
	h.presMu.Lock()
	defer h.presMu.Unlock()
	nodes := h.elsewhere[id]
	if nodes == nil {
		nodes = map[string]presence{}
		h.elsewhere[id] = nodes
	}
	nodes[p.Node] = presence{count: p.Count, seen: now}
	// Forget rooms whose reports stopped, now and then.
	if now.Sub(h.presPruned) > presenceTTL {
		h.presPruned = now
		for cid, ns := range h.elsewhere {
			for n, pr := range ns {
				if now.Sub(pr.seen) > presenceTTL {
					delete(ns, n)
				}
			}
			if len(ns) == 0 {
				delete(h.elsewhere, cid)
			}
		}
	}
}

// OnlineChannel is a channel's room viewer count across nodes, by channel
// id: this node's viewers plus every other node's last report, whether or
// not anyone watches here (Online needs a room on this node).
func (h *Hub) OnlineChannel(channelID int64) int {
	n := 0
	if slug, ok := h.slugs.Load(channelID); ok {
		sh := h.shard(slug.(string))
		sh.mu.Lock()
		r := sh.rooms[slug.(string)]
		sh.mu.Unlock()
		if r != nil {
			r.mu.Lock()
			n = r.localLocked()
			r.mu.Unlock()
		}
	}
	now := time.Now()
	h.presMu.Lock()
	defer h.presMu.Unlock()
	for _, p := range h.elsewhere[channelID] {
		if now.Sub(p.seen) <= presenceTTL {
			n += p.count
		}
	}
	return n
}

func (h *Hub) shard(slug string) *hubShard {
	f := fnv.New32a()
	f.Write([]byte(slug))
	return &h.shards[f.Sum32()%uint32(len(h.shards))]
}

// liveRoom is a room with viewers on this node.
type liveRoom struct {
	slug      string
	channelID int64
	hub       *Hub

	mu      sync.Mutex
	viewers map[*client]struct{}
	// Who is watching, for the online count: an account in several tabs
	// counts once; each anonymous connection counts (the gateway caps
	// connections per address).
	accounts map[int64]int // connections per logged-in account
	anon     int
	pending  [][]byte
	// pendingAt is when each pending event arrived (fanout).
	pendingAt []time.Time
	// wake tells the flusher that pending stopped being empty.
	wake    chan struct{}
	remote  map[string]presence // other nodes' viewer counts
	shown   int                 // online count last sent
	shownAt time.Time           // when it was sent
	closed  bool

	subs []*nats.Subscription
	stop chan struct{}
}

type presence struct {
	count int
	seen  time.Time
}

type presenceMsg struct {
	Node  string `json:"node"`
	Count int    `json:"count"`
}

// join adds c to the room, creating the room's subscription and flusher
// when it is the node's first viewer there.
// Rooms are kept here under the slug viewers joined with, and hear the bus
// by channel id, so a rename never cuts a room off from its events.
func (h *Hub) join(slug string, channelID int64, c *client) (*liveRoom, error) {
	sh := h.shard(slug)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	h.slugs.Store(channelID, slug)
	r := sh.rooms[slug]
	if r == nil {
		r = &liveRoom{slug: slug, channelID: channelID, hub: h, viewers: map[*client]struct{}{}, accounts: map[int64]int{},
			remote: map[string]presence{}, stop: make(chan struct{}), wake: make(chan struct{}, 1), shown: -1}
		events, err := h.nc.Subscribe(subject(channelID), func(m *nats.Msg) {
			if h.observe != nil && m.Header != nil {
				if id, err := strconv.ParseInt(m.Header.Get(idHeader), 10, 64); err == nil {
					h.observe(id)
				}
			}
			r.enqueue(m.Data)
		})
		if err != nil {
			return nil, err
		}
		pres, err := h.nc.Subscribe(presenceSubject(channelID), r.onPresence)
		if err != nil {
			_ = events.Unsubscribe()
			return nil, err
		}
		list, err := h.nc.Subscribe(viewersSubject(channelID), r.onViewers)
		if err != nil {
			_ = events.Unsubscribe()
			_ = pres.Unsubscribe()
			return nil, err
		}
		r.subs = []*nats.Subscription{events, pres, list}
		sh.rooms[slug] = r
		h.wg.Add(1)
		go r.run()
	}
	r.mu.Lock()
	r.viewers[c] = struct{}{}
	if c.userID != 0 {
		r.accounts[c.userID]++
	} else {
		r.anon++
	}
	r.mu.Unlock()
	return r, nil
}

// leave removes c; the last viewer to leave closes the room on this node.
func (h *Hub) leave(r *liveRoom, c *client) {
	sh := h.shard(r.slug)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r.mu.Lock()
	if _, ok := r.viewers[c]; ok {
		delete(r.viewers, c)
		if c.userID == 0 {
			r.anon--
		} else if r.accounts[c.userID]--; r.accounts[c.userID] <= 0 {
			delete(r.accounts, c.userID)
		}
	}
	empty := len(r.viewers) == 0
	if empty {
		r.closed = true
	}
	r.mu.Unlock()
	if empty && sh.rooms[r.slug] == r {
		delete(sh.rooms, r.slug)
		for _, s := range r.subs {
			_ = s.Unsubscribe()
		}
		close(r.stop)
		// Nobody here any more: other nodes stop counting this node's
		// viewers now rather than when its reports time out.
		data, _ := json.Marshal(presenceMsg{Node: h.node, Count: 0})
		_ = h.nc.Publish(presenceSubject(r.channelID), data)
	}
}

// deliverToChannel queues an event for this node's viewers of a channel's
// room (none here: dropped).
func (h *Hub) deliverToChannel(channelID int64, event []byte) {
	slug, ok := h.slugs.Load(channelID)
	if !ok {
		return
	}
	sh := h.shard(slug.(string))
	sh.mu.Lock()
	r := sh.rooms[slug.(string)]
	sh.mu.Unlock()
	if r != nil {
		r.enqueue(event)
	}
}

// presenceSubject carries each node's viewer count of a room.
func presenceSubject(channelID int64) string { return "presence." + strconv.FormatInt(channelID, 10) }

// Online is the room's viewer count across nodes.
func (h *Hub) Online(slug string) int {
	sh := h.shard(slug)
	sh.mu.Lock()
	r := sh.rooms[slug]
	sh.mu.Unlock()
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.onlineLocked(time.Now())
}

// Wait blocks until every room flusher has stopped (after all viewers left).
func (h *Hub) Wait() { h.wg.Wait() }

func (r *liveRoom) enqueue(data []byte) {
	r.mu.Lock()
	first := !r.closed && len(r.pending) == 0
	if !r.closed {
		r.pending = append(r.pending, data)
		r.pendingAt = append(r.pendingAt, time.Now())
	}
	r.mu.Unlock()
	if first {
		select {
		case r.wake <- struct{}{}:
		default: // the flusher has been told already
		}
	}
}

func (r *liveRoom) onPresence(m *nats.Msg) {
	var p presenceMsg
	if json.Unmarshal(m.Data, &p) != nil || p.Node == r.hub.node {
		return
	}
	r.mu.Lock()
	r.remote[p.Node] = presence{count: p.Count, seen: time.Now()}
	r.mu.Unlock()
}

// onlineEvery spaces online-count updates.
const onlineEvery = 2 * time.Second

// presenceTTL drops a node's count when it stops reporting (crashed).
const presenceTTL = 6 * time.Second

// localLocked is how many people watch on this node.
func (r *liveRoom) localLocked() int { return len(r.accounts) + r.anon }

func (r *liveRoom) onlineLocked(now time.Time) int {
	n := r.localLocked()
	for node, p := range r.remote {
		if now.Sub(p.seen) > presenceTTL {
			delete(r.remote, node)
			continue
		}
		n += p.count
	}
	return n
}

// flushGap is how long a room waits after a batch whose write pass took
// pass before it sends the next: as long as the pass, within [least, most].
func flushGap(pass, least, most time.Duration) time.Duration {
	return min(max(pass, min(least, most)), most)
}

// housekeepingEvery is how often the flusher looks at the online count
// and this node's presence report when no event wakes it.
const housekeepingEvery = 250 * time.Millisecond

// run is the room's flusher. An event that finds the room idle for at
// least a gap since its last batch goes out at once (a quiet room shows a
// message without waiting for a tick); one that comes sooner waits until
// then, with whatever else arrives meanwhile.
//
// The gap runs from the end of the last batch's write pass and lasts as
// long as that pass took, within [minFlushGap, flushEvery]: writing takes
// at most about half of the room's time, so a room of a thousand viewers
// (a pass of a few ms) gets messages within ~10 ms, while one of 5,000
// (~40 ms a pass on a core) is batched every ~80 ms, which is what a fixed
// 50 ms tick gave it under load, because ticks were dropped during passes.
func (r *liveRoom) run() {
	defer r.hub.wg.Done()
	housekeeping := time.NewTicker(housekeepingEvery)
	defer housekeeping.Stop()
	var due *time.Timer // armed while events wait for the gap to pass
	defer func() {
		if due != nil {
			due.Stop()
		}
	}()
	var lastFlush, lastPresence time.Time
	gap := r.hub.flushEvery
	flush := func(now time.Time) {
		start := time.Now()
		if r.flush(now) {
			lastFlush = time.Now()
			gap = flushGap(lastFlush.Sub(start), r.hub.minFlushGap, r.hub.flushEvery)
		}
	}
	for {
		var dueC <-chan time.Time
		if due != nil {
			dueC = due.C
		}
		select {
		case <-r.stop:
			return
		case <-r.wake:
			if due != nil {
				continue // the batch is already due at the end of the gap
			}
			if wait := gap - time.Since(lastFlush); wait > 0 {
				due = time.NewTimer(wait)
				continue
			}
			flush(time.Now())
		case now := <-dueC:
			due = nil
			flush(now)
		case now := <-housekeeping.C:
			if now.Sub(lastPresence) >= 2*time.Second {
				lastPresence = now
				r.mu.Lock()
				local := r.localLocked()
				r.mu.Unlock()
				data, _ := json.Marshal(presenceMsg{Node: r.hub.node, Count: local})
				_ = r.hub.nc.Publish(presenceSubject(r.channelID), data)
			}
			// The online count, when it changed (events wait for their
			// own gap, as above).
			if due == nil && now.Sub(lastFlush) >= gap {
				flush(now)
			}
		}
	}
}

// flush sends what is pending (and a changed online count) to every
// viewer in one frame; it reports whether it sent anything.
func (r *liveRoom) flush(now time.Time) bool {
	r.mu.Lock()
	events, arrived := r.pending, r.pendingAt
	r.pending, r.pendingAt = nil, nil
	// The online count goes out at most every 2 s: during a join storm of
	// thousands, a frame per change would flood every viewer.
	if online := r.onlineLocked(now); online != r.shown && now.Sub(r.shownAt) >= onlineEvery {
		r.shown, r.shownAt = online, now
		events = append(events, []byte(`{"type":"online","count":`+strconv.Itoa(online)+`}`))
	}
	if len(events) == 0 {
		r.mu.Unlock()
		return false
	}
	viewers := make([]*client, 0, len(r.viewers))
	for c := range r.viewers {
		viewers = append(viewers, c)
	}
	r.mu.Unlock()

	// One encoding per batch, shared by every viewer.
	var b bytes.Buffer
	b.WriteString(`{"type":"batch","events":[`)
	for i, e := range events {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e)
	}
	b.WriteString("]}")
	// Framed once: every viewer's socket gets these very bytes.
	frame := textFrame(b.Bytes())
	defer func() {
		end := time.Now()
		for _, t := range arrived {
			r.hub.fanout.Observe(end.Sub(t).Seconds())
		}
	}()
	writers := min(runtime.GOMAXPROCS(0), (len(viewers)+writeChunk-1)/writeChunk)
	if writers <= 1 {
		deliverAll(viewers, frame)
		return true
	}
	// A write per viewer is the cost of a batch: spread it over the cores.
	var wg sync.WaitGroup
	per := (len(viewers) + writers - 1) / writers
	for i := 0; i < len(viewers); i += per {
		part := viewers[i:min(i+per, len(viewers))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			deliverAll(part, frame)
		}()
	}
	wg.Wait()
	return true
}

// deliverAll writes frame to viewers, stepping aside every writeChunk
// writes: a pass over thousands of sockets takes tens of milliseconds,
// and without a yield every other goroutine on the core (a post being
// read, the database's and the bus's replies) waits for the whole pass.
func deliverAll(viewers []*client, frame []byte) {
	for i, c := range viewers {
		c.deliver(frame)
		if i%writeChunk == writeChunk-1 {
			runtime.Gosched()
		}
	}
}

// writeChunk is how many viewers a writer writes a batch to between
// yields (about 0.5 ms of writev on loopback), and at least to each
// writer goroutine.
const writeChunk = 64
