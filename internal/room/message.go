// Package room is the live room: danmaku (bullet comments) in and out, the
// room log, and the WebSocket gateway that fans messages out to viewers on
// every node through the bus.
package room

import (
	"embed"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/textclean"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the room domain's tables.
func Migrations() store.MigrationSet {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return store.MigrationSet{Domain: "room", FS: sub}
}

// Message is one danmaku as stored and as sent to clients.
type Message struct {
	ID       int64  `json:"id,string"`
	Room     string `json:"room"`
	UserID   int64  `json:"user_id"`
	User     string `json:"user"`
	Level    int    `json:"level"`
	Text     string `json:"text"`
	Color    string `json:"color"`
	Mode     string `json:"mode"`
	At       int64  `json:"at"`        // server time, Unix ms
	OffsetMS int64  `json:"offset_ms"` // into the live stream; -1 when offline
	// Fan is the sender's membership and medal in this channel when sent.
	Fan policy.FanBadge `json:"fan"`
	// ReplyTo is the message this one answers (0: none); Reply quotes it.
	ReplyTo int64  `json:"reply_to,string,omitempty"`
	Reply   *Quote `json:"reply,omitempty"`
	// Mentions are the accounts the text @names, as their usernames.
	Mentions []string `json:"mentions,omitempty"`
	// Score is the content filter's score (0-100) of the message: viewers
	// hide messages above their shield level by it; 0: not scored.
	Score int `json:"score,omitempty"`
}

// Modes a danmaku can fly in.
const (
	ModeScroll = "scroll"
	ModeTop    = "top"
	ModeBottom = "bottom"
)

// hygiene refuses a message for its form, with a stable code (the
// protocol's error codes).
func hygiene(code, msg string) error { return httpjson.BadRequest(code, "%s", msg) }

// Clean normalises danmaku text (textclean.Clean) and refuses an empty one.
func Clean(text string) (string, error) {
	out, problem := textclean.Clean(text)
	switch problem {
	case textclean.BadEncoding:
		return "", hygiene(problem, "text is not valid UTF-8")
	case textclean.ControlChars:
		return "", hygiene(problem, "text contains control characters")
	}
	if out == "" {
		return "", hygiene("empty", "message is empty")
	}
	return out, nil
}

// CheckStyle validates colour (#rrggbb) and mode, filling defaults.
func CheckStyle(color, mode string) (string, string, error) {
	if color == "" {
		color = "#ffffff"
	}
	if len(color) != 7 || color[0] != '#' || strings.Trim(strings.ToLower(color[1:]), "0123456789abcdef") != "" {
		return "", "", hygiene("bad_color", "color must look like #rrggbb")
	}
	if mode == "" {
		mode = ModeScroll
	}
	if mode != ModeScroll && mode != ModeTop && mode != ModeBottom {
		return "", "", hygiene("bad_mode", "mode must be scroll, top or bottom")
	}
	return strings.ToLower(color), mode, nil
}

// idSource makes time-ordered 63-bit ids: milliseconds since 2026 (41
// bits), the node id (10 bits, assigned by live.Registry) and a sequence
// (12 bits). Ids from one node only grow; across nodes they order by time,
// and causally as a hybrid logical clock: a node observes the ids of other
// nodes' messages as they arrive (observe), and its next id is larger than
// any it has seen, even when its clock is behind theirs. So a message
// written in answer to one seen from another node never sorts before it,
// and a viewer resuming after the newest id it saw does not miss it.
type idSource struct {
	mu   sync.Mutex
	node int64
	last int64
	seq  int64
}

var idEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

func newIDSource(node int64) *idSource {
	return &idSource{node: node & 0x3ff}
}

// idTime is when a message id was made (Unix ms).
func idTime(id int64) int64 { return id>>22 + idEpoch }

// observe takes in an id another node made (ids of this node are its own
// past): if it is from this millisecond or later, the next id is made
// after it.
func (s *idSource) observe(id int64) {
	if (id>>12)&0x3ff == s.node {
		return
	}
	ms := id >> 22
	s.mu.Lock()
	if ms >= s.last {
		// The next id borrows the millisecond after ms (see next).
		s.last, s.seq = ms, 0xfff
	}
	s.mu.Unlock()
}

func (s *idSource) next(now time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := now.UnixMilli() - idEpoch
	if ms <= s.last {
		ms = s.last
		s.seq++
		if s.seq > 0xfff { // 4096 in one millisecond: borrow the next one
			ms++
			s.seq = 0
		}
	} else {
		s.seq = 0
	}
	s.last = ms
	return ms<<22 | s.node<<12 | s.seq
}

func bytesReader(b []byte) *strings.Reader { return strings.NewReader(string(b)) }
