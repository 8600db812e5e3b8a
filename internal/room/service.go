package room

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/live"
	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/moderation"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/ratelimit"
	"github.com/livehouse/livehouse/internal/store"
)

// LiveStreams is the live directory: whether a channel is live on any
// node, for the stream offset stamped on each message, and this node's id,
// for message ids.
type LiveStreams interface {
	Lookup(slug string) (live.State, bool)
	Self() live.Node
}

// Channels resolves rooms (the channel domain).
type Channels interface {
	ChannelOwner(ctx context.Context, slug string) (channelID, ownerID int64, err error)
	// OpenChannel is ChannelOwner for chat: a disabled channel answers
	// policy.ErrChannelDisabled.
	OpenChannel(ctx context.Context, slug string) (channelID, ownerID int64, err error)
	ChannelSlug(ctx context.Context, channelID int64) (string, error)
}

// Moderation is what a room reads of its channel's moderation and where it
// records a deleted message (the moderation store).
type Moderation interface {
	Rules(ctx context.Context, channelID int64) (policy.Rules, error)
	Moderators(ctx context.Context, channelID int64) ([]policy.User, error)
	ListSanctions(ctx context.Context, channelID int64, now time.Time) ([]moderation.Sanction, error)
	Record(ctx context.Context, channelID, actorID int64, action string, target int64, detail string) error
}

// Follows tells whether a viewer follows a channel (the social store).
type Follows interface {
	Follows(ctx context.Context, userID, channelID int64) (bool, error)
}

// Fans reads a viewer's badge in a channel (the money domain).
type Fans interface {
	Standing(ctx context.Context, userID, channelID int64, slug string) (policy.FanBadge, error)
}

// Accounts is who is on a connection and may they (the account domain).
type Accounts interface {
	AuthorizeContext(ctx context.Context, a policy.Action, channelID, ownerID int64) (policy.Principal, error)
	// Refresh re-reads a connection's principal (account.ErrIdentityGone
	// when its login ended).
	Refresh(ctx context.Context, p policy.Principal) (policy.Principal, error)
	RoomConnectionsPerIP() int
	ThrottleBrowsing(next http.HandlerFunc) http.HandlerFunc
}

// Service takes danmaku in: checks, the room log, and the bus.
type Service struct {
	// postSeconds is how long Post takes: checks, the group commit, the
	// bus publish (the server's side of the sender's acknowledgement).
	postSeconds prometheus.Histogram
	db          *store.DB
	channels    Channels
	moderation  Moderation
	accounts    Accounts
	live        LiveStreams
	nc          *nats.Conn
	bus         *bus.Bus
	log         *slog.Logger

	ids    *idSource
	writer *logWriter
	burst  *ratelimit.Limiter

	mu   sync.Mutex
	last map[senderKey]sent // per sender and room: slow mode and repeats
	swep time.Time

	tally        tally
	likesDropped atomic.Int64

	chat    *chatContext      // what danmaku checks read, in memory
	screen  *moderation.Stage // the moderation stage (nil: everything allowed)
	verdict Verdicts          // where non-allow verdicts are kept (nil: not kept)
	learner Learner           // hears moderators' deletes (nil: nobody)

	users        Users                                                    // nil: @names stay plain text
	ownedChannel func(ctx context.Context, ownerID int64) (string, error) // nil: cards link no channel
	notices      *notifier
	names        nameCache // recent @name lookups

	stop         chan struct{} // closed by Close: owned loops end
	stopRecorder func()        // the durable consumer recording room events
	closeOnce    sync.Once
	wg           sync.WaitGroup // the pruner

	closer sync.Once     // Close starts the teardown once
	closed chan struct{} // closed when it is done
}

type senderKey struct {
	user int64
	room string
}

type sent struct {
	at   time.Time
	text string
}

// RepeatWindow is how long the same text from the same sender counts as a repeat.
const RepeatWindow = 30 * time.Second

// Deps are what the room domain is built on.
type Deps struct {
	DB         *store.DB
	Channels   Channels
	Moderation Moderation
	Follows    Follows
	Fans       Fans // optional: nobody is a member or holds a medal
	Accounts   Accounts
	Live       LiveStreams
	Bus        *bus.Bus
	Log        *slog.Logger
	// LogRetention is how long danmaku are kept (0: for ever).
	LogRetention time.Duration
	// Screen is the moderation stage a danmaku passes after the rules
	// (nil: none): the same one moderation's check-message uses. It must
	// answer from memory; it gives up on a filter after its deadline.
	Screen *moderation.Stage
	// Verdicts keeps the stage's non-allow verdicts and held messages
	// (the moderation store; nil: a hold or block is still enforced, but
	// nothing is kept for moderators).
	Verdicts Verdicts
	// Learner hears the text of every message a moderator deletes.
	Learner Learner
	// Users resolves @names in messages and the names on user cards
	// (optional: without it nothing resolves and cards answer 404).
	Users Users
	// OwnedChannel is the slug of a channel the account owns ("" when none;
	// optional), for the user card's link to it.
	OwnedChannel func(ctx context.Context, ownerID int64) (string, error)
	// Notify hears, after a message is committed, about each account it
	// mentions and the author it replies to (never the sender). Optional.
	// It is called from one goroutine, never on the send path: notices wait
	// in a bounded queue and are dropped (NoticesDropped counts them) when
	// Notify falls behind; each call gets a 5 s context.
	Notify func(ctx context.Context, ev ChatNotice)
}

// New starts the room log writer, the chat context and the log pruner;
// Close stops them.
func New(d Deps) (*Service, error) {
	db, live, b, log := d.DB, d.Live, d.Bus, d.Log
	s := &Service{
		postSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "livehouse_danmaku_post_seconds",
			Help:    "How long posting a danmaku takes in the server, from the decoded request to stored and published (the server's side of the sender's acknowledgement).",
			Buckets: latencyBuckets}),
		db: db, channels: d.Channels, moderation: d.Moderation, accounts: d.Accounts,
		screen: d.Screen, verdict: d.Verdicts, learner: d.Learner,
		live: live, nc: b.Conn, bus: b, log: log, stop: make(chan struct{}), closed: make(chan struct{}),
		ids: newIDSource(int64(live.Self().ID)), writer: newLogWriter(db),
		burst: ratelimit.NewLimiter(10, 10*time.Second),
		last:  map[senderKey]sent{},
		tally: tally{rooms: map[string]*roomTally{}, stop: make(chan struct{}), done: make(chan struct{})},
		chat:  newChatContext(sources{d.Channels, d.Moderation, d.Follows, d.Fans}, log),
		users: d.Users, ownedChannel: d.OwnedChannel,
		notices: newNotifier(d.Notify, log, noticeQueue),
	}
	if err := s.chat.listen(b); err != nil {
		s.writer.close()
		s.notices.close()
		return nil, err
	}
	// One node records each gift and membership in the room's history.
	stop, err := b.Consume("room-recorder", s.record, roomEventTypes...)
	if err != nil {
		s.chat.close()
		s.writer.close()
		s.notices.close()
		return nil, err
	}
	s.stopRecorder = stop
	go s.runTally()
	if d.LogRetention > 0 {
		s.wg.Add(1)
		go s.runPruner(d.LogRetention, s.stop)
	}
	return s, nil
}

// sources reads the chat context from the domains that keep it.
type sources struct {
	Channels
	Moderation
	follows Follows
	fans    Fans
}

func (s sources) Follows(ctx context.Context, user, ch int64) (bool, error) {
	return s.follows.Follows(ctx, user, ch)
}

func (s sources) Standing(ctx context.Context, user, ch int64, slug string) (policy.FanBadge, error) {
	if s.fans == nil {
		return policy.FanBadge{}, nil
	}
	return s.fans.Standing(ctx, user, ch, slug)
}

// Close flushes the room log and the last second of likes and joins, and
// stops the pruner, waiting at most until ctx ends. Safe to call twice.
func (s *Service) Close(ctx context.Context) error {
	s.closer.Do(func() {
		go func() {
			s.close()
			close(s.closed)
		}()
	})
	select {
	case <-s.closed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("room: the log is still flushing: %w", ctx.Err())
	}
}

func (s *Service) close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.stopRecorder()
	})
	s.wg.Wait()
	s.chat.close()
	s.writer.close()
	s.notices.close()
	select {
	case <-s.tally.stop:
	default:
		close(s.tally.stop)
	}
	<-s.tally.done
}

// PostInput is what a sender sends.
type PostInput struct {
	Text  string `json:"text"`
	Color string `json:"color"`
	Mode  string `json:"mode"`
	// ReplyTo is the id of the message in this room being answered ("": none).
	ReplyTo string `json:"reply_to,omitempty"`
}

// Collectors are the service's metrics, for the app's registry.
func (s *Service) Collectors() []prometheus.Collector { return []prometheus.Collector{s.postSeconds} }

// Post checks a danmaku from the principal in ctx, stores it and publishes
// it to every node. Errors are *policy.Denied, *policy.RuleViolation, a
// hygiene *httpjson.Problem or internal.
func (s *Service) Post(ctx context.Context, slug string, in PostInput) (Message, error) {
	defer func(start time.Time) { s.postSeconds.Observe(time.Since(start).Seconds()) }(time.Now())
	p := policy.PrincipalFrom(ctx)
	text, err := Clean(in.Text)
	if err != nil {
		return Message{}, err
	}
	color, mode, err := CheckStyle(in.Color, in.Mode)
	if err != nil {
		return Message{}, err
	}
	var replyTo int64
	if in.ReplyTo != "" {
		if replyTo, err = strconv.ParseInt(in.ReplyTo, 10, 64); err != nil || replyTo <= 0 {
			return Message{}, hygiene("bad_request", "reply_to must be a message id")
		}
	}
	now := time.Now()
	key := senderKey{user: p.UserID(), room: slug}
	prev := s.lastSent(key)
	if p.User != nil {
		if ok, _ := s.burst.Allow(strconv.FormatInt(p.User.ID, 10), now); !ok {
			return Message{}, hygiene("too_fast", "you are sending too fast")
		}
		if prev.text != "" && strings.EqualFold(prev.text, text) && now.Sub(prev.at) < RepeatWindow {
			return Message{}, hygiene("repeated", "you just sent that")
		}
	}
	chID, fan, privileged, err := s.check(ctx, p, slug, text, prev.at, now)
	if err != nil {
		return Message{}, err
	}
	v := s.moderate(ctx, p, chID, slug, text, privileged)
	if v.Action == moderation.Block {
		return Message{}, s.block(ctx, p, chID, text, v)
	}
	if v.Text != "" { // replace-terms masked
		text = v.Text
	}
	var quote *Quote
	if replyTo > 0 {
		if quote, err = s.quote(ctx, chID, replyTo); err != nil {
			return Message{}, err
		}
		// The answered message exists in this room (so a client cannot
		// push the clock): the answer's id comes after it, even when
		// another node with a clock ahead made it and no bus header
		// reached this node.
		s.ids.observe(replyTo)
	}
	m := Message{
		ID: s.ids.next(now), Room: slug, UserID: p.User.ID, User: p.User.Username, Level: p.User.Level(), Fan: fan,
		Text: text, Color: color, Mode: mode, At: now.UnixMilli(), OffsetMS: -1,
	}
	if st, ok := s.live.Lookup(slug); ok {
		m.OffsetMS = now.Sub(st.StartedAt).Milliseconds()
	}
	if replyTo > 0 {
		m.Reply, m.ReplyTo = quote, replyTo
	}
	mentioned := s.resolveMentions(ctx, text)
	for _, mn := range mentioned {
		m.Mentions = append(m.Mentions, mn.name)
	}
	m.Score = v.Score // every scored message carries it: viewers' shields hide by score
	switch v.Action {
	case moderation.Hold:
		s.remember(key, sent{at: now, text: text}, now) // a held repeat is still a repeat
		return Message{}, s.hold(ctx, p, chID, m, v)
	case moderation.Hide:
		m.Score = max(v.Score, 1)
		s.keep(ctx, p, chID, text, v, nil)
	}
	if err := s.writer.append(ctx, chID, m); err != nil {
		return Message{}, err
	}
	s.remember(key, sent{at: now, text: text}, now)
	s.publish(chID, event{Type: "danmaku", Message: &m})
	s.notices.add(notices(m, mentioned))
	return m, nil
}

// check runs every permission check a danmaku goes through in a room — the
// channel takes chat, the policy (login, bans, mutes), the channel's rules —
// from the chat context in memory: no query once the room and the sender
// are loaded. It returns the channel, the sender's fan badge there and
// whether the sender moderates it (owner, moderator, admin).
func (s *Service) check(ctx context.Context, p policy.Principal, slug, text string, lastSent, now time.Time) (int64, policy.FanBadge, bool, error) {
	room, err := s.chat.room(ctx, slug)
	if err != nil {
		return 0, policy.FanBadge{}, false, err
	}
	if room.disabled {
		return room.channelID, policy.FanBadge{}, false, policy.ErrChannelDisabled
	}
	if err := policy.Decide(p, policy.ActChatSend, room.roles(p.UserID(), now), policy.Settings{}); err != nil {
		return room.channelID, policy.FanBadge{}, false, err
	}
	sp := policy.Speaker{LastSent: lastSent}
	if p.User != nil {
		st, err := s.chat.standing(ctx, p.User.ID, room)
		if err != nil {
			return room.channelID, policy.FanBadge{}, false, err
		}
		sp.Fan = st.badge.At(now)
		sp.Follows = st.follows
		sp.Level = p.User.Level()
		sp.AccountAge = p.User.AccountAge(now)
		sp.Privileged = p.User.IsAdmin || p.User.ID == room.ownerID || room.mods[p.User.ID]
	}
	if err := policy.CheckMessage(room.rules, sp, text, now); err != nil {
		return room.channelID, sp.Fan, sp.Privileged, err
	}
	return room.channelID, sp.Fan, sp.Privileged, nil
}

// warm loads what a viewer's first danmaku in a room will need, so even
// that one costs no query (the gateway calls it on join).
func (s *Service) warm(ctx context.Context, slug string, userID int64) {
	room, err := s.chat.room(ctx, slug)
	if err != nil || userID == 0 {
		return
	}
	if _, err := s.chat.standing(ctx, userID, room); err != nil {
		s.log.Warn("load a viewer's standing on join", "room", slug, "err", err)
	}
}

func (s *Service) lastSent(k senderKey) sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[k]
}

func (s *Service) remember(k senderKey, v sent, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last[k] = v
	if now.Sub(s.swep) > time.Minute {
		for k, v := range s.last {
			if now.Sub(v.at) > time.Hour { // longer than any slow mode
				delete(s.last, k)
			}
		}
		s.swep = now
	}
}

// event is one item of a batch frame (see docs/protocol.md).
type event struct {
	Type string `json:"type"`
	*Message
	Deleted string `json:"deleted_id,omitempty"`
	Count   *int   `json:"count,omitempty"`
}

// subject is where a room's live events travel: by channel id (a slug can
// be renamed).
func subject(channelID int64) string { return "room." + strconv.FormatInt(channelID, 10) }

func (s *Service) publishRaw(channelID int64, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode room event", "err", err)
		return
	}
	if err := s.nc.Publish(subject(channelID), data); err != nil {
		s.log.Error("publish room event", "channel", channelID, "err", err)
	}
}

// idHeader carries a danmaku's id on the bus, so every node's id source
// can observe it without decoding the event.
const idHeader = "Lh-Id"

func (s *Service) publish(channelID int64, e event) {
	if e.Type != "danmaku" || e.Message == nil {
		s.publishRaw(channelID, e)
		return
	}
	data, err := json.Marshal(e)
	if err != nil {
		s.log.Error("encode room event", "err", err)
		return
	}
	msg := &nats.Msg{Subject: subject(channelID), Data: data, Header: nats.Header{idHeader: []string{strconv.FormatInt(e.Message.ID, 10)}}}
	if err := s.nc.PublishMsg(msg); err != nil {
		s.log.Error("publish room event", "channel", channelID, "err", err)
	}
}

// AnnounceLive tells a channel's room, on every node, that its stream
// started or ended: {"type":"live","state":"started"|"ended"}.
func AnnounceLive(nc *nats.Conn, e media.Event) {
	state := "ended"
	if e.Type == "live.started" {
		state = "started"
	}
	data, _ := json.Marshal(map[string]string{"type": "live", "state": state})
	_ = nc.Publish(subject(e.Channel.ID), data)
}

// ErrNoMessage is returned for a message that does not exist (or is gone).
var ErrNoMessage = errors.New("no such message")

// Delete removes a message for every viewer (moderators, owner, admins).
func (s *Service) Delete(ctx context.Context, slug string, id int64) error {
	chID, owner, err := s.channels.ChannelOwner(ctx, slug)
	if err != nil {
		return err
	}
	p, err := s.accounts.AuthorizeContext(ctx, policy.ActChannelModerate, chID, owner)
	if err != nil {
		return err
	}
	var author int64
	var text string
	err = s.db.QueryRowContext(ctx, `UPDATE danmaku SET deleted_at = $1, deleted_by = $2
		WHERE id = $3 AND channel_id = $4 AND deleted_at IS NULL RETURNING user_id, text`, store.Now(), p.UserID(), id, chID).Scan(&author, &text)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNoMessage
	}
	if err != nil {
		return fmt.Errorf("delete message: %w", err)
	}
	// Replies quoting it stop quoting its text (in history; live clients
	// blank their quotes on the delete event).
	if _, err := s.db.ExecContext(ctx, `UPDATE danmaku SET reply_excerpt = '' WHERE reply_to = $2 AND channel_id = $1`, chID, id); err != nil {
		return fmt.Errorf("forget the quotes of a deleted message: %w", err)
	}
	if err := s.moderation.Record(ctx, chID, p.UserID(), "danmaku.delete", author, "message "+strconv.FormatInt(id, 10)); err != nil {
		return err
	}
	s.publish(chID, event{Type: "delete", Deleted: strconv.FormatInt(id, 10)})
	if s.learner != nil && author != p.UserID() { // a moderator removed it: the classifier learns (not from self-deletes)
		if err := s.learner.Feedback(ctx, text, true, "deleted"); err != nil {
			s.log.Warn("filter feedback on delete", "err", err)
		}
	}
	return nil
}

const messageColumns = `id, user_id, username, level, text, color, mode, created_at, stream_offset_ms, member_tier, medal_name, medal_level,
	reply_to, reply_user_id, reply_user, reply_excerpt, mentions, score`

// History returns up to limit messages before the id `before` (0: the
// newest), oldest first.
func (s *Service) History(ctx context.Context, slug string, before int64, limit int) ([]Message, error) {
	chID, _, err := s.channels.ChannelOwner(ctx, slug)
	if err != nil {
		return nil, err
	}
	return s.history(ctx, chID, slug, before, limit)
}

// history is History for a channel already resolved (a join has its id).
func (s *Service) history(ctx context.Context, chID int64, slug string, before int64, limit int) ([]Message, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+messageColumns+` FROM danmaku
		WHERE channel_id = $1 AND id < $2 AND deleted_at IS NULL ORDER BY id DESC LIMIT $3`, chID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("read room log: %w", err)
	}
	out, err := scanMessages(rows, slug)
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	s.observeNewest(out)
	return out, nil
}

// observeNewest: what this node shows a client from the log, its next ids
// come after (a node without viewers in a room hears no bus headers).
func (s *Service) observeNewest(msgs []Message) {
	if len(msgs) > 0 && s.ids != nil {
		s.ids.observe(msgs[len(msgs)-1].ID)
	}
}

// After returns up to limit messages after the id `after`, oldest first:
// what a reconnecting viewer missed.
func (s *Service) After(ctx context.Context, slug string, after int64, limit int) ([]Message, error) {
	chID, _, err := s.channels.ChannelOwner(ctx, slug)
	if err != nil {
		return nil, err
	}
	return s.after(ctx, chID, slug, after, limit)
}

// after is After for a channel already resolved.
func (s *Service) after(ctx context.Context, chID int64, slug string, after int64, limit int) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+messageColumns+` FROM danmaku
		WHERE channel_id = $1 AND id > $2 AND deleted_at IS NULL ORDER BY id LIMIT $3`, chID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read room log: %w", err)
	}
	out, err := scanMessages(rows, slug)
	if err != nil {
		return nil, err
	}
	s.observeNewest(out)
	return out, nil
}

func scanMessages(rows *sql.Rows, slug string) ([]Message, error) {
	defer rows.Close()
	out := []Message{}
	for rows.Next() {
		m := Message{Room: slug}
		var q Quote
		var mentions string
		if err := rows.Scan(&m.ID, &m.UserID, &m.User, &m.Level, &m.Text, &m.Color, &m.Mode, &m.At, &m.OffsetMS,
			&m.Fan.MemberTier, &m.Fan.MedalName, &m.Fan.MedalLevel, &m.ReplyTo, &q.UserID, &q.User, &q.Excerpt, &mentions, &m.Score); err != nil {
			return nil, err
		}
		if m.ReplyTo > 0 {
			q.ID = m.ReplyTo
			m.Reply = &q
		}
		if mentions != "" {
			m.Mentions = strings.Split(mentions, ",")
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Between returns up to limit messages of a channel's room log sent in the
// wall-clock range [from, to) (Unix ms), oldest first: what a replay
// replays as its danmaku.
func (s *Service) Between(ctx context.Context, channelID, from, to int64, limit int) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+messageColumns+` FROM danmaku
		WHERE channel_id = $1 AND created_at >= $2 AND created_at < $3 AND deleted_at IS NULL ORDER BY id LIMIT $4`, channelID, from, to, limit)
	if err != nil {
		return nil, fmt.Errorf("read room log: %w", err)
	}
	return scanMessages(rows, "")
}
