package live

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// loadSubjectPrefix + node id carries a node's load report.
const loadSubjectPrefix = "live.load."

// HealthyWithin is how recently a node must have reported to be scheduled:
// a node silent for longer is out.
const HealthyWithin = 3 * time.Second

// LoadReport is what every node says about itself on the bus every second.
type LoadReport struct {
	ID     int    `json:"id"`
	Role   string `json:"role"`
	Region string `json:"region"`
	// PublicURL is where viewers reach the node; URL where other nodes do.
	PublicURL string `json:"public_url"`
	URL       string `json:"url"`
	// Viewers are the LL-HLS players the node served in the last 15 s.
	Viewers int `json:"viewers"`
	// EgressBPS is what the node sent viewers over the last report period.
	EgressBPS int64 `json:"egress_bps"`
	// CPU is the process's CPU time over the last period, in cores (1.5:
	// one and a half cores busy).
	CPU      float64 `json:"cpu"`
	Draining bool    `json:"draining"`
	// Players are the outside players (not Livehouse's pages) of the
	// streams the node pulls through from other nodes, by channel slug;
	// the ingesting node adds them to the stream's viewers.
	Players map[string]int `json:"players,omitempty"`
	// RTMP is where other origins relay a standby encoder to this node
	// ("host:port", plain RTMP); empty on a node that takes no publishers.
	RTMP string    `json:"rtmp,omitempty"`
	At   time.Time `json:"at"`
}

// NodeLoad is a report as this node sees it: Healthy when it arrived
// within HealthyWithin (by this node's clock) and the node is not draining.
type NodeLoad struct {
	LoadReport
	Healthy bool `json:"healthy"`
	// Silent: no report within HealthyWithin (stopped, crashed or cut off),
	// whatever the last one said.
	Silent bool `json:"silent"`
	// Self marks the node answering.
	Self bool `json:"self"`
}

// LoadsOptions configure the load reports.
type LoadsOptions struct {
	// Every is the report period (default 1 s).
	Every time.Duration
	// Report fills in this node's figures; ID and At are set by Loads.
	Report func(period time.Duration) LoadReport
	Log    *slog.Logger
}

// Loads publishes this node's load report every period and keeps the
// latest report of every node (itself included): the cluster view the
// scheduler and /api/admin/nodes read. Close stops it.
type Loads struct {
	nc  *nats.Conn
	id  int
	o   LoadsOptions
	sub *nats.Subscription

	mu    sync.RWMutex
	nodes map[int]heardLoad

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type heardLoad struct {
	r     LoadReport
	heard time.Time // local clock: reports from a node with a skewed clock still count
}

// NewLoads subscribes to every node's load reports and starts publishing
// this node's (id).
func NewLoads(nc *nats.Conn, id int, o LoadsOptions) (*Loads, error) {
	if o.Every <= 0 {
		o.Every = time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	l := &Loads{nc: nc, id: id, o: o, nodes: map[int]heardLoad{}, stop: make(chan struct{}), done: make(chan struct{})}
	sub, err := nc.Subscribe(loadSubjectPrefix+"*", l.receive)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s*: %w", loadSubjectPrefix, err)
	}
	l.sub = sub
	if err := nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe to %s*: %w", loadSubjectPrefix, err)
	}
	go l.run()
	return l, nil
}

func (l *Loads) receive(m *nats.Msg) {
	var r LoadReport
	if err := json.Unmarshal(m.Data, &r); err != nil {
		l.o.Log.Warn("unreadable load report", "subject", m.Subject, "err", err)
		return
	}
	if loadSubjectPrefix+strconv.Itoa(r.ID) != m.Subject {
		return
	}
	l.mu.Lock()
	l.nodes[r.ID] = heardLoad{r: r, heard: time.Now()}
	l.mu.Unlock()
}

func (l *Loads) run() {
	defer close(l.done)
	t := time.NewTicker(l.o.Every)
	defer t.Stop()
	l.publish()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		l.publish()
		l.forget(time.Now().Add(-time.Minute))
	}
}

func (l *Loads) publish() {
	r := l.o.Report(l.o.Every)
	r.ID, r.At = l.id, time.Now().UTC()
	data, err := json.Marshal(r)
	if err != nil {
		l.o.Log.Error("encode load report", "err", err)
		return
	}
	// This node's own report is kept directly: it is healthy as long as it
	// runs, even when the bus is briefly away.
	l.mu.Lock()
	l.nodes[l.id] = heardLoad{r: r, heard: time.Now()}
	l.mu.Unlock()
	if err := l.nc.Publish(loadSubjectPrefix+strconv.Itoa(l.id), data); err != nil {
		l.o.Log.Warn("publish load report", "err", err)
	}
}

// forget drops nodes silent since before cutoff (a node that restarted
// under a new id would otherwise be listed forever).
func (l *Loads) forget(cutoff time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, h := range l.nodes {
		if h.heard.Before(cutoff) {
			delete(l.nodes, id)
		}
	}
}

// Nodes returns every node heard in the last minute, by id.
func (l *Loads) Nodes() []NodeLoad {
	now := time.Now()
	l.mu.RLock()
	out := make([]NodeLoad, 0, len(l.nodes))
	for id, h := range l.nodes {
		silent := now.Sub(h.heard) > HealthyWithin
		out = append(out, NodeLoad{LoadReport: h.r, Self: id == l.id, Silent: silent, Healthy: !silent && !h.r.Draining})
	}
	l.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Node returns the latest report of one node, if heard in the last minute.
func (l *Loads) Node(id int) (NodeLoad, bool) {
	for _, n := range l.Nodes() {
		if n.ID == id {
			return n, true
		}
	}
	return NodeLoad{}, false
}

// Close stops publishing and listening. Safe to call more than once.
func (l *Loads) Close() {
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
		if !l.nc.IsClosed() {
			_ = l.sub.Unsubscribe()
		}
	})
}
