package moderation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
)

// The moderation stage of the danmaku pipeline (permission checks →
// moderation → room log → bus → fan-out): a list of content filters run
// with a deadline, whose verdicts combine into one (the most severe action
// wins). A filter on its own goroutine that overruns lets the message
// through and is counted: a slow filter must never stall a room. The
// in-memory engine runs inline; a late answer from it is counted and kept.

// Action is what a verdict does with a message.
type Action string

// Verdict actions, least to most severe.
const (
	Allow Action = "allow" // delivered as usual
	Hide  Action = "hide"  // delivered with its score; viewers may hide it
	Hold  Action = "hold"  // kept back until a moderator decides
	Block Action = "block" // refused; the sender is told the category
)

func (a Action) rank() int {
	switch a {
	case Hide:
		return 1
	case Hold:
		return 2
	case Block:
		return 3
	}
	return 0
}

// Kinds of text a filter screens.
const (
	KindChat   = "chat"
	KindName   = "name"
	KindTitle  = "title"
	KindGift   = "gift"
	KindReport = "report"
)

// Input is one text to screen.
type Input struct {
	ChannelID  int64
	Room       string // channel slug ("" outside a room)
	Kind       string
	Text       string
	UserID     int64
	AccountAge time.Duration
	// Level is the strictness (0 off … 4 strict) the stage computed from
	// the channel's setting.
	Level int
}

// Verdict is what the filters say about a text. Reasons are the filter's
// own explanation (which term, which normalisation, which score) as JSON,
// kept for moderators and never shown to the sender.
type Verdict struct {
	Action   Action          `json:"action"`
	Score    int             `json:"score"`
	Category string          `json:"category,omitempty"`
	Text     string          `json:"-"` // the text with replace-terms masked ("": unchanged)
	Reasons  json.RawMessage `json:"reasons,omitempty"`
}

// Filter screens a text. It should answer in microseconds from memory;
// the stage gives up on it after its deadline.
type Filter interface {
	Screen(ctx context.Context, in Input) Verdict
}

// FilterFunc adapts a function to Filter.
type FilterFunc func(ctx context.Context, in Input) Verdict

// Screen calls f.
func (f FilterFunc) Screen(ctx context.Context, in Input) Verdict { return f(ctx, in) }

// Levels reads a channel's filter level (0: off).
type Levels interface {
	FilterLevel(ctx context.Context, channelID int64) (int, error)
}

// DefaultDeadline is how long the stage waits for its filters.
const DefaultDeadline = 5 * time.Millisecond

// Stage runs filters with a deadline. The zero Stage (no filters) allows
// everything.
type Stage struct {
	filters  []Filter
	deadline time.Duration
	levels   *levelCache

	overruns atomic.Int64
	screened atomic.Int64
}

// NewStage builds the stage over filters; levels gives each channel's
// level (nil: every channel at level 2, "moderate").
func NewStage(levels Levels, deadline time.Duration, filters ...Filter) *Stage {
	if deadline <= 0 {
		deadline = DefaultDeadline
	}
	return &Stage{filters: filters, deadline: deadline, levels: &levelCache{src: levels, m: map[int64]levelEntry{}}}
}

// Overruns is how many filter runs missed the deadline (a filter on its own
// goroutine is then not waited for; an inline one's late verdict still counts).
func (s *Stage) Overruns() int64 {
	if s == nil {
		return 0
	}
	return s.overruns.Load()
}

// Screened is how many texts went through the filters.
func (s *Stage) Screened() int64 {
	if s == nil {
		return 0
	}
	return s.screened.Load()
}

// Forget drops the cached level of a channel (its owner just changed it).
func (s *Stage) Forget(channelID int64) {
	if s != nil {
		s.levels.forget(channelID)
	}
}

// Screen runs every filter on in and combines their verdicts. For chat
// in.Level is taken from the channel's setting; a channel with the filter
// off screens at level 0 as channel 0 (the engine then applies only the
// platform's floor and lists); other kinds keep the level the caller gave.
func (s *Stage) Screen(ctx context.Context, in Input) Verdict {
	out := Verdict{Action: Allow}
	if s == nil || len(s.filters) == 0 {
		return out
	}
	if in.Kind == "" {
		in.Kind = KindChat
	}
	if in.Kind == KindChat && in.ChannelID > 0 {
		in.Level = s.levels.get(ctx, in.ChannelID)
		if in.Level == 0 { // the channel's filter is off: its own terms rest, the platform's floor and lists still apply
			in.ChannelID = 0
		}
	}
	s.screened.Add(1)
	// Bounded filters run inline: no goroutine, no timer (a few µs a
	// message saved). One that took longer than the deadline is counted as
	// an overrun but its verdict stands: the wait is already spent, and a
	// busy node (GC, a descheduled goroutine) must not turn moderation off
	// for whatever a spammer sends while it is busy.
	var others []Filter
	for _, f := range s.filters {
		b, ok := f.(Bounded)
		if !ok || !b.Bounded() {
			others = append(others, f)
			continue
		}
		start := time.Now()
		v, ok := screenSafely(ctx, f, in)
		if time.Since(start) > s.deadline {
			s.overruns.Add(1)
		}
		if ok {
			combine(&out, v)
		}
	}
	if len(others) == 0 {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, s.deadline)
	defer cancel()
	// The others run at once on their own goroutines, so one that overruns
	// neither holds the message nor starves the rest of the deadline.
	results := make(chan Verdict, len(others))
	for _, f := range others {
		go run(ctx, f, in, results)
	}
	for got := 0; got < len(others); got++ {
		select {
		case v := <-results:
			combine(&out, v)
		case <-ctx.Done(): // the deadline passed: the filters not heard from let the message through
			s.overruns.Add(int64(len(others) - got))
			return out
		}
	}
	return out
}

// Bounded is a Filter that answers from memory in bounded time (the
// filter engine): the stage calls it inline instead of on a goroutine.
type Bounded interface {
	Bounded() bool
}

// screenSafely calls a bounded filter; a panic lets the message through.
func screenSafely(ctx context.Context, f Filter, in Input) (v Verdict, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			v, ok = Verdict{Action: Allow}, false
		}
	}()
	return f.Screen(ctx, in), true
}

// combine folds v into out: the most severe action wins with its
// category and reasons; the highest score is kept; a masked text replaces
// the text.
func combine(out *Verdict, v Verdict) {
	if v.Action == "" {
		v.Action = Allow
	}
	if v.Action.rank() > out.Action.rank() {
		out.Action, out.Category, out.Reasons = v.Action, v.Category, v.Reasons
	}
	if v.Score > out.Score {
		out.Score = v.Score
		if out.Category == "" {
			out.Category = v.Category
		}
	}
	if v.Text != "" && out.Text == "" {
		out.Text = v.Text
	}
	if out.Reasons == nil && len(v.Reasons) > 0 {
		out.Reasons = v.Reasons
	}
}

// run calls f and hands its verdict over; a panicking filter lets the
// message through, like a slow one.
func run(ctx context.Context, f Filter, in Input, results chan<- Verdict) {
	defer func() {
		if r := recover(); r != nil {
			results <- Verdict{Action: Allow, Reasons: json.RawMessage(fmt.Sprintf("%q", fmt.Sprint("filter panicked: ", r)))}
		}
	}()
	results <- f.Screen(ctx, in)
}

// levelCache keeps channel levels for a few seconds: the room's check
// answers from memory, and a change on another node shows within levelTTL.
type levelCache struct {
	src Levels
	mu  sync.Mutex
	m   map[int64]levelEntry
}

type levelEntry struct {
	level int
	until time.Time
}

const levelTTL = 5 * time.Second

func (c *levelCache) get(ctx context.Context, channelID int64) int {
	if c.src == nil {
		return 2
	}
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[channelID]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.level
	}
	lvl, err := c.src.FilterLevel(ctx, channelID)
	if err != nil { // keep the last known level (or off) rather than fail the message
		return e.level
	}
	c.mu.Lock()
	if len(c.m) > 100000 {
		c.m = map[int64]levelEntry{}
	}
	c.m[channelID] = levelEntry{level: lvl, until: now.Add(levelTTL)}
	c.mu.Unlock()
	return lvl
}

func (c *levelCache) forget(channelID int64) {
	c.mu.Lock()
	delete(c.m, channelID)
	c.mu.Unlock()
}

// Blocked refuses a text the filter blocked. It names the category (abuse,
// hate, spam…), never the matched term, so a sender learns what kind of
// thing was refused without learning how to get around it. Ticket lets the
// sender appeal ("" when the verdict was not recorded).
type Blocked struct {
	Category string
	Ticket   string
}

func (b *Blocked) Error() string {
	if b.Category == "" {
		return "your message was blocked by the content filter"
	}
	return "your message was blocked by the content filter (" + b.Category + ")"
}

// Problem is the HTTP answer to a blocked text: 403 message_blocked with
// the category and the ticket to appeal with.
func (b *Blocked) Problem() *httpjson.Problem {
	p := httpjson.NewProblem(http.StatusForbidden, CodeBlocked, b.Error())
	p.Extra = map[string]any{"category": b.Category}
	if b.Ticket != "" {
		p.Extra["ticket"] = b.Ticket
	}
	return p
}

// CodeBlocked is the protocol's error code for a blocked message.
const CodeBlocked = "message_blocked"
