// Package notify is the bell: in-app notifications (a followed channel went
// live, a mention or reply in chat), delivered live over a per-user
// WebSocket on whichever node the user is connected to, and as Web Push
// (VAPID) to the browsers that allowed it. It also answers the viewer's
// Following list.
package notify

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/live"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

//go:embed static/sw.js
var serviceWorker []byte

// Migrations are the notify domain's tables (they refer to account's users;
// the producers read social's follows).
func Migrations() store.MigrationSet {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return store.MigrationSet{Domain: "notify", FS: sub}
}

// Kinds of notifications.
const (
	KindLive    = "live"
	KindMention = "mention"
	KindReply   = "reply"
	// Money notices (from money's outbox, bus.MoneyNotice).
	KindRenewalStopped    = "renewal_stopped"
	KindWithdrawalDecided = "withdrawal_decided"
)

// Durable is the bus's durable stream: one node of all handles each event.
type Durable interface {
	Consume(name string, fn func(bus.Event) error, types ...string) (stop func(), err error)
}

// Accounts authorizes a request (the account domain).
type Accounts interface {
	Authorize(r *http.Request, a policy.Action, channelID, ownerID int64) (policy.Principal, error)
}

// Live answers whether a channel is live (the live directory, every node).
type Live interface {
	Lookup(slug string) (live.State, bool)
}

// Deps are what the notify domain is built on.
type Deps struct {
	DB       *store.DB
	Accounts Accounts
	Live     Live
	// Conn carries bell updates between nodes; nil: this node only.
	Conn *nats.Conn
	// Durable brings money's notices (a renewal stopped, a withdrawal
	// decided) to one node each; nil: none.
	Durable Durable
	// VAPID keys; empty Public and Private: generated once and stored.
	VAPID VAPID
	// AllowHTTP accepts http:// push endpoints and endpoints on loopback
	// and private addresses (tests, LAN).
	AllowHTTP bool
	// PushClient sends Web Push (nil: a default client).
	PushClient *http.Client
	// Cooldown: a channel live again within this of its last stream's end
	// is not announced again (0: 10 minutes).
	Cooldown time.Duration
	// RemindEvery is how often memberships about to renew are looked for
	// (0: never; the app uses 10 minutes).
	RemindEvery time.Duration
	Log         *slog.Logger
}

// Service is the notify domain.
type Service struct {
	store     *Store
	accounts  Accounts
	live      Live
	nc        *nats.Conn
	sub       *nats.Subscription
	log       *slog.Logger
	pusher    *Pusher
	vapid     VAPID
	allowHTTP bool
	cooldown  time.Duration
	bells     *bells

	stopMoney   func()
	chat        chan Notification // ChatNotice's queue, drained by one goroutine
	chatDropped atomic.Int64
	stop        chan struct{}
	wg          sync.WaitGroup
	closeOnce   sync.Once
}

// MaxSubscriptions bounds one user's push subscriptions (browsers, devices).
const MaxSubscriptions = 10

// New builds the notify domain: it reads (or generates and stores) the
// VAPID keys and starts the push workers and the chat notice writer.
func New(ctx context.Context, d Deps) (*Service, error) {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Cooldown == 0 {
		d.Cooldown = 10 * time.Minute
	}
	st := NewStore(d.DB)
	keys := d.VAPID
	if keys.Public == "" || keys.Private == "" {
		var err error
		if keys.Public, keys.Private, err = st.VAPIDKeys(ctx, GenerateVAPID); err != nil {
			return nil, err
		}
	}
	if keys.Subject == "" {
		keys.Subject = "mailto:admin@localhost"
	}
	s := &Service{store: st, accounts: d.Accounts, live: d.Live, nc: d.Conn, log: d.Log, vapid: keys, allowHTTP: d.AllowHTTP,
		cooldown: d.Cooldown, bells: &bells{conns: map[int64]map[*bellConn]struct{}{}, log: d.Log},
		chat: make(chan Notification, 1024), stop: make(chan struct{})}
	if d.Conn != nil {
		if err := s.subscribeBus(d.Conn); err != nil {
			return nil, fmt.Errorf("subscribe to %s: %w", userSubject, err)
		}
	}
	client := d.PushClient
	if client == nil {
		client = pushClient(d.AllowHTTP)
	}
	s.pusher = NewPusher(keys, st, client, 4, d.Log)
	s.wg.Add(1)
	go s.writeChatNotices()
	if d.RemindEvery > 0 {
		s.wg.Add(1)
		go s.remindLoop(d.RemindEvery)
	}
	if d.Durable != nil {
		stop, err := d.Durable.Consume("notify-money", s.onMoneyNotice, bus.MoneyNotice)
		if err != nil {
			s.Close(ctx)
			return nil, err
		}
		s.stopMoney = stop
	}
	return s, nil
}

// Routes adds the bell's API, the Following list and the service worker.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/me/notifications", s.list)
	mux.HandleFunc("POST /api/me/notifications/read", s.markRead)
	mux.HandleFunc("GET /api/me/notifications/ws", s.serveBell)
	mux.HandleFunc("GET /api/me/following", s.following)
	mux.HandleFunc("GET /api/push/vapid-public-key", s.vapidKey)
	mux.HandleFunc("POST /api/me/push-subscriptions", s.subscribe)
	mux.HandleFunc("DELETE /api/me/push-subscriptions", s.unsubscribe)
	mux.HandleFunc("GET /sw.js", s.serveWorker)
}

// Close stops the push workers, the chat notice writer and the bell
// sockets. Safe to call more than once.
func (s *Service) Close(context.Context) error {
	s.closeOnce.Do(func() {
		if s.stopMoney != nil {
			s.stopMoney()
		}
		close(s.stop)
		if s.sub != nil {
			_ = s.sub.Unsubscribe()
		}
		s.bells.closeAll()
		s.wg.Wait()
		s.pusher.Close()
	})
	return nil
}

// Pusher is the Web Push sender (its counters are for tests and metrics).
func (s *Service) Pusher() *Pusher { return s.pusher }

// livePayload is a went-live notification's payload and its push's body.
type livePayload struct {
	Kind    string `json:"kind,omitempty"` // only in the push
	Channel string `json:"channel,omitempty"`
	Title   string `json:"title"`
	URL     string `json:"url,omitempty"`
	Session int64  `json:"session,omitempty"`
}

// WentLive announces a channel's live session to its followers: once per
// session cluster-wide (and not for a reconnect within the cool-down), one
// notification each made by one statement, live on their bells and as Web
// Push. It runs in the background (the caller is ingest); call it on the
// node whose hub started the stream.
func (s *Service) WentLive(channelID int64, slug string, sessionID int64) {
	select {
	case <-s.stop:
		return
	default:
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		if err := s.wentLive(ctx, channelID, slug, sessionID); err != nil {
			s.log.Error("announce live channel to followers", "channel", slug, "err", err)
		}
	}()
}

func (s *Service) wentLive(ctx context.Context, channelID int64, slug string, sessionID int64) error {
	now := time.Now()
	ok, err := s.store.Announce(ctx, channelID, sessionID, now, s.cooldown)
	if err != nil || !ok {
		return err
	}
	title, err := s.store.channelTitle(ctx, channelID)
	if err != nil {
		return err
	}
	payload, _ := json.Marshal(livePayload{Title: title, Session: sessionID})
	recipients, err := s.store.AddForFollowers(ctx, channelID, slug, KindLive, payload,
		"live:"+strconv.FormatInt(channelID, 10)+":"+strconv.FormatInt(sessionID, 10), now)
	if err != nil {
		return err
	}
	s.log.Info("announced live channel", "channel", slug, "session", sessionID, "followers", len(recipients))
	if len(recipients) > 0 {
		s.announce(busMessage{Type: "new", Users: recipients, Item: &Notification{Kind: KindLive, ChannelID: channelID, Channel: slug,
			Payload: payload, CreatedAt: now.UnixMilli()}})
	}
	subs, err := s.store.FollowerSubscriptions(ctx, channelID)
	if err != nil {
		return err
	}
	push, _ := json.Marshal(livePayload{Kind: KindLive, Channel: slug, Title: title, URL: "/c/" + slug})
	for _, sub := range subs {
		if !s.pusher.Enqueue(sub, push, "live-"+strconv.FormatInt(channelID, 10)) {
			s.log.Warn("web push queue full: dropped", "channel", slug)
		}
	}
	return nil
}

// LiveEnded records that a channel's stream ended (the cool-down against
// announcing a reconnect counts from here). It runs in the background.
func (s *Service) LiveEnded(channelID int64) {
	select {
	case <-s.stop:
		return
	default:
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.store.Ended(ctx, channelID, time.Now()); err != nil {
			s.log.Warn("record live end", "channel", channelID, "err", err)
		}
	}()
}

// chatPayload is a mention's or reply's payload.
type chatPayload struct {
	From      string `json:"from"`
	MessageID int64  `json:"message_id"`
	Excerpt   string `json:"excerpt"`
}

// ChatNotice tells userID that from mentioned them (kind "mention") or
// replied to them (kind "reply") in channelSlug's chat, in message
// messageID. It only queues (never blocks, safe from any goroutine); one
// writer stores it (one row per user, message and kind however often it is
// called) and rings the user's bell on every node. Unknown kinds, user 0
// and a full queue are dropped.
func (s *Service) ChatNotice(ctx context.Context, userID int64, kind, channelSlug, from string, messageID int64, excerpt string) {
	if userID <= 0 || (kind != KindMention && kind != KindReply) {
		return
	}
	excerpt = clip(excerpt, 140)
	payload, _ := json.Marshal(chatPayload{From: clip(from, 64), MessageID: messageID, Excerpt: excerpt})
	n := Notification{UserID: userID, Kind: kind, Channel: clip(channelSlug, 64), Payload: payload, CreatedAt: store.Now()}
	select {
	case <-s.stop:
	case s.chat <- n:
	default:
		s.chatDropped.Add(1)
	}
}

// clip cuts s to at most n runes (on a rune boundary).
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

func (s *Service) writeChatNotices() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case n := <-s.chat:
			var p chatPayload
			_ = json.Unmarshal(n.Payload, &p)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			saved, ok, err := s.store.Add(ctx, n, "chat:"+n.Kind+":"+strconv.FormatInt(p.MessageID, 10))
			cancel()
			if err != nil {
				s.log.Warn("store chat notice", "err", err)
				continue
			}
			if ok {
				item := saved
				s.announce(busMessage{Type: "new", Users: []Recipient{{UserID: n.UserID, ID: saved.ID}}, Item: &item})
			}
		}
	}
}

// user answers for a request that needs a logged-in account (not the admin
// token, which has no bell): its id, or false after writing the refusal.
func (s *Service) user(w http.ResponseWriter, r *http.Request) (int64, bool) {
	p, err := s.accounts.Authorize(r, policy.ActAccountRead, 0, 0)
	if err == nil && p.User == nil {
		err = &policy.Denied{Reason: "the admin token has no notifications; use an account"}
	}
	if err != nil {
		httpjson.Fail(w, err)
		return 0, false
	}
	return p.User.ID, true
}

func (s *Service) fail(w http.ResponseWriter, err error) { httpjson.Fail(w, err) }

// list is GET /api/me/notifications?before=ID&limit=N: newest first.
func (s *Service) list(w http.ResponseWriter, r *http.Request) {
	userID, ok := s.user(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit, before := 20, int64(0)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			httpjson.Error(w, http.StatusBadRequest, "limit must be 1 to 100")
			return
		}
		limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			httpjson.Error(w, http.StatusBadRequest, "before must be a notification id")
			return
		}
		before = n
	}
	items, unread, err := s.store.List(r.Context(), userID, before, limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := map[string]any{"notifications": items, "unread": unread}
	if len(items) == limit {
		out["next_before"] = items[len(items)-1].ID
	}
	httpjson.Write(w, http.StatusOK, out)
}

// markRead is POST /api/me/notifications/read {"ids":[…]} or {"up_to":ID}
// or {} (all).
func (s *Service) markRead(w http.ResponseWriter, r *http.Request) {
	userID, ok := s.user(w, r)
	if !ok {
		return
	}
	var in struct {
		IDs  []int64 `json:"ids"`
		UpTo int64   `json:"up_to"`
	}
	if err := httpjson.Decode(w, r, &in); err != nil {
		httpjson.Fail(w, err)
		return
	}
	if len(in.IDs) > 100 {
		httpjson.Error(w, http.StatusBadRequest, "at most 100 ids at a time")
		return
	}
	n, err := s.store.MarkRead(r.Context(), userID, in.IDs, in.UpTo)
	if err != nil {
		s.fail(w, err)
		return
	}
	unread, err := s.store.Unread(r.Context(), userID)
	if err != nil {
		s.fail(w, err)
		return
	}
	if n > 0 {
		s.announce(busMessage{Type: "read", User: userID})
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"marked": n, "unread": unread})
}

// followedJSON is one entry of the Following list.
type followedJSON struct {
	Slug    string     `json:"slug"`
	Title   string     `json:"title"`
	Live    bool       `json:"live"`
	Viewers int        `json:"viewers"`
	Since   *time.Time `json:"since,omitempty"`
}

// following is GET /api/me/following: the channels the caller follows,
// live ones first (most viewers first), then the others by name.
func (s *Service) following(w http.ResponseWriter, r *http.Request) {
	userID, ok := s.user(w, r)
	if !ok {
		return
	}
	chans, err := s.store.Following(r.Context(), userID, 200)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := make([]followedJSON, 0, len(chans))
	for _, c := range chans {
		e := followedJSON{Slug: c.Slug, Title: c.Title}
		if s.live != nil {
			if st, ok := s.live.Lookup(c.Slug); ok {
				started := st.StartedAt
				e.Live, e.Viewers, e.Since = true, st.Viewers, &started
			}
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Live != out[j].Live {
			return out[i].Live
		}
		return out[i].Live && out[i].Viewers > out[j].Viewers
	})
	httpjson.Write(w, http.StatusOK, map[string]any{"channels": out})
}

func (s *Service) vapidKey(w http.ResponseWriter, r *http.Request) {
	httpjson.Write(w, http.StatusOK, map[string]string{"public_key": s.vapid.Public})
}

// subscribe is POST /api/me/push-subscriptions with a PushSubscription's JSON.
func (s *Service) subscribe(w http.ResponseWriter, r *http.Request) {
	userID, ok := s.user(w, r)
	if !ok {
		return
	}
	var in subscriptionInput
	if err := httpjson.Decode(w, r, &in); err != nil {
		httpjson.Fail(w, err)
		return
	}
	if err := checkSubscription(in, s.allowHTTP); err != nil {
		var bad *badSubscription
		if errors.As(err, &bad) {
			httpjson.Fail(w, &httpjson.Problem{Status: http.StatusBadRequest, Code: bad.code, Message: bad.msg})
			return
		}
		s.fail(w, err)
		return
	}
	err := s.store.Subscribe(r.Context(), Subscription{UserID: userID, Endpoint: in.Endpoint, P256dh: in.Keys.P256dh, Auth: in.Keys.Auth}, MaxSubscriptions)
	if errors.Is(err, ErrTooManySubscriptions) {
		httpjson.Fail(w, &httpjson.Problem{Status: http.StatusConflict, Code: CodePushSubscriptionLimit,
			Message: fmt.Sprintf("at most %d browsers may get push notifications per account; turn one off first", MaxSubscriptions)})
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusCreated, map[string]bool{"subscribed": true})
}

// unsubscribe is DELETE /api/me/push-subscriptions {"endpoint"}.
func (s *Service) unsubscribe(w http.ResponseWriter, r *http.Request) {
	userID, ok := s.user(w, r)
	if !ok {
		return
	}
	var in struct {
		Endpoint string `json:"endpoint"`
	}
	if err := httpjson.Decode(w, r, &in); err != nil {
		httpjson.Fail(w, err)
		return
	}
	if err := s.store.Unsubscribe(r.Context(), userID, in.Endpoint); err != nil {
		s.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]bool{"subscribed": false})
}

// serveWorker serves the service worker at the root, so its scope is the
// whole site.
func (s *Service) serveWorker(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Service-Worker-Allowed", "/")
	_, _ = w.Write(serviceWorker)
}
