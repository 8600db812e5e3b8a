package room

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

// Chat features around a danmaku: replies (quoted), @mentions, and the
// notices they raise for the people named or answered.

// Quote is the message a reply answers, as carried by the reply itself.
type Quote struct {
	ID      int64  `json:"id,string"`
	UserID  int64  `json:"user_id"`
	User    string `json:"user"`
	Excerpt string `json:"excerpt"`
}

// excerptRunes is how much of a quoted message a reply carries.
const excerptRunes = 40

// excerpt is the first excerptRunes characters of text, with "…" when cut.
func excerpt(text string) string {
	if utf8.RuneCountInString(text) <= excerptRunes {
		return text
	}
	n := 0
	for i := range text {
		if n == excerptRunes {
			return text[:i] + "…"
		}
		n++
	}
	return text
}

// maxMentionNames is how many distinct @names of a message are looked up;
// maxMentions is how many of them may resolve (the rest stay plain text).
const (
	maxMentionNames = 5
	maxMentions     = 3
)

// isNameRune is a character an account name may hold (account.NormalizeUsername).
func isNameRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-' || r == '.'
}

// ExtractMentions returns the distinct @names in text (at most
// maxMentionNames, in order, compared case-insensitively): an '@' at the
// start or after a character that cannot be part of a name, followed by 2 to
// 24 name characters; a trailing '.' (end of a sentence) is not part of it.
func ExtractMentions(text string) []string {
	var out []string
	seen := map[string]bool{}
	prev := ' '
	for i, r := range text {
		if r != '@' || isNameRune(prev) || prev == '@' {
			prev = r
			continue
		}
		prev = r
		j := i + 1
		for j < len(text) {
			c, size := utf8.DecodeRuneInString(text[j:])
			if !isNameRune(c) {
				break
			}
			j += size
		}
		name := strings.TrimRight(text[i+1:j], ".")
		if n := utf8.RuneCountInString(name); n < 2 || n > 24 {
			continue
		}
		if key := strings.ToLower(name); !seen[key] {
			seen[key] = true
			out = append(out, name)
			if len(out) == maxMentionNames {
				break
			}
		}
	}
	return out
}

// Users finds accounts by name (account.Users).
type Users interface {
	ByName(ctx context.Context, name string) (policy.User, error)
}

// mention is a resolved @name.
type mention struct {
	id   int64
	name string
}

// nameCache remembers recent @name lookups (found or not) for a minute, so
// a busy room naming the same people costs no query per message.
type nameCache struct {
	mu      sync.Mutex
	entries map[string]nameEntry
}

type nameEntry struct {
	m     mention // id 0: no such account
	until time.Time
}

const (
	nameCacheTTL = time.Minute
	nameCacheMax = 10000
)

func (c *nameCache) get(key string, now time.Time) (mention, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || now.After(e.until) {
		return mention{}, false
	}
	return e.m, true
}

func (c *nameCache) put(key string, m mention, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= nameCacheMax {
		c.entries = map[string]nameEntry{} // crude but bounded
	}
	c.entries[key] = nameEntry{m: m, until: now.Add(nameCacheTTL)}
}

// resolveMentions looks the message's @names up (existing accounts only).
func (s *Service) resolveMentions(ctx context.Context, text string) []mention {
	if s.users == nil || !strings.Contains(text, "@") {
		return nil
	}
	now := time.Now()
	var out []mention
	for _, name := range ExtractMentions(text) {
		key := strings.ToLower(name)
		mn, ok := s.names.get(key, now)
		if !ok {
			u, err := s.users.ByName(ctx, name)
			switch {
			case err == nil:
				mn = mention{id: u.ID, name: u.Username}
				s.names.put(key, mn, now)
			case errors.Is(err, ctx.Err()):
				return out
			default: // not an account (a lookup failure is remembered as one too, briefly)
				s.names.put(key, mention{}, now)
			}
		}
		if mn.id == 0 {
			continue
		}
		dup := false
		for _, m := range out {
			dup = dup || m.id == mn.id
		}
		if !dup {
			out = append(out, mn)
		}
		if len(out) == maxMentions {
			break
		}
	}
	return out
}

// ErrNoReply refuses a reply to a message that is not in the room (or was deleted).
var ErrNoReply = httpjson.BadRequest("reply_not_found", "the message you reply to is not in this room")

// quote reads the message id in channelID that a reply answers.
func (s *Service) quote(ctx context.Context, channelID, id int64) (*Quote, error) {
	q := Quote{ID: id}
	var text string
	err := s.db.QueryRowContext(ctx, `SELECT user_id, username, text FROM danmaku
		WHERE id = $1 AND channel_id = $2 AND deleted_at IS NULL`, id, channelID).Scan(&q.UserID, &q.User, &text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoReply
	}
	if err != nil {
		return nil, fmt.Errorf("read the message replied to: %w", err)
	}
	q.Excerpt = excerpt(text)
	return &q, nil
}

// ChatNotice tells someone about a message: they were @mentioned in it
// (Kind "mention") or it answers theirs (Kind "reply").
type ChatNotice struct {
	Kind      string // "mention" | "reply"
	UserID    int64  // recipient
	Channel   string // slug
	From      string // sender's username
	MessageID int64
	Excerpt   string
}

// Notice kinds.
const (
	NoticeMention = "mention"
	NoticeReply   = "reply"
)

// notices returns what m raises: one per mentioned account and one for the
// author replied to, never for the sender, at most one per recipient (a
// reply that also mentions its author is a reply).
func notices(m Message, mentioned []mention) []ChatNotice {
	var out []ChatNotice
	done := map[int64]bool{m.UserID: true}
	ex := excerpt(m.Text)
	if m.Reply != nil && !done[m.Reply.UserID] {
		done[m.Reply.UserID] = true
		out = append(out, ChatNotice{Kind: NoticeReply, UserID: m.Reply.UserID, Channel: m.Room, From: m.User, MessageID: m.ID, Excerpt: ex})
	}
	for _, mn := range mentioned {
		if done[mn.id] {
			continue
		}
		done[mn.id] = true
		out = append(out, ChatNotice{Kind: NoticeMention, UserID: mn.id, Channel: m.Room, From: m.User, MessageID: m.ID, Excerpt: ex})
	}
	return out
}

// notifier hands notices to Deps.Notify from one goroutine, off the send
// path: a full queue drops the notice (counted, logged at most once a
// minute) instead of slowing chat down.
type notifier struct {
	notify  func(context.Context, ChatNotice)
	log     *slog.Logger
	queue   chan ChatNotice
	dropped atomic.Int64
	timeout time.Duration

	mu       sync.Mutex
	loggedAt time.Time

	stop chan struct{}
	done chan struct{}
}

// noticeQueue is how many notices may wait for Notify.
const noticeQueue = 1024

func newNotifier(notify func(context.Context, ChatNotice), log *slog.Logger, queue int) *notifier {
	n := &notifier{notify: notify, log: log, queue: make(chan ChatNotice, queue), timeout: 5 * time.Second,
		stop: make(chan struct{}), done: make(chan struct{})}
	if notify == nil {
		close(n.done)
		return n
	}
	go n.run()
	return n
}

// add queues ns without ever blocking.
func (n *notifier) add(ns []ChatNotice) {
	if n.notify == nil {
		return
	}
	for _, c := range ns {
		select {
		case n.queue <- c:
		default:
			total := n.dropped.Add(1)
			n.mu.Lock()
			if time.Since(n.loggedAt) > time.Minute {
				n.loggedAt = time.Now()
				n.log.Warn("chat notices dropped: the notifier is behind", "dropped_total", total)
			}
			n.mu.Unlock()
		}
	}
}

func (n *notifier) run() {
	defer close(n.done)
	for {
		select {
		case <-n.stop:
			return
		case c := <-n.queue:
			ctx, cancel := context.WithTimeout(context.Background(), n.timeout)
			n.notify(ctx, c)
			cancel()
		}
	}
}

// close stops the loop (notices still queued are dropped) and waits for it.
func (n *notifier) close() {
	select {
	case <-n.stop:
	default:
		close(n.stop)
	}
	<-n.done
}

// NoticesDropped is how many chat notices were dropped because the
// notifier was behind.
func (s *Service) NoticesDropped() int64 { return s.notices.dropped.Load() }

// MaxLength is the longest danmaku (in characters) the room takes now.
func (s *Service) MaxLength(ctx context.Context, slug string) int {
	room, err := s.chat.room(ctx, slug)
	if err != nil || room.rules.MaxLength <= 0 {
		return policy.DefaultRules().MaxLength
	}
	return room.rules.MaxLength
}
