package notify

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
)

// userSubject carries, to every node, which users got which notification
// (and which users read theirs): each node tells its own bell sockets.
const userSubject = "notify.user"

// busMessage is what travels on userSubject.
type busMessage struct {
	// Type "new": Item was made for Users (each with its row id);
	// "read": User read notifications elsewhere.
	Type  string        `json:"type"`
	Users []Recipient   `json:"users,omitempty"`
	Item  *Notification `json:"item,omitempty"`
	User  int64         `json:"user,omitempty"`
}

// bells are this node's open bell sockets, by user.
type bells struct {
	mu    sync.Mutex
	conns map[int64]map[*bellConn]struct{}
	log   *slog.Logger
}

type bellConn struct {
	out  chan []byte
	done chan struct{}
	once sync.Once
}

func (c *bellConn) close() { c.once.Do(func() { close(c.done) }) }

func (b *bells) add(userID int64, c *bellConn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conns[userID] == nil {
		b.conns[userID] = map[*bellConn]struct{}{}
	}
	b.conns[userID][c] = struct{}{}
}

func (b *bells) remove(userID int64, c *bellConn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.conns[userID], c)
	if len(b.conns[userID]) == 0 {
		delete(b.conns, userID)
	}
}

// send queues frame to userID's sockets on this node; a socket whose queue
// is full is closed (the page reconnects and reloads the list).
func (b *bells) send(userID int64, frame []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns[userID] {
		select {
		case c.out <- frame:
		default:
			c.close()
		}
	}
}

// deliver hands a bus message to the sockets of the users it names.
func (b *bells) deliver(m busMessage) {
	switch m.Type {
	case "new":
		if m.Item == nil {
			return
		}
		for _, r := range m.Users {
			b.mu.Lock()
			_, here := b.conns[r.UserID]
			b.mu.Unlock()
			if !here {
				continue
			}
			n := *m.Item
			n.ID = r.ID
			frame, err := json.Marshal(map[string]any{"type": "notification", "notification": n})
			if err == nil {
				b.send(r.UserID, frame)
			}
		}
	case "read":
		b.send(m.User, []byte(`{"type":"read"}`))
	}
}

func (b *bells) closeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, set := range b.conns {
		for c := range set {
			c.close()
		}
	}
}

// subscribeBus delivers every node's messages to this node's sockets.
func (s *Service) subscribeBus(nc *nats.Conn) error {
	sub, err := nc.Subscribe(userSubject, func(m *nats.Msg) {
		var bm busMessage
		if json.Unmarshal(m.Data, &bm) == nil {
			s.bells.deliver(bm)
		}
	})
	if err != nil {
		return err
	}
	s.sub = sub
	return nil
}

// announce tells every node's sockets (this one's through NATS too).
func (s *Service) announce(m busMessage) {
	if s.nc == nil {
		s.bells.deliver(m)
		return
	}
	const chunk = 2000 // keeps a message well under NATS's payload limit
	users := m.Users
	for {
		part := m
		if len(users) > chunk {
			part.Users, users = users[:chunk], users[chunk:]
		} else {
			part.Users, users = users, nil
		}
		data, err := json.Marshal(part)
		if err == nil {
			err = s.nc.Publish(userSubject, data)
		}
		if err != nil {
			s.log.Warn("announce notification", "err", err)
		}
		if len(users) == 0 {
			return
		}
	}
}

// serveBell is GET /api/me/notifications/ws: a socket that says
// {"type":"hello","unread":N} and then {"type":"notification",...} for
// every new notification and {"type":"read"} when another tab read them.
func (s *Service) serveBell(w http.ResponseWriter, r *http.Request) {
	userID, ok := s.user(w, r)
	if !ok {
		return
	}
	unread, err := s.store.Unread(r.Context(), userID)
	if err != nil {
		s.fail(w, err)
		return
	}
	// Same-origin only (the library's default): another site cannot open it
	// with a viewer's cookies.
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(1024)
	c := &bellConn{out: make(chan []byte, 64), done: make(chan struct{})}
	s.bells.add(userID, c)
	defer s.bells.remove(userID, c)
	hello, _ := json.Marshal(map[string]any{"type": "hello", "unread": unread})
	c.out <- hello

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // reads only to notice the close (and answer pings)
		defer c.close()
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				return
			}
		}
	}()
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-c.done:
			ws.Close(websocket.StatusGoingAway, "")
			return
		case <-s.stop:
			ws.Close(websocket.StatusGoingAway, "server restarting")
			return
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
			err := ws.Ping(pctx)
			pcancel()
			if err != nil {
				ws.CloseNow()
				return
			}
		case frame := <-c.out:
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			err := ws.Write(wctx, websocket.MessageText, frame)
			wcancel()
			if err != nil {
				ws.CloseNow()
				return
			}
		}
	}
}
