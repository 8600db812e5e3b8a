// Package simulcast re-sends a channel's live stream to other platforms
// (YouTube, Twitch, another Livehouse…): up to MaxDestinations per
// channel, each RTMP, RTMPS or SRT, each switched on or off. When the
// channel goes live on this node, every enabled destination gets a worker
// that subscribes to the stream (source rendition, passthrough, no
// process) and publishes it, reconnecting with backoff; its state
// (connecting, live, retrying, failed) goes out on the bus so the studio
// on any node shows it. A destination that fails never affects the stream
// or the other destinations: each reads its own bounded queue.
//
// Stream keys are sealed with AES-256-GCM by a key file in the data
// directory (KeyFileName) and never shown back but for their last four
// characters.
package simulcast

import (
	"context"
	"crypto/x509"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the simulcast domain's tables.
func Migrations() store.MigrationSet {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return store.MigrationSet{Domain: "simulcast", FS: sub}
}

// Bus subjects: a destination's state, and "a channel's destinations
// changed" (the ingesting node starts or stops workers).
const (
	stateSubject   = "simulcast.state"
	changedSubject = "simulcast.changed"
)

// Streams finds this node's live streams.
type Streams interface {
	Stream(slug string) (*media.Stream, bool)
}

// Channels resolves a channel by slug.
type Channels interface {
	Get(ctx context.Context, slug string) (channel.Channel, error)
}

// Authorizer asks the policy whether the request may act on a channel.
type Authorizer interface {
	Authorize(r *http.Request, a policy.Action, channelID, ownerID int64) (policy.Principal, error)
}

// Deps is what the simulcast domain needs.
type Deps struct {
	DB       *store.DB
	Channels Channels
	Accounts Authorizer
	Streams  Streams
	Conn     *nats.Conn // the bus; states and changes reach every node
	// DataDir holds the key file; Key, when set (32 bytes), is used instead.
	DataDir string
	Key     []byte
	// RootCAs checks rtmps:// destinations' certificates (nil: the
	// system's roots).
	RootCAs *x509.CertPool
	Node    int
	Log     *slog.Logger
	// Grace is how long destinations are held with the slate after the
	// stream ends, for its publisher to come back (default 30 s).
	Grace time.Duration
}

// Service runs destinations' workers and serves their API.
type Service struct {
	store   *destStore
	chans   Channels
	auth    Authorizer
	streams Streams
	conn    *nats.Conn
	node    int
	log     *slog.Logger
	roots   *x509.CertPool // rtmps:// certificates (nil: the system's)
	subs    []*nats.Subscription
	grace   time.Duration
	slates  slates

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	runs   map[int64]*channelRun // by channel id: live on this node
	states map[int64]State       // by destination id, from every node
}

// channelRun is a channel live on this node and its destinations' workers.
type channelRun struct {
	slug    string
	workers map[int64]*worker
	// ending is the timer that stops the workers when the stream ended
	// and no publisher came back within the grace period; nil while live.
	ending *time.Timer
	// gen counts reconciliations, so an older one finishing late does
	// not undo a newer one.
	gen int
}

// New builds the domain; Close stops its workers.
func New(d Deps) (*Service, error) {
	key := d.Key
	if key == nil {
		var err error
		if key, err = loadKey(d.DataDir); err != nil {
			return nil, err
		}
	}
	seal, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Grace <= 0 {
		d.Grace = 30 * time.Second
	}
	s := &Service{store: &destStore{db: d.DB, seal: seal}, chans: d.Channels, auth: d.Accounts, streams: d.Streams,
		conn: d.Conn, node: d.Node, log: d.Log, roots: d.RootCAs, grace: d.Grace, runs: map[int64]*channelRun{}, states: map[int64]State{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.conn != nil {
		sub, err := s.conn.Subscribe(stateSubject, func(m *nats.Msg) {
			var st State
			if json.Unmarshal(m.Data, &st) == nil && st.ID > 0 {
				s.storeState(st)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("subscribe to %s: %w", stateSubject, err)
		}
		s.subs = append(s.subs, sub)
		sub, err = s.conn.Subscribe(changedSubject, func(m *nats.Msg) {
			if id, err := strconv.ParseInt(string(m.Data), 10, 64); err == nil {
				s.reconcile(id, false)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("subscribe to %s: %w", changedSubject, err)
		}
		s.subs = append(s.subs, sub)
	}
	return s, nil
}

// Close stops every worker (their destinations see the stream end).
func (s *Service) Close(context.Context) error {
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
	s.cancel()
	s.mu.Lock()
	for id, run := range s.runs {
		if run.ending != nil {
			run.ending.Stop()
		}
		for _, w := range run.workers {
			w.cancel()
		}
		delete(s.runs, id)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// OnLive starts the channel's destinations when its stream starts on this
// node and stops them when it ends. It never blocks (the hub calls it
// synchronously).
func (s *Service) OnLive(e media.Event) {
	switch e.Type {
	case "live.started":
		s.mu.Lock()
		if s.ctx.Err() == nil {
			run, ok := s.runs[e.Channel.ID]
			if !ok {
				s.runs[e.Channel.ID] = &channelRun{slug: e.Channel.Slug, workers: map[int64]*worker{}}
			} else {
				// The publisher is back within the grace period: the
				// workers holding destinations with the slate follow the
				// new stream.
				if run.ending != nil {
					run.ending.Stop()
					run.ending = nil
				}
				run.slug = e.Channel.Slug
				if st, ok := s.streams.Stream(e.Channel.Slug); ok {
					for _, w := range run.workers {
						select {
						case w.restream <- st:
						default:
						}
					}
				}
			}
		}
		s.mu.Unlock()
		s.reconcile(e.Channel.ID, true)
	case "live.ended":
		// Workers hold their destinations with the slate for the grace
		// period (they end by themselves after it); the run goes then.
		s.mu.Lock()
		defer s.mu.Unlock()
		run := s.runs[e.Channel.ID]
		if run == nil || run.ending != nil {
			return
		}
		run.ending = time.AfterFunc(s.grace+5*time.Second, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.runs[e.Channel.ID] != run || run.ending == nil {
				return
			}
			delete(s.runs, e.Channel.ID)
			for _, w := range run.workers {
				w.cancel()
				go func() {
					<-w.done
					w.set(State{State: StateIdle})
				}()
			}
		})
	}
}

// reconcile makes the workers of a channel live here match its enabled
// destinations (in the background: it reads the store).
func (s *Service) reconcile(channelID int64, restart bool) {
	s.mu.Lock()
	run := s.runs[channelID]
	if run == nil || s.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	run.gen++
	gen := run.gen
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		dests, err := s.store.list(ctx, channelID)
		if err != nil {
			s.log.Error("simulcast: read destinations", "channel", channelID, "err", err)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.runs[channelID] != run || run.gen != gen || s.ctx.Err() != nil {
			return
		}
		want := map[int64]Destination{}
		for _, d := range dests {
			if d.Enabled {
				want[d.ID] = d
			}
		}
		for id, w := range run.workers {
			select {
			case <-w.done:
				// Ended: a stream that ended, or failed. A new stream
				// starts it again (failed stays failed until then).
				if restart {
					delete(run.workers, id)
					continue
				}
			default:
			}
			if d, ok := want[id]; ok && d.URL == w.dest.URL && d.sealedKey == w.dest.sealedKey {
				continue
			}
			w.cancel()
			delete(run.workers, id)
			go func() {
				<-w.done
				if _, ok := want[id]; !ok {
					w.set(State{State: StateIdle})
				}
			}()
		}
		for id, d := range want {
			if _, ok := run.workers[id]; ok {
				continue
			}
			s.startLocked(run, d)
		}
	}()
}

// startLocked starts d's worker; s.mu is held.
func (s *Service) startLocked(run *channelRun, d Destination) {
	ctx, cancel := context.WithCancel(s.ctx)
	w := &worker{svc: s, dest: d, slug: run.slug, cancel: cancel, done: make(chan struct{}), restream: make(chan *media.Stream, 1)}
	run.workers[d.ID] = w
	key, err := s.store.key(d)
	if err != nil {
		close(w.done)
		w.set(State{State: StateFailed, Reason: ReasonKey, Detail: err.Error()})
		return
	}
	w.key = key
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		w.run(ctx)
	}()
}

// setState records a destination's state here and tells the other nodes.
func (s *Service) setState(st State) {
	st.Node = s.node
	s.storeState(st)
	if s.conn == nil {
		return
	}
	data, _ := json.Marshal(st)
	if err := s.conn.Publish(stateSubject, data); err != nil {
		s.log.Warn("simulcast: publish state", "err", err)
	}
}

func (s *Service) storeState(st State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.states[st.ID]; ok && old.Since > st.Since {
		return // an older message arriving late
	}
	s.states[st.ID] = st
}

// StateOf is a destination's last known state (idle when none is known).
func (s *Service) StateOf(id int64) State {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.states[id]; ok {
		return st
	}
	return State{ID: id, State: StateIdle}
}

func (s *Service) changed(channelID int64) {
	if s.conn == nil {
		s.reconcile(channelID, false)
		return
	}
	if err := s.conn.Publish(changedSubject, []byte(strconv.FormatInt(channelID, 10))); err != nil {
		s.log.Warn("simulcast: publish change", "err", err)
		s.reconcile(channelID, false)
	}
}
